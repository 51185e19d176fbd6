package resolver

// Names below a non-existent name (RFC 8020): once an NXDOMAIN for a name
// is cached and validated, every name below it is answered NXDOMAIN from
// the cache, with no upstream query, as Unbound's harden-below-nxdomain.

import (
	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
)

// belowNXDomain answers qname from a cached, secure NXDOMAIN of one of its
// ancestors. Only secure ones count: an unvalidated NXDOMAIN may be a spoof
// or a broken server's, and denying a whole subtree on it would do more
// harm than asking (RFC 8020 section 2). A stub zone, or a negative trust
// anchor, at or above qname and below the ancestor ends the search: its
// names are not the parent's to deny.
func (r *Resolver) belowNXDomain(qname string) (result, bool) {
	if r.val == nil || qname == "." {
		return result{}, false
	}
	if r.val.anchors.negative(qname) {
		return result{}, false
	}
	for n := qname; n != "."; {
		if _, ok := r.stubs[n]; ok {
			return result{}, false
		}
		n = parentZone(n)
		e, ok := r.cache.Get(n, dns.TypeNone, dns.ClassINET)
		if ok && e.Negative == cache.NXDomain && e.Security == cache.Secure && e.Rank >= clientRank {
			return r.cachedResult(nil, secure, n, dns.TypeNone, &e), true
		}
	}
	return result{}, false
}
