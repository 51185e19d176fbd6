package server

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
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

// BenchmarkHandlePacketCacheHitCookie is BenchmarkHandlePacketCacheHit
// with a COOKIE option, as cookie-aware clients send it: client-only
// (a first contact: a server cookie is made) and with the valid server
// cookie that answer gave (the steady state: it is checked and repeated).
// Against BenchmarkHandlePacketCacheHit it is the cost of cookies on the
// hit path.
func BenchmarkHandlePacketCacheHitCookie(b *testing.B) {
	s, _ := newTestServer(b, Config{})
	first := withEDNS(question(nameWWW, dns.TypeA), 1232, false)
	first.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "2464c4abcf10c957"}}
	resp := s.Handle(b.Context(), first, clientLoopback, false)
	var valid string
	for _, o := range resp.IsEdns0().Option {
		if c, ok := o.(*dns.EDNS0_COOKIE); ok {
			valid = c.Cookie
		}
	}
	for _, bc := range []struct{ name, cookie string }{{"client-only", "2464c4abcf10c957"}, {"valid", valid}} {
		b.Run(bc.name, func(b *testing.B) {
			m := withEDNS(question(nameWWW, dns.TypeA), 1232, false)
			m.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: bc.cookie}}
			query, err := m.Pack()
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 0, 1232)
			ctx := b.Context()
			s.HandlePacket(ctx, query, clientLoopback, false, buf) // stored
			if _, ok := s.answerFast(query, clientLoopback, false, buf); !ok {
				b.Fatal("not answered from the answer cache")
			}
			b.ReportAllocs()
			for b.Loop() {
				if out := s.HandlePacket(ctx, query, clientLoopback, false, buf); out == nil {
					b.Fatal("no answer")
				}
			}
		})
	}
}
