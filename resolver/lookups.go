package resolver

import (
	"context"
	"fmt"
	"sync"

	"github.com/miekg/dns"
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
