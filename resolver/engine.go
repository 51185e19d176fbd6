package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/miekg/dns"
	"golang.org/x/sync/singleflight"

	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/internal/dnsname"
	"github.com/recursor-dns/recursor/roothints"
)

// Resolver is an iterative resolver. It is safe for concurrent use.
type Resolver struct {
	hints      *roothints.Hints
	port       uint16
	noIPv6     bool
	no0x20     bool
	qmin       QNAMEMinimisation
	qminType   uint16
	nonMinimal bool
	authNS     bool // keep the authority NS set of answers
	verifyGlue bool // look up sibling glue
	private    []netip.Prefix
	privateOK  []string
	stubs      map[string]delegation
	// localZones: the default local zones but those Config turned off
	localZones []string
	transport  Transport
	cache      *cache.Cache
	now        func() time.Time
	log        *slog.Logger
	limits     Limits
	dontQuery  []netip.Prefix
	infra      *infra
	failed     *failCache
	msgRefs    *lru.Cache[string, *sectionRefs] // non-minimal responses only
	parentGlue *lru.Cache[string, []netip.Addr] // name server addresses as referrals gave them
	// delegationEnds: when the parent's delegation of each zone runs out
	delegationEnds *lru.Cache[string, time.Time]
	flight         singleflight.Group
}

// New returns a resolver for cfg. It starts no goroutines.
func New(cfg Config) (*Resolver, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Resolver{
		hints:      cfg.RootHints,
		port:       cfg.UpstreamPort,
		noIPv6:     cfg.DisableIPv6,
		no0x20:     cfg.Disable0x20,
		qmin:       cfg.QNAMEMinimisation,
		qminType:   cfg.MinimisedQtype,
		nonMinimal: cfg.NonMinimalResponses,
		authNS:     cfg.AcceptAuthorityNS,
		verifyGlue: cfg.VerifySiblingGlue,
		private:    cfg.PrivateAddress,
		transport:  cfg.Transport,
		cache:      cfg.Cache,
		now:        cfg.Now,
		log:        cfg.Logger,
		limits:     cfg.Limits.withDefaults(),
		dontQuery:  cfg.DontQuery,
		infra:      newInfra(),
		failed:     newFailCache(),
	}
	if r.hints == nil {
		r.hints = roothints.Default()
	}
	if r.port == 0 {
		r.port = DefaultUpstreamPort
	}
	if r.transport == nil {
		r.transport = &NetTransport{}
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.qminType == 0 {
		r.qminType = dns.TypeNS
	}
	if r.cache == nil {
		r.cache = cache.New(cache.Config{Now: r.now})
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.dontQuery == nil {
		r.dontQuery = DefaultDontQuery()
	}
	if r.nonMinimal {
		r.msgRefs, _ = lru.New[string, *sectionRefs](cache.DefaultMaxEntries)
	}
	r.parentGlue, _ = lru.New[string, []netip.Addr](InfraCacheHosts)
	r.delegationEnds, _ = lru.New[string, time.Time](InfraCacheHosts)
	for _, st := range cfg.StubZones {
		if r.stubs == nil {
			r.stubs = map[string]delegation{}
		}
		zone, _ := dnsname.Canonical(st.Zone) // validate checked it
		r.stubs[zone] = delegation{zone: zone, servers: []nameServer{{name: zone, addrs: st.Addrs}}}
	}
	for _, d := range cfg.PrivateDomain {
		d, _ = dnsname.Canonical(d) // validate checked it
		r.privateOK = append(r.privateOK, d)
	}
	if !cfg.DisableLocalZones {
		var off []string
		for _, z := range cfg.NoDefaultZones {
			z, _ = dnsname.Canonical(z) // validate checked it
			off = append(off, z)
		}
		for _, z := range localZones {
			if !slices.Contains(off, z) {
				r.localZones = append(r.localZones, z)
			}
		}
	}
	return r, nil
}

// Cache returns the resolver's cache.
func (r *Resolver) Cache() *cache.Cache { return r.cache }

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
		res, err := r.lookup(wctx, newBudget(r.limits), 0, nil, qname, qtype)
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

// budget is the work one client query may cause, shared by its sub-queries.
type budget struct {
	limits    Limits
	sent      atomic.Int32
	glueless  atomic.Int32
	nxServers atomic.Int32 // name servers found not to exist
	failures  atomic.Int32

	mu sync.Mutex // guards perName
	// perName counts upstream queries about each name. A walk asks about
	// a handful of names, so a scan of a slice, first in the budget's own
	// array, costs less than a map (which was 5% of a cold resolution's
	// allocated bytes); MaxUpstreamQueries bounds its length.
	perName []nameCount
	names   [6]nameCount
}

type nameCount struct {
	name string
	n    int
}

func newBudget(l Limits) *budget {
	b := &budget{limits: l}
	b.perName = b.names[:0]
	return b
}

// spendOn counts an upstream query about name and reports whether it stays
// within DefaultMaxQueriesPerName.
func (b *budget) spendOn(name string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.perName {
		if b.perName[i].name == name {
			b.perName[i].n++
			return b.perName[i].n <= DefaultMaxQueriesPerName
		}
	}
	b.perName = append(b.perName, nameCount{name, 1})
	return 1 <= DefaultMaxQueriesPerName
}

// lookupChain lists the names whose resolution led to this one, so a name
// server whose address depends on itself is noticed.
type lookupChain struct {
	name   string
	parent *lookupChain
}

func (c *lookupChain) has(name string) bool {
	for ; c != nil; c = c.parent {
		if c.name == name {
			return true
		}
	}
	return false
}

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

// withoutPrivate removes from an answer the addresses in the private
// networks (and SVCB and HTTPS records hinting at them), unless the owner
// lies in a private domain: a public name must not point into the local
// network (DNS rebinding).
func (r *Resolver) withoutPrivate(rep reply) reply {
	if len(r.private) == 0 || rep.kind != kindAnswer {
		return rep
	}
	var kept []dns.RR
	for _, rr := range rep.answer {
		if slices.ContainsFunc(addrsIn(rr), r.isPrivate) && !r.inPrivateDomain(rr.Header().Name) {
			continue
		}
		kept = append(kept, rr)
	}
	rep.answer = kept
	return rep
}

// trimNS keeps the first Limits.MaxNSRecords records of each NS set in
// rep, and the addresses of those servers alone.
func (r *Resolver) trimNS(rep reply, qtype uint16) reply {
	max := r.limits.MaxNSRecords
	if len(rep.ns) <= max && len(rep.authNS) <= max && (qtype != dns.TypeNS || len(rep.answer) <= max) {
		return rep
	}
	rep.ns = rep.ns[:min(len(rep.ns), max)]
	rep.authNS = rep.authNS[:min(len(rep.authNS), max)]
	var servers []dns.RR
	servers = append(servers, rep.ns...)
	servers = append(servers, rep.authNS...)
	if qtype == dns.TypeNS && rep.kind == kindAnswer {
		rep.answer = rep.answer[:min(len(rep.answer), max)]
		servers = append(servers, rep.answer...)
	}
	rep.glue = glueFor(rep.glue, servers)
	return rep
}

// withoutSiblingGlue sets aside, with Config.VerifySiblingGlue, the glue
// of a referral for servers outside the delegated zone: the addresses are
// looked up, and the glue is kept only as the parent-side fallback.
func (r *Resolver) withoutSiblingGlue(rep reply) reply {
	if !r.verifyGlue || rep.kind != kindReferral {
		return rep
	}
	var inside, sibling []dns.RR
	for _, g := range rep.glue {
		if inZone(g.Header().Name, rep.child) {
			inside = append(inside, g)
		} else {
			sibling = append(sibling, g)
		}
	}
	r.rememberParentGlue(sibling)
	rep.glue = inside
	return rep
}

// withoutAuthorityNS drops the NS set an answer carried in its authority
// section, and the addresses given for it, unless Config.AcceptAuthorityNS
// keeps them.
func (r *Resolver) withoutAuthorityNS(rep reply, qtype uint16) reply {
	if r.authNS || rep.authNS == nil {
		return rep
	}
	rep.authNS = nil
	var keep []dns.RR
	if qtype == dns.TypeNS && rep.kind == kindAnswer {
		keep = glueFor(rep.glue, rep.answer) // the answer's own servers
	}
	rep.glue = keep
	return rep
}

// addrsIn returns the addresses a record gives: an A or AAAA record's,
// or an SVCB or HTTPS record's address hints (RFC 9460 section 7.3).
func addrsIn(rr dns.RR) []netip.Addr {
	var svcb *dns.SVCB
	switch rr := rr.(type) {
	case *dns.SVCB:
		svcb = rr
	case *dns.HTTPS:
		svcb = &rr.SVCB
	default:
		return appendAddr(nil, rr)
	}
	var out []netip.Addr
	for _, kv := range svcb.Value {
		var hints []net.IP
		switch kv := kv.(type) {
		case *dns.SVCBIPv4Hint:
			hints = kv.Hint
		case *dns.SVCBIPv6Hint:
			hints = kv.Hint
		}
		for _, ip := range hints {
			if a, ok := netip.AddrFromSlice(ip); ok {
				out = append(out, a.Unmap())
			}
		}
	}
	return out
}

func (r *Resolver) isPrivate(a netip.Addr) bool {
	for _, p := range r.private {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (r *Resolver) inPrivateDomain(name string) bool {
	for _, d := range r.privateOK {
		if inZone(name, d) {
			return true
		}
	}
	return false
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

// capToParentTTL lowers the TTLs of a zone's own NS set to what is left of
// the parent's delegation, so a delegation never outlives the TTL the
// parent gave it (a removed domain stops resolving when the parent's TTL
// runs out; the "ghost domain" attack).
func (r *Resolver) capToParentTTL(zone string, ns []dns.RR, now time.Time) {
	if parent, ok := r.cache.Get(zone, dns.TypeNS, dns.ClassINET); ok && parent.Rank == cache.RankReferral {
		capTTL(ns, parent.Expires.Sub(now))
		return
	}
	// The child's own NS set replaced the referral in the cache; the
	// parent's deadline is remembered apart, so that a child that keeps
	// repeating its NS set (a sold domain whose old servers still run)
	// cannot extend it (iter_domain_sale).
	// Once the deadline has passed, the child cannot renew its own
	// delegation (a reply that arrives just after it, iter_ghost_timewindow):
	// TTL 0, and the parent is asked again.
	if deadline, ok := r.delegationEnds.Get(cache.Canonical(zone)); ok {
		capTTL(ns, deadline.Sub(now))
	}
}

// rememberDelegation notes when the parent's delegation of a zone ends.
func (r *Resolver) rememberDelegation(ns []dns.RR, now time.Time) {
	if len(ns) == 0 {
		return
	}
	ttl := ns[0].Header().Ttl
	for _, rr := range ns {
		ttl = min(ttl, rr.Header().Ttl)
	}
	r.delegationEnds.Add(cache.Canonical(ns[0].Header().Name), now.Add(time.Duration(ttl)*time.Second))
}

// capBelowZone lowers the TTLs of an NS set below zone, learned from
// zone's servers, to what is left of zone's own delegation: a cut below a
// zone lives no longer than the zone (a subdomain of a removed domain
// must not keep it alive, iter_ghost_sub).
func capBelowZone(c *cache.Cache, zone string, ns []dns.RR, now time.Time) {
	if zone == "." || len(ns) == 0 || sameName(ns[0].Header().Name, zone) {
		return
	}
	e, ok := c.Get(zone, dns.TypeNS, dns.ClassINET)
	if !ok || e.Negative != cache.Positive {
		return
	}
	capTTL(ns, e.Expires.Sub(now))
}

// capTTL lowers the TTLs of rrs to left, rounded up to a second.
func capTTL(rrs []dns.RR, left time.Duration) {
	secs := uint32(max(0, (left+time.Second-1)/time.Second))
	for i, rr := range rrs {
		if rr.Header().Ttl > secs {
			cp := dns.Copy(rr) // the reply's records may be shared
			cp.Header().Ttl = secs
			rrs[i] = cp
		}
	}
}

// rememberParentGlue keeps the addresses a referral gave for its servers,
// apart from the cache, where the child's own records may replace them.
func (r *Resolver) rememberParentGlue(glue []dns.RR) {
	byName := map[string][]netip.Addr{}
	for _, g := range glue {
		name := cache.Canonical(g.Header().Name)
		byName[name] = appendAddr(byName[name], g)
	}
	for name, addrs := range byName {
		r.parentGlue.Add(name, addrs)
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

// walkStack is about the stack a walk's goroutine grows to.
const walkStack = 16 << 10

// growStack makes the runtime grow the new walk goroutine's stack to
// walkStack at once, while it is nearly empty and cheap to copy, instead
// of doubling it twice deep inside the walk, where each doubling copies
// every frame: newstack and copystack took a sixth of a cold
// resolution's CPU in BenchmarkResolveCold.
//
//go:noinline
func growStack() {
	var pad [walkStack]byte
	touchStack(&pad)
}

// touchStack keeps growStack's array real: the compiler cannot see
// through a call it may not inline.
//
//go:noinline
func touchStack(pad *[walkStack]byte) { pad[0] = 1 }
