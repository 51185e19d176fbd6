// Package cache owns the resolver's memory: a TTL-aware LRU of RRsets and of
// negative answers (NXDOMAIN per name, NODATA per name and type), each with
// the rank of the data (RFC 2181 section 5.4.1), an absolute expiry, and
// its DNSSEC records (RRSIGs, NSEC and NSEC3 proofs) and status as the
// resolver's validation left them. It knows TTLs, ranks and which status
// may replace which, not referrals, iteration or how to validate. The
// clock is injected.
//
// Entries live in a store of the package's own (store.go): fixed-size slots
// in chunked arrays, an intrusive LRU list, a hash index, and the entries'
// bytes in an arena of size-classed cells. None of it holds pointers, so a
// cached RRset costs about 120 bytes of heap and the garbage collector
// never has to look inside the cache. Unsigned data costs nothing for
// DNSSEC: the status lives in the slot's former padding, and the signed
// records in a tail of the entry's bytes.
package cache

import (
	"encoding/binary"
	"iter"
	"net"
	"net/netip"
	"runtime"
	"strings"
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
	// MaxRRsetBytes counts an entry's RRSIGs and proof too: 16 KB
	// lets an RRset of the 8 KB that unsigned data was allowed keep
	// its signatures (several of RSA-4096 keys, a DNSKEY set's).
	MaxRRsetRecords = 100
	MaxRRsetBytes   = 16 << 10
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
	// Sigs: the RRSIGs stored with the RRset, or with the SOA of a
	// negative entry. Their owner is the RRset's (the SOA's).
	Sigs []dns.RR
	// Proof: the NSEC and NSEC3 records and their RRSIGs stored with a
	// negative entry or a wildcard answer, in the order given.
	Proof    []dns.RR
	Rank     Rank
	Security Security
	EDE      uint16    // the RFC 8914 code stored with the status, 0 for none
	TTL      uint32    // whole seconds left; 0 for an expired entry (GetStale)
	Expires  time.Time // when the entry stops being served
	// OriginalTTL is the TTL the entry was stored with, in seconds, as
	// clamped: a read in its last tenth may start a prefetch.
	OriginalTTL uint32
}

// Expired reports whether e had run out at now (an entry of GetStale).
func (e Entry) Expired(now time.Time) bool { return !now.Before(e.Expires) }

// Cache is safe for concurrent use. Its entries are split among shards by
// a hash of their name, each a store with its own lock and LRU list and an
// equal part of the bounds, so that hits on different cores seldom wait
// for each other: with one lock, a Get from each of four goroutines took
// twice the CPU of a Get from one (BenchmarkGetParallel). All the keys of
// a name share a shard, so a Get's NXDOMAIN fallback and PutSet's removal
// of a stale NXDOMAIN take one lock.
type Cache struct {
	cfg    Config
	hash   func(name string) uint64 // of a canonical name: its shard, and its chain in the shard's store
	shards []shard                  // a power of two of them
	types  typeSet                  // the types every shard has held, for MayHold
}

// shard is one store and its lock, padded so that two shards' locks never
// share a cache line (nor the line next to it, which x86 fetches in pairs).
type shard struct {
	mu sync.Mutex // guards s
	s  *store
	_  [128 - unsafe.Sizeof(sync.Mutex{}) - unsafe.Sizeof((*store)(nil))]byte
}

// Sharding bounds: a shard per core four times over (two cores meeting on
// one shard is then rare), at most maxShards, and never so many that a
// shard would keep fewer than minShardEntries entries or minShardBytes
// bytes: the LRU order and the bounds are a shard's, and small caches
// (tests, tiny budgets) keep one of each.
const (
	maxShards       = 256
	minShardEntries = 1024
	minShardBytes   = 1 << 20
)

// shardCount is the number of shards of a cache of the bounds given.
func shardCount(maxEntries int, maxBytes int64) int {
	n := 1
	for n < 4*runtime.GOMAXPROCS(0) && n < maxShards {
		n *= 2
	}
	for n > 1 && (maxEntries/n < minShardEntries || maxBytes/int64(n) < minShardBytes) {
		n /= 2
	}
	return n
}

// shardOf returns the shard of name (canonical) and the name's hash, for
// the shard's store.
func (c *Cache) shardOf(name string) (*shard, uint64) {
	h := c.hash(name)
	return &c.shards[h&uint64(len(c.shards)-1)], h
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
	c := &Cache{cfg: cfg, hash: seededHash(), shards: make([]shard, shardCount(cfg.MaxEntries, cfg.MaxBytes))}
	n := len(c.shards)
	for i := range c.shards {
		c.shards[i].s = newStore(cfg.MaxEntries/n, cfg.MaxBytes/int64(n), c.hash)
		c.shards[i].s.types = &c.types
	}
	return c
}

// Canonical returns name fully qualified and in lower case, as keys want.
func Canonical(name string) string {
	return dnsname.Lower(dns.Fqdn(name))
}

// Put stores one RRset (records of one owner, type and class) with rank,
// unsigned and Unchecked: PutSet(Set{RRs: rrs, Rank: rank}). It returns
// false when the set was not stored: empty, mixed, too large, zero TTL, or
// outranked by live data.
func (c *Cache) Put(rrs []dns.RR, rank Rank) bool {
	return c.PutSet(Set{RRs: rrs, Rank: rank})
}

// PutNegative stores a negative answer for name: NXDomain for every type of
// the name, NoData for qtype only. Its TTL is the lesser of the SOA's TTL
// and its MINIMUM field (RFC 2308 section 5), capped by MaxNegativeTTL. A
// negative answer without SOA is kept NoSOANegativeTTL, or an operator's
// minimum TTL (MinTTL or MinNegativeTTL) when greater. It stores it
// unsigned and Unchecked, as PutNegativeSet.
func (c *Cache) PutNegative(name string, qtype, qclass uint16, kind Negative, soa *dns.SOA, rank Rank) bool {
	return c.PutNegativeSet(NegativeSet{Name: name, Qtype: qtype, Qclass: qclass, Kind: kind, SOA: soa, Rank: rank})
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
	return c.get(name, qtype, qclass, 0)
}

// GetStale is Get for serve-stale (RFC 8767): it also returns an entry
// that expired less than maxStale ago, whose TTL is then 0 (see
// Entry.Expired). Expired entries stay in the cache until the LRU bound
// evicts them or fresh data replaces them.
func (c *Cache) GetStale(name string, qtype, qclass uint16, maxStale time.Duration) (Entry, bool) {
	return c.get(name, qtype, qclass, max(int64(maxStale), 1))
}

func (c *Cache) get(name string, qtype, qclass uint16, stale int64) (Entry, bool) {
	name = Canonical(name)
	sh, h := c.shardOf(name)
	sh.mu.Lock()
	sl, now := c.findLocked(sh, h, name, qtype, qclass, stale, time.Time{})
	var e entry
	if sl != nil {
		e = sh.s.entryAt(sl)
	}
	sh.mu.Unlock()
	if sl == nil {
		return Entry{}, false
	}
	return e.export(now) // e.data is immutable: no lock needed
}

// GetMeta is Get without the records: what the entry says of itself
// (negative or not, rank, security, expiry) for callers that need no
// more. It copies and unpacks nothing.
func (c *Cache) GetMeta(name string, qtype, qclass uint16) (Meta, bool) {
	return c.GetMetaAt(name, qtype, qclass, time.Time{})
}

// GetMetaAt is GetMeta at at, a reading of the cache's clock the caller
// has taken; when zero, the clock is read (once an entry is found).
func (c *Cache) GetMetaAt(name string, qtype, qclass uint16, at time.Time) (Meta, bool) {
	name = Canonical(name)
	sh, h := c.shardOf(name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sl, _ := c.findLocked(sh, h, name, qtype, qclass, 0, at)
	if sl == nil {
		return Meta{}, false
	}
	return Meta{
		Key:      Key{Name: name, Type: sl.typ, Class: sl.class},
		Negative: sl.negative, Rank: sl.rank, Security: sl.security, EDE: sl.ede,
		Expires: time.Unix(0, sl.expires),
	}, true
}

// AppendAddrs appends to dst the addresses of name's live A or AAAA
// RRset (qtype) of class IN, read from the stored wire form: what a
// delegation's servers need, with no copy of the entry and no records
// made. It reports whether such an RRset is cached; an IPv4-mapped AAAA
// is appended as IPv4.
func (c *Cache) AppendAddrs(dst []netip.Addr, name string, qtype uint16) ([]netip.Addr, bool) {
	var now time.Time
	return c.AppendAddrsAt(dst, name, qtype, &now)
}

// AppendAddrsAt is AppendAddrs by *now, a reading of the cache's clock
// that a caller's lookups share: when zero, the clock is read (only once
// an entry is found) into it. time.Now is a vDSO call, slow on a KVM
// guest, and a delegation looks up the addresses of each of its servers.
func (c *Cache) AppendAddrsAt(dst []netip.Addr, name string, qtype uint16, now *time.Time) ([]netip.Addr, bool) {
	size := 4
	if qtype == dns.TypeAAAA {
		size = 16
	} else if qtype != dns.TypeA {
		return dst, false
	}
	name = Canonical(name)
	sh, h := c.shardOf(name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sl, at := c.findLocked(sh, h, name, qtype, dns.ClassINET, 0, *now)
	*now = at
	if sl == nil || sl.negative != Positive || sl.typ != qtype {
		return dst, false
	}
	data := sh.s.arena.bytes(sl.ref, int(sl.dataLen))
	for off, n := range rdatas(data, sl) {
		switch {
		case n != size: // no address (an empty RDATA), as Get's records would have none
		case size == 4:
			dst = append(dst, netip.AddrFrom4([4]byte(data[off:off+4])))
		default:
			dst = append(dst, netip.AddrFrom16([16]byte(data[off:off+16])).Unmap())
		}
	}
	return dst, true
}

// rdatas yields the offset in data and the length of each RDATA of sl, a
// positive entry whose bytes are data, in their stored wire form (each
// after its 2-byte length); it stops at a length that overruns them.
func rdatas(data []byte, sl *slot) iter.Seq2[int, int] {
	return func(yield func(off, n int) bool) {
		off, end := int(sl.nameLen)+int(sl.ownerLen), len(data)-int(sl.tailLen)
		for off+2 <= end {
			n := int(binary.BigEndian.Uint16(data[off:]))
			off += 2
			if off+n > end || !yield(off, n) {
				return
			}
			off += n
		}
	}
}

// AppendNSNames appends to dst the name server names of name's live NS
// RRset of class IN, read from the stored wire form, and returns the
// entry without its records (RRs and Sigs nil): what a delegation needs,
// with no copy of the entry and no records made, where a cold resolution
// unpacked its closest zone cut's NS set (thirteen records for a TLD) to
// read their names. ok is false when no such RRset is cached (a negative
// entry included).
func (c *Cache) AppendNSNames(dst []string, name string) (names []string, e Entry, ok bool) {
	var now time.Time
	return c.AppendNSNamesAt(dst, name, &now)
}

// AppendNSNamesAt is AppendNSNames by *at, a reading of the cache's clock
// shared as AppendAddrsAt's is: when zero, the clock is read (only once
// an entry is found) into it.
func (c *Cache) AppendNSNamesAt(dst []string, name string, at *time.Time) (names []string, e Entry, ok bool) {
	name = Canonical(name)
	sh, h := c.shardOf(name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sl, now := c.findLocked(sh, h, name, dns.TypeNS, dns.ClassINET, 0, *at)
	*at = now
	if sl == nil || sl.negative != Positive || sl.typ != dns.TypeNS {
		return dst, Entry{}, false
	}
	expires := time.Unix(0, sl.expires)
	e = Entry{Rank: sl.rank, Security: sl.security, EDE: sl.ede, Expires: expires, OriginalTTL: sl.ttl,
		TTL: uint32(max(0, expires.Sub(now)/time.Second))}
	data := sh.s.arena.bytes(sl.ref, int(sl.dataLen))
	for off, n := range rdatas(data, sl) {
		// Each RDATA is a name, uncompressed (packEntry): copied out
		// as a string before the lock is released.
		if ns, next, err := dns.UnpackDomainName(data[:off+n], off); err == nil && next == off+n {
			dst = append(dst, ns)
		}
	}
	return dst, e, true
}

// findLocked returns the slot of name's live entry for qtype, else of its
// live NXDOMAIN entry, promoted, and the time it was read at; nil when
// neither is cached. The clock is read only once a slot is found: most
// lookups of a cold resolution miss; at, unless zero, is a reading of it
// to use instead. sh.mu is held; h is the hash of name.
func (c *Cache) findLocked(sh *shard, h uint64, name string, qtype, qclass uint16, stale int64, at time.Time) (*slot, time.Time) {
	now, clocked := at, !at.IsZero()
	i, nx := sh.s.lookupOrNX(h, name, qtype, qclass)
	for _, i := range [2]uint32{i, nx} {
		if i == 0 {
			continue
		}
		if !clocked {
			now, clocked = c.cfg.Now(), true
		}
		if sl, ok := sh.s.liveAt(i, now.UnixNano(), stale); ok {
			return sl, now
		}
	}
	return nil, now
}

// RemoveExpired drops the entries of name and qtype (and an NXDOMAIN
// entry of name) that have expired: after a refresh that cached nothing
// (a TTL 0 answer), what is left must not be served stale.
func (c *Cache) RemoveExpired(name string, qtype, qclass uint16) {
	name = Canonical(name)
	now := c.cfg.Now().UnixNano()
	sh, h := c.shardOf(name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	i, nx := sh.s.lookupOrNX(h, name, qtype, qclass)
	for _, i := range [2]uint32{i, nx} {
		if i != 0 && now >= sh.s.at(i).expires {
			sh.s.drop(i)
		}
	}
}

// Remove drops the entry for key, if any.
func (c *Cache) Remove(k Key) {
	sh, h := c.shardOf(k.Name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.s.remove(h, k.Name, k.Type, k.Class)
}

// Keys returns the keys of all entries, shard by shard, each shard's
// oldest first (for inspection and tests; it copies the whole key set).
func (c *Cache) Keys() []Key {
	var out []Key
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		out = append(out, sh.s.keys()...)
		sh.mu.Unlock()
	}
	return out
}

// Limits returns the entries and estimated bytes the cache keeps at most.
func (c *Cache) Limits() (entries int, bytes int64) {
	return c.cfg.MaxEntries, c.cfg.MaxBytes
}

// Len reports the number of entries, live or expired but not yet evicted.
func (c *Cache) Len() int {
	return int(c.sumShards(func(s *store) int64 { return int64(s.count) }))
}

// Bytes reports the estimated size of all entries.
func (c *Cache) Bytes() int64 {
	return c.sumShards(func(s *store) int64 { return s.bytes })
}

// sumShards adds up f over the shards' stores, each under its lock.
func (c *Cache) sumShards(f func(*store) int64) int64 {
	var n int64
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += f(sh.s)
		sh.mu.Unlock()
	}
	return n
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
	left := uint32(max(0, expires.Sub(now)/time.Second))
	out = Entry{Negative: e.negative, Rank: e.rank, Security: e.security, EDE: e.ede, TTL: left, Expires: expires, OriginalTTL: e.ttl}
	name, rest := e.data[:e.nameLen], e.data[e.nameLen:]
	// A read-only view: unpacking never writes to the message.
	wire := unsafe.Slice(unsafe.StringData(rest), len(rest))
	tail := len(wire) - int(e.tailLen)
	if tail < int(e.ownerLen) {
		return Entry{}, false
	}
	owner := name
	if e.negative != Positive {
		if tail > 0 {
			rr, end, err := dns.UnpackRR(wire[:tail], 0)
			soa, isSOA := rr.(*dns.SOA)
			if err != nil || !isSOA || end != tail {
				return Entry{}, false
			}
			soa.Hdr.Ttl = left
			out.SOA = soa
			owner = soa.Hdr.Name
		}
	} else {
		if e.ownerLen > 0 {
			owner = rest[:e.ownerLen]
		}
		h := dns.RR_Header{Name: owner, Rrtype: e.typ, Class: e.class, Ttl: left}
		if out.RRs, _, ok = unpackRdata(wire[:tail], int(e.ownerLen), -1, h); !ok {
			return Entry{}, false
		}
	}
	if e.tailLen == 0 {
		return out, true
	}
	return out, e.exportTail(&out, wire[tail:], owner, left)
}

// exportTail unpacks the RRSIGs, whose owner is owner, and the proof of
// the tail into out.
func (e entry) exportTail(out *Entry, tail []byte, owner string, left uint32) bool {
	h := dns.RR_Header{Name: owner, Rrtype: dns.TypeRRSIG, Class: e.class, Ttl: left}
	sigs, off, ok := unpackRdata(tail, 0, int(e.nsigs), h)
	if !ok || len(sigs) != int(e.nsigs) {
		return false
	}
	out.Sigs = sigs
	for off < len(tail) {
		rr, end, err := dns.UnpackRR(tail, off)
		if err != nil || rr == nil || end <= off {
			return false
		}
		rr.Header().Ttl = left
		out.Proof = append(out.Proof, rr)
		off = end
	}
	return true
}

// unpackRdata returns the records of wire from off, each RDATA after its
// 2-byte length, under header h: all of them (limit -1) or the first
// limit, and where they end.
func unpackRdata(wire []byte, off, limit int, h dns.RR_Header) (out []dns.RR, end int, ok bool) {
	for ; off < len(wire) && limit != 0; limit-- {
		if off+2 > len(wire) {
			return nil, 0, false
		}
		n := int(binary.BigEndian.Uint16(wire[off:]))
		off += 2
		if off+n > len(wire) {
			return nil, 0, false
		}
		h.Rdlength = uint16(n)
		rr, next, err := dns.UnpackRRWithHeader(h, wire[:off+n], off)
		if err != nil || next != off+n {
			return nil, 0, false
		}
		out = append(out, rr)
		off = next
	}
	return out, off, true
}

// packEntry returns the data string of an entry and the length of its
// tail: name, then owner (which may be empty), then head (each record's
// RDATA after its length, or the whole packed records if whole), then the
// tail: the RDATA of sigs after their lengths and the whole packed
// records of proof. All are uncompressed; size is at least their packed
// length, headers included. The string is in buf when it fits (put
// copies it into the arena: callers pass room on their stack, packBuf
// long), else an allocation of its exact size; it is valid until buf is
// written again.
func packEntry(buf []byte, name, owner string, head []dns.RR, whole bool, sigs, proof []dns.RR, size int) (data string, tail int, ok bool) {
	if !whole && len(sigs) == 0 && len(proof) == 0 {
		if data, ok := packPlain(buf, name, owner, head); ok {
			return data, 0, true
		}
	}
	return packRecords(buf, name, owner, head, whole, sigs, proof, size)
}

// packBuf is the room for an entry's data that PutSet and PutNegativeSet
// keep on their stacks: most RRsets fit.
const packBuf = 512

// room returns buf's first n bytes, or n new ones when buf is shorter.
func room(buf []byte, n int) []byte {
	if n <= cap(buf) {
		return buf[:n]
	}
	return make([]byte, n)
}

// packRecords is packEntry through dns.PackRR, for records of any type.
func packRecords(buf []byte, name, owner string, head []dns.RR, whole bool, sigs, proof []dns.RR, size int) (data string, tail int, ok bool) {
	scratch := make([]byte, size)
	headEnd, headLen, ok1 := packRRs(head, scratch, 0)
	sigEnd, sigLen, ok2 := packRRs(sigs, scratch, headEnd)
	proofEnd, _, ok3 := packRRs(proof, scratch, sigEnd)
	if !ok1 || !ok2 || !ok3 {
		return "", 0, false
	}
	if whole {
		headLen = headEnd
	}
	tail = sigLen + proofEnd - sigEnd
	if tail > 0xffff {
		return "", 0, false
	}
	out := room(buf, len(name)+len(owner)+headLen+tail)[:0]
	out = append(out, name...)
	out = append(out, owner...)
	if whole {
		out = append(out, scratch[:headEnd]...)
	} else if out, ok = appendRdata(out, scratch[:headEnd]); !ok {
		return "", 0, false
	}
	if out, ok = appendRdata(out, scratch[headEnd:sigEnd]); !ok {
		return "", 0, false
	}
	out = append(out, scratch[sigEnd:proofEnd]...)
	if len(out) != len(name)+len(owner)+headLen+tail {
		return "", 0, false
	}
	return unsafe.String(unsafe.SliceData(out), len(out)), tail, true // out is not written again
}

// packPlain is packEntry for an unsigned RRset of A, AAAA, NS or CNAME
// records, which it writes itself, into buf when it fits: no allocation
// then, where dns.PackRR wanted a copy of each record (it sets Rdlength)
// and a scratch buffer. It reports false, for packEntry to do it, for
// any other type and for what it leaves to dns.PackRR: an address of
// another length, a name with an escape, an owner that does not pack.
func packPlain(buf []byte, name, owner string, rrs []dns.RR) (string, bool) {
	if len(rrs) == 0 || !packs(rrs[0].Header().Name) {
		return "", false
	}
	n := len(name) + len(owner)
	for _, rr := range rrs {
		k := 0
		switch rr := rr.(type) {
		case *dns.A:
			if len(rr.A) == net.IPv4len || len(rr.A) == net.IPv6len && rr.A.To4() != nil {
				k = net.IPv4len
			}
		case *dns.AAAA:
			if len(rr.AAAA) == net.IPv6len {
				k = net.IPv6len
			}
		case *dns.NS:
			k = packedLen(rr.Ns)
		case *dns.CNAME:
			k = packedLen(rr.Target)
		}
		if k == 0 {
			return "", false
		}
		n += 2 + k
	}
	out := room(buf, n)
	off := copy(out, name)
	off += copy(out[off:], owner)
	for _, rr := range rrs {
		var end int
		var err error
		switch rr := rr.(type) {
		case *dns.A:
			end = off + 2 + copy(out[off+2:], rr.A.To4())
		case *dns.AAAA:
			end = off + 2 + copy(out[off+2:], rr.AAAA)
		case *dns.NS:
			end, err = dns.PackDomainName(rr.Ns, out, off+2, nil, false)
		case *dns.CNAME:
			end, err = dns.PackDomainName(rr.Target, out, off+2, nil, false)
		}
		if err != nil || end <= off+2 || end > n {
			return "", false // a name that packLen got wrong: an escape, an empty label
		}
		binary.BigEndian.PutUint16(out[off:], uint16(end-off-2))
		off = end
	}
	if off != n {
		return "", false
	}
	return unsafe.String(unsafe.SliceData(out), len(out)), true // out is not written again
}

// packedLen is the length of name packed uncompressed, for a fully
// qualified name without escapes; 0 for any other.
func packedLen(name string) int {
	if name == "." {
		return 1
	}
	if len(name) == 0 || name[len(name)-1] != '.' || strings.IndexByte(name, '\\') >= 0 {
		return 0
	}
	return len(name) + 1
}

// packs reports whether dns.PackRR would pack name, an owner.
func packs(name string) bool {
	var buf [256]byte
	_, err := dns.PackDomainName(name, buf[:], 0, nil, false)
	return err == nil
}

// packRRs packs rrs uncompressed into buf from off and returns where they
// end and the bytes their RDATA take with their lengths.
func packRRs(rrs []dns.RR, buf []byte, off int) (end, rdata int, ok bool) {
	for _, rr := range rrs {
		// PackRR sets Rdlength: never on a record the caller may share.
		cp := dns.Copy(rr)
		n, err := dns.PackRR(cp, buf, off, nil, false)
		if err != nil || n <= off {
			return 0, 0, false
		}
		rdata += 2 + int(cp.Header().Rdlength)
		off = n
	}
	return off, rdata, true
}

// appendRdata appends to out the RDLENGTH and RDATA of each record packed
// uncompressed in wire.
func appendRdata(out, wire []byte) ([]byte, bool) {
	for off := 0; off < len(wire); {
		for wire[off] != 0 { // the owner name, uncompressed
			off += 1 + int(wire[off])
			if off >= len(wire) {
				return nil, false
			}
		}
		off += 1 + 8 // root label, type, class, TTL
		if off+2 > len(wire) {
			return nil, false
		}
		n := int(binary.BigEndian.Uint16(wire[off:]))
		if off+2+n > len(wire) {
			return nil, false
		}
		out = append(out, wire[off:off+2+n]...)
		off += 2 + n
	}
	return out, true
}
