package resolver

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/internal/workers"
	"github.com/recursor-dns/recursor/testnet"
)

// The flights of one key run fn once, and every waiter gets its value or
// error; a finished flight is not remembered, and other keys fly apart.
func TestFlightGroup(t *testing.T) {
	errFn := errors.New("fn failed")
	tests := []struct {
		name    string
		val     int
		err     error
		waiters int
	}{
		{"value to one", 7, nil, 1},
		{"value to many", 7, nil, 5},
		{"error to many", 0, errFn, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var (
					g     flightGroup[int]
					pool  workers.Pool
					calls atomic.Int32
				)
				defer pool.Keep(2)()
				gate := make(chan struct{})
				fn := func() (int, error) {
					calls.Add(1)
					<-gate
					return tt.val, tt.err
				}
				var flights []*flight[int]
				for range tt.waiters {
					flights = append(flights, g.do(&pool, "k", fn))
				}
				other := g.do(&pool, "other", func() (int, error) { return -1, nil })
				<-other.Done() // not held up by k's flight
				if v, err := other.Result(); v != -1 || err != nil {
					t.Errorf("other key: %d, %v; want -1, nil", v, err)
				}
				close(gate)
				for i, f := range flights {
					<-f.Done()
					if v, err := f.Result(); v != tt.val || err != tt.err {
						t.Errorf("waiter %d: %d, %v; want %d, %v", i, v, err, tt.val, tt.err)
					}
				}
				if n := calls.Load(); n != 1 {
					t.Errorf("fn ran %d times for %d waiters, want once", n, tt.waiters)
				}
				again := g.do(&pool, "k", fn)
				<-again.Done()
				if n := calls.Load(); n != 2 {
					t.Errorf("fn ran %d times after its flight ended and another asked, want twice", n)
				}
			})
		})
	}
}

// A flight whose function calls runtime.Goexit is forgotten: the next
// caller starts another, as with singleflight.
func TestFlightGroupGoexit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			g    flightGroup[int]
			pool workers.Pool
		)
		defer pool.Keep(1)()
		first := g.do(&pool, "k", func() (int, error) { runtime.Goexit(); return 0, nil })
		synctest.Wait()
		select {
		case <-first.Done():
			t.Fatal("the flight that exited is done")
		default:
		}
		second := g.do(&pool, "k", func() (int, error) { return 2, nil })
		<-second.Done()
		if v, _ := second.Result(); v != 2 || second == first {
			t.Errorf("after Goexit: %d (same flight %v); want a new flight with 2", v, second == first)
		}
	})
}

// A panic in a flight's function ends the program, as it did in
// singleflight's DoChan.
func TestFlightGroupPanicEndsProgram(t *testing.T) {
	if os.Getenv("FLIGHT_PANIC") == "1" {
		var (
			g    flightGroup[int]
			pool workers.Pool
		)
		pool.Keep(1)
		<-g.do(&pool, "warm", func() (int, error) { return 0, nil }).Done()
		g.do(&pool, "k", func() (int, error) { panic("boom in a walk") })
		select {}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFlightGroupPanicEndsProgram$")
	cmd.Env = append(os.Environ(), "FLIGHT_PANIC=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "panic: boom in a walk") {
		t.Fatalf("child: %v, output:\n%s\nwant it to die of the panic", err, out)
	}
}

// A client that gives up on its context leaves the walk running: it ends
// in the cache, for the next client, and Run's end lets its worker go.
func TestWalkOutlivesCaller(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slow := &gatedTransport{inner: coldNet{}, gate: make(chan struct{})}
		r, err := New(Config{
			RootHints:   testHints(),
			Transport:   testnet.LoopbackOnly(t, slow),
			DontQuery:   []netip.Prefix{},
			DisableIPv6: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(t.Context())
		ran := make(chan struct{})
		go func() { _ = r.Run(runCtx); close(ran) }()
		defer func() { stop(); <-ran }()

		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if _, err := r.Resolve(ctx, "www.d1.com.", dns.TypeA); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Resolve with a held upstream: %v, want the caller's deadline", err)
		}
		close(slow.gate)
		synctest.Wait() // the walk ends
		if _, ok := r.ResolveCached("www.d1.com.", dns.TypeA); !ok {
			t.Error("the walk the caller left did not fill the cache")
		}
		if r.walkers.Idle() == 0 {
			t.Error("no walker idle after the walk, while Run runs")
		}
	})
}

// gatedTransport holds every exchange until gate is closed.
type gatedTransport struct {
	inner Transport
	gate  chan struct{}
}

func (g *gatedTransport) Exchange(ctx context.Context, m *dns.Msg, server netip.AddrPort) (*dns.Msg, time.Duration, error) {
	<-g.gate
	return g.inner.Exchange(ctx, m, server)
}
