package server

import (
	"strings"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/dnssec"
)

// cachedReferral answers an RD=0 query of an allow_snoop client that the
// cache cannot answer, as Unbound does: a referral to the closest
// enclosing zone whose NS set is cached, with the cached addresses of its
// servers as glue. AD is set when the NS set validated.
func (s *Server) cachedReferral(q *query) (*dns.Msg, bool) {
	qname := q.req.Question[0].Name
	for _, zone := range enclosingZones(qname) {
		ns, secure, ok := s.cachedRRset(q, zone, dns.TypeNS)
		if !ok {
			continue
		}
		m := new(dns.Msg)
		m.Ns = ns
		m.AuthenticatedData = secure
		for _, rr := range ns {
			target, isNS := rr.(*dns.NS)
			if !isNS {
				continue
			}
			for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
				if glue, _, ok := s.cachedRRset(q, target.Ns, t); ok {
					m.Extra = append(m.Extra, glue...)
				}
			}
		}
		return m, true
	}
	return nil, false
}

// CacheBackend is a Backend whose RRset cache the server may read, as
// *resolver.Resolver's: an allow_snoop referral hands out the delegations
// it holds, which the engine keeps below the rank of an answer.
type CacheBackend interface {
	Cache() *cache.Cache
}

// fromCache reads the live, not bogus RRset of name and qtype from c, with
// its signatures when withSigs.
func fromCache(c *cache.Cache, name string, qtype uint16, withSigs bool) (rrs []dns.RR, secure, ok bool) {
	e, found := c.Get(name, qtype, dns.ClassINET)
	if !found || e.Negative != cache.Positive || len(e.RRs) == 0 || e.Security == cache.Bogus {
		return nil, false, false
	}
	rrs = e.RRs
	if withSigs {
		rrs = append(rrs[:len(rrs):len(rrs)], e.Sigs...)
	}
	return rrs, e.Security == cache.Secure, true
}

// enclosingZones lists name and every name above it, up to the root.
func enclosingZones(name string) []string {
	var out []string
	for _, i := range dns.Split(name) {
		out = append(out, name[i:])
	}
	return append(out, ".")
}

// cachedRRset returns the cached RRset of name and qtype (with its
// signatures when the client set DO), and whether it validated; ok is
// false when the cache has no such records.
func (s *Server) cachedRRset(q *query, name string, qtype uint16) (rrs []dns.RR, secure, ok bool) {
	if b, isCache := s.backend.(CacheBackend); isCache {
		return fromCache(b.Cache(), name, qtype, q.edns != nil && q.edns.Do())
	}
	var m *dns.Msg
	if b, isDNSSEC := s.backend.(DNSSECBackend); isDNSSEC {
		a, found := b.QueryCached(name, qtype, optionsOf(q))
		if !found {
			return nil, false, false
		}
		m, secure = a.Msg, a.Security == dnssec.Secure
	} else if m, ok = s.backend.ResolveCached(name, qtype); !ok {
		return nil, false, false
	}
	if m == nil || m.Rcode != dns.RcodeSuccess {
		return nil, false, false
	}
	for _, rr := range m.Answer {
		h := rr.Header()
		if !strings.EqualFold(h.Name, name) {
			continue
		}
		if h.Rrtype == qtype {
			ok = true
			rrs = append(rrs, rr)
		} else if sig, isSig := rr.(*dns.RRSIG); isSig && sig.TypeCovered == qtype {
			rrs = append(rrs, rr)
		}
	}
	return rrs, secure && ok, ok
}
