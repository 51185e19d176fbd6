package resolver

// Server selection: which address of a delegation to ask next, by
// smoothed RTT (infra.go), with failure holds, glueless name server
// lookups in parallel, and the parent-side glue as a last resort.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/miekg/dns"
)

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
