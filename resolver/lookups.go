package resolver

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/internal/dnsname"
)

// Glueless lookups, a part of server selection: the addresses of a
// delegation's servers that came without glue, looked up as child
// queries sharing the client query's budget, a batch at a time in the
// background while the servers with addresses are tried.

// startLookups starts the next batch of glueless lookups, unless one is
// running or none is left.
func (s *selection) startLookups(ctx context.Context) {
	if s.pending > 0 || len(s.glueless) == 0 {
		return
	}
	b := s.q.budget
	if nx := int(b.nxServers.Load()); nx >= b.limits.MaxNXNameServers {
		// Name servers that do not exist: an NXNS attack, or a
		// broken delegation; either way, no more lookups.
		if s.lookupErr == nil {
			s.lookupErr = fmt.Errorf("%w: %d name servers do not exist", ErrLimit, nx)
		}
		s.glueless = nil
		return
	}
	if s.lookups == nil {
		s.lookups = &glueLookups{results: make(chan glueResult, len(s.glueless)+1)}
		s.lookups.ctx, s.lookups.cancel = context.WithCancel(ctx)
	}
	n := min(len(s.glueless), b.limits.MaxParallelGlueless)
	batch := s.glueless[:n]
	s.glueless = s.glueless[n:]
	s.pending++
	g := s.lookups
	g.wg.Go(func() {
		found, err := s.r.lookupServers(g.ctx, s.q, batch)
		g.results <- glueResult{found, err}
	})
}

// collect takes the results of finished lookups, without waiting.
func (s *selection) collect() {
	for s.pending > 0 {
		select {
		case res := <-s.lookups.results:
			s.take(res)
		default:
			return
		}
	}
}

// await waits for one batch of lookups, then takes any others finished.
func (s *selection) await(ctx context.Context) error {
	select {
	case res := <-s.lookups.results:
		s.take(res)
	case <-ctx.Done():
		return ctx.Err()
	}
	s.collect()
	return nil
}

func (s *selection) take(res glueResult) {
	s.pending--
	s.cands = append(s.cands, res.found...)
	if res.err != nil && s.lookupErr == nil {
		s.lookupErr = res.err
	}
}

// close stops the lookups still running and waits for them.
func (s *selection) close() {
	if s.lookups != nil {
		s.lookups.cancel()
		s.lookups.wg.Wait()
	}
}

// lookupServers resolves the addresses of glueless name servers in
// parallel, as child queries of q sharing its budget.
func (r *Resolver) lookupServers(ctx context.Context, q *query, names []string) ([]*candidate, error) {
	b := q.budget
	if q.depth+1 > b.limits.MaxDepth {
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
			if _, next := r.cachedChain(name, t, 0, false); next != "" {
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
				res, err := r.lookup(ctx, q.lookup(name, t))
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

// lookUpOtherFamilies looks up, once, the other address family of the
// servers known by addresses of one family only, when every candidate
// asked for a DS gave a bogus reply: the same server's other addresses
// may give the good DS where one gave a forged or broken reply (Unbound,
// out of good choices, looks up the missing addresses:
// ds_wildcard_cname). Only for a DS, the parent's word on the child's
// keys, which a bogus reply takes from the whole zone below; a DNSKEY or
// data that fails to verify is the zone's own content, the same at
// every address, and more lookups would only cost verifications.
func (s *selection) lookUpOtherFamilies(ctx context.Context) {
	s.familiesLookedUp = true
	// A configured zone's servers are the addresses given.
	if s.q.keyOf == "" || s.q.qtype != dns.TypeDS || s.d.conf != nil {
		return
	}
	var wanted []nameType
	var known []netip.Addr // asked already, whichever name led to them
	for _, c := range s.cands {
		known = append(known, c.addr)
	}
	for _, ns := range s.d.servers {
		if t := missingFamily(ns.addrs, s.r.noIPv6); t != 0 && !s.q.asksOnTheWay(ns.name, t) {
			wanted = append(wanted, nameType{ns.name, t})
		}
	}
	if len(wanted) == 0 {
		return
	}
	if s.lookups == nil {
		s.lookups = &glueLookups{results: make(chan glueResult, 1)}
		s.lookups.ctx, s.lookups.cancel = context.WithCancel(ctx)
	}
	s.pending++ // none was: every earlier result was taken, so the send below has room
	g := s.lookups
	g.wg.Go(func() {
		found, err := s.r.lookupAddrs(g.ctx, s.q, wanted, known)
		g.results <- glueResult{found, err}
	})
}

type nameType struct {
	name  string
	qtype uint16
}

// lookupAddrs looks up the addresses of each name of the type given, one
// after the other, as child queries of q sharing its budget, and returns
// those not known already.
func (r *Resolver) lookupAddrs(ctx context.Context, q *query, wanted []nameType, known []netip.Addr) ([]*candidate, error) {
	b := q.budget
	if q.depth+1 > b.limits.MaxDepth {
		return nil, fmt.Errorf("%w: name server lookups nested deeper than %d", ErrLimit, b.limits.MaxDepth)
	}
	var found []*candidate
	for _, w := range wanted {
		if _, next := r.cachedChain(w.name, w.qtype, 0, false); next != "" && int(b.glueless.Add(1)) > b.limits.MaxGluelessLookups {
			return found, fmt.Errorf("%w: more than %d name server lookups", ErrLimit, b.limits.MaxGluelessLookups)
		}
		res, err := r.lookup(ctx, q.lookup(w.name, w.qtype))
		if err != nil {
			continue // the other servers may still be found
		}
		for _, rr := range res.answer {
			if a := appendAddr(nil, rr); rr.Header().Rrtype == w.qtype && len(a) == 1 && r.allowed(a[0]) && !slices.Contains(known, a[0]) {
				known = append(known, a[0])
				found = append(found, &candidate{ns: w.name, addr: a[0]})
			}
		}
	}
	return found, nil
}

// missingFamily is the address type that addrs, one server's, lack: 0
// when they have both (or none: such a server is looked up anyway).
func missingFamily(addrs []netip.Addr, noIPv6 bool) uint16 {
	has4, has6 := false, false
	for _, a := range addrs {
		if a.Unmap().Is4() {
			has4 = true
		} else {
			has6 = true
		}
	}
	switch {
	case has4 && !has6 && !noIPv6:
		return dns.TypeAAAA
	case has6 && !has4:
		return dns.TypeA
	}
	return 0
}

// asksOnTheWay reports whether name and qtype are asked on the way to q,
// by one of its walks or in a shared ask one of them leads: asking again
// would wait for itself.
func (q *query) asksOnTheWay(name string, qtype uint16) bool {
	suffix := "\x00" + dnsname.Lower(name) + "\x00" + strconv.Itoa(int(qtype))
	for c := q; c != nil; c = c.parent {
		if c.qtype == qtype && sameName(c.qname, name) || strings.HasSuffix(c.leads, suffix) {
			return true
		}
	}
	return false
}
