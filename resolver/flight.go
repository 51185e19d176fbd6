package resolver

import (
	"sync"

	"github.com/recursor-dns/recursor/internal/workers"
)

// flightGroup coalesces the walks of one question: singleflight's DoChan,
// with the leader's function on a worker of a pool (which keeps the stack
// a walk grew), its value not boxed, and one channel per flight that its
// end closes rather than one per waiter.
type flightGroup[V any] struct {
	mu      sync.Mutex
	flights map[string]*flight[V]
}

// flight is one run of a flightGroup's function, shared by its waiters.
// val and err are set before done is closed, and never after.
type flight[V any] struct {
	done chan struct{}
	val  V
	err  error
}

// Done is closed when the flight's function has returned.
func (f *flight[V]) Done() <-chan struct{} { return f.done }

// Result is what the function returned; call it once Done is closed.
func (f *flight[V]) Result() (V, error) { return f.val, f.err }

// do returns the flight of key, starting fn on pool for it when none is
// running. Every caller waits on the flight as long as it likes: none of
// them cancels it. A panic in fn ends the program (as in singleflight's
// DoChan).
func (g *flightGroup[V]) do(pool *workers.Pool, key string, fn func() (V, error)) *flight[V] {
	g.mu.Lock()
	if f, ok := g.flights[key]; ok {
		g.mu.Unlock()
		return f
	}
	if g.flights == nil {
		g.flights = map[string]*flight[V]{}
	}
	f := &flight[V]{done: make(chan struct{})}
	g.flights[key] = f
	g.mu.Unlock()
	pool.Go(func() {
		ended := false
		defer func() {
			if !ended {
				// runtime.Goexit in fn (a panic ends the
				// program): the next caller starts anew, and
				// this flight's waiters wait on their contexts,
				// as in singleflight.
				g.forget(key, f)
			}
		}()
		f.val, f.err = fn()
		ended = true
		g.forget(key, f)
		close(f.done)
	})
	return f
}

// forget ends f as key's flight: the next caller starts another.
func (g *flightGroup[V]) forget(key string, f *flight[V]) {
	g.mu.Lock()
	if g.flights[key] == f {
		delete(g.flights, key)
	}
	g.mu.Unlock()
}
