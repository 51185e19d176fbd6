package resolver

// The walk: a client question followed across CNAME and DNAME restarts
// (lookup), and each name iterated down the zone cuts (iterate), with
// QNAME minimisation. It asks delegation.go where to start and
// selection.go to put each question to a zone's servers.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/dnssec"
)

// lookup resolves q: from the cache, else by iteration, restarting at
// each CNAME or DNAME target that leaves the zone.
func (r *Resolver) lookup(ctx context.Context, q *query) (result, error) {
	var chain, proof []dns.RR // proof: of the wildcard CNAMEs in chain
	sec := secure
	name := q.qname
	seen := map[string]bool{}
	loop := func(name string) error {
		return &Error{Qname: q.qname, Qtype: q.qtype, Err: fmt.Errorf("%w: CNAME chain returns to %s", ErrLoop, name)}
	}
	minRank := clientRank
	if q.isLookup() {
		minRank = 0 // name server lookups may use glue
	}
	for restarts := 0; ; restarts++ {
		if restarts > q.budget.limits.MaxCNAMEs {
			return result{}, &Error{Qname: q.qname, Qtype: q.qtype, Err: fmt.Errorf("%w: more than %d CNAME hops", ErrLimit, q.budget.limits.MaxCNAMEs)}
		}
		if seen[name] {
			return result{}, loop(name)
		}
		seen[name] = true
		// A refresh (prefetch, stale) asks for its first name whatever
		// the cache holds.
		fresh := q.refresh && restarts == 0
		res, next := result{}, name
		if !fresh {
			res, next = r.cachedChain(name, q.qtype, minRank, false)
		}
		res.answer = appendNew(chain, res.answer)
		res.proof = concatProof(proof, res.proof)
		sec = worse(sec, res.sec)
		if res.loop && !slices.ContainsFunc(res.answer, dnameIntoItself) {
			return result{}, loop(name)
		}
		if next == "" {
			res.sec = sec
			return res, nil
		}
		if next != name {
			chain, name, proof = res.answer, next, res.proof
			if seen[name] {
				return result{}, loop(name)
			}
			seen[name] = true
		}
		if !fresh {
			if res, ok := r.belowNXDomain(name); ok {
				res.answer = chain
				res.sec = worse(sec, res.sec)
				return res, nil
			}
			if res, ok := r.synthesise(ctx, q, name, q.qtype); ok {
				res.answer, res.proof = chain, proof
				res.sec = worse(sec, res.sec)
				return res, nil
			}
			if res, target, ok := r.synthesiseWildcard(ctx, q, name, q.qtype); ok {
				res.answer = appendNew(chain, res.answer)
				res.proof = concatProof(proof, res.proof)
				if target == "" {
					res.sec = worse(sec, res.sec)
					return res, nil
				}
				chain, proof, name = res.answer, res.proof, target
				continue // the CNAME's target, from the cache or upstream
			}
		}
		rep, err := r.iterate(ctx, q, name)
		if err != nil {
			var re *Error
			if errors.As(err, &re) {
				// A copy: the error may be shared (a remembered dead
				// zone's, another walk's).
				named := *re
				named.Qname, named.Qtype = q.qname, q.qtype
				return result{}, &named
			}
			return result{}, &Error{Qname: q.qname, Qtype: q.qtype, Err: err}
		}
		chain = appendNew(chain, withSigs(rep.chain, rep.sigs))
		if rep.kind == kindCNAME && expanded(rep, rep.chain[:1]) {
			proof = concatProof(proof, withSigs(rep.denial, rep.sigs))
		}
		switch rep.kind {
		case kindCNAME:
			sec = worse(sec, rep.sec)
			name = cache.Canonical(rep.target)
			continue
		case kindCached:
			if res, next := r.cachedChain(name, q.qtype, minRank, false); next == "" {
				res.answer = appendNew(chain, res.answer)
				res.proof = concatProof(proof, res.proof)
				res.sec = worse(sec, res.sec)
				return res, nil
			}
			return result{}, &Error{Qname: q.qname, Qtype: q.qtype, Err: fmt.Errorf("%w: %s left the cache", ErrNoReachableServer, name)}
		}
		res = r.resultOf(rep, chain)
		res.proof = concatProof(proof, res.proof)
		res.sec = worse(sec, rep.sec)
		return res, nil
	}
}

// appendNew appends to chain the records of rrs it does not hold: a DNAME
// met again on the way (each reply repeats it, the cache synthesises
// from it) is in the answer once, as an RRset appears once in a message.
func appendNew(chain, rrs []dns.RR) []dns.RR {
	for _, rr := range rrs {
		if !slices.ContainsFunc(chain, func(have dns.RR) bool { return dns.IsDuplicate(have, rr) }) {
			chain = append(chain, rr)
		}
	}
	return chain
}

// appendRRs is append(chain, rrs...), but for an empty chain rrs itself,
// without room to append: the reply's slices are the walk's own (ask
// clones a shared one) and are not changed after it ends.
func appendRRs(chain, rrs []dns.RR) []dns.RR {
	if len(chain) == 0 {
		return slices.Clip(rrs)
	}
	return append(chain, rrs...)
}

// concatProof joins the proofs of a chain's parts, copying only when
// both have records (results share their slices).
func concatProof(a, b []dns.RR) []dns.RR {
	if len(a) == 0 {
		return b
	}
	if len(b) == 0 {
		return a
	}
	return slices.Concat(a, b)
}

// resultOf is the result of a final reply (an answer, NXDOMAIN or NODATA)
// at the end of chain.
func (r *Resolver) resultOf(rep *reply, chain []dns.RR) result {
	switch rep.kind {
	case kindAnswer:
		res := result{answer: appendRRs(chain, withSigs(rep.answer, rep.sigs)), refs: refsOf(rep), loop: rep.loop}
		if expanded(rep, rep.answer) {
			// A wildcard answer's proof that the name itself does not
			// exist goes to DO clients with it (RFC 4035 3.1.3.3).
			res.proof = withSigs(rep.denial, rep.sigs)
		}
		if rep.rcode == dns.RcodeYXDomain {
			res.rcode = dns.RcodeYXDomain
		}
		return res
	case kindNXDomain:
		return result{rcode: dns.RcodeNameError, answer: chain, ns: r.negativeSection(rep)}
	default: // kindNoData
		return result{answer: chain, ns: r.negativeSection(rep), refs: refsOf(rep)}
	}
}

// descent is where an iteration stands on its way down to qname.
type descent struct {
	d         delegation
	known     string // the deepest name known to exist on the way to qname
	minimise  bool   // still sending minimised questions
	minimised int    // minimised questions sent
	referrals int
	refetched map[string]bool // zones whose delegation was fetched again from the parent
}

// iterate walks delegations from the closest known zone cut down to a
// server that answers for qname (q's type), and returns its classified
// reply (never a referral or a lame reply). With QNAME minimisation
// (RFC 9156) each server is first asked only about the next label below
// its zone.
func (r *Resolver) iterate(ctx context.Context, q *query, qname string) (*reply, error) {
	start := qname
	if q.qtype == dns.TypeDS && qname != "." {
		start = parentZone(qname) // the parent side of the cut answers for DS
	}
	d, err := r.closestDelegation(ctx, q, start)
	if err != nil {
		return nil, err
	}
	rep, err := r.descend(ctx, q, qname, d)
	if err != nil && d.forwards() && d.conf.first && errors.Is(err, ErrNoReachableServer) && ctx.Err() == nil {
		// forward-first: the forwarders failed; iterate as if the zone
		// were not forwarded.
		r.log.Debug("forwarders failed, iterating", "zone", d.zone, "qname", qname, "err", err)
		if d, err = r.closestIterated(ctx, q, start); err != nil {
			return nil, err
		}
		return r.descend(ctx, q, qname, d)
	}
	return rep, err
}

// descend walks from the delegation d down to a server that answers for
// qname: the loop of iterate.
func (r *Resolver) descend(ctx context.Context, q *query, qname string, d delegation) (*reply, error) {
	at := &descent{d: d, known: d.zone, minimise: r.qmin != QminOff && !d.forwards()}
	for {
		if at.referrals > q.budget.limits.MaxReferrals {
			return nil, &Error{Zone: at.d.zone, Err: fmt.Errorf("%w: more than %d referrals", ErrLimit, q.budget.limits.MaxReferrals)}
		}
		askName, askType := qname, q.qtype
		if at.minimise && at.minimised < MaxMinimisedQueries {
			if next := childOf(qname, at.known); next != qname {
				askName, askType = next, r.qminType
			}
		}
		if askName == qname {
			rep, done, err := r.askFull(ctx, q, at, qname)
			if done || err != nil {
				return rep, err
			}
			continue
		}
		if rep, done, err := r.askMinimised(ctx, q, at, qname, askName, askType); done || err != nil {
			return rep, err
		}
	}
}

// askFull puts the full question to at's servers. It reports done with
// the final reply, or moves at down a referral (or up to the parent, when
// every server of a cached delegation failed).
func (r *Resolver) askFull(ctx context.Context, q *query, at *descent, qname string) (rep *reply, done bool, err error) {
	if q.isLookup() {
		// A lookup of a server's address may find it in the glue of a
		// referral met on the way, its own or a parallel walk's (which
		// may have come after this walk looked in the cache).
		if _, next := r.cachedChain(qname, q.qtype, 0, false); next == "" {
			return &reply{kind: kindCached, target: qname}, true, nil
		}
	}
	rep, err = r.ask(ctx, q, at.d, qname, q.qtype, nil)
	if r.zoneFailed(ctx, at.d.zone, err) {
		// Every server of the delegation failed: its addresses may be
		// stale. Ask the parent for it again, once, and try the servers
		// it names if any are new; else the zone is remembered as down.
		if d, ok := r.refetch(ctx, q, at, qname, errors.Is(err, errNoReply)); ok {
			at.d, at.known = d, d.zone
			return nil, false, nil
		}
		if errors.Is(err, errNoReply) {
			r.deadZones.record(at.d.zone, err, r.now())
		}
	}
	if err != nil {
		return nil, true, err
	}
	if rep.kind == kindReferral && q.qtype == dns.TypeDS && sameName(rep.child, qname) {
		dsFromReferral(rep)
		return rep, true, nil
	}
	if rep.kind != kindReferral {
		return rep, true, nil
	}
	at.d, at.known = r.delegationFromReferral(rep), rep.child
	at.referrals++
	return nil, false, nil
}

// zoneFailed reports whether err says that every server of zone failed
// just now (not earlier: then the zone was not asked), for a zone that a
// parent delegates (not the root, nor a stub zone).
func (r *Resolver) zoneFailed(ctx context.Context, zone string, err error) bool {
	return err != nil && errors.Is(err, ErrNoReachableServer) && !errors.Is(err, errZoneDown) &&
		zone != "." && !r.isStub(zone) && ctx.Err() == nil
}

// refetch asks the parent of a failed zone for its delegation again, at
// most once per descent and once per hold of the zone's failure: the
// question is the zone's NS set when minimising (RFC 9156), never the
// client's name. It reports the delegation when it names an address that
// was not tried, or when the servers replied, if unusably.
func (r *Resolver) refetch(ctx context.Context, q *query, at *descent, qname string, silent bool) (delegation, bool) {
	zone := at.d.zone
	if at.refetched[zone] || r.deadZones.get(zone, r.now) != nil {
		return delegation{}, false
	}
	if at.refetched == nil {
		at.refetched = map[string]bool{}
	}
	at.refetched[zone] = true
	pd, err := r.closestDelegation(ctx, q, parentZone(zone))
	if err != nil {
		return delegation{}, false
	}
	// Minimised, the parent is asked for the zone's NS set alone; without
	// minimisation, the question as the walk put it.
	askName, askType := zone, dns.TypeNS
	if r.qmin == QminOff {
		askName, askType = qname, q.qtype
	}
	rep, err := r.ask(ctx, q, pd, askName, askType, nil) // the cached delegation is what failed
	if err != nil || rep.kind != kindReferral || !sameName(rep.child, zone) {
		return delegation{}, false
	}
	d := r.delegationFromReferral(rep)
	tried := map[netip.Addr]bool{}
	for _, s := range at.d.servers {
		for _, a := range s.addrs {
			tried[a] = true
		}
	}
	for _, s := range d.servers {
		if len(s.addrs) == 0 || slices.ContainsFunc(s.addrs, func(a netip.Addr) bool { return !tried[a] }) {
			return d, true
		}
	}
	// The same addresses: worth another try only if they replied (a
	// server may mend, a SERVFAIL pass); silent ones stay silent.
	return d, !silent
}

// askMinimised asks at's servers about askName, a name on the way to
// qname, and moves at down by what the reply says of it. What the cache
// knows of askName saves the query.
func (r *Resolver) askMinimised(ctx context.Context, q *query, at *descent, qname, askName string, askType uint16) (rep *reply, done bool, err error) {
	if e, ok := r.cache.Get(askName, askType, dns.ClassINET); ok {
		switch {
		case e.Negative == cache.Positive && askType == dns.TypeNS:
			// A zone cut, learned by a walk running beside this one:
			// go down to it.
			if d := r.delegationAt(askName, e.RRs, nil); d.reachable(q) {
				at.d = d
			}
			at.known = askName
		case e.Negative != cache.NXDomain:
			at.known = askName
		case r.qmin == QminStrict:
			return &reply{kind: kindNXDomain, target: qname, soa: e.SOA, aa: true}, true, nil
		default:
			at.minimise = false
		}
		return nil, false, nil
	}
	rep, err = r.ask(ctx, q, at.d, askName, askType, func() bool {
		_, ok := r.cache.Get(askName, askType, dns.ClassINET)
		return ok
	})
	if err == nil && rep.kind == kindCached {
		return nil, false, nil // learned by another walk: look again
	}
	at.minimised++
	if err != nil && r.qmin == QminStrict {
		return nil, true, err
	}
	switch {
	case err != nil && errors.Is(err, ErrLimit), ctx.Err() != nil:
		if err == nil {
			err = ctx.Err() // the reply came, but the walk is over: no reply to return
		}
		return nil, true, err
	case err == nil && rep.kind == kindReferral:
		at.d, at.known = r.delegationFromReferral(rep), rep.child
		at.referrals++
	case err == nil && rep.kind == kindAnswer && askType == dns.TypeNS:
		// The same servers serve the child zone too: its own NS set.
		at.d, at.known = r.delegationAt(askName, rep.answer, rep.glue), askName
	case err == nil && (rep.kind == kindNoData || rep.kind == kindAnswer):
		at.known = askName // an empty non-terminal or a name without a cut
	case err == nil && rep.kind == kindNXDomain && (r.qmin == QminStrict || rep.sec.Status == dnssec.Secure):
		// Nothing exists below a name that does not exist (RFC 8020);
		// relaxed mode trusts it once the proof has validated.
		rep.target = qname
		return rep, true, nil
	default:
		// Relaxed mode: servers that mishandle minimised questions
		// (NXDOMAIN for empty non-terminals, errors, timeouts) get
		// the full question.
		at.minimise = false
	}
	return nil, false, nil
}

// isStub reports whether zone is a configured stub zone.
func (r *Resolver) isStub(zone string) bool {
	_, ok := r.stubs[zone]
	return ok
}

// childOf returns the name one label below zone on the way to qname, or
// qname itself when it is that name.
func childOf(qname, zone string) string {
	// PrevLabel overshoots to 0, qname itself, when qname has no more
	// labels than that.
	i, _ := dns.PrevLabel(qname, dns.CountLabel(zone)+1)
	return qname[i:]
}

// dsFromReferral turns rep, a referral to the child, into the answer to a
// DS question that the parent answered so: the DS set the referral
// carried (checked with it), or, without one, a NODATA whose verdict is
// the referral's proof of no DS. A referral's verdict is never that of an
// empty answer by itself (a DS that exists must not read as absent, with
// AD).
func dsFromReferral(rep *reply) {
	if len(rep.ds) > 0 {
		rep.kind, rep.answer, rep.target = kindAnswer, rep.ds, rep.child
		return
	}
	rep.kind, rep.target = kindNoData, rep.child
	if len(rep.denial) == 0 && rep.sec.Status == dnssec.Secure {
		rep.sec = check{} // nothing proven: not secure
	}
}
