package resolver

// Learning: what a reply teaches the cache, ranked by where it came from,
// and the cache reads that answer a question or a step of its chain.

import (
	"slices"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/dnssec"
	"github.com/recursor-dns/recursor/internal/dnsname"
)

// clientRank is the lowest rank of cached data given to clients as an
// answer: glue (additional-section data) and a referral's NS set (authority
// data of a non-authoritative reply) only serve to reach servers (RFC 2181
// section 5.4.1); a client asking for them gets them fetched.
const clientRank = cache.RankAnswer

// fromCache answers a client's qname and qtype without a query: from the
// local zones, else from the cache alone, following cached CNAMEs. It
// reports false when some step of the chain is not cached, or the chain
// loops.
func (r *Resolver) fromCache(qname string, qtype uint16) (result, bool) {
	if res, ok := r.fromLocal(qname, qtype); ok {
		return res, true
	}
	res, next := r.cachedChain(qname, qtype, clientRank, false)
	return res, next == "" && !res.loop
}

// cachedChain follows qname through cached CNAMEs, and CNAMEs it
// synthesises from cached secure DNAMEs, using entries ranked minRank or
// above. When the cache holds the end of the chain, it returns the whole
// answer and next is "". Otherwise res.answer holds the CNAMEs known and
// next is the name to resolve. With stale, expired entries that may be
// served stale count too (serve-stale, stale.go), and res.stale says
// whether one was used.
func (r *Resolver) cachedChain(qname string, qtype uint16, minRank cache.Rank, stale bool) (res result, next string) {
	var chain, proof []dns.RR
	sec := secure
	name := qname
	var fr freshness
	// final makes res the answer that ends at e, the cached RRset or
	// negative entry of name.
	final := func(e *cache.Entry) {
		fr.note(name, e, r.now)
		res = r.cachedResult(chain, sec, name, qtype, e)
		if len(proof) > 0 {
			res.proof = slices.Concat(proof, res.proof)
		}
		fr.set(&res)
	}
	for hops := 0; hops <= r.limits.MaxCNAMEs; hops++ {
		e, ok := r.cacheGet(name, qtype, stale, &fr)
		if ok && e.Rank >= minRank {
			if qtype == dns.TypeCNAME && e.Negative == cache.Positive {
				// A CNAME asked for comes with the DNAME that made it.
				if d, ok := r.cachedDNAME(name, minRank, stale, &fr); ok && sameName(d.synth.Target, e.RRs[0].(*dns.CNAME).Target) {
					chain, sec = d.appendTo(chain), worse(sec, d.sec)
				}
			}
			final(&e)
			return res, ""
		}
		e, ok = r.cacheGet(name, dns.TypeCNAME, stale, &fr)
		if ok && e.Negative != cache.Positive {
			final(&e)
			return res, ""
		}
		d, dok := r.cachedDNAME(name, minRank, stale, &fr)
		var cname *dns.CNAME
		switch {
		case ok:
			fr.note(name, &e, r.now)
			cname = e.RRs[0].(*dns.CNAME)
			if dok && sameName(d.synth.Target, cname.Target) {
				chain, sec = d.appendTo(chain), worse(sec, d.sec)
			}
			chain = append(append(chain, cname), e.Sigs...)
			proof = append(proof, e.Proof...)
			sec = worse(sec, r.verdictOf(name, dns.TypeCNAME, &e))
		case dok && d.sec.Status == dnssec.Secure:
			// No CNAME cached, but a validated DNAME above name makes
			// one (RFC 6672 section 3.2; Unbound does it for secure
			// DNAMEs alone): no query for name.
			cname = d.synth
			chain = append(d.appendTo(chain), cname)
		default:
			return result{answer: chain, sec: sec, proof: proof, stale: fr.stale}, name
		}
		if qtype == dns.TypeCNAME {
			res = result{answer: chain, sec: sec, proof: proof}
			fr.set(&res)
			return res, ""
		}
		name = cache.Canonical(cname.Target)
		if slices.ContainsFunc(chain, func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeCNAME && sameName(rr.Header().Name, name) }) {
			return result{answer: chain, loop: true, sec: sec, proof: proof, stale: fr.stale}, ""
		}
	}
	return result{answer: chain, sec: sec, proof: proof, stale: fr.stale}, name
}

// cachedLink is a cached DNAME above a name, with the CNAME it
// synthesises for that name.
type cachedLink struct {
	dname dns.RR
	sigs  []dns.RR
	synth *dns.CNAME
	sec   check
}

// appendTo appends the DNAME and its RRSIGs to chain, unless chain has
// them (an RRset appears once in a message).
func (l cachedLink) appendTo(chain []dns.RR) []dns.RR {
	if slices.ContainsFunc(chain, func(rr dns.RR) bool { return dns.IsDuplicate(rr, l.dname) }) {
		return chain
	}
	return append(append(chain, l.dname), l.sigs...)
}

// cachedDNAME returns the closest cached DNAME above name: an answer from
// the cache then carries the DNAME (and its RRSIGs) before the CNAME, as
// the authoritative reply did (RFC 6672 section 3.1), and DNAME-aware
// clients see the redirection rather than a lone CNAME. It asks the cache
// once per ancestor of name, only when name's own data is not cached.
func (r *Resolver) cachedDNAME(name string, minRank cache.Rank, stale bool, fr *freshness) (cachedLink, bool) {
	if !r.cache.MayHold(dns.TypeDNAME) {
		return cachedLink{}, false // most caches never see one: no lookup per ancestor
	}
	for off, end := dns.NextLabel(name, 0); !end; off, end = dns.NextLabel(name, off) {
		owner := name[off:]
		e, ok := r.cacheGet(owner, dns.TypeDNAME, stale, fr)
		if !ok || e.Rank < minRank || e.Negative != cache.Positive {
			continue
		}
		d, synth := dnameFor(e.RRs, name)
		if d == nil {
			return cachedLink{}, false // the closest DNAME is the one that applies
		}
		fr.note("", &e, r.now) // a DNAME is refreshed with the names below it, not on its own
		return cachedLink{dname: d, sigs: e.Sigs, synth: synth, sec: r.verdictOf(owner, dns.TypeDNAME, &e)}, true
	}
	return cachedLink{}, false
}

func (r *Resolver) cachedResult(chain []dns.RR, sec check, name string, qtype uint16, e *cache.Entry) result {
	res := result{answer: append(chain, e.RRs...), sec: worse(sec, r.verdictOf(name, qtype, e))}
	if e.Negative == cache.Positive {
		res.answer = append(res.answer, e.Sigs...)
		res.proof = e.Proof
	}
	switch e.Negative {
	case cache.NXDomain:
		res.rcode = dns.RcodeNameError
	}
	if e.SOA != nil {
		res.ns = []dns.RR{e.SOA}
	}
	if e.Negative != cache.Positive {
		if e.SOA != nil {
			res.ns = append(res.ns, e.Sigs...)
		}
		res.ns = append(res.ns, e.Proof...)
	}
	return res
}

// store caches what rep teaches, ranked by where it came from. rep has
// been scrubbed to the zone the server was asked for.
func (r *Resolver) store(zone, qname string, qtype uint16, rep *reply) {
	now := r.now()
	at := r.cacheReading(now) // one reading for the cache's puts
	answerRank := cache.RankAnswer
	if rep.aa {
		answerRank = cache.RankAuthAnswer
	}
	for _, rr := range rep.chain {
		set := r.setOf(rep, []dns.RR{rr}, answerRank)
		if r.val != nil && expanded(rep, set.RRs) {
			set.Proof = r.clampSec(rep.sec, withSigs(rep.denial, rep.sigs))
		}
		r.cache.PutSetAt(set, at)
		r.learnWildcard(rep, set, zone)
	}
	if len(rep.ds) > 0 {
		// The parent's own data, as authoritative as its answer.
		r.cache.PutSetAt(r.setOf(rep, rep.ds, cache.RankAnswer), at)
	}
	// The glue goes in before the NS set it serves: a walk running beside
	// this one that finds the NS set must find its addresses too, or it
	// takes the cut for unreachable and asks the parent again.
	r.storeGlue(rep, at)
	if rep.ns != nil {
		capBelowZone(r.cache, zone, rep.ns, now, at)
		r.cache.PutSetAt(cache.Set{RRs: rep.ns, Rank: cache.RankReferral}, at)
		r.rememberDelegation(rep.ns, now)
	}
	if rep.kind == kindReferral {
		r.rememberParentGlue(rep.glue)
	}
	if rep.authNS != nil {
		// Authority data of a non-authoritative answer ranks lowest: it
		// must never replace the parent's delegation (an NS spoof).
		rank := cache.RankGlue
		if rep.aa {
			rank = cache.RankAuthAuthority
			r.capToParentTTL(rep.authNS[0].Header().Name, rep.authNS, now)
		}
		capBelowZone(r.cache, zone, rep.authNS, now, at)
		r.storeAuthNS(rep, rank, at)
	}
	switch rep.kind {
	case kindAnswer:
		if qtype == dns.TypeNS {
			r.capToParentTTL(rep.target, rep.answer, now)
		}
		if !rep.sec.deferred {
			set := r.setOf(rep, rep.answer, answerRank)
			if r.val != nil && expanded(rep, rep.answer) {
				set.Proof = r.clampSec(rep.sec, withSigs(rep.denial, rep.sigs))
			}
			r.cache.PutSetAt(set, at)
			r.learnWildcard(rep, set, zone)
		}
	case kindNXDomain, kindNoData:
		if !inZone(rep.target, zone) {
			return
		}
		if rep.soa == nil && rep.kind == kindNoData && !rep.empty && rep.sec.Status != dnssec.Bogus {
			// A NODATA that gives the zone's NS set instead of its SOA
			// says little; it is not remembered over what the reply
			// itself brought (its glue may be the very record asked).
			// A bogus one is, for the bogus TTL: the verdict answers
			// repeats, those without RD too (val_ds_cname).
			return
		}
		neg := cache.NoData
		if rep.kind == kindNXDomain {
			neg = cache.NXDomain
		}
		rank := cache.RankAnswer
		if rep.aa {
			rank = cache.RankAuthAuthority
		}
		r.cache.PutNegativeSet(r.negativeSetOf(rep, qtype, neg, rank))
		if rep.soa != nil {
			r.learnDenial(rep, signerOfRecords(sigsRRs(sigsFor(rep.sigs, rep.soa.Hdr.Name, dns.TypeSOA)), zone))
		}
	}
}

// learnWildcard keeps, of set, an RRset of rep expanded from a wildcard
// and secure, the wildcard RRset and the NSEC records that proved it, for
// answers synthesised for other names (RFC 8198 section 5.4).
func (r *Resolver) learnWildcard(rep *reply, set cache.Set, zone string) {
	if set.Proof == nil || set.Security != cache.Secure {
		return
	}
	r.storeWildcard(set)
	r.learnDenial(rep, signerOfRecords(set.Sigs, zone))
}

// setOf is an RRset of rep to cache, with its RRSIGs and the reply's
// verdict; its TTL ends when the signatures do (RFC 4035 section 5.3.3),
// or after the bogus TTL.
func (r *Resolver) setOf(rep *reply, rrs []dns.RR, rank cache.Rank) cache.Set {
	s := cache.Set{RRs: rrs, Rank: rank}
	if r.val == nil || len(rrs) == 0 {
		// Nothing to cache: a looped CNAME chain or an overflowing DNAME
		// is a kindAnswer without an RRset of the type asked.
		return s
	}
	h := rrs[0].Header()
	s.Sigs = sigsRRs(sigsFor(rep.sigs, h.Name, h.Rrtype))
	s.Security, s.EDE = securityOf(rep.sec), rep.sec.EDE
	s.KeepStale = r.keepStale()
	r.rememberWhy(h.Name, h.Rrtype, rep.sec)
	s.RRs, s.Sigs = r.clampSec(rep.sec, s.RRs), r.clampSec(rep.sec, s.Sigs)
	return s
}

// signing returns s, an unchecked NS set with RRSIGs from the authority
// section of an answer, ranked to take the place of the same records
// cached without RRSIGs (the parent's referral), with TTLs cut to what is
// left of theirs: non-minimal answers to DO clients repeat the set with
// its RRSIGs, as Unbound does, and the records stay the ones the ranked
// source gave, for no longer. Only with non-minimal responses and
// validation on; otherwise s as it is.
func (r *Resolver) signing(s cache.Set) cache.Set {
	if !r.nonMinimal || r.val == nil || len(s.Sigs) == 0 {
		return s
	}
	e, ok := r.cache.Get(s.RRs[0].Header().Name, dns.TypeNS, dns.ClassINET)
	if !ok || e.Rank <= s.Rank || e.Security != cache.Unchecked || len(e.Sigs) > 0 || !sameRecords(e.RRs, s.RRs) {
		return s
	}
	until := r.now().Add(time.Duration(e.TTL) * time.Second)
	s.RRs, s.Sigs = clampedTTL(s.RRs, until, r.now()), clampedTTL(s.Sigs, until, r.now())
	s.Rank = e.Rank
	return s
}

// sameRecords reports whether a and b hold the same records, TTLs aside.
func sameRecords(a, b []dns.RR) bool {
	if len(a) != len(b) {
		return false
	}
	for _, rr := range a {
		if !slices.ContainsFunc(b, func(o dns.RR) bool { return dns.IsDuplicate(rr, o) }) {
			return false
		}
	}
	return true
}

// storeGlue caches rep's glue: verified sets as secure, the others
// unchecked, with the RRSIGs that came with them when non-minimal answers
// to DO clients may repeat them; at is for cache.PutSetAt.
func (r *Resolver) storeGlue(rep *reply, at time.Time) {
	var buf [8][]dns.RR
	for _, set := range splitRRsets(buf[:0], rep.glue) {
		if r.keptOnRefresh(rep, set) {
			continue
		}
		if v, ok := rep.securedAs(set); ok {
			r.cache.PutSetAt(r.securedSet(rep, set, v, cache.RankGlue), at)
			continue
		}
		g := cache.Set{RRs: set, Rank: cache.RankGlue}
		if r.nonMinimal && r.val != nil {
			g.Sigs = sigsRRs(sigsFor(rep.sigs, set[0].Header().Name, set[0].Header().Rrtype))
		}
		r.cache.PutSetAt(g, at)
	}
}

// storeAuthNS caches the NS set of an answer's authority section at rank,
// with its RRSIGs, for non-minimal answers to DO clients; its status is
// unchecked unless checkSections verified it; at is for cache.PutSetAt.
func (r *Resolver) storeAuthNS(rep *reply, rank cache.Rank, at time.Time) {
	if r.keptOnRefresh(rep, rep.authNS) {
		return
	}
	if v, ok := rep.securedAs(rep.authNS); ok {
		r.cache.PutSetAt(r.securedSet(rep, rep.authNS, v, rank), at)
		return
	}
	sigs := sigsRRs(sigsFor(rep.sigs, rep.authNS[0].Header().Name, dns.TypeNS))
	r.cache.PutSetAt(r.signing(cache.Set{RRs: rep.authNS, Sigs: sigs, Rank: rank}), at)
}

// keptOnRefresh reports whether set, of a prefetch's reply, leaves the
// live cached RRset of its name and type as it is: unless that one is
// about to expire itself.
func (r *Resolver) keptOnRefresh(rep *reply, set []dns.RR) bool {
	if !rep.refresh || len(set) == 0 {
		return false
	}
	h := set[0].Header()
	e, live := r.cache.Get(h.Name, h.Rrtype, h.Class)
	return live && !expiring(e)
}

// securedSet is rrs, an RRset of rep's authority or additional section
// that verified as v, to cache as secure with its RRSIGs.
func (r *Resolver) securedSet(rep *reply, rrs []dns.RR, v check, rank cache.Rank) cache.Set {
	h := rrs[0].Header()
	sigs := sigsRRs(sigsFor(rep.sigs, h.Name, h.Rrtype))
	return cache.Set{RRs: r.clampSec(v, rrs), Sigs: r.clampSec(v, sigs), Rank: rank, Security: cache.Secure}
}

// negativeSetOf is rep's negative answer to cache, with the SOA's RRSIGs
// and the denial proof.
func (r *Resolver) negativeSetOf(rep *reply, qtype uint16, neg cache.Negative, rank cache.Rank) cache.NegativeSet {
	n := cache.NegativeSet{Name: rep.target, Qtype: qtype, Qclass: dns.ClassINET, Kind: neg, SOA: rep.soa, Rank: rank}
	if r.val == nil {
		return n
	}
	if rep.soa != nil {
		n.Sigs = r.clampSec(rep.sec, sigsRRs(sigsFor(rep.sigs, rep.soa.Hdr.Name, dns.TypeSOA)))
	}
	for _, rr := range rep.denial {
		n.Proof = append(n.Proof, rr)
		h := rr.Header()
		n.Proof = append(n.Proof, sigsRRs(sigsFor(rep.sigs, h.Name, h.Rrtype))...)
	}
	n.Proof = r.clampSec(rep.sec, n.Proof)
	n.Security, n.EDE = securityOf(rep.sec), rep.sec.EDE
	n.KeepStale = r.keepStale()
	r.rememberWhy(rep.target, qtype, rep.sec)
	if left := r.secLeft(rep.sec); left >= 0 {
		n.TTL = uint32(left / time.Second)
		if n.TTL == 0 {
			n.TTL = 1
		}
	}
	return n
}

// secLeft is how long data with verdict c may be kept at most; negative
// when only its own TTL bounds it.
func (r *Resolver) secLeft(c check) time.Duration {
	switch {
	case c.Status == dnssec.Bogus:
		return r.val.bogusTTL
	case c.Status == dnssec.Secure && !c.Expires.IsZero():
		return max(c.Expires.Sub(r.now()), 0)
	}
	return -1
}

// clampSec returns rrs with TTLs no longer than secLeft allows, copied
// where changed (the records may be shared with other walks).
func (r *Resolver) clampSec(c check, rrs []dns.RR) []dns.RR {
	left := r.secLeft(c)
	if left < 0 {
		return rrs
	}
	return clampedTTL(rrs, r.now().Add(left), r.now())
}

// splitRRsets groups records by owner and type, appending the sets to
// dst (room on the caller's stack: then no allocation). Sets whose
// records are one run of rrs each (a reply's usual order) are slices of
// rrs, capped so that an append copies: no allocation of their own, where
// there was one per set and the slice's growth. Callers never write a
// set's elements.
func splitRRsets(dst [][]dns.RR, rrs []dns.RR) [][]dns.RR {
	const maxRuns = 16 // comparisons grow with the square of the runs
	runs := 0
	for i := 0; i < len(rrs); runs++ {
		j := i + 1
		for j < len(rrs) && sameSet(rrs[i], rrs[j]) {
			j++
		}
		for k := 0; k < i; k++ {
			if sameSet(rrs[k], rrs[i]) {
				runs = maxRuns // a set in two runs: merged below
				break
			}
		}
		if runs >= maxRuns {
			break
		}
		i = j
	}
	if runs < maxRuns {
		sets := slices.Grow(dst, runs)
		for i := 0; i < len(rrs); {
			j := i + 1
			for j < len(rrs) && sameSet(rrs[i], rrs[j]) {
				j++
			}
			sets = append(sets, rrs[i:j:j])
			i = j
		}
		return sets
	}
	sets := dst
	index := map[cache.Key]int{}
	for _, rr := range rrs {
		h := rr.Header()
		k := cache.Key{Name: dnsname.Lower(h.Name), Type: h.Rrtype, Class: h.Class}
		i, ok := index[k]
		if !ok {
			i = len(sets)
			index[k] = i
			sets = append(sets, nil)
		}
		sets[i] = append(sets[i], rr)
	}
	return sets
}

// sameSet reports whether a and b belong to one RRset: owner (in any
// case), type and class.
func sameSet(a, b dns.RR) bool {
	ha, hb := a.Header(), b.Header()
	return ha.Rrtype == hb.Rrtype && ha.Class == hb.Class && sameName(ha.Name, hb.Name)
}

// rememberWhy keeps the reason of a bogus verdict for the cache's entry.
func (r *Resolver) rememberWhy(name string, t uint16, c check) {
	if c.Status == dnssec.Bogus {
		r.val.whys.Add(bogusKey(name, t), c.Why)
	}
}

// cacheReading is now, a reading of r.now, for the cache's ...At methods
// when the cache reads that clock; zero (the cache reads its own) when
// Config gave a cache with a clock of its own.
func (r *Resolver) cacheReading(now time.Time) time.Time {
	if r.cacheOnNow {
		return now
	}
	return time.Time{}
}
