package resolver

// Background refreshes: prefetch of cached answers about to expire, and
// the refresh of a stale answer given at once. They run only while Run
// runs, at most Prefetch.MaxBackground at a time and one per name and
// type, each a walk with the budget of a client query, and they end when
// Run's context is cancelled.

import (
	"context"
	"errors"
	"sync"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/dnssec"
	"github.com/recursor-dns/recursor/internal/stackpad"
)

// background runs the refreshes.
type background struct {
	max int

	mu      sync.Mutex
	ctx     context.Context // Run's; nil when Run does not run
	running map[string]bool // keys being refreshed
	wg      sync.WaitGroup
}

// ErrRunning is Run's error when the resolver's Run already runs.
var ErrRunning = errors.New("resolver: Run is already running")

// Run runs the resolver's background work (prefetch and the refreshes of
// stale answers) until ctx is cancelled, then cancels what is running and
// waits for its goroutines (the walks they started end with ctx, or, when
// they joined a client's walk, with that walk). Without Run there is no background work: prefetch
// is off, a stale answer from QueryCached is refreshed by the next Query,
// and one that Query gives at once (a negative Stale.ClientTimeout) by a
// walk of that query's own, as a client's. server.Serve runs Run for its
// backend. A Config.Policy with a Run method of its own (package rpz's
// zone transfers) runs as long. While Run runs, the goroutines of
// finished walks wait for the next ones (idleWalkers of them at most),
// their stacks grown already; when it returns they exit.
func (r *Resolver) Run(ctx context.Context) error {
	b := &r.bg
	b.mu.Lock()
	if b.ctx != nil {
		b.mu.Unlock()
		return ErrRunning
	}
	b.ctx = ctx
	b.mu.Unlock()
	defer r.walkers.Keep(idleWalkers)()
	r.runPolicy(ctx, &b.wg)
	if r.shared != nil {
		b.wg.Go(func() { _ = r.shared.Run(ctx) })
	}
	<-ctx.Done()
	b.mu.Lock()
	b.ctx = nil // no more refreshes start: wg.Add never races wg.Wait
	b.mu.Unlock()
	b.wg.Wait()
	return nil
}

// idleWalkers is how many goroutines of finished walks Run keeps for the
// next walks: more than make bench's 100 cold names in flight, each
// with a 16 KB stack at most.
const idleWalkers = 128

// start runs fn for key on a goroutine of its own, unless Run does not
// run, key is being refreshed or the bound is reached. It reports whether
// it started.
func (b *background) start(key string, fn func(ctx context.Context)) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ctx == nil || b.ctx.Err() != nil || len(b.running) >= b.max || b.running[key] {
		return false
	}
	if b.running == nil {
		b.running = map[string]bool{}
	}
	b.running[key] = true
	ctx := b.ctx
	b.wg.Go(func() {
		defer func() {
			b.mu.Lock()
			delete(b.running, key)
			b.mu.Unlock()
		}()
		fn(ctx)
	})
	return true
}

// refreshLater starts a background walk for qname and qtype that asks
// upstream whatever the cache holds. It reports false when it could not
// (Run does not run, the bound is reached, one runs already).
func (r *Resolver) refreshLater(qname string, qtype uint16) bool {
	key := flightKey(qname, qtype)
	return r.bg.start(key, func(ctx context.Context) {
		select {
		case <-r.walk(ctx, key, qname, qtype, true).Done():
		case <-ctx.Done():
		}
	})
}

// prefetchIfDue starts the prefetch of a cached answer with an RRset of
// name in the last tenth of its TTL (name "": none).
func (r *Resolver) prefetchIfDue(name string, qtype uint16) {
	if name != "" && r.prefetch && r.refreshLater(name, qtype) {
		r.metrics.Prefetch()
	}
}

func flightKey(qname string, qtype uint16) string { return qname + "/" + dns.TypeToString[qtype] }

// walk resolves qname and qtype on base (which it does not cancel: every
// caller waits on its own context), coalesced with the walks of the same
// question. refresh asks upstream whatever the cache holds. A failure is
// remembered (failed, and the hold of stale answers); a success drops
// the expired entries it did not replace.
func (r *Resolver) walk(base context.Context, key, qname string, qtype uint16, refresh bool) *flight[result] {
	return r.flight.do(&r.walkers, key, func() (result, error) {
		// A walk without validation fits in 16 KB (replies go down
		// and up it by pointer, keeping its frames small); grown at
		// once, not twice deep inside it, where newstack and copystack
		// took a sixth of BenchmarkResolveCold's CPU.
		stackpad.Grow16K()
		wctx, cancel := context.WithTimeout(base, r.limits.Timeout)
		defer cancel()
		q := newQuery(qname, qtype, r.limits)
		q.refresh = refresh
		if r.val != nil {
			q.budget.sec = dnssec.NewBudget(r.val.limits)
		}
		if !refresh {
			r.fillFromShared(wctx, qname, qtype)
		}
		res, err := r.lookup(wctx, q)
		if q.budget.sec != nil {
			res.verifications = q.budget.sec.Verifications()
		}
		if err != nil {
			r.failed.record(key, err, r.now())
			r.holdStale(key)
			return res, err
		}
		r.failed.forget(key)
		r.shareLearned(q)
		if r.nonMinimal && res.refs != nil {
			r.msgRefs.Add(key, res.refs)
		}
		if r.val != nil && res.sec.Status == dnssec.Bogus {
			r.holdStale(key) // a failed refresh: the stale data stays
		} else {
			r.cache.RemoveExpired(qname, qtype, dns.ClassINET)
		}
		return res, nil
	})
}
