package cache

import (
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/internal/dnsname"
)

// Security is the DNSSEC status the resolver's validation gave an entry
// (RFC 4035 section 4.3).
type Security uint8

const (
	// Unchecked: stored without validation (validation off, glue, the
	// parent's NS set of a referral).
	Unchecked Security = iota
	// Insecure: proven to be outside any chain of trust.
	Insecure
	// Secure: its signatures verified up to a trust anchor.
	Secure
	// Bogus: it should have verified and did not.
	Bogus
	// Indeterminate: no trust anchor says whether it should be signed.
	Indeterminate
)

func (s Security) String() string {
	switch s {
	case Unchecked:
		return "unchecked"
	case Insecure:
		return "insecure"
	case Secure:
		return "secure"
	case Bogus:
		return "bogus"
	case Indeterminate:
		return "indeterminate"
	}
	return "unknown"
}

// replaces reports whether data of security sec may take the place of a
// live entry of security old, ranks aside: only secure data replaces
// secure data (RFC 4035 section 4.5 has validated data outlive what could
// be spoofed), and bogus data replaces only bogus data, so that a forged
// answer cannot evict a good one.
func replaces(sec, old Security) bool {
	switch {
	case old == Secure:
		return sec == Secure
	case sec == Bogus:
		return old == Bogus
	}
	return true
}

// supersedes reports whether e may replace a live entry of rank and
// security old. Security first (replaces), then rank (RFC 2181 section
// 5.4.1), except that secure data replaces data that is not, whatever its
// rank, as Unbound does: a verified signature beats any section's word.
func (e *entry) supersedes(rank Rank, old Security) bool {
	if !replaces(e.security, old) {
		return false
	}
	return e.rank >= rank || e.security == Secure && old != Secure
}

// Set is what PutSet stores: an RRset with its DNSSEC records and status.
type Set struct {
	RRs []dns.RR // one RRset: records of one owner, type and class
	// Sigs are the RRSIGs that came with the RRset: each must cover its
	// type and have its owner and class.
	Sigs []dns.RR
	// Proof: for an answer expanded from a wildcard, the NSEC or NSEC3
	// records that the qname has no closer match, with their RRSIGs
	// (RFC 4035 section 5.3.4). Nil otherwise.
	Proof    []dns.RR
	Rank     Rank
	Security Security
	EDE      uint16 // the RFC 8914 code of a Bogus or unsupported-algorithm verdict, 0 otherwise
	// KeepStale: a Bogus set does not replace an entry that is not bogus
	// and expired less than this ago, which serve-stale may still give
	// (GetStale); 0: it does.
	KeepStale time.Duration
}

// NegativeSet is what PutNegativeSet stores: a negative answer with its
// DNSSEC records and status.
type NegativeSet struct {
	Name   string
	Qtype  uint16 // ignored for NXDomain, which answers every type
	Qclass uint16
	Kind   Negative // NXDomain or NoData
	SOA    *dns.SOA // the zone's SOA, when the answer had one
	// Sigs are the SOA's RRSIGs: each must cover SOA and have the SOA's
	// owner and class. None without SOA.
	Sigs []dns.RR
	// Proof: the NSEC or NSEC3 records of the denial and their RRSIGs,
	// in the order given.
	Proof    []dns.RR
	Rank     Rank
	Security Security
	EDE      uint16
	// TTL caps the entry's TTL in seconds (the resolver's clamp to the
	// signatures' expiry); 0: no cap. The RFC 2308 rule of PutNegative
	// and the records' own TTLs still bound it.
	TTL uint32
	// KeepStale is Set's.
	KeepStale time.Duration
}

// PutSet stores one RRset with its RRSIGs, proof and status, as Put does.
// The entry's TTL is the least of its records', RRSIGs' and proof's TTLs,
// all of which Get counts down. MaxRRsetRecords bounds the RRset, the
// RRSIGs and the proof each; MaxRRsetBytes their packed size together. It
// returns false when the set was not stored: invalid (see Set), too large,
// zero TTL, or not allowed to replace the live entry for its key: a
// Secure entry is replaced only by Secure data, a Bogus set replaces only
// a Bogus entry, and a lower rank never replaces a higher one unless the
// new data is Secure and the old is not.
func (c *Cache) PutSet(s Set) bool {
	return c.PutSetAt(s, time.Time{})
}

// PutSetAt is PutSet at at, a reading of the cache's clock the caller
// has taken (time.Now is a vDSO call, slow on a KVM guest, and a reply
// stores several sets); when zero, the clock is read.
func (c *Cache) PutSetAt(s Set, at time.Time) bool {
	rrs := s.RRs
	if len(rrs) == 0 || len(rrs) > MaxRRsetRecords || !validSecurity(s.Security) {
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
	sigTTL, sigLen, ok := checkSigs(s.Sigs, k.Name, k.Type, k.Class)
	proofTTL, proofLen, pok := checkProof(s.Proof, k.Class)
	packedLen += sigLen + proofLen
	if !ok || !pok || packedLen > MaxRRsetBytes || len(k.Name) > 0xffff {
		return false
	}
	d := c.clampTTL(min(ttl, sigTTL, proofTTL), c.cfg.MaxTTL)
	if d <= 0 {
		return false
	}
	owner := ""
	if h0.Name != k.Name && len(h0.Name) <= 0xffff {
		owner = h0.Name
	}
	var buf [packBuf]byte
	data, tail, ok := packEntry(buf[:], k.Name, owner, rrs, false, s.Sigs, s.Proof, packedLen)
	if !ok {
		return false
	}
	if at.IsZero() {
		at = c.cfg.Now()
	}
	now := at.UnixNano()
	e := entry{
		data:      data,
		expires:   now + int64(d),
		ttl:       uint32(d / time.Second),
		nameLen:   uint16(len(k.Name)),
		ownerLen:  uint16(len(owner)),
		tailLen:   uint16(tail),
		typ:       k.Type,
		class:     k.Class,
		ede:       s.EDE,
		rank:      s.Rank,
		security:  s.Security,
		nsigs:     uint8(len(s.Sigs)),
		keepStale: int64(s.KeepStale),
	}

	sh, h := c.shardOf(k.Name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !sh.s.put(h, e, now) {
		return false
	}
	// Data at the name proves it exists: an NXDOMAIN entry for it is stale,
	// unless the data could not have replaced it. It is in the chain put
	// just walked.
	sh.s.removeFor(h, k.Name, dns.TypeNone, k.Class, s.Security, now)
	return true
}

// PutNegativeSet stores a negative answer with the SOA's RRSIGs, the
// denial's proof and its status, as PutNegative does. Its TTL is that of
// PutNegative, lowered to the least TTL of the RRSIGs and the proof and to
// n.TTL. Sigs, Proof and replacement follow the rules of PutSet.
func (c *Cache) PutNegativeSet(n NegativeSet) bool {
	if n.Kind != NXDomain && n.Kind != NoData || !validSecurity(n.Security) {
		return false
	}
	name := Canonical(n.Name)
	if len(name) > 0xffff {
		return false
	}
	if n.Kind == NXDomain {
		n.Qtype = dns.TypeNone
	}
	lowest := n.TTL
	if lowest == 0 {
		lowest = ^uint32(0)
	}
	size := 0
	var head []dns.RR
	if n.SOA != nil {
		head = []dns.RR{n.SOA}
		size = dns.Len(n.SOA)
		sigTTL, sigLen, ok := checkSigs(n.Sigs, n.SOA.Hdr.Name, dns.TypeSOA, n.SOA.Hdr.Class)
		if !ok {
			return false
		}
		lowest = min(lowest, sigTTL)
		size += sigLen
	} else if len(n.Sigs) > 0 {
		return false // RRSIGs of no SOA
	}
	proofTTL, proofLen, ok := checkProof(n.Proof, n.Qclass)
	if !ok || size+proofLen > MaxRRsetBytes {
		return false
	}
	d := c.negativeDuration(n.SOA, min(lowest, proofTTL))
	if d <= 0 {
		return false
	}
	var buf [packBuf]byte
	data, tail, ok := packEntry(buf[:], name, "", head, true, n.Sigs, n.Proof, size+proofLen)
	if !ok {
		return false
	}
	now := c.cfg.Now().UnixNano()
	e := entry{
		data:      data,
		expires:   now + int64(d),
		ttl:       uint32(d / time.Second),
		nameLen:   uint16(len(name)),
		tailLen:   uint16(tail),
		typ:       n.Qtype,
		class:     n.Qclass,
		ede:       n.EDE,
		negative:  n.Kind,
		rank:      n.Rank,
		security:  n.Security,
		nsigs:     uint8(len(n.Sigs)),
		keepStale: int64(n.KeepStale),
	}
	sh, h := c.shardOf(name)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.s.put(h, e, now)
}

// negativeDuration is how long a negative answer with soa (or none) is
// kept when its other records' least TTL is lowest (^0: none): the rule
// of PutNegative, lowered to lowest within the configured bounds.
func (c *Cache) negativeDuration(soa *dns.SOA, lowest uint32) time.Duration {
	var d time.Duration
	if soa != nil {
		d = time.Duration(c.NegativeTTL(soa)) * time.Second
	} else {
		d = min(max(NoSOANegativeTTL, c.cfg.MinTTL, c.cfg.MinNegativeTTL), c.cfg.MaxNegativeTTL)
	}
	if lowest != ^uint32(0) {
		d = min(d, clamp(lowest, c.cfg.MinNegativeTTL, c.cfg.MaxNegativeTTL))
	}
	return d
}

func validSecurity(s Security) bool { return s <= Indeterminate }

// checkSigs reports whether sigs are RRSIGs covering typ at owner in class,
// at most MaxRRsetRecords, and returns their least TTL (^0 for none) and
// packed size.
func checkSigs(sigs []dns.RR, owner string, typ, class uint16) (ttl uint32, size int, ok bool) {
	ttl = ^uint32(0)
	if len(sigs) > MaxRRsetRecords {
		return 0, 0, false
	}
	for _, rr := range sigs {
		sig, isSig := rr.(*dns.RRSIG)
		if !isSig || sig.Hdr.Rrtype != dns.TypeRRSIG || sig.TypeCovered != typ || sig.Hdr.Class != class ||
			!dnsname.EqualFold(sig.Hdr.Name, owner) {
			return 0, 0, false
		}
		ttl = min(ttl, sig.Hdr.Ttl)
		size += dns.Len(sig)
	}
	return ttl, size, true
}

// checkProof reports whether proof holds only NSEC and NSEC3 records and
// RRSIGs covering them, in class, at most MaxRRsetRecords, and returns
// their least TTL (^0 for none) and packed size.
func checkProof(proof []dns.RR, class uint16) (ttl uint32, size int, ok bool) {
	ttl = ^uint32(0)
	if len(proof) > MaxRRsetRecords {
		return 0, 0, false
	}
	for _, rr := range proof {
		h := rr.Header()
		valid := false
		switch rr := rr.(type) {
		case *dns.NSEC:
			valid = h.Rrtype == dns.TypeNSEC
		case *dns.NSEC3:
			valid = h.Rrtype == dns.TypeNSEC3
		case *dns.RRSIG:
			valid = h.Rrtype == dns.TypeRRSIG && (rr.TypeCovered == dns.TypeNSEC || rr.TypeCovered == dns.TypeNSEC3)
		}
		if !valid || h.Class != class {
			return 0, 0, false
		}
		ttl = min(ttl, h.Ttl)
		size += dns.Len(rr)
	}
	return ttl, size, true
}
