package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
)

// delegation is a zone cut: the zone and its name servers, each with the
// addresses known for it (none for a glueless server not yet looked up).
type delegation struct {
	zone    string
	servers []nameServer
}

type nameServer struct {
	name  string
	addrs []netip.Addr
}

// parentZone returns the zone one label above name ("." stays ".").
func parentZone(name string) string {
	if name == "." {
		return "."
	}
	i, _ := dns.NextLabel(name, 0)
	if i >= len(name) {
		return "."
	}
	return name[i:]
}

// closestDelegation returns the deepest live zone cut the cache knows for
// qname whose servers can be reached, falling back to the root.
func (r *Resolver) closestDelegation(ctx context.Context, b *budget, depth int, chainOf *lookupChain, qname string) (delegation, error) {
	for z := qname; z != "."; z = parentZone(z) {
		if stub, ok := r.stubs[z]; ok {
			return stub, nil
		}
		e, ok := r.cache.Get(z, dns.TypeNS, dns.ClassINET)
		if !ok || e.Negative != cache.Positive {
			continue
		}
		d := r.delegationAt(z, e.RRs, nil)
		if d.reachable(chainOf) {
			return d, nil
		}
	}
	return r.rootDelegation(ctx, b)
}

// delegationAt builds the delegation of zone from its NS records, with the
// addresses of glue and of the cache.
func (r *Resolver) delegationAt(zone string, ns []dns.RR, glue []dns.RR) delegation {
	d := delegation{zone: cache.Canonical(zone)}
	seen := map[string]bool{}
	for _, rr := range ns {
		name := cache.Canonical(rr.(*dns.NS).Ns)
		if seen[name] {
			continue
		}
		seen[name] = true
		// The cache first: it holds the best-ranked addresses learned,
		// this referral's glue among them. The glue given is the fallback
		// (uncacheable glue, or the root hints).
		s := nameServer{name: name, addrs: r.cachedAddrs(name)}
		if len(s.addrs) == 0 {
			for _, g := range glue {
				if strings.EqualFold(g.Header().Name, name) && (!r.noIPv6 || g.Header().Rrtype == dns.TypeA) {
					s.addrs = appendAddr(s.addrs, g)
				}
			}
		}
		if len(s.addrs) > MaxAddrsPerNS {
			s.addrs = s.addrs[:MaxAddrsPerNS]
		}
		d.servers = append(d.servers, s)
		if len(d.servers) == MaxNSConsidered {
			break
		}
	}
	return d
}

// reachable reports whether some server has an address, or a name that can
// be looked up without this delegation's own servers.
func (d delegation) reachable(chainOf *lookupChain) bool {
	for _, s := range d.servers {
		if len(s.addrs) > 0 || !inZone(s.name, d.zone) && !chainOf.has(s.name) {
			return true
		}
	}
	return false
}

func (r *Resolver) cachedAddrs(name string) []netip.Addr {
	var out []netip.Addr
	types := []uint16{dns.TypeA, dns.TypeAAAA}
	if r.noIPv6 {
		types = types[:1]
	}
	for _, t := range types {
		if e, ok := r.cache.Get(name, t, dns.ClassINET); ok {
			for _, rr := range e.RRs {
				out = appendAddr(out, rr)
			}
		}
	}
	return out
}

func appendAddr(addrs []netip.Addr, rr dns.RR) []netip.Addr {
	var a netip.Addr
	switch rr := rr.(type) {
	case *dns.A:
		a, _ = netip.AddrFromSlice(rr.A.To4())
	case *dns.AAAA:
		a, _ = netip.AddrFromSlice(rr.AAAA.To16())
	}
	if !a.IsValid() {
		return addrs
	}
	return append(addrs, a.Unmap())
}

// rootDelegation returns the root servers: the primed NS set from the cache,
// priming it first when it is missing or expired (RFC 8109), and the hints
// themselves when priming fails.
func (r *Resolver) rootDelegation(ctx context.Context, b *budget) (delegation, error) {
	if e, ok := r.cache.Get(".", dns.TypeNS, dns.ClassINET); ok && e.Negative == cache.Positive {
		if d := r.delegationAt(".", e.RRs, r.hints.Glue()); d.reachable(nil) {
			return d, nil
		}
	}
	hints := r.delegationAt(".", r.hints.NS(), r.hints.Glue())
	_, err, _ := r.flight.Do("\x00prime", func() (any, error) {
		rep, err := r.ask(ctx, b, 0, nil, hints, ".", dns.TypeNS)
		if err != nil {
			return nil, err
		}
		rep = r.trimNS(rep, dns.TypeNS)
		if rep.kind != kindAnswer {
			return nil, fmt.Errorf("priming: %s reply", rep.kind)
		}
		r.store(".", ".", dns.TypeNS, rep)
		return nil, nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return delegation{}, err
		}
		r.log.Warn("root priming failed, using the hints", "err", err)
		return hints, nil
	}
	if e, ok := r.cache.Get(".", dns.TypeNS, dns.ClassINET); ok && e.Negative == cache.Positive {
		if d := r.delegationAt(".", e.RRs, r.hints.Glue()); d.reachable(nil) {
			return d, nil
		}
	}
	return hints, nil
}

// delegationFromReferral builds the child delegation of a referral.
func (r *Resolver) delegationFromReferral(rep reply) delegation {
	return r.delegationAt(rep.child, rep.ns, rep.glue)
}

// candidate is one server address to try for a delegation.
type candidate struct {
	ns       string
	addr     netip.Addr
	attempts int
	timeouts int
	done     bool // answered unusably (lame, bad): not asked again this query
}

// ask puts the question to the servers of d until one gives a usable reply
// (an answer, a CNAME, a negative answer or a referral). Servers without
// addresses are looked up when the ones with addresses are used up.
func (r *Resolver) ask(ctx context.Context, b *budget, depth int, chainOf *lookupChain, d delegation, qname string, qtype uint16) (reply, error) {
	var cands []*candidate
	var glueless []string
	for _, s := range d.servers {
		usable := 0
		for _, a := range s.addrs {
			if r.allowed(a) {
				cands = append(cands, &candidate{ns: s.name, addr: a})
				usable++
			}
		}
		// A server with no address we may query (none known, or only
		// ones we never send to, like ::1 as glue) is looked up: it
		// may have others.
		if usable == 0 && !chainOf.has(s.name) {
			glueless = append(glueless, s.name)
		}
	}
	fail := func(err error) (reply, error) {
		e := &Error{Zone: d.zone, Err: err}
		for _, c := range cands {
			e.Servers = append(e.Servers, netip.AddrPortFrom(c.addr, r.port))
		}
		return reply{}, e
	}
	// Glueless servers are looked up in the background, a batch at a
	// time: first when no address is known, then whenever a server fails,
	// in parallel with trying the next address.
	// Their state is made with the first batch: most delegations come
	// with glue, and then ask allocates none of it.
	var gl *glueLookups
	defer func() {
		if gl != nil {
			gl.cancel()
			gl.wg.Wait()
		}
	}()
	pending := 0
	var lookupErr error
	startLookups := func() {
		if pending > 0 || len(glueless) == 0 {
			return
		}
		if nx := int(b.nxServers.Load()); nx >= b.limits.MaxNXNameServers {
			// Name servers that do not exist: an NXNS attack, or a
			// broken delegation; either way, no more lookups.
			if lookupErr == nil {
				lookupErr = fmt.Errorf("%w: %d name servers do not exist", ErrLimit, nx)
			}
			glueless = nil
			return
		}
		if gl == nil {
			gl = &glueLookups{results: make(chan glueResult, len(glueless)+1)}
			gl.ctx, gl.cancel = context.WithCancel(ctx)
		}
		n := min(len(glueless), b.limits.MaxParallelGlueless)
		batch := glueless[:n]
		glueless = glueless[n:]
		pending++
		g := gl
		g.wg.Go(func() {
			found, err := r.lookupServers(g.ctx, b, depth, chainOf, batch)
			g.results <- glueResult{found, err}
		})
	}
	collect := func(block bool) error {
		for pending > 0 {
			var res glueResult
			if block {
				select {
				case res = <-gl.results:
				case <-ctx.Done():
					return ctx.Err()
				}
			} else {
				select {
				case res = <-gl.results:
				default:
					return nil
				}
			}
			pending--
			cands = append(cands, res.found...)
			if res.err != nil && lookupErr == nil {
				lookupErr = res.err
			}
			block = false
		}
		return nil
	}

	var lastWhy string
	var emptyReply reply // the first empty authoritative reply, when haveEmpty
	haveEmpty := false
	now := r.now()
	parentTried := false
	if len(cands) == 0 {
		startLookups()
	}
	for pass := 0; pass < MaxAttemptsPerAddr; pass++ {
		r.orderCandidates(cands)
		for i := 0; ; i++ {
			collect(false)
			if i >= len(cands) {
				startLookups()
				if pending == 0 {
					break
				}
				if err := collect(true); err != nil {
					return fail(err)
				}
				i--
				continue
			}
			c := cands[i]
			if c.done || c.attempts > pass {
				continue
			}
			if r.infra.held(c.addr, now) {
				c.done, lastWhy = true, "held after repeated failures"
				continue
			}
			c.attempts++
			rep, err := r.exchange(ctx, b, depth, d, c, qname, qtype)
			switch {
			case ctx.Err() != nil:
				return fail(ctx.Err())
			case errors.Is(err, ErrLimit):
				return fail(err)
			case err != nil:
				lastWhy = err.Error()
			case rep.kind == kindBad || rep.kind == kindLame:
				c.done, lastWhy = true, rep.kind.String()+": "+rep.why
			case rep.empty:
				// An empty reply: another server may say more.
				c.done = true
				if !haveEmpty {
					emptyReply, haveEmpty = rep, true
				}
				continue
			default:
				return rep, nil
			}
			if int(b.failures.Add(1)) >= b.limits.MaxFailures {
				return fail(fmt.Errorf("%w: %d failed exchanges", ErrLimit, b.limits.MaxFailures))
			}
			startLookups()
		}
		if pass == MaxAttemptsPerAddr-1 && !parentTried {
			// Every address failed. The parent's glue may still work where
			// the child's own address records are wrong (Unbound's
			// parent-side fallback): one more pass over those.
			parentTried = true
			if r.addParentGlue(d, &cands) > 0 {
				pass--
			}
		}
	}
	if haveEmpty {
		return emptyReply, nil
	}
	if len(cands) == 0 && lookupErr != nil && (errors.Is(lookupErr, ErrLimit) || errors.Is(lookupErr, ErrLoop)) {
		return fail(lookupErr)
	}
	if len(cands) == 0 && lastWhy == "" {
		if len(d.servers) > 0 && !d.reachable(chainOf) {
			return fail(fmt.Errorf("%w: the name servers of %s depend on themselves", ErrLoop, d.zone))
		}
		if lookupErr != nil {
			return fail(fmt.Errorf("%w: name server addresses: %v", ErrNoReachableServer, lookupErr))
		}
		return fail(fmt.Errorf("%w: no usable server address", ErrNoReachableServer))
	}
	return fail(fmt.Errorf("%w: last: %s", ErrNoReachableServer, lastWhy))
}

// addParentGlue adds to cands the addresses that referrals gave as glue
// for d's servers, where not among cands already, and reports how many.
func (r *Resolver) addParentGlue(d delegation, cands *[]*candidate) int {
	have := map[netip.Addr]bool{}
	for _, c := range *cands {
		have[c.addr] = true
	}
	added := 0
	for _, s := range d.servers {
		addrs, _ := r.parentGlue.Get(s.name)
		for _, a := range addrs {
			if !have[a] && r.allowed(a) {
				have[a] = true
				*cands = append(*cands, &candidate{ns: s.name, addr: a})
				added++
			}
		}
	}
	return added
}

func (r *Resolver) orderCandidates(cands []*candidate) {
	addrs := make([]netip.Addr, len(cands))
	byAddr := make(map[netip.Addr][]*candidate, len(cands))
	for i, c := range cands {
		addrs[i] = c.addr
		byAddr[c.addr] = append(byAddr[c.addr], c)
	}
	r.infra.order(addrs)
	seen := map[netip.Addr]bool{}
	i := 0
	for _, a := range addrs {
		if seen[a] {
			continue
		}
		seen[a] = true
		for _, c := range byAddr[a] {
			cands[i] = c
			i++
		}
	}
}

// lookupServers resolves the addresses of glueless name servers in
// parallel, as sub-queries sharing the client query's budget.
func (r *Resolver) lookupServers(ctx context.Context, b *budget, depth int, chainOf *lookupChain, names []string) ([]*candidate, error) {
	if depth+1 > b.limits.MaxDepth {
		return nil, fmt.Errorf("%w: name server lookups nested deeper than %d", ErrLimit, b.limits.MaxDepth)
	}
	types := []uint16{dns.TypeA, dns.TypeAAAA}
	if r.noIPv6 {
		types = types[:1]
	}
	var (
		mu       sync.Mutex
		found    []*candidate
		firstErr error
		wg       sync.WaitGroup
	)
	nxNames := map[string]bool{} // names a fresh lookup found not to exist
	for _, name := range names {
		cached := true
		for _, t := range types {
			if _, next := r.cachedChain(name, t, 0); next != "" {
				cached = false
			}
		}
		// Only lookups that go upstream count against the budget: what
		// the cache knows costs nothing (iter_nxns_cached).
		if !cached && int(b.glueless.Add(1)) > b.limits.MaxGluelessLookups {
			mu.Lock()
			firstErr = fmt.Errorf("%w: more than %d name server lookups", ErrLimit, b.limits.MaxGluelessLookups)
			mu.Unlock()
			break
		}
		for _, t := range types {
			wg.Go(func() {
				res, err := r.lookup(ctx, b, depth+1, &lookupChain{name: name, parent: chainOf}, name, t)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					return
				}
				if !cached && res.rcode == dns.RcodeNameError {
					nxNames[name] = true
				}
				for _, rr := range res.answer {
					if rr.Header().Rrtype != t {
						continue
					}
					if a := appendAddr(nil, rr); len(a) == 1 && r.allowed(a[0]) {
						found = append(found, &candidate{ns: name, addr: a[0]})
					}
				}
			})
		}
	}
	wg.Wait()
	b.nxServers.Add(int32(len(nxNames)))
	return found, firstErr
}

// glueLookups are the background lookups of one ask's glueless servers.
type glueLookups struct {
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	results chan glueResult
}

type glueResult struct {
	found []*candidate
	err   error
}

// exchange sends one query to c and classifies the reply. A non-nil error
// means the server could not be heard (timeout, network error, unusable
// packet) or the budget ran out.
func (r *Resolver) exchange(ctx context.Context, b *budget, depth int, d delegation, c *candidate, qname string, qtype uint16) (reply, error) {
	if int(b.sent.Add(1)) > b.limits.MaxUpstreamQueries {
		return reply{}, fmt.Errorf("%w: more than %d upstream queries", ErrLimit, b.limits.MaxUpstreamQueries)
	}
	if !b.spendOn(qname) {
		return reply{}, fmt.Errorf("%w: more than %d upstream queries about %s", ErrLimit, DefaultMaxQueriesPerName, qname)
	}
	server := netip.AddrPortFrom(c.addr, r.port)
	quirks := r.infra.quirks(c.addr)
	sendName := qname
	if !r.no0x20 && quirks&quirkNo0x20 == 0 {
		sendName = randomizeCase(qname)
	}
	m := new(dns.Msg)
	m.Id = dns.Id()
	m.Question = []dns.Question{{Name: sendName, Qtype: qtype, Qclass: dns.ClassINET}}
	// After two silent tries, the last one goes without EDNS: some
	// middleboxes and old servers drop what they do not understand.
	edns := quirks&quirkNoEDNS == 0 && c.timeouts < 2
	if edns {
		m.SetEdns0(EDNSBufferSize, false)
	}
	var (
		resp *dns.Msg
		rtt  time.Duration
		err  error
	)
	if nt, ok := r.transport.(*NetTransport); ok {
		resp, rtt, err = nt.exchangeWithin(ctx, m, server, r.infra.timeout(c.addr))
	} else {
		tctx, cancel := context.WithTimeout(ctx, r.infra.timeout(c.addr))
		resp, rtt, err = r.transport.Exchange(tctx, m, server)
		cancel()
	}
	step := Step{Depth: depth, Qname: sendName, Qtype: qtype, Zone: d.zone, NSName: c.ns, Server: server, RTT: rtt, Err: err}
	trace := traceFrom(ctx)
	if errors.Is(err, errCaseMismatch) && sendName != qname {
		// The server does not echo 0x20 case: remember, ask plainly.
		r.infra.addQuirk(c.addr, quirkNo0x20)
		step.Outcome = "case not echoed, retrying without 0x20"
		r.report(ctx, trace, step)
		return r.exchange(ctx, b, depth, d, c, qname, qtype)
	}
	if err != nil {
		timedOut := errors.Is(err, context.DeadlineExceeded)
		if ctx.Err() == nil {
			r.infra.failure(c.addr, timedOut, r.now())
		}
		if timedOut {
			c.timeouts++
		}
		step.Outcome = "error"
		if timedOut {
			step.Outcome = "timeout"
		}
		r.report(ctx, trace, step)
		return reply{}, fmt.Errorf("%s from %s (%s): %w", step.Outcome, server, c.ns, err)
	}
	if edns && (resp.Rcode == dns.RcodeFormatError || resp.Rcode == dns.RcodeNotImplemented) && resp.IsEdns0() == nil {
		// A server that does not speak EDNS: remember, ask again plainly.
		r.infra.addQuirk(c.addr, quirkNoEDNS)
		step.Outcome = "no EDNS, retrying without"
		r.report(ctx, trace, step)
		return r.exchange(ctx, b, depth, d, c, qname, qtype)
	}
	restoreCase(resp, sendName, qname)
	if !edns && quirks&quirkNoEDNS == 0 {
		r.infra.addQuirk(c.addr, quirkNoEDNS) // silent with EDNS, answers without
	}
	rep := classify(resp, d.zone, qname, qtype)
	if rep.kind == kindBad || rep.kind == kindLame {
		r.infra.failure(c.addr, false, r.now())
	} else {
		r.infra.success(c.addr, rtt, r.now())
	}
	if r.reporting(ctx, trace) {
		step.Outcome = describe(rep)
		r.report(ctx, trace, step)
	}
	return rep, nil
}

// reporting says whether anyone takes the steps: a trace, or debug logs.
// Building and logging them cost a tenth of a cold resolution's
// allocations otherwise.
func (r *Resolver) reporting(ctx context.Context, trace func(Step)) bool {
	return trace != nil || r.log.Enabled(ctx, slog.LevelDebug)
}

func (r *Resolver) report(ctx context.Context, trace func(Step), s Step) {
	if !r.reporting(ctx, trace) {
		return
	}
	r.log.Debug("exchange", "qname", s.Qname, "qtype", dns.TypeToString[s.Qtype], "zone", s.Zone,
		"server", s.Server.String(), "ns", s.NSName, "rtt", s.RTT, "outcome", s.Outcome)
	if trace != nil {
		trace(s)
	}
}

func describe(rep reply) string {
	switch rep.kind {
	case kindReferral:
		return "referral to " + rep.child
	case kindCNAME:
		return "cname to " + rep.target
	case kindAnswer:
		if len(rep.chain) > 0 {
			return fmt.Sprintf("answer (%d records, after %d CNAME/DNAME)", len(rep.answer), len(rep.chain))
		}
		return fmt.Sprintf("answer (%d records)", len(rep.answer))
	case kindBad, kindLame:
		return rep.kind.String() + ": " + rep.why
	}
	return rep.kind.String()
}

// allowed reports whether queries may be sent to a.
func (r *Resolver) allowed(a netip.Addr) bool {
	if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || r.noIPv6 && a.Is6() {
		return false
	}
	for _, p := range r.dontQuery {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// DefaultDontQuery lists the networks never queried upstream unless
// Config.DontQuery says otherwise: loopback, private, shared, link-local,
// documentation and other special-purpose ranges (as PowerDNS's
// dont-query), where no public authoritative server lives.
func DefaultDontQuery() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
		"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "255.255.255.255/32",
		"::/128", "::1/128", "100::/64", "2001:db8::/32", "fc00::/7", "fe80::/10",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// randomizeCase flips the letter case of name at random (draft-vixie-dnsext-
// dns0x20): a spoofed reply must guess the case as well as ID and port.
func randomizeCase(name string) string {
	b := []byte(name)
	bits := rand.Uint64()
	for i, c := range b {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			if bits&1 == 1 {
				b[i] = c ^ 0x20
			} else {
				b[i] = c | 0x20
			}
			bits >>= 1
			if bits == 0 {
				bits = rand.Uint64()
			}
		}
	}
	return string(b)
}

// restoreCase gives the names that repeat the randomised question the
// case of qname again, so the cache and clients see names as asked.
func restoreCase(resp *dns.Msg, sent, qname string) {
	if sent == qname {
		return
	}
	for i := range resp.Question {
		resp.Question[i].Name = qname
	}
	for _, sec := range [][]dns.RR{resp.Answer, resp.Ns, resp.Extra} {
		for _, rr := range sec {
			if h := rr.Header(); h.Name == sent {
				h.Name = qname
			}
		}
	}
}
