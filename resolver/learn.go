package resolver

// Learning: what a reply teaches the cache, ranked by where it came from,
// and the cache reads that answer a question or a step of its chain.

import (
	"slices"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/internal/dnsname"
)

// clientRank is the lowest rank of cached data given to clients as an
// answer: glue (additional-section data) only serves to reach servers
// (RFC 2181 section 5.4.1); a client asking for it gets it fetched.
const clientRank = cache.RankReferral

// fromCache answers a client's qname and qtype without a query: from the
// local zones, else from the cache alone, following cached CNAMEs. It
// reports false when some step of the chain is not cached, or the chain
// loops.
func (r *Resolver) fromCache(qname string, qtype uint16) (result, bool) {
	if z := r.localZoneOf(qname); z != "" {
		return localAnswer(z, qname, qtype), true
	}
	res, next := r.cachedChain(qname, qtype, clientRank)
	return res, next == "" && !res.loop
}

// cachedChain follows qname through cached CNAMEs, using entries ranked
// minRank or above. When the cache holds the end of the chain, it returns
// the whole answer and next is "". Otherwise res.answer holds the CNAMEs
// known and next is the name to resolve.
func (r *Resolver) cachedChain(qname string, qtype uint16, minRank cache.Rank) (res result, next string) {
	var chain []dns.RR
	name := qname
	for hops := 0; hops <= r.limits.MaxCNAMEs; hops++ {
		if e, ok := r.cache.Get(name, qtype, dns.ClassINET); ok && e.Rank >= minRank {
			return cachedResult(chain, e), ""
		}
		if qtype == dns.TypeCNAME {
			break
		}
		e, ok := r.cache.Get(name, dns.TypeCNAME, dns.ClassINET)
		if !ok {
			break
		}
		if e.Negative != cache.Positive {
			return cachedResult(chain, e), ""
		}
		cname := e.RRs[0].(*dns.CNAME)
		if d := r.cachedDNAME(name, cname, minRank); d != nil && !slices.ContainsFunc(chain, func(rr dns.RR) bool { return dns.IsDuplicate(rr, d) }) {
			chain = append(chain, d)
		}
		chain = append(chain, cname)
		name = cache.Canonical(cname.Target)
		if slices.ContainsFunc(chain, func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeCNAME && sameName(rr.Header().Name, name) }) {
			return result{answer: chain, loop: true}, ""
		}
	}
	return result{answer: chain}, name
}

// cachedDNAME returns the cached DNAME that synthesised cname, if one is
// cached: a repeat answered from the cache then carries the DNAME before
// its CNAME, as the authoritative reply did (RFC 6672 section 3.1), and
// DNAME-aware clients see the redirection rather than a lone CNAME. It
// asks the cache once per ancestor of name, and only when a CNAME is
// followed.
func (r *Resolver) cachedDNAME(name string, cname *dns.CNAME, minRank cache.Rank) dns.RR {
	for off, end := dns.NextLabel(name, 0); !end; off, end = dns.NextLabel(name, off) {
		e, ok := r.cache.Get(name[off:], dns.TypeDNAME, dns.ClassINET)
		if !ok || e.Rank < minRank || e.Negative != cache.Positive {
			continue
		}
		if d, synth := dnameFor(e.RRs, name); d != nil && sameName(synth.Target, cname.Target) {
			return d
		}
		return nil // the closest DNAME is the one that applies
	}
	return nil
}

func cachedResult(chain []dns.RR, e cache.Entry) result {
	res := result{answer: append(chain, e.RRs...)}
	switch e.Negative {
	case cache.NXDomain:
		res.rcode = dns.RcodeNameError
	}
	if e.SOA != nil {
		res.ns = []dns.RR{e.SOA}
	}
	return res
}

// store caches what rep teaches, ranked by where it came from. rep has
// been scrubbed to the zone the server was asked for.
func (r *Resolver) store(zone, qname string, qtype uint16, rep reply) {
	answerRank := cache.RankAnswer
	if rep.aa {
		answerRank = cache.RankAuthAnswer
	}
	for _, rr := range rep.chain {
		r.cache.Put([]dns.RR{rr}, answerRank)
	}
	if rep.ns != nil {
		capBelowZone(r.cache, zone, rep.ns, r.now())
		r.cache.Put(rep.ns, cache.RankReferral)
		r.rememberDelegation(rep.ns, r.now())
	}
	for _, set := range splitRRsets(rep.glue) {
		r.cache.Put(set, cache.RankGlue)
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
			r.capToParentTTL(rep.authNS[0].Header().Name, rep.authNS, r.now())
		}
		capBelowZone(r.cache, zone, rep.authNS, r.now())
		r.cache.Put(rep.authNS, rank)
	}
	switch rep.kind {
	case kindAnswer:
		if qtype == dns.TypeNS {
			r.capToParentTTL(rep.target, rep.answer, r.now())
		}
		r.cache.Put(rep.answer, answerRank)
	case kindNXDomain, kindNoData:
		if !inZone(rep.target, zone) {
			return
		}
		if rep.soa == nil && rep.kind == kindNoData && !rep.empty {
			// A NODATA that gives the zone's NS set instead of its SOA
			// says little; it is not remembered over what the reply
			// itself brought (its glue may be the very record asked).
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
		r.cache.PutNegative(rep.target, qtype, dns.ClassINET, neg, rep.soa, rank)
	}
}

// splitRRsets groups records by owner and type.
func splitRRsets(rrs []dns.RR) [][]dns.RR {
	var sets [][]dns.RR
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
