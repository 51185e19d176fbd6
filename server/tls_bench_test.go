package server

import (
	"crypto/tls"
	"net/http"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// BenchmarkDoTRoundTrip measures loopback DNS over TLS queries answered
// from the cache, one TLS connection per goroutine (the handshake is
// outside the timing).
func BenchmarkDoTRoundTrip(b *testing.B) {
	e := startEncrypted(b, Config{})
	query := question(nameWWW, dns.TypeA)
	b.ReportAllocs()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		conn, err := tls.Dial("tcp", e.dot.String(), e.clientTLS())
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		dc := &dns.Conn{Conn: conn}
		q := query.Copy()
		for pb.Next() {
			conn.SetDeadline(time.Now().Add(2 * time.Second))
			if err := dc.WriteMsg(q); err != nil {
				b.Error(err)
				return
			}
			if _, err := dc.ReadMsg(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "qps")
}

// BenchmarkDoQRoundTrip measures DNS over QUIC queries answered from the
// cache, one stream per query on one connection per goroutine.
func BenchmarkDoQRoundTrip(b *testing.B) {
	e := startEncrypted(b, Config{})
	query := question(nameWWW, dns.TypeA)
	query.Id = 0
	b.ReportAllocs()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		conn := e.doqDial(b)
		q := query.Copy()
		for pb.Next() {
			if _, err := doqExchange(conn, q); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "qps")
}

// BenchmarkDoHRoundTrip measures DNS over HTTPS POSTs answered from the
// cache over HTTP/2, the goroutines sharing the client's connection (dnsperf
// 2.10 loses DoH answers, see bench/README.md, so this is the DoH figure).
func BenchmarkDoHRoundTrip(b *testing.B) {
	e := startEncrypted(b, Config{})
	c := e.httpClient(true)
	query := question(nameWWW, dns.TypeA)
	query.Id = 0
	b.ReportAllocs()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		q := query.Copy()
		for pb.Next() {
			if _, _, err := e.dohExchange(b, c, http.MethodPost, q); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "qps")
}
