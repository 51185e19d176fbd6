package metrics_test

import (
	"context"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/internal/cputime"
	"github.com/recursor-dns/recursor/metrics"
	"github.com/recursor-dns/recursor/server"
)

// cachedBackend answers every question from its "cache" with one A record.
type cachedBackend struct{ rr dns.RR }

func (b cachedBackend) Resolve(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	m, _ := b.ResolveCached(name, qtype)
	return m, nil
}

func (b cachedBackend) ResolveCached(name string, qtype uint16) (*dns.Msg, bool) {
	m := new(dns.Msg).SetQuestion(name, qtype)
	m.Response, m.Answer = true, []dns.RR{b.rr}
	return m, true
}

// hitServer runs bench once for metrics off and once on, with a server
// whose answer cache holds the answer to query.
func hitServer(b *testing.B, bench func(b *testing.B, s *server.Server, query []byte)) {
	rr, _ := dns.NewRR("www.example.com. 300 IN A 192.0.2.1")
	for _, tc := range []struct {
		name    string
		metrics server.Metrics
	}{{"off", nil}, {"on", metrics.New()}} {
		b.Run(tc.name, func(b *testing.B) {
			s, err := server.New(server.Config{Backend: cachedBackend{rr}, Listen: []string{"127.0.0.1:0"}, Metrics: tc.metrics})
			if err != nil {
				b.Fatal(err)
			}
			m := new(dns.Msg).SetQuestion("www.example.com.", dns.TypeA)
			m.SetEdns0(1232, false)
			query, _ := m.Pack()
			s.HandlePacket(b.Context(), query, netip.MustParseAddrPort("127.0.0.1:5300"), false, nil) // stores the packed answer
			b.ReportAllocs()
			bench(b, s, query)
		})
	}
}

// BenchmarkCacheHit is the server's fast path (a ready-packed answer)
// without metrics and with them: the difference is what a cache hit pays
// for being counted.
func BenchmarkCacheHit(b *testing.B) {
	hitServer(b, func(b *testing.B, s *server.Server, query []byte) {
		client := netip.MustParseAddrPort("127.0.0.1:5300")
		buf := make([]byte, 0, 1232)
		for b.Loop() {
			if out := s.HandlePacket(b.Context(), query, client, false, buf); out == nil {
				b.Fatal("no answer")
			}
		}
	})
}

// BenchmarkCacheHitParallel is BenchmarkCacheHit from every core at once
// (-cpu 1,2,4,8), each goroutine a client of its own port, as clients of
// different sockets are: cpu-ns/op (the process's CPU per hit) that rises
// with the cores when metrics are on, and not when they are off, is the
// cores fighting over the counters' cache lines.
func BenchmarkCacheHitParallel(b *testing.B) {
	hitServer(b, func(b *testing.B, s *server.Server, query []byte) {
		var next atomic.Uint32
		cpu := cputime.Process()
		defer func() { b.ReportMetric(float64(cputime.Process()-cpu)/float64(b.N), "cpu-ns/op") }()
		b.RunParallel(func(pb *testing.PB) {
			client := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(40000+next.Add(1)))
			buf := make([]byte, 0, 1232)
			for pb.Next() {
				if out := s.HandlePacket(b.Context(), query, client, false, buf); out == nil {
					b.Error("no answer")
					return
				}
			}
		})
	})
}
