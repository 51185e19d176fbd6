package dnssec

import (
	"encoding/base64"
	"fmt"
	"time"

	"github.com/miekg/dns"
)

// Clock-skew allowance around a signature's validity period (Unbound's
// val-sig-skew-min/max): a tenth of the lifetime, within these bounds.
const (
	minSkew = time.Hour
	maxSkew = 24 * time.Hour
)

// serialTime resolves a 32-bit RRSIG time (RFC 4034 3.1.5, serial number
// arithmetic) to the instant nearest now.
func serialTime(t uint32, now time.Time) time.Time {
	n := now.Unix()
	return time.Unix(n+int64(int32(t-uint32(n))), 0).UTC()
}

// SignatureTimeValid reports whether now lies within sig's validity period
// widened by the clock-skew allowance (Unbound's: 10% of the signature's
// lifetime, at least 1 hour, at most 1 day). Otherwise ede is 7 (expired),
// 8 (not yet valid) or 25 (expiration before inception).
func SignatureTimeValid(sig *dns.RRSIG, now time.Time) (ok bool, ede uint16) {
	lifetime := time.Duration(int32(sig.Expiration-sig.Inception)) * time.Second
	if lifetime < 0 {
		return false, dns.ExtendedErrorCodeSignatureExpiredBeforeValid
	}
	skew := min(max(lifetime/10, minSkew), maxSkew)
	inception := serialTime(sig.Inception, now)
	expiration := inception.Add(lifetime)
	switch {
	case now.Before(inception.Add(-skew)):
		return false, dns.ExtendedErrorCodeSignatureNotYetValid
	case now.After(expiration.Add(skew)):
		return false, dns.ExtendedErrorCodeSignatureExpired
	}
	return true, 0
}

// WildcardOf reports the wildcard an RRset was expanded from when sig's
// Labels is less than the owner's label count ("*.example.com." for
// a.b.example.com. with Labels 2), and "" otherwise (also for an owner that
// is itself that wildcard).
func WildcardOf(owner string, sig *dns.RRSIG) string {
	owner = dns.CanonicalName(owner)
	if dns.CountLabel(owner) <= int(sig.Labels) {
		return ""
	}
	if w := signedOwner(owner, sig.Labels); w != owner {
		return w
	}
	return ""
}

// ClampTTL returns min(ttl, sig.OrigTtl, expiration - now), never negative
// (RFC 4035 5.3.3).
func ClampTTL(ttl uint32, sig *dns.RRSIG, now time.Time) uint32 {
	ttl = min(ttl, sig.OrigTtl)
	left := serialTime(sig.Expiration, now).Sub(now)
	if left <= 0 {
		return 0
	}
	return uint32(min(int64(ttl), int64(left/time.Second)))
}

// VerifyRRset checks rrset (records of one owner, type and class) against
// sigs (the RRSIGs that came with it; those of another owner, type or class
// are ignored) with keys, the validated keys of zone. A signature counts
// only if its signer is zone, its owner is in zone, its label count fits
// (wildcard expansion allowed), its key tag and algorithm match a key, and
// its time is valid. At most MaxVerificationsPerRRset verifications for this
// set, each counted in b. No signatures: Bogus EDE 10; otherwise the most
// telling failure of the signatures tried. Verdict.Expires is the
// verifying signature's expiration.
func VerifyRRset(rrset []dns.RR, sigs []*dns.RRSIG, zone string, keys []*Key, now time.Time, b *Budget) Verdict {
	b = b.orDefault()
	c := rrsetCheck{rrset: rrset, zone: dns.CanonicalName(zone), keys: keys, now: now, b: b}
	if why := c.init(); why != "" {
		return bogus(dns.ExtendedErrorCodeDNSBogus, why)
	}
	for _, sig := range sigs {
		if sig == nil || !c.covers(sig) {
			continue
		}
		c.seen++
		if v, ok := c.try(sig); ok {
			return v
		}
		if c.stopped {
			break
		}
	}
	switch {
	case c.seen == 0:
		return bogus(dns.ExtendedErrorCodeRRSIGsMissing, fmt.Sprintf("no RRSIG for %s/%s", c.owner, dns.TypeToString[c.rrtype]))
	case c.stopped:
		v := bogus(dns.ExtendedErrorCodeDNSBogus, fmt.Sprintf("%s/%s: verification limit reached (%d for the set, %d for the query)",
			c.owner, dns.TypeToString[c.rrtype], b.limits.MaxVerificationsPerRRset, b.limits.MaxVerificationsPerQuery))
		v.Exhausted = true
		return v
	}
	return bogus(c.failEDE, c.failWhy)
}

func bogus(ede uint16, why string) Verdict {
	return Verdict{Status: Bogus, EDE: ede, Why: why}
}

// Failure ranks: the reason reported is that of the most telling failure.
const (
	rankMismatch = iota + 1 // signer, labels, algorithm
	rankNoKey               // no key with the tag and algorithm
	rankTime                // expired or not yet valid
	rankCrypto              // the signature does not verify
)

// rrsetCheck is the state of one VerifyRRset call.
type rrsetCheck struct {
	rrset  []dns.RR
	zone   string
	keys   []*Key
	now    time.Time
	b      *Budget
	owner  string
	rrtype uint16
	class  uint16
	labels int

	seen, done int  // signatures considered, verifications done
	stopped    bool // a verification limit was reached
	failRank   int
	failEDE    uint16
	failWhy    string
}

// init checks that rrset is one RRset of zone; a non-empty reason if not.
func (c *rrsetCheck) init() string {
	if len(c.rrset) == 0 || c.rrset[0] == nil {
		return "empty RRset"
	}
	h := c.rrset[0].Header()
	c.owner, c.rrtype, c.class = dns.CanonicalName(h.Name), h.Rrtype, h.Class
	c.labels = dns.CountLabel(c.owner)
	for _, rr := range c.rrset[1:] {
		if rr == nil {
			return "nil record in RRset"
		}
		o := rr.Header()
		if o.Rrtype != c.rrtype || o.Class != c.class || dns.CanonicalName(o.Name) != c.owner {
			return fmt.Sprintf("%s/%s: records of more than one RRset", c.owner, dns.TypeToString[c.rrtype])
		}
	}
	if !dns.IsSubDomain(c.zone, c.owner) {
		return fmt.Sprintf("%s is not in zone %s", c.owner, c.zone)
	}
	return ""
}

func (c *rrsetCheck) covers(sig *dns.RRSIG) bool {
	return sig.TypeCovered == c.rrtype && sig.Hdr.Class == c.class && dns.CanonicalName(sig.Hdr.Name) == c.owner
}

func (c *rrsetCheck) fail(rank int, ede uint16, why string) {
	if rank > c.failRank {
		c.failRank, c.failEDE, c.failWhy = rank, ede, why
	}
}

// try verifies sig with each key that may have made it.
func (c *rrsetCheck) try(sig *dns.RRSIG) (Verdict, bool) {
	desc := fmt.Sprintf("RRSIG %s/%s by key %d (alg %d)", c.owner, dns.TypeToString[c.rrtype], sig.KeyTag, sig.Algorithm)
	switch {
	case dns.CanonicalName(sig.SignerName) != c.zone:
		c.fail(rankMismatch, dns.ExtendedErrorCodeDNSBogus, desc+" has signer "+sig.SignerName+", not "+c.zone)
		return Verdict{}, false
	case int(sig.Labels) > c.labels:
		c.fail(rankMismatch, dns.ExtendedErrorCodeDNSBogus, fmt.Sprintf("%s has %d labels, the owner %d", desc, sig.Labels, c.labels))
		return Verdict{}, false
	}
	if ok, ede := SignatureTimeValid(sig, c.now); !ok {
		c.fail(rankTime, ede, desc+" "+timeReason(sig, ede, c.now))
		return Verdict{}, false
	}
	var data, raw []byte
	found := false
	for _, k := range c.keys {
		if k == nil || k.Tag != sig.KeyTag || k.DNSKEY.Algorithm != sig.Algorithm || k.owner != c.zone || k.DNSKEY.Hdr.Class != c.class {
			continue
		}
		found = true
		if !k.usable(c.b.limits) {
			continue
		}
		if c.done >= c.b.limits.MaxVerificationsPerRRset || !c.b.takeVerification() {
			c.stopped = true
			c.b.exhausted.Store(true)
			return Verdict{}, false
		}
		c.done++
		if data == nil {
			var err error
			data, err = signedData(sig, c.rrset)
			raw, _ = base64.StdEncoding.DecodeString(sig.Signature)
			if err != nil {
				c.fail(rankCrypto, dns.ExtendedErrorCodeDNSBogus, desc+": "+err.Error())
				return Verdict{}, false
			}
		}
		if verifySignature(k, sig.Algorithm, data, raw) {
			return Verdict{Status: Secure, KeyTag: k.Tag, Expires: serialTime(sig.Expiration, c.now),
				Why: desc + " verifies"}, true
		}
		c.fail(rankCrypto, dns.ExtendedErrorCodeDNSBogus, desc+" does not verify")
	}
	if !found {
		c.fail(rankNoKey, dns.ExtendedErrorCodeDNSKEYMissing, desc+": no such key in "+c.zone)
	} else if c.failRank < rankCrypto {
		c.fail(rankNoKey, dns.ExtendedErrorCodeDNSKEYMissing, desc+": key unusable (unsupported or weak)")
	}
	return Verdict{}, false
}

func timeReason(sig *dns.RRSIG, ede uint16, now time.Time) string {
	inception := serialTime(sig.Inception, now).Format(time.RFC3339)
	expiration := serialTime(sig.Expiration, now).Format(time.RFC3339)
	switch ede {
	case dns.ExtendedErrorCodeSignatureExpired:
		return "expired " + expiration
	case dns.ExtendedErrorCodeSignatureNotYetValid:
		return "not valid before " + inception
	}
	return "expires " + expiration + ", before its inception " + inception
}
