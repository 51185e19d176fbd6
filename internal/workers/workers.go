// Package workers runs functions on goroutines that outlive them.
//
// A goroutine starts with a small stack; one that resolves a name grows it
// (stackpad) and frees it when it exits, and the next one grows its own.
// A Pool keeps the goroutines that finish, parked with their stacks, and
// hands them the next functions: the growth, the goroutine's creation and
// its exit are paid once, not per function. A worker parks in a frame of
// 4 KB (stackpad.Recv4K), so that the collector does not halve a 16 KB
// stack at each cycle, for the next function to grow it again.
//
// A Pool never bounds the functions that run: Go starts a new goroutine
// when no worker is idle, since the functions may wait on each other.
package workers

import (
	"sync"

	"github.com/recursor-dns/recursor/internal/stackpad"
)

// Pool runs functions on idle workers, or on new goroutines. Its zero
// value keeps no worker: each Go is a go statement. It is safe for
// concurrent use.
type Pool struct {
	mu sync.Mutex
	// idle are the parked workers' hand-off channels, the most recently
	// parked (the likeliest to have kept its stack) last.
	idle []chan func()
	keep int // at most this many idle; more exit
}

// Keep sets how many idle workers p keeps at most, and returns a function
// that sets it back to none: the idle workers then exit, and the busy
// ones when their functions return. A long-lived owner calls it for as
// long as it runs (server.Serve, resolver.Run), so that no worker is
// left parked once it returns.
func (p *Pool) Keep(n int) (release func()) {
	p.mu.Lock()
	p.keep = n
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		p.keep = 0
		idle := p.idle
		p.idle = nil
		p.mu.Unlock()
		for _, ch := range idle {
			close(ch)
		}
	}
}

// Go runs fn on an idle worker, or on a new goroutine when none is. A
// panic in fn is not recovered: it ends the program, as it would on a
// goroutine of its own.
func (p *Pool) Go(fn func()) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		ch := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		ch <- fn // buffered: the worker may not be receiving yet
		return
	}
	p.mu.Unlock()
	go p.work(fn)
}

// Idle reports how many workers are parked.
func (p *Pool) Idle() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// work runs fn, then the functions handed to it while it is idle, until
// the pool keeps enough idle workers or releases them.
func (p *Pool) work(fn func()) {
	var ch chan func()
	for {
		fn()
		fn = nil // not kept alive while parked
		p.mu.Lock()
		if len(p.idle) >= p.keep {
			p.mu.Unlock()
			return
		}
		if ch == nil {
			ch = make(chan func(), 1)
		}
		p.idle = append(p.idle, ch)
		p.mu.Unlock()
		var ok bool
		if fn, ok = stackpad.Recv4K(ch); !ok {
			return
		}
	}
}
