package server

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/resolver"
)

// answerBackend is a DNSSECBackend whose cache holds one answer.
type answerBackend struct {
	cached    atomic.Pointer[resolver.Answer]
	cacheAsks atomic.Int32
}

func (b *answerBackend) Resolve(context.Context, string, uint16) (*dns.Msg, error) {
	return nil, errors.New("not cached")
}
func (b *answerBackend) ResolveCached(string, uint16) (*dns.Msg, bool) { return nil, false }
func (b *answerBackend) Query(context.Context, string, uint16, resolver.Options) (resolver.Answer, error) {
	return resolver.Answer{}, errors.New("not cached")
}
func (b *answerBackend) QueryCached(string, uint16, resolver.Options) (resolver.Answer, bool) {
	b.cacheAsks.Add(1)
	a := *b.cached.Load()
	a.Msg = a.Msg.Copy()
	return a, true
}

func cachedA(tb testing.TB, ttl uint32) *dns.Msg {
	m := new(dns.Msg)
	m.Answer = rrsOf(tb, nameWWW+" "+strconv.Itoa(int(ttl))+" IN A 192.0.2.1")
	return m
}

func rrsOf(tb testing.TB, lines ...string) []dns.RR {
	tb.Helper()
	var out []dns.RR
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, rr)
	}
	return out
}

// TestAnswerTablePrefetch: a hit on a ready-packed answer past its
// prefetch moment goes to the engine (whose cache hit starts the
// prefetch), and so do the hits after it until the refreshed answer is
// stored; an answer past its moment is not stored.
func TestAnswerTablePrefetch(t *testing.T) {
	clock := newFakeClock()
	b := &answerBackend{}
	s, err := New(Config{Backend: b, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	start := clock.Now()
	b.cached.Store(&resolver.Answer{Msg: cachedA(t, 60), PrefetchAt: start.Add(54 * time.Second)})
	query := pack(t, question(nameWWW, dns.TypeA))
	s.HandlePacket(t.Context(), query, clientLoopback, false, nil)
	steps := []struct {
		at   time.Duration
		fast bool
	}{
		{53 * time.Second, true},
		{54 * time.Second, false},
		{55 * time.Second, false}, // the engine's answer, being prefetched, was not stored
	}
	for _, st := range steps {
		clock.Advance(start.Add(st.at).Sub(clock.Now()))
		if _, ok := s.answerFast(query, clientLoopback, TransportUDP, nil); ok != st.fast {
			t.Fatalf("at +%v: fast %v, want %v", st.at, ok, st.fast)
		}
		before := b.cacheAsks.Load()
		s.HandlePacket(t.Context(), query, clientLoopback, false, nil)
		if asked := b.cacheAsks.Load() > before; asked == st.fast {
			t.Fatalf("at +%v: engine asked %v, want %v", st.at, asked, !st.fast)
		}
	}
	// The prefetch landed: the fresh answer is stored and served fast.
	b.cached.Store(&resolver.Answer{Msg: cachedA(t, 60), PrefetchAt: clock.Now().Add(54 * time.Second)})
	s.HandlePacket(t.Context(), query, clientLoopback, false, nil)
	if _, ok := s.answerFast(query, clientLoopback, TransportUDP, nil); !ok {
		t.Error("the refreshed answer is not served fast")
	}
}

// TestAnswerTableKeepsNoStale: a stale answer gets its EDE and is never
// kept as a ready-packed one, with EDNS or without.
func TestAnswerTableKeepsNoStale(t *testing.T) {
	for _, edns := range []bool{false, true} {
		b := &answerBackend{}
		s, err := New(Config{Backend: b})
		if err != nil {
			t.Fatal(err)
		}
		b.cached.Store(&resolver.Answer{Msg: cachedA(t, 30), Stale: true, EDE: dns.ExtendedErrorCodeStaleAnswer, Why: "stale"})
		q := question(nameWWW, dns.TypeA)
		if edns {
			q = withEDNS(q, 1232, false)
		}
		out := s.HandlePacket(t.Context(), pack(t, q), clientLoopback, false, nil)
		m := new(dns.Msg)
		if err := m.Unpack(out); err != nil {
			t.Fatal(err)
		}
		if ede := edeOf(m); edns && (ede == nil || ede.InfoCode != dns.ExtendedErrorCodeStaleAnswer) {
			t.Errorf("edns: EDE %v, want 3", ede)
		}
		if n := s.answers.len(); n != 0 {
			t.Errorf("edns %v: %d answers kept, want none", edns, n)
		}
	}
}

// runBackend is an answerBackend with background work.
type runBackend struct {
	answerBackend
	running chan struct{}
	stopped chan struct{}
}

func (b *runBackend) Run(ctx context.Context) error {
	close(b.running)
	<-ctx.Done()
	close(b.stopped)
	return nil
}

// TestServeRunsBackgroundWork: Serve runs the backend's Run and ends it
// with its own context.
func TestServeRunsBackgroundWork(t *testing.T) {
	b := &runBackend{running: make(chan struct{}), stopped: make(chan struct{})}
	s, err := New(Config{Backend: b, Listen: []string{"127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	select {
	case <-b.running:
	case <-time.After(10 * time.Second): // a guard, not a measure
		t.Fatal("Serve did not run the backend's Run")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.stopped:
	default:
		t.Error("Serve returned before the backend's Run did")
	}
}
