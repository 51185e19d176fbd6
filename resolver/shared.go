package resolver

// The shared cache tier (Config.SharedCache): read when a client's
// question misses the cache, before the walk iterates; written with what
// the walk learned once it has. Hooked in the walk, not in the cache: a
// cache miss inside iteration (a delegation, a DNAME above the name, a
// name server's address) would otherwise cost a round trip to the tier
// each, and the cache-hit path never reaches the walk.

import (
	"context"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
)

// SharedCache is a cache tier shared by a fleet of resolvers (package
// sharedcache implements it over Redis). The resolver gives it the
// entries that answer client questions (answers, CNAMEs, negative
// answers, as its cache holds them) and reads them back on a miss; the
// tier decides what it keeps and must fail quietly.
type SharedCache interface {
	// Lookup returns the live entries of keys in their order, the zero
	// Entry (Rank 0) for each key it does not have. It returns within a
	// short deadline of its own, whatever ctx allows, and never fails:
	// failures are misses.
	Lookup(ctx context.Context, keys []cache.Key) []cache.Entry
	// Store queues the entry of k for writing. It never blocks.
	Store(k cache.Key, e cache.Entry)
	// Run writes what Store queued until ctx ends. The resolver's Run
	// runs it.
	Run(ctx context.Context) error
}

// SharedCache returns the shared tier of Config, nil when none (for a
// reload that keeps it, as the cache).
func (r *Resolver) SharedCache() SharedCache { return r.shared }

// fillFromShared puts into the cache what the shared tier holds of the
// part of qname's chain that the cache lacks: the entry of qtype (or the
// name's NXDOMAIN), else its CNAME, whose target is read next. Each name
// is one read of three keys.
func (r *Resolver) fillFromShared(ctx context.Context, qname string, qtype uint16) {
	if r.shared == nil {
		return
	}
	_, name := r.cachedChain(qname, qtype, clientRank, false)
	for hops := 0; name != "" && hops <= r.limits.MaxCNAMEs; hops++ {
		keys := []cache.Key{{Name: name, Type: qtype, Class: dns.ClassINET}, {Name: name, Type: dns.TypeNone, Class: dns.ClassINET}}
		if qtype != dns.TypeCNAME {
			keys = append(keys, cache.Key{Name: name, Type: dns.TypeCNAME, Class: dns.ClassINET})
		}
		got := r.shared.Lookup(ctx, keys)
		final, next := false, ""
		for i, e := range got {
			if e.Rank == 0 || !r.putShared(keys[i], e) {
				continue
			}
			if keys[i].Type != dns.TypeCNAME {
				final = true
			} else if cname, ok := e.RRs[0].(*dns.CNAME); ok {
				next = cache.Canonical(cname.Target)
			}
		}
		if final {
			return
		}
		name = next
	}
}

// putShared stores an entry of the shared tier in the cache, with what is
// left of its TTL, unless this resolver does not take it: a validating
// resolver takes no data that its writer stored unvalidated, and one that
// does not validate claims no status it did not check.
func (r *Resolver) putShared(k cache.Key, e cache.Entry) bool {
	switch {
	case r.val != nil && e.Security == cache.Unchecked, e.Security == cache.Bogus:
		return false
	case r.val == nil:
		e.Security, e.EDE = cache.Unchecked, 0
	}
	if e.Negative == cache.Positive {
		return r.cache.PutSet(cache.Set{RRs: e.RRs, Sigs: e.Sigs, Proof: e.Proof, Rank: e.Rank, Security: e.Security, EDE: e.EDE})
	}
	if !r.cache.PutNegativeSet(cache.NegativeSet{Name: k.Name, Qtype: k.Type, Qclass: k.Class, Kind: e.Negative,
		SOA: e.SOA, Sigs: e.Sigs, Proof: e.Proof, Rank: e.Rank, Security: e.Security, EDE: e.EDE, TTL: e.TTL}) {
		return false
	}
	if e.Security == cache.Secure {
		// Its validated NSEC or NSEC3 records deny other names too
		// (RFC 8198), as the reply's did for the member that wrote it: a
		// name the writer answered from them alone left no entry.
		rep := reply{soa: e.SOA, sec: secure}
		for _, rr := range e.Proof {
			if sig, ok := rr.(*dns.RRSIG); ok {
				rep.sigs = append(rep.sigs, sig)
			} else {
				rep.denial = append(rep.denial, rr)
			}
		}
		r.learnDenial(&rep, cache.Canonical(e.SOA.Hdr.Name))
	}
	return true
}

// shareLearned gives the shared tier the cache's entries of qname's chain
// after a walk that asked upstream: what the other members would ask for
// next. The tier refuses what it does not share (bogus data, glue).
// Local zones and stale answers never come here: they are answered
// before the walk, or are expired.
func (r *Resolver) shareLearned(q *query) {
	if r.shared == nil || q.budget.sent.Load() == 0 {
		return
	}
	name, qtype := q.qname, q.qtype
	for hops := 0; hops <= r.limits.MaxCNAMEs; hops++ {
		if e, ok := r.cache.Get(name, qtype, dns.ClassINET); ok {
			k := cache.Key{Name: name, Type: qtype, Class: dns.ClassINET}
			if e.Negative == cache.NXDomain {
				k.Type = dns.TypeNone // the name's entry, which Get gives for every type
			}
			r.shared.Store(k, e)
			return
		}
		e, ok := r.cache.Get(name, dns.TypeCNAME, dns.ClassINET)
		if qtype == dns.TypeCNAME || !ok || e.Negative != cache.Positive {
			return
		}
		r.shared.Store(cache.Key{Name: name, Type: dns.TypeCNAME, Class: dns.ClassINET}, e)
		name = cache.Canonical(e.RRs[0].(*dns.CNAME).Target)
	}
}
