package workers

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"unsafe"

	"github.com/recursor-dns/recursor/internal/stackpad"
)

// goid is the calling goroutine's id, from its stack trace's first line.
func goid(tb testing.TB) string {
	tb.Helper()
	var buf [64]byte
	f := strings.Fields(string(buf[:runtime.Stack(buf[:], false)]))
	if len(f) < 2 || f[0] != "goroutine" {
		tb.Fatalf("stack trace %q: no goroutine id", buf)
	}
	return f[1]
}

// run is Go, waited for: the id of the goroutine fn ran on.
func run(tb testing.TB, p *Pool) string {
	tb.Helper()
	ids := make(chan string)
	p.Go(func() { ids <- goid(tb) })
	return <-ids
}

func TestPool(t *testing.T) {
	tests := []struct {
		name      string
		keep      int
		wantIdle  int
		wantReuse bool
	}{
		{"zero value keeps none", 0, 0, false},
		{"keep 1", 1, 1, true},
		{"keep 4", 4, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var p Pool
				release := p.Keep(tt.keep)
				defer release()
				first := run(t, &p)
				synctest.Wait() // the worker parks, or exits
				if got := p.Idle(); got != tt.wantIdle {
					t.Fatalf("Idle after one function = %d, want %d", got, tt.wantIdle)
				}
				second := run(t, &p)
				if reused := first == second; reused != tt.wantReuse {
					t.Errorf("second function on goroutine %s, first on %s: reused %v, want %v", second, first, reused, tt.wantReuse)
				}
				// synctest.Test fails if release leaves a worker parked.
			})
		})
	}
}

// With more functions running than the pool keeps, the workers beyond
// keep exit when they finish, and release ends the rest.
func TestPoolKeepsAtMost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p Pool
		release := p.Keep(2)
		gate := make(chan struct{})
		var started, finished sync.WaitGroup
		for range 5 {
			started.Add(1)
			finished.Add(1)
			p.Go(func() {
				defer finished.Done()
				started.Done()
				<-gate
			})
		}
		started.Wait() // all five run at once
		close(gate)
		finished.Wait()
		synctest.Wait()
		if got := p.Idle(); got != 2 {
			t.Errorf("Idle = %d after five functions, want 2", got)
		}
		release()
		synctest.Wait()
		if got := p.Idle(); got != 0 {
			t.Errorf("Idle = %d after release, want 0", got)
		}
		// A function started after release runs, on a goroutine
		// that does not park.
		done := make(chan struct{})
		p.Go(func() { close(done) })
		<-done
		synctest.Wait()
		if got := p.Idle(); got != 0 {
			t.Errorf("Idle = %d after a function past release, want 0", got)
		}
		// synctest.Test fails if a worker is left parked.
	})
}

// Functions that wait on each other all run: Go never waits for a worker.
func TestPoolUnbounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p Pool
		defer p.Keep(1)()
		const n = 50
		chain := make([]chan struct{}, n+1)
		for i := range chain {
			chain[i] = make(chan struct{})
		}
		for i := range n {
			// Each waits for the one started after it.
			p.Go(func() { <-chain[i+1]; close(chain[i]) })
		}
		close(chain[n])
		<-chain[0]
	})
}

// A panic in a function ends the program, as on a goroutine of its own.
func TestPoolPanicEndsProgram(t *testing.T) {
	if os.Getenv("WORKERS_PANIC") == "1" {
		var p Pool
		p.Keep(1)
		run(t, &p) // a parked worker takes the next function
		p.Go(func() { panic("boom from a worker") })
		select {}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPoolPanicEndsProgram$")
	cmd.Env = append(os.Environ(), "WORKERS_PANIC=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "panic: boom from a worker") {
		t.Fatalf("child: %v, output:\n%s\nwant it to die of the panic", err, out)
	}
}

// A parked worker keeps its grown stack through collections: a local
// variable of the next function is where the previous one's was, not on
// a stack the collector halved and moved.
func TestPoolKeepsStackThroughGC(t *testing.T) {
	if raceEnabled {
		t.Skip("under -race, frames are larger and the collector may shrink the parked stack: a figure of the plain build")
	}
	var p Pool
	defer p.Keep(1)()
	where := func() uintptr {
		var local byte
		return uintptr(unsafe.Pointer(&local))
	}
	addr := make(chan uintptr)
	p.Go(func() { stackpad.Grow16K(); addr <- 0 })
	<-addr
	p.Go(func() { addr <- where() })
	before := <-addr
	for p.Idle() == 0 {
		runtime.Gosched() // the worker parks after the send
	}
	runtime.GC()
	runtime.GC()
	p.Go(func() { addr <- where() })
	if after := <-addr; after != before {
		t.Errorf("a local of the next function at %#x, the previous one's at %#x: the parked worker's stack moved", after, before)
	}
}
