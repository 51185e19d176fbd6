// Package cache owns the resolver's memory: a TTL-aware LRU of RRsets and of
// negative answers (NXDOMAIN per name, NODATA per name and type), each with
// the rank of the data (RFC 2181 section 5.4.1) and an absolute expiry. It
// knows TTLs and ranks, not referrals or iteration. The clock is injected.
package cache

import (
	"encoding/binary"
	"strings"
	"sync"
	"time"
	"unsafe"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/miekg/dns"
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
	MaxBytes       int64         // estimated bytes kept at most; default DefaultMaxBytes
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

// entry is stored by value in the LRU's own list element, in wire form:
// one dns.RR struct per record (header, owner name, slices) cost several
// times the bytes of the data. Records are unpacked afresh on Get, which
// hands out copies anyway.
type entry struct {
	// wire holds, for a positive entry, the owner as learned when its case
	// differs from the key's (ownerLen bytes), then each record's RDATA
	// after its 2-byte length; for a negative one, the SOA as a packed RR
	// or nothing.
	wire     string
	expires  int64 // Unix nanoseconds of Config.Now
	size     int32
	ownerLen uint16
	negative Negative
	rank     Rank
}

// entryOverhead estimates the bytes an entry costs besides its names and
// wire data: the LRU's list element holding key and entry (112) and its
// map slot; BenchmarkMemoryPerRRset checks the estimate against the heap.
const entryOverhead = 160

// Cache is safe for concurrent use.
type Cache struct {
	cfg Config
	lru *lru.Cache[Key, entry]

	mu    sync.Mutex // guards bytes and serialises rank checks with writes
	bytes int64
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
	c := &Cache{cfg: cfg}
	// The eviction callback runs with the LRU's lock held, inside Add or
	// Remove, which we only call with c.mu held: bytes stays consistent.
	c.lru, _ = lru.NewWithEvict(cfg.MaxEntries, func(_ Key, e entry) { c.bytes -= int64(e.size) })
	return c
}

// Canonical returns name fully qualified and in lower case, as keys want.
func Canonical(name string) string {
	return strings.ToLower(dns.Fqdn(name))
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
		if h.Rrtype != k.Type || h.Class != k.Class || !strings.EqualFold(h.Name, k.Name) {
			return false
		}
		ttl = min(ttl, h.Ttl) // RFC 2181 5.2: an RRset has one TTL
		packedLen += dns.Len(rr)
	}
	if packedLen > MaxRRsetBytes {
		return false
	}
	d := c.clampTTL(ttl, c.cfg.MaxTTL)
	if d <= 0 {
		return false
	}
	wire, ok := packRDATA(rrs, packedLen)
	if !ok {
		return false
	}
	e := entry{wire: wire, rank: rank, expires: c.cfg.Now().Add(d).UnixNano()}
	if h0.Name != k.Name && len(h0.Name) <= 0xffff {
		e.wire, e.ownerLen = h0.Name+wire, uint16(len(h0.Name))
	}
	e.size = int32(entryOverhead + len(k.Name) + len(e.wire))

	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.replaceable(k, rank) {
		return false
	}
	c.add(k, e)
	// Data at the name proves it exists: an NXDOMAIN entry for it is stale.
	c.lru.Remove(Key{Name: k.Name, Type: dns.TypeNone, Class: k.Class})
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
	k := Key{Name: Canonical(name), Type: qtype, Class: qclass}
	if kind == NXDomain {
		k.Type = dns.TypeNone
	}
	var (
		d    time.Duration
		wire string
	)
	if soa != nil {
		d = time.Duration(c.NegativeTTL(soa)) * time.Second
		b := make([]byte, dns.Len(soa))
		n, err := dns.PackRR(dns.Copy(soa), b, 0, nil, false) // PackRR sets Rdlength: not on the caller's
		if err != nil {
			return false
		}
		wire = string(b[:n])
	} else {
		d = min(max(NoSOANegativeTTL, c.cfg.MinTTL, c.cfg.MinNegativeTTL), c.cfg.MaxNegativeTTL)
	}
	if d <= 0 {
		return false
	}
	e := entry{
		negative: kind,
		wire:     wire,
		rank:     rank,
		expires:  c.cfg.Now().Add(d).UnixNano(),
		size:     int32(entryOverhead + len(k.Name) + len(wire)),
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.replaceable(k, rank) {
		return false
	}
	c.add(k, e)
	return true
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
	k := Key{Name: name, Type: qtype, Class: qclass}
	if e, ok := c.live(k, now); ok {
		return e.export(k, now)
	}
	if qtype != dns.TypeNone {
		k.Type = dns.TypeNone
		if e, ok := c.live(k, now); ok {
			return e.export(k, now)
		}
	}
	return Entry{}, false
}

// Remove drops the entry for key, if any.
func (c *Cache) Remove(k Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Remove(k)
}

// Keys returns the keys of all entries, oldest first (for inspection and
// tests; it copies the whole key set).
func (c *Cache) Keys() []Key { return c.lru.Keys() }

// Len reports the number of entries, live or expired but not yet evicted.
func (c *Cache) Len() int { return c.lru.Len() }

// Bytes reports the estimated size of all entries.
func (c *Cache) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

func (c *Cache) live(k Key, now time.Time) (entry, bool) {
	e, ok := c.lru.Get(k)
	if !ok || now.UnixNano() >= e.expires {
		return entry{}, false
	}
	return e, true
}

// replaceable reports whether data of rank may replace what is stored at k.
func (c *Cache) replaceable(k Key, rank Rank) bool {
	old, ok := c.lru.Peek(k)
	return !ok || c.cfg.Now().UnixNano() >= old.expires || rank >= old.rank
}

func (c *Cache) add(k Key, e entry) {
	c.lru.Remove(k) // the eviction callback subtracts the old size
	c.lru.Add(k, e)
	c.bytes += int64(e.size)
	for c.bytes > c.cfg.MaxBytes && c.lru.Len() > 1 {
		c.lru.RemoveOldest()
	}
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
func (e entry) export(k Key, now time.Time) (out Entry, ok bool) {
	expires := time.Unix(0, e.expires)
	left := uint32(expires.Sub(now) / time.Second)
	out = Entry{Negative: e.negative, Rank: e.rank, TTL: left, Expires: expires}
	// A read-only view: unpacking never writes to the message.
	wire := unsafe.Slice(unsafe.StringData(e.wire), len(e.wire))
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
	owner := k.Name
	if e.ownerLen > 0 {
		owner = e.wire[:e.ownerLen]
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
		h := dns.RR_Header{Name: owner, Rrtype: k.Type, Class: k.Class, Ttl: left, Rdlength: uint16(n)}
		rr, end, err := dns.UnpackRRWithHeader(h, wire[:off+n], off)
		if err != nil || end != off+n {
			return Entry{}, false
		}
		out.RRs = append(out.RRs, rr)
		off = end
	}
	return out, true
}

// packRDATA returns the RDATA of rrs, each after its length, uncompressed.
// size is at least the records' packed length, headers included.
func packRDATA(rrs []dns.RR, size int) (string, bool) {
	scratch := make([]byte, size)
	out := make([]byte, 0, size)
	for _, rr := range rrs {
		// PackRR sets Rdlength: never on a record the caller may share.
		end, err := dns.PackRR(dns.Copy(rr), scratch, 0, nil, false)
		if err != nil {
			return "", false
		}
		start := 0
		for scratch[start] != 0 { // the owner name, uncompressed
			start += 1 + int(scratch[start])
		}
		start += 1 + 10 // root label, type, class, TTL, RDLENGTH
		if start > end || end-start > 0xffff {
			return "", false
		}
		out = binary.BigEndian.AppendUint16(out, uint16(end-start))
		out = append(out, scratch[start:end]...)
	}
	return string(out), true
}
