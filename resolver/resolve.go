package resolver

// The API stage: Resolve and ResolveCached, the checks on a client's
// question, coalescing of identical questions, and the client's answer
// built from a result. The walk (walk.go) does the work.

import (
	"context"
	"fmt"
	"slices"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/internal/dnsname"
)

// result is a resolution's outcome, shared by coalesced callers: never
// modify its slices.
type result struct {
	rcode  int
	answer []dns.RR // CNAME chain then the final RRset
	ns     []dns.RR // SOA of a negative answer
	refs   *sectionRefs
	// loop: answer is a CNAME chain from the cache that comes back to a
	// name it passed, answered as it stands. A client's repeat of a loop
	// that one reply held gets it with no upstream query; a loop built
	// from several replies failed the first time (ErrLoop), and the
	// failure cache answers its repeats, so fromCache leaves it alone
	// (once that entry expires, the cached loop is answered as it stands).
	loop bool
}

// sectionRefs name what the authoritative reply of an answer carried in
// its authority and additional sections: the zone's NS set and the
// addresses of its servers. Non-minimal responses repeat them, read afresh
// from the cache, as Unbound's message cache does.
type sectionRefs struct {
	nsOwner string
	glue    []string
}

func refsOf(rep reply) *sectionRefs {
	if rep.authNS == nil {
		return nil
	}
	refs := &sectionRefs{nsOwner: rep.authNS[0].Header().Name}
	for _, g := range rep.glue {
		if name := cache.Canonical(g.Header().Name); !slices.Contains(refs.glue, name) {
			refs.glue = append(refs.glue, name)
		}
	}
	return refs
}

// Resolve answers name and qtype (class IN) by iteration, from the cache
// where it can. NXDOMAIN and NODATA are answers (the message's Rcode says
// which); an error, a *Error, means no answer could be had. The returned
// message is the caller's to change; its records are shared, not to be
// changed.
func (r *Resolver) Resolve(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	qname, err := checkQuestion(name, qtype)
	if err != nil {
		return nil, &Error{Qname: name, Qtype: qtype, Err: err}
	}
	if res, ok := r.fromCache(qname, qtype); ok {
		return r.respond(res, name, qtype), nil
	}
	key := qname + "/" + dns.TypeToString[qtype]
	if err := r.failed.get(key, r.now()); err != nil {
		return nil, err
	}
	ch := r.flight.DoChan(key, func() (any, error) {
		growStack()
		// The walk belongs to every waiter: it runs on its own deadline
		// and is not cancelled when the first caller gives up.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.limits.Timeout)
		defer cancel()
		res, err := r.lookup(wctx, newQuery(qname, qtype, r.limits))
		if err != nil {
			r.failed.record(key, err, r.now())
		} else {
			r.failed.forget(key)
			if r.nonMinimal && res.refs != nil {
				r.msgRefs.Add(key, res.refs)
			}
		}
		return res, err
	})
	select {
	case <-ctx.Done():
		return nil, &Error{Qname: qname, Qtype: qtype, Err: ctx.Err()}
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return r.respond(res.Val.(result), name, qtype), nil
	}
}

// ResolveCached answers name and qtype from the cache alone, as for a
// client query without RD. It reports false when the cache cannot answer.
func (r *Resolver) ResolveCached(name string, qtype uint16) (*dns.Msg, bool) {
	qname, err := checkQuestion(name, qtype)
	if err != nil {
		return nil, false
	}
	res, ok := r.fromCache(qname, qtype)
	if !ok {
		return nil, false
	}
	return r.respond(res, name, qtype), true
}

// respond builds the response message for a result. With non-minimal
// responses, a positive answer also carries the NS set of the zone it came
// from and the addresses of those servers, as the cache knows them.
func (r *Resolver) respond(res result, name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.Question = []dns.Question{{Name: dns.Fqdn(name), Qtype: qtype, Qclass: dns.ClassINET}}
	m.Response, m.RecursionAvailable = true, true
	m.Rcode = res.rcode
	m.Answer, m.Ns = res.answer, res.ns
	if !r.nonMinimal && qtype == dns.TypeNS && res.rcode == dns.RcodeSuccess && len(res.ns) == 0 {
		// Even minimal responses give an NS answer its servers'
		// addresses, as Unbound does: the asker needs them next.
		if n := len(res.answer); n > 0 && res.answer[n-1].Header().Rrtype == dns.TypeNS {
			m.Extra = r.glueOf(res.answer[n-1].Header().Name, res.answer)
		}
	}
	if r.nonMinimal && res.rcode == dns.RcodeSuccess && len(res.ns) == 0 {
		refs := res.refs
		if refs == nil {
			qname, _ := dnsname.Canonical(name) // checkQuestion passed it
			refs, _ = r.msgRefs.Get(qname + "/" + dns.TypeToString[qtype])
		}
		var last dns.RR
		if n := len(res.answer); n > 0 {
			last = res.answer[n-1]
		}
		switch {
		case qtype == dns.TypeNS && last != nil && last.Header().Rrtype == dns.TypeNS:
			m.Extra = r.glueOf(last.Header().Name, res.answer)
		case refs != nil:
			m.Ns, m.Extra = r.sections(refs)
		}
		// An RRset appears once in a message: addresses already in the
		// answer are not repeated as additional data (as Unbound).
		m.Extra = slices.DeleteFunc(slices.Clone(m.Extra), func(rr dns.RR) bool {
			h := rr.Header()
			return slices.ContainsFunc(m.Answer, func(a dns.RR) bool {
				return a.Header().Rrtype == h.Rrtype && sameName(a.Header().Name, h.Name)
			})
		})
	}
	return m
}

// sections reads the records refs names from the cache.
func (r *Resolver) sections(refs *sectionRefs) (ns, extra []dns.RR) {
	if e, ok := r.cache.Get(refs.nsOwner, dns.TypeNS, dns.ClassINET); ok && e.Negative == cache.Positive {
		ns = e.RRs
	}
	for _, name := range refs.glue {
		for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
			if e, ok := r.cache.Get(name, t, dns.ClassINET); ok && e.Negative == cache.Positive {
				extra = append(extra, e.RRs...)
			}
		}
	}
	return ns, extra
}

// glueOf returns the cached addresses of the servers in ns whose names lie
// inside zone (as glue would: out-of-zone addresses are another zone's).
func (r *Resolver) glueOf(zone string, ns []dns.RR) []dns.RR {
	var out []dns.RR
	for _, rr := range ns {
		n, ok := rr.(*dns.NS)
		if !ok || !inZone(n.Ns, zone) {
			continue
		}
		for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
			if e, ok := r.cache.Get(n.Ns, t, dns.ClassINET); ok && e.Negative == cache.Positive {
				out = append(out, e.RRs...)
			}
		}
	}
	return out
}

// checkQuestion canonicalises name and rejects questions that cannot be
// resolved by iteration.
func checkQuestion(name string, qtype uint16) (string, error) {
	qname, err := dnsname.Canonical(name)
	if err != nil || len(qname) > 255 {
		return "", fmt.Errorf("%w: malformed name %q", ErrBadName, name)
	}
	switch qtype {
	case dns.TypeNone, dns.TypeOPT, dns.TypeAXFR, dns.TypeIXFR, dns.TypeANY, dns.TypeMAILA, dns.TypeMAILB, dns.TypeTSIG, dns.TypeTKEY:
		return "", fmt.Errorf("%w: type %s", ErrBadName, dns.TypeToString[qtype])
	}
	return qname, nil
}

// soaRRs is the authority section of a fresh negative answer: the SOA with
// the TTL it is cached for (RFC 2308 section 3).
func (r *Resolver) soaRRs(soa *dns.SOA) []dns.RR {
	if soa == nil {
		return nil
	}
	s := *soa
	s.Hdr.Ttl = r.cache.NegativeTTL(soa)
	return []dns.RR{&s}
}
