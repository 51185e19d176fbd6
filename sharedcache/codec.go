package sharedcache

// The wire form of an entry in Redis: a key hashed from (name, type,
// class) with a key of the fleet secret, and a value that carries the
// entry's records, absolute expiry, rank and DNSSEC status, sealed by an
// HMAC-SHA256 over the Redis key and the value.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/internal/dnsname"
)

// KeyPrefix starts every key the tier writes: `redis-cli --scan --pattern
// 'recursor:*'` finds them.
const KeyPrefix = "recursor:"

// valueVersion is the first byte of a value; a value of another version
// is a miss (a fleet upgraded part way reads what it understands).
const valueVersion = 1

// headerLen: version, expires (8), original TTL (4), negative, rank,
// security, EDE (2), counts of records, RRSIGs and proof (2 each), SOA flag.
const headerLen = 1 + 8 + 4 + 1 + 1 + 1 + 2 + 2 + 2 + 2 + 1

// maxValueLen bounds what a value may take: an entry of the cache is at
// most cache.MaxRRsetBytes of records; owner names and the header add
// little. A larger value is not ours.
const maxValueLen = cache.MaxRRsetBytes + 8<<10

// keys are the two keys derived from the fleet secret: one names entries,
// one seals them. Distinct keys keep a name's Redis key from being a MAC
// an attacker could reuse.
type keys struct {
	name, seal []byte
}

func deriveKeys(secret []byte) keys {
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte("recursor shared-cache v1 " + label))
		return m.Sum(nil)
	}
	return keys{name: derive("key"), seal: derive("seal")}
}

// redisKey names the entry of k in Redis: a hash, so that reading Redis
// tells nothing of the names asked without the secret.
func (ks keys) redisKey(k cache.Key) string {
	m := hmac.New(sha256.New, ks.name)
	m.Write([]byte(dnsname.Lower(dns.Fqdn(k.Name))))
	var tc [5]byte // a 0 that no name holds, then type and class
	binary.BigEndian.PutUint16(tc[1:], k.Type)
	binary.BigEndian.PutUint16(tc[3:], k.Class)
	m.Write(tc[:])
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// mac seals value under the Redis key it is stored at: a value moved to
// another key fails.
func (ks keys) mac(redisKey string, value []byte) []byte {
	m := hmac.New(sha256.New, ks.seal)
	m.Write([]byte(redisKey))
	m.Write(value)
	return m.Sum(nil)
}

// encode returns the sealed value of e for the Redis key rk.
func (ks keys) encode(rk string, e cache.Entry) ([]byte, error) {
	var soa []dns.RR
	if e.SOA != nil {
		soa = []dns.RR{e.SOA}
	}
	size := headerLen + sha256.Size
	for _, rrs := range [][]dns.RR{e.RRs, e.Sigs, e.Proof, soa} {
		if len(rrs) > 0xffff {
			return nil, errors.New("too many records")
		}
		for _, rr := range rrs {
			size += dns.Len(rr)
		}
	}
	if size > maxValueLen {
		return nil, fmt.Errorf("entry of %d bytes: too large", size)
	}
	buf := make([]byte, size)
	buf[0] = valueVersion
	binary.BigEndian.PutUint64(buf[1:], uint64(e.Expires.UnixNano()))
	binary.BigEndian.PutUint32(buf[9:], e.OriginalTTL)
	buf[13], buf[14], buf[15] = byte(e.Negative), byte(e.Rank), byte(e.Security)
	binary.BigEndian.PutUint16(buf[16:], e.EDE)
	binary.BigEndian.PutUint16(buf[18:], uint16(len(e.RRs)))
	binary.BigEndian.PutUint16(buf[20:], uint16(len(e.Sigs)))
	binary.BigEndian.PutUint16(buf[22:], uint16(len(e.Proof)))
	buf[24] = byte(len(soa))
	off := headerLen
	for _, rrs := range [][]dns.RR{soa, e.RRs, e.Sigs, e.Proof} {
		for _, rr := range rrs {
			// PackRR sets Rdlength: never on the caller's record.
			n, err := dns.PackRR(dns.Copy(rr), buf, off, nil, false)
			if err != nil {
				return nil, err
			}
			off = n
		}
	}
	buf = buf[:off]
	return append(buf, ks.mac(rk, buf)...), nil
}

// errTampered: the value's seal does not match (written by someone
// without the fleet secret, or changed since).
var errTampered = errors.New("seal does not match")

// decode checks the seal of value stored at rk for k and returns its entry
// as live at now, with its records' TTLs the seconds left. An expired
// entry, or one of another version, is errMiss.
func (ks keys) decode(rk string, k cache.Key, value []byte, now time.Time) (cache.Entry, error) {
	if len(value) < headerLen+sha256.Size || len(value) > maxValueLen {
		return cache.Entry{}, errTampered
	}
	body, sum := value[:len(value)-sha256.Size], value[len(value)-sha256.Size:]
	if !hmac.Equal(sum, ks.mac(rk, body)) {
		return cache.Entry{}, errTampered
	}
	if body[0] != valueVersion {
		return cache.Entry{}, errMiss
	}
	e := cache.Entry{
		Expires:     time.Unix(0, int64(binary.BigEndian.Uint64(body[1:]))),
		OriginalTTL: binary.BigEndian.Uint32(body[9:]),
		Negative:    cache.Negative(body[13]),
		Rank:        cache.Rank(body[14]),
		Security:    cache.Security(body[15]),
		EDE:         binary.BigEndian.Uint16(body[16:]),
	}
	left := e.Expires.Sub(now) / time.Second
	if left < 1 {
		return cache.Entry{}, errMiss
	}
	e.TTL = uint32(min(left, 1<<31-1))
	counts := []int{int(body[24]), int(binary.BigEndian.Uint16(body[18:])), int(binary.BigEndian.Uint16(body[20:])), int(binary.BigEndian.Uint16(body[22:]))}
	sets, err := unpackSets(body, counts, e.TTL)
	if err != nil {
		return cache.Entry{}, err
	}
	if len(sets[0]) == 1 {
		e.SOA, _ = sets[0][0].(*dns.SOA)
	}
	e.RRs, e.Sigs, e.Proof = sets[1], sets[2], sets[3]
	return e, check(k, e)
}

// unpackSets unpacks the records after the header, counts[i] of them for
// set i, with their TTLs set to ttl.
func unpackSets(body []byte, counts []int, ttl uint32) ([][]dns.RR, error) {
	sets := make([][]dns.RR, len(counts))
	off := headerLen
	for i, n := range counts {
		for range n {
			rr, end, err := dns.UnpackRR(body, off)
			if err != nil || rr == nil || end <= off {
				return nil, fmt.Errorf("record: %v", err)
			}
			rr.Header().Ttl = ttl
			sets[i] = append(sets[i], rr)
			off = end
		}
	}
	if off != len(body) {
		return nil, errors.New("trailing bytes")
	}
	return sets, nil
}

// check reports whether a sealed entry is one the tier hands out for k:
// a sealed value is what a member of the fleet wrote, but a member must
// not hand out what the tier never shares, nor data of another key.
func check(k cache.Key, e cache.Entry) error {
	if err := shareable(e); err != nil {
		return err
	}
	switch e.Negative {
	case cache.Positive:
		for _, rr := range e.RRs {
			h := rr.Header()
			if h.Rrtype != k.Type || h.Class != k.Class || !dnsname.EqualFold(h.Name, k.Name) {
				return errors.New("record of another key")
			}
		}
	case cache.NXDomain:
		if k.Type != dns.TypeNone {
			return errors.New("NXDOMAIN under a type's key")
		}
	case cache.NoData:
		if k.Type == dns.TypeNone {
			return errors.New("NODATA under the name's key")
		}
	}
	return nil
}

// shareable says why e must not be shared, or nil: bogus data (each
// member validates for itself, and a verdict of bogus is not a member's
// to spread), data below the rank that answers clients (glue, referral
// NS sets: they only serve to reach servers), records that do not fit its
// kind, and negative answers without SOA (kept a few seconds only).
func shareable(e cache.Entry) error {
	switch {
	case e.Security == cache.Bogus:
		return errors.New("bogus")
	case e.Security > cache.Indeterminate:
		return errors.New("unknown DNSSEC status")
	case e.Rank < cache.RankAnswer || e.Rank > cache.RankAuthAnswer:
		return fmt.Errorf("rank %v", e.Rank)
	case e.Negative == cache.Positive && (len(e.RRs) == 0 || e.SOA != nil):
		return errors.New("positive entry without records")
	case e.Negative != cache.Positive && (len(e.RRs) > 0 || e.SOA == nil):
		return errors.New("negative entry without SOA")
	case e.Negative > cache.NoData:
		return errors.New("unknown kind")
	}
	return nil
}
