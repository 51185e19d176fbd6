package resolver

// Serve-stale (RFC 8767): when a cached answer has expired and its
// refresh fails or is slow, the expired answer is given, with a short TTL
// and an Extended DNS Error that says so. The cache keeps expired entries
// (until its LRU bound or fresh data evicts them); this stage decides
// which of them may still be served.

import (
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
)

// freshness gathers, along a cached answer's chain, whether an expired
// entry was used and when the answer's prefetch is due.
type freshness struct {
	stale        bool
	prefetchAt   int64 // Unix nanoseconds, 0 for none
	prefetchName string
}

// note takes entry e of name (an RRset the answer uses) into account for
// prefetch; name "" is an entry that is not refreshed by its own name.
// The clock is read only for an entry whose whole seconds left say it may
// be due.
func (f *freshness) note(name string, e *cache.Entry, now func() time.Time) {
	if e.OriginalTTL < MinPrefetchTTL || name == "" {
		return
	}
	at := e.Expires.UnixNano() - int64(e.OriginalTTL)*int64(time.Second/10)
	if f.prefetchAt == 0 || at < f.prefetchAt {
		f.prefetchAt = at
	}
	if f.prefetchName == "" && e.TTL <= e.OriginalTTL/10 && now().UnixNano() >= at {
		f.prefetchName = name
	}
}

// expiring reports whether e is in the last tenth of a TTL that could be
// prefetched: a refresh renews it rather than leave it to run out.
func expiring(e cache.Entry) bool {
	return e.OriginalTTL >= MinPrefetchTTL && e.TTL <= e.OriginalTTL/10
}

func (f *freshness) set(res *result) {
	res.stale = f.stale
	res.prefetchAt, res.prefetchName = f.prefetchAt, f.prefetchName
}

// cacheGet reads the cache for the answer's chain: live entries, and with
// stale the expired ones that may be served stale (noted in fr).
func (r *Resolver) cacheGet(name string, t uint16, stale bool, fr *freshness) (cache.Entry, bool) {
	if stale {
		return r.staleGet(name, t, fr)
	}
	return r.cache.Get(name, t, dns.ClassINET)
}

func (r *Resolver) staleGet(name string, t uint16, fr *freshness) (cache.Entry, bool) {
	e, ok := r.cache.GetStale(name, t, dns.ClassINET, r.stale.MaxAge)
	if !ok || !e.Expired(r.now()) {
		return e, ok
	}
	if !r.servableStale(name, e) {
		return cache.Entry{}, false
	}
	fr.stale = true
	// The entry's records are copies of its own: their TTL is the
	// stale one, never longer than the data had (Unbound's too).
	ttl := min(uint32(r.stale.ReplyTTL/time.Second), e.OriginalTTL)
	for _, rrs := range [][]dns.RR{e.RRs, e.Sigs, e.Proof} {
		for _, rr := range rrs {
			rr.Header().Ttl = ttl
		}
	}
	if e.SOA != nil {
		e.SOA.Hdr.Ttl = ttl
	}
	return e, true
}

// servableStale reports whether the expired entry e of name may be served
// stale: never bogus data (it would not have been served fresh), and
// never data that outlived the delegation of its zone (the parent's NS
// TTL): a domain the parent stopped vouching for must not live on in
// stale answers (ghost domains stay dead). Data that expired while its
// delegation was alive was the zone's own word, and RFC 8767 lets it
// stand in while the zone cannot be reached.
func (r *Resolver) servableStale(name string, e cache.Entry) bool {
	if e.Security == cache.Bogus {
		return false
	}
	for z := name; ; z = parentZone(z) {
		if end, ok := r.delegationEnds.peek(z); ok {
			return !e.Expires.After(end)
		}
		if z == "." {
			return true
		}
	}
}

// staleFromCache is the answer that expired data gives qname and qtype,
// as fromCache gives live data.
func (r *Resolver) staleFromCache(qname string, qtype uint16) (res result, ok bool) {
	if r.stale.Disable {
		return res, false
	}
	res, next := r.cachedChain(qname, qtype, clientRank, true)
	return res, next == "" && !res.loop
}

// staleHeld reports whether a refresh of key failed less than
// StaleRefreshHold ago: no other is tried yet.
func (r *Resolver) staleHeld(key string) bool {
	until, ok := r.staleHolds.Get(key)
	return ok && r.now().Before(until)
}

// holdStale notes a failed refresh of key.
func (r *Resolver) holdStale(key string) {
	if !r.stale.Disable {
		r.staleHolds.Add(key, r.now().Add(StaleRefreshHold))
	}
}

// staleEDE is the Extended DNS Error of a stale answer (RFC 8914 4.4, 4.20).
func staleEDE(rcode int) (uint16, string) {
	if rcode == dns.RcodeNameError {
		return dns.ExtendedErrorCodeStaleNXDOMAINAnswer, "stale NXDOMAIN answer: the refresh failed or was slow"
	}
	return dns.ExtendedErrorCodeStaleAnswer, "stale answer: the refresh failed or was slow"
}

// keepStale is how long expired data stays servable against bogus data
// that would replace it in the cache (cache.Set.KeepStale).
func (r *Resolver) keepStale() time.Duration {
	if r.stale.Disable {
		return 0
	}
	return r.stale.MaxAge
}
