package server

import (
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/internal/cputime"
)

// BenchmarkHandlePacketCacheHit is the hot path: bytes in, cache hit,
// bytes out, into a reused buffer.
func BenchmarkHandlePacketCacheHit(b *testing.B) {
	s, _ := newTestServer(b, Config{})
	query, err := withEDNS(question(nameWWW, dns.TypeA), 1232, false).Pack()
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 1232)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if out := s.HandlePacket(ctx, query, clientLoopback, false, buf); out == nil {
			b.Fatal("no answer")
		}
	}
}

// BenchmarkUDPRoundTrip measures loopback UDP queries answered from the
// cache, one client socket per goroutine.
func BenchmarkUDPRoundTrip(b *testing.B) {
	s, _ := newTestServer(b, Config{})
	addr := startServer(b, s)
	query, err := question(nameWWW, dns.TypeA).Pack()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		resp := make([]byte, 1232)
		for pb.Next() {
			if _, err := conn.Write(query); err != nil {
				b.Error(err)
				return
			}
			conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := conn.Read(resp); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "qps")
}

// cookieBenchQueries are the same question with no COOKIE option, a
// client cookie alone (a first contact: a server cookie is made) and the
// valid server cookie s gave (the steady state: checked and repeated).
func cookieBenchQueries(b *testing.B, s *Server) []struct {
	name  string
	query []byte
} {
	b.Helper()
	withCookie := func(c string) *dns.Msg {
		m := withEDNS(question(nameWWW, dns.TypeA), 1232, false)
		if c != "" {
			m.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: c}}
		}
		return m
	}
	resp := s.Handle(b.Context(), withCookie("2464c4abcf10c957"), clientLoopback, false)
	var valid string
	for _, o := range resp.IsEdns0().Option {
		if c, ok := o.(*dns.EDNS0_COOKIE); ok {
			valid = c.Cookie
		}
	}
	var out []struct {
		name  string
		query []byte
	}
	for _, c := range []struct{ name, cookie string }{{"none", ""}, {"client-only", "2464c4abcf10c957"}, {"valid", valid}} {
		query, err := withCookie(c.cookie).Pack()
		if err != nil {
			b.Fatal(err)
		}
		s.HandlePacket(b.Context(), query, clientLoopback, false, nil) // stored
		if _, ok := s.answerFast(query, clientLoopback, TransportUDP, nil); !ok {
			b.Fatalf("%s: not answered from the answer cache", c.name)
		}
		out = append(out, struct {
			name  string
			query []byte
		}{c.name, query})
	}
	return out
}

// BenchmarkHandlePacketCacheHitCookie is BenchmarkHandlePacketCacheHit
// without and with a COOKIE option: none against valid is the CPU cost
// of cookies on the hit path, less the system calls. cpu-ns/op is the
// process's CPU time per query, steadier than ns/op on a shared machine.
func BenchmarkHandlePacketCacheHitCookie(b *testing.B) {
	s, _ := newTestServer(b, Config{})
	for _, q := range cookieBenchQueries(b, s) {
		b.Run(q.name, func(b *testing.B) {
			buf := make([]byte, 0, 1232)
			ctx := b.Context()
			b.ReportAllocs()
			cpu := cputime.Process()
			for b.Loop() {
				if out := s.HandlePacket(ctx, q.query, clientLoopback, false, buf); out == nil {
					b.Fatal("no answer")
				}
			}
			b.ReportMetric(float64(cputime.Process()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkUDPRoundTripCookie is BenchmarkUDPRoundTrip without and with
// a COOKIE option: the cost of cookies on a whole UDP hit, system calls
// included. cpu-ns/op is the CPU time per query of the whole process,
// client and server.
func BenchmarkUDPRoundTripCookie(b *testing.B) {
	s, _ := newTestServer(b, Config{})
	addr := startServer(b, s)
	for _, q := range cookieBenchQueries(b, s) {
		b.Run(q.name, func(b *testing.B) {
			conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			resp := make([]byte, 1232)
			b.ReportAllocs()
			cpu := cputime.Process()
			defer func() { b.ReportMetric(float64(cputime.Process()-cpu)/float64(b.N), "cpu-ns/op") }()
			for b.Loop() {
				if _, err := conn.Write(q.query); err != nil {
					b.Fatal(err)
				}
				conn.SetReadDeadline(time.Now().Add(2 * time.Second))
				if _, err := conn.Read(resp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAnswerFastParallel is the answer cache's hit, bytes in and
// bytes out, from every core at once (-cpu 1,2,4,8), for one hot question
// and for 64 (the same name in 64 letter cases, each its own entry): ns/op
// that does not fall, or cpu-ns/op (the process's CPU time per hit) that
// rises, with the cores is contention on what every hit touches.
func BenchmarkAnswerFastParallel(b *testing.B) {
	s, _ := newTestServer(b, Config{})
	var queries [][]byte
	for i := range 64 {
		name := []byte(nameWWW)
		for bit, at := range []int{0, 1, 2, 4, 5, 6} { // www.exa: a letter's case per bit of i
			if i&(1<<bit) != 0 {
				name[at] -= 'a' - 'A'
			}
		}
		query, err := withEDNS(question(string(name), dns.TypeA), 1232, false).Pack()
		if err != nil {
			b.Fatal(err)
		}
		s.HandlePacket(b.Context(), query, clientLoopback, false, nil) // stored
		if _, ok := s.answerFast(query, clientLoopback, TransportUDP, nil); !ok {
			b.Fatal("not answered from the answer cache")
		}
		queries = append(queries, query)
	}
	for _, n := range []int{1, 64} {
		b.Run(fmt.Sprintf("questions=%d", n), func(b *testing.B) {
			var next atomic.Int64
			b.ReportAllocs()
			cpu := cputime.Process()
			defer func() { b.ReportMetric(float64(cputime.Process()-cpu)/float64(b.N), "cpu-ns/op") }()
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]byte, 0, 1232)
				i := int(next.Add(17))
				// A client of its own per goroutine, as the clients of
				// different sockets are.
				client := netip.AddrPortFrom(clientLoopback.Addr(), uint16(40000+i))
				for pb.Next() {
					if _, ok := s.answerFast(queries[i%n], client, TransportUDP, buf); !ok {
						b.Error("missed the answer cache")
						return
					}
					i++
				}
			})
		})
	}
}
