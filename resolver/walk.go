package resolver

// The walk: a client question followed across CNAME and DNAME restarts
// (lookup), and each name iterated down the zone cuts (iterate), with
// QNAME minimisation. It asks delegation.go where to start and
// selection.go to put each question to a zone's servers.

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
)

// lookup resolves qname and qtype: from the cache, else by iteration,
// restarting at each CNAME or DNAME target that leaves the zone.
func (r *Resolver) lookup(ctx context.Context, b *budget, depth int, chainOf *lookupChain, qname string, qtype uint16) (result, error) {
	var chain []dns.RR
	name := qname
	seen := map[string]bool{}
	for restarts := 0; ; restarts++ {
		if restarts > b.limits.MaxCNAMEs {
			return result{}, &Error{Qname: qname, Qtype: qtype, Err: fmt.Errorf("%w: more than %d CNAME hops", ErrLimit, b.limits.MaxCNAMEs)}
		}
		if seen[name] {
			return result{}, &Error{Qname: qname, Qtype: qtype, Err: fmt.Errorf("%w: CNAME chain returns to %s", ErrLoop, name)}
		}
		seen[name] = true
		minRank := cache.Rank(0) // name server lookups may use glue
		if chainOf == nil {
			minRank = clientRank
		}
		res, next := r.cachedChain(name, qtype, minRank)
		res.answer = append(chain, res.answer...)
		if next == "" {
			return res, nil
		}
		if next != name {
			chain, name = res.answer, next
			if seen[name] {
				return result{}, &Error{Qname: qname, Qtype: qtype, Err: fmt.Errorf("%w: CNAME chain returns to %s", ErrLoop, name)}
			}
			seen[name] = true
		}
		rep, err := r.iterate(ctx, b, depth, chainOf, name, qtype)
		if err != nil {
			var re *Error
			if errors.As(err, &re) {
				re.Qname, re.Qtype = qname, qtype
				return result{}, re
			}
			return result{}, &Error{Qname: qname, Qtype: qtype, Err: err}
		}
		for _, rr := range rep.chain {
			// A DNAME met again on the way (each reply repeats it) is
			// in the answer once: an RRset appears once in a message.
			if !slices.ContainsFunc(chain, func(have dns.RR) bool { return dns.IsDuplicate(have, rr) }) {
				chain = append(chain, rr)
			}
		}
		switch rep.kind {
		case kindCNAME:
			name = cache.Canonical(rep.target)
			continue
		case kindAnswer:
			res := result{answer: append(chain, rep.answer...), refs: refsOf(rep)}
			if rep.rcode == dns.RcodeYXDomain {
				res.rcode = dns.RcodeYXDomain
			}
			return res, nil
		case kindNXDomain:
			return result{rcode: dns.RcodeNameError, answer: chain, ns: r.soaRRs(rep.soa)}, nil
		default: // kindNoData
			return result{answer: chain, ns: r.soaRRs(rep.soa), refs: refsOf(rep)}, nil
		}
	}
}

// iterate walks delegations from the closest known zone cut down to a
// server that answers for qname, and returns its classified reply (never
// a referral or a lame reply). With QNAME minimisation (RFC 9156) each
// server is first asked only about the next label below its zone.
func (r *Resolver) iterate(ctx context.Context, b *budget, depth int, chainOf *lookupChain, qname string, qtype uint16) (reply, error) {
	start := qname
	if qtype == dns.TypeDS && qname != "." {
		start = parentZone(qname) // the parent side of the cut answers for DS
	}
	d, err := r.closestDelegation(ctx, b, depth, chainOf, start)
	if err != nil {
		return reply{}, err
	}
	minimise := r.qmin != QminOff
	minimised := 0                // minimised queries sent
	var refetched map[string]bool // zones whose delegation was fetched again from the parent
	known := d.zone               // the deepest name known to exist on the way to qname
	for referrals := 0; ; {
		if referrals > b.limits.MaxReferrals {
			return reply{}, &Error{Zone: d.zone, Err: fmt.Errorf("%w: more than %d referrals", ErrLimit, b.limits.MaxReferrals)}
		}
		askName, askType := qname, qtype
		if minimise && minimised < MaxMinimisedQueries {
			if next := childOf(qname, known); next != qname {
				askName, askType = next, r.qminType
			}
		}
		if askName != qname {
			// What the cache knows of the minimised name saves a query.
			if e, ok := r.cache.Get(askName, askType, dns.ClassINET); ok {
				switch {
				case e.Negative != cache.NXDomain:
					known = askName
				case r.qmin == QminStrict:
					return reply{kind: kindNXDomain, target: qname, soa: e.SOA, aa: true}, nil
				default:
					minimise = false
				}
				continue
			}
		}
		rep, err := r.ask(ctx, b, depth, chainOf, d, askName, askType)
		rep = r.withoutPrivate(r.trimNS(r.withoutAuthorityNS(rep, askType), askType))
		rep = r.withoutSiblingGlue(rep)
		if askName == qname {
			if err != nil && errors.Is(err, ErrNoReachableServer) && d.zone != "." && !r.isStub(d.zone) && !refetched[d.zone] && ctx.Err() == nil {
				// Every server of a cached delegation failed: its addresses
				// may be stale. Ask the parent again for the delegation and
				// fresh glue, once per zone. A stub zone's servers are
				// configured: the parent knows nothing better.
				if refetched == nil {
					refetched = map[string]bool{}
				}
				refetched[d.zone] = true
				if pd, perr := r.closestDelegation(ctx, b, depth, chainOf, parentZone(d.zone)); perr == nil {
					d, known = pd, pd.zone
					continue
				}
			}
			if err != nil {
				return reply{}, err
			}
			r.store(d.zone, qname, qtype, rep)
			if rep.kind != kindReferral || qtype == dns.TypeDS && sameName(rep.child, qname) {
				return rep, nil
			}
			d, known = r.delegationFromReferral(rep), rep.child
			referrals++
			continue
		}
		minimised++
		if err != nil && r.qmin == QminStrict {
			return reply{}, err
		}
		if err == nil {
			r.store(d.zone, askName, askType, rep)
		}
		switch {
		case err != nil && errors.Is(err, ErrLimit), ctx.Err() != nil:
			return reply{}, err
		case err == nil && rep.kind == kindReferral:
			d, known = r.delegationFromReferral(rep), rep.child
			referrals++
		case err == nil && rep.kind == kindAnswer && askType == dns.TypeNS:
			// The same servers serve the child zone too: its own NS set.
			d, known = r.delegationAt(askName, rep.answer, rep.glue), askName
		case err == nil && (rep.kind == kindNoData || rep.kind == kindAnswer):
			known = askName // an empty non-terminal or a name without a cut
		case err == nil && rep.kind == kindNXDomain && r.qmin == QminStrict:
			rep.target = qname // nothing exists below a name that does not exist (RFC 8020)
			return rep, nil
		default:
			// Relaxed mode: servers that mishandle minimised questions
			// (NXDOMAIN for empty non-terminals, errors, timeouts) get
			// the full question.
			minimise = false
		}
	}
}

// isStub reports whether zone is a configured stub zone.
func (r *Resolver) isStub(zone string) bool {
	_, ok := r.stubs[zone]
	return ok
}

// childOf returns the name one label below zone on the way to qname, or
// qname itself when it is that name.
func childOf(qname, zone string) string {
	labels := dns.CountLabel(zone)
	idx := dns.Split(qname)
	n := len(idx) - labels - 1
	if n <= 0 {
		return qname
	}
	return qname[idx[n]:]
}
