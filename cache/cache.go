// Package cache owns the resolver's memory: a TTL-aware LRU of RRsets and of
// negative answers (NXDOMAIN per name, NODATA per name and type), each with
// the rank of the data (RFC 2181 section 5.4.1) and an absolute expiry. It
// knows TTLs and ranks, not referrals or iteration. The clock is injected.
//
// Entries live in a store of the package's own (store.go): fixed-size slots
// in chunked arrays, an intrusive LRU list, a hash index, and the entries'
// bytes in an arena of size-classed cells. None of it holds pointers, so a
// cached RRset costs about 115 bytes of heap and the garbage collector
// never has to look inside the cache.
package cache

import (
	"encoding/binary"
	"sync"
	"time"
	"unsafe"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/internal/dnsname"
)

// Rank orders the trustworthiness of cached data (RFC 2181 section 5.4.1).
// Lower-ranked data never replaces live higher-ranked data.
type Rank uint8

const (
	// RankGlue: additional-section data, glue from referrals.
	RankGlue Rank = iota + 1
	// RankReferral: authority-section data of a non-authoritative answer,
	// such as the NS set of a referral (the parent's copy).
	RankReferral
	// RankAnswer: answer-section data of a non-authoritative answer.
	RankAnswer
	// RankAuthAuthority: authority-section data of an authoritative answer
	// (the child's own NS set, the SOA of a negative answer).
	RankAuthAuthority
	// RankAuthAnswer: answer-section data of an authoritative answer.
	RankAuthAnswer
)

func (r Rank) String() string {
	switch r {
	case RankGlue:
		return "glue"
	case RankReferral:
		return "referral"
	case RankAnswer:
		return "answer"
	case RankAuthAuthority:
		return "auth-authority"
	case RankAuthAnswer:
		return "auth-answer"
	}
	return "unranked"
}

// Defaults of Config.
const (
	DefaultMaxEntries     = 100_000
	DefaultMaxBytes       = 256 << 20
	DefaultMaxTTL         = 24 * time.Hour
	DefaultMaxNegativeTTL = time.Hour
	// NoSOANegativeTTL: how long a negative answer without SOA is kept
	// (Unbound's NORR_TTL). RFC 2308 section 5 advises against caching
	// it at all; a few seconds stop the same name server lookups from
	// being repeated by every query (the NXNS attack) while a broken
	// answer is soon forgotten.
	NoSOANegativeTTL = 5 * time.Second
	// MaxRRsetRecords and MaxRRsetBytes bound one entry: larger RRsets are
	// answered but not cached, so one hostile zone cannot fill the cache.
	MaxRRsetRecords = 100
	MaxRRsetBytes   = 8 << 10
)

// Config configures a Cache. Every field is optional.
type Config struct {
	MaxEntries     int           // entries kept at most (LRU); default DefaultMaxEntries
	MaxBytes       int64         // estimated bytes kept at most; default DefaultMaxBytes, at most 16 GB (more is taken as 16 GB)
	MaxTTL         time.Duration // TTLs are capped to this; default DefaultMaxTTL
	MaxNegativeTTL time.Duration // negative TTLs are capped to this; default DefaultMaxNegativeTTL
	MinTTL         time.Duration // TTLs are raised to this; default 0
	MinNegativeTTL time.Duration // negative TTLs are raised to this; default 0
	Now            func() time.Time
}

// Negative says what kind of negative answer an entry holds.
type Negative uint8

const (
	Positive Negative = iota
	NXDomain          // the name does not exist (any type)
	NoData            // the name exists, the type does not
)

// Key identifies an entry. Names are canonical: fully qualified, lower case.
type Key struct {
	Name  string
	Type  uint16 // dns.TypeNone for an NXDOMAIN entry
	Class uint16
}

// Entry is what Get returns: a copy, with TTLs counted down to now.
type Entry struct {
	RRs      []dns.RR // the RRset (Positive), nil for negative entries
	Negative Negative
	SOA      *dns.SOA // the zone's SOA for negative entries, when known
	Rank     Rank
	TTL      uint32    // whole seconds left
	Expires  time.Time // when the entry stops being served
}

// Cache is safe for concurrent use.
type Cache struct {
	cfg Config

	mu sync.Mutex // guards s
	s  *store
}

// New returns an empty cache.
func New(cfg Config) *Cache {
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxTTL <= 0 {
		cfg.MaxTTL = DefaultMaxTTL
	}
	if cfg.MaxNegativeTTL <= 0 {
		cfg.MaxNegativeTTL = DefaultMaxNegativeTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Cache{cfg: cfg, s: newStore(cfg.MaxEntries, cfg.MaxBytes, nil)}
}

// Canonical returns name fully qualified and in lower case, as keys want.
func Canonical(name string) string {
	return dnsname.Lower(dns.Fqdn(name))
}

// Put stores one RRset (records of one owner, type and class) with rank. It
// returns false when the set was not stored: empty, mixed, too large, zero TTL,
// or outranked by live data.
func (c *Cache) Put(rrs []dns.RR, rank Rank) bool {
	if len(rrs) == 0 || len(rrs) > MaxRRsetRecords {
		return false
	}
	h0 := rrs[0].Header()
	k := Key{Name: Canonical(h0.Name), Type: h0.Rrtype, Class: h0.Class}
	ttl := h0.Ttl
	packedLen := 0
	for _, rr := range rrs {
		h := rr.Header()
		if h.Rrtype != k.Type || h.Class != k.Class || !dnsname.EqualFold(h.Name, k.Name) {
			return false
		}
		ttl = min(ttl, h.Ttl) // RFC 2181 5.2: an RRset has one TTL
		packedLen += dns.Len(rr)
	}
	if packedLen > MaxRRsetBytes || len(k.Name) > 0xffff {
		return false
	}
	d := c.clampTTL(ttl, c.cfg.MaxTTL)
	if d <= 0 {
		return false
	}
	owner := ""
	if h0.Name != k.Name && len(h0.Name) <= 0xffff {
		owner = h0.Name
	}
	data, ok := packEntry(k.Name, owner, rrs, packedLen)
	if !ok {
		return false
	}
	now := c.cfg.Now().UnixNano()
	e := entry{
		data:     data,
		expires:  now + int64(d),
		nameLen:  uint16(len(k.Name)),
		ownerLen: uint16(len(owner)),
		typ:      k.Type,
		class:    k.Class,
		rank:     rank,
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.s.put(e, now) {
		return false
	}
	// Data at the name proves it exists: an NXDOMAIN entry for it is stale.
	c.s.remove(k.Name, dns.TypeNone, k.Class)
	return true
}

// PutNegative stores a negative answer for name: NXDomain for every type of
// the name, NoData for qtype only. Its TTL is the lesser of the SOA's TTL
// and its MINIMUM field (RFC 2308 section 5), capped by MaxNegativeTTL. A
// negative answer without SOA is kept NoSOANegativeTTL, or an operator's
// minimum TTL (MinTTL or MinNegativeTTL) when greater.
func (c *Cache) PutNegative(name string, qtype, qclass uint16, kind Negative, soa *dns.SOA, rank Rank) bool {
	if kind == Positive {
		return false
	}
	name = Canonical(name)
	if len(name) > 0xffff {
		return false
	}
	if kind == NXDomain {
		qtype = dns.TypeNone
	}
	var d time.Duration
	data := name
	if soa != nil {
		d = time.Duration(c.NegativeTTL(soa)) * time.Second
		b := make([]byte, len(name)+dns.Len(soa))
		copy(b, name)
		n, err := dns.PackRR(dns.Copy(soa), b, len(name), nil, false) // PackRR sets Rdlength: not on the caller's
		if err != nil {
			return false
		}
		data = unsafe.String(unsafe.SliceData(b), n) // b is not written again
	} else {
		d = min(max(NoSOANegativeTTL, c.cfg.MinTTL, c.cfg.MinNegativeTTL), c.cfg.MaxNegativeTTL)
	}
	if d <= 0 {
		return false
	}
	now := c.cfg.Now().UnixNano()
	e := entry{
		data:     data,
		expires:  now + int64(d),
		nameLen:  uint16(len(name)),
		typ:      qtype,
		class:    qclass,
		negative: kind,
		rank:     rank,
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.s.put(e, now)
}

// NegativeTTL is how long a negative answer with soa is cached: the lesser
// of the SOA's TTL and its MINIMUM field (RFC 2308 section 5), within the
// configured bounds. Zero means not at all.
func (c *Cache) NegativeTTL(soa *dns.SOA) uint32 {
	return uint32(clamp(min(soa.Hdr.Ttl, soa.Minttl), c.cfg.MinNegativeTTL, c.cfg.MaxNegativeTTL) / time.Second)
}

// Get returns the live entry for name and qtype: the RRset, or a negative
// entry (an NXDOMAIN for the name answers every qtype). The records are
// copies whose TTLs are the seconds left.
func (c *Cache) Get(name string, qtype, qclass uint16) (Entry, bool) {
	name = Canonical(name)
	now := c.cfg.Now()
	c.mu.Lock()
	e, ok := c.s.get(name, qtype, qclass, now.UnixNano())
	if !ok && qtype != dns.TypeNone {
		e, ok = c.s.get(name, dns.TypeNone, qclass, now.UnixNano())
	}
	c.mu.Unlock()
	if !ok {
		return Entry{}, false
	}
	return e.export(now) // e.data is immutable: no lock needed
}

// Remove drops the entry for key, if any.
func (c *Cache) Remove(k Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.remove(k.Name, k.Type, k.Class)
}

// Keys returns the keys of all entries, oldest first (for inspection and
// tests; it copies the whole key set).
func (c *Cache) Keys() []Key {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.s.keys()
}

// Len reports the number of entries, live or expired but not yet evicted.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.s.count
}

// Bytes reports the estimated size of all entries.
func (c *Cache) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.s.bytes
}

func (c *Cache) clampTTL(ttl uint32, maxTTL time.Duration) time.Duration {
	return clamp(ttl, c.cfg.MinTTL, maxTTL)
}

func clamp(ttl uint32, minTTL, maxTTL time.Duration) time.Duration {
	d := time.Duration(ttl) * time.Second
	if ttl == 0 && minTTL == 0 {
		return 0 // TTL 0: use once, never cache (RFC 1035 section 3.2.1)
	}
	return min(max(d, minTTL), maxTTL) // an operator's minimum wins, as in Unbound and Knot
}

// export unpacks e's records with their TTLs counted down to now. ok is
// false if they do not unpack, which cannot happen to what Put packed.
func (e entry) export(now time.Time) (out Entry, ok bool) {
	expires := time.Unix(0, e.expires)
	left := uint32(expires.Sub(now) / time.Second)
	out = Entry{Negative: e.negative, Rank: e.rank, TTL: left, Expires: expires}
	name, rest := e.data[:e.nameLen], e.data[e.nameLen:]
	// A read-only view: unpacking never writes to the message.
	wire := unsafe.Slice(unsafe.StringData(rest), len(rest))
	if e.negative != Positive {
		if len(wire) > 0 {
			rr, _, err := dns.UnpackRR(wire, 0)
			soa, isSOA := rr.(*dns.SOA)
			if err != nil || !isSOA {
				return Entry{}, false
			}
			soa.Hdr.Ttl = left
			out.SOA = soa
		}
		return out, true
	}
	owner := name
	if e.ownerLen > 0 {
		owner = rest[:e.ownerLen]
	}
	for off := int(e.ownerLen); off < len(wire); {
		if off+2 > len(wire) {
			return Entry{}, false
		}
		n := int(binary.BigEndian.Uint16(wire[off:]))
		off += 2
		if off+n > len(wire) {
			return Entry{}, false
		}
		h := dns.RR_Header{Name: owner, Rrtype: e.typ, Class: e.class, Ttl: left, Rdlength: uint16(n)}
		rr, end, err := dns.UnpackRRWithHeader(h, wire[:off+n], off)
		if err != nil || end != off+n {
			return Entry{}, false
		}
		out.RRs = append(out.RRs, rr)
		off = end
	}
	return out, true
}

// packEntry returns the data string of a positive entry: name, then owner
// (which may be empty), then the RDATA of rrs, each after its length,
// uncompressed. size is at least the records' packed length, headers
// included. The string is the entry's one allocation, of its exact size.
func packEntry(name, owner string, rrs []dns.RR, size int) (string, bool) {
	scratch := make([]byte, size)
	end, rdata := 0, 0
	for _, rr := range rrs {
		// PackRR sets Rdlength: never on a record the caller may share.
		cp := dns.Copy(rr)
		n, err := dns.PackRR(cp, scratch, end, nil, false)
		if err != nil || n <= end {
			return "", false
		}
		rdata += 2 + int(cp.Header().Rdlength)
		end = n
	}
	out := make([]byte, 0, len(name)+len(owner)+rdata)
	out = append(out, name...)
	out = append(out, owner...)
	for off := 0; off < end; {
		for scratch[off] != 0 { // the owner name, uncompressed
			off += 1 + int(scratch[off])
			if off >= end {
				return "", false
			}
		}
		off += 1 + 8 // root label, type, class, TTL
		if off+2 > end {
			return "", false
		}
		n := int(binary.BigEndian.Uint16(scratch[off:]))
		if off+2+n > end {
			return "", false
		}
		out = append(out, scratch[off:off+2+n]...) // RDLENGTH and RDATA
		off += 2 + n
	}
	if len(out) != cap(out) {
		return "", false
	}
	return unsafe.String(unsafe.SliceData(out), len(out)), true // out is not written again
}
