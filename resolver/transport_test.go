package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// udpServer answers each query on a loopback UDP socket with what
// respond returns: any number of raw packets, sent in order.
func udpServer(tb testing.TB, respond func(q *dns.Msg) [][]byte) netip.AddrPort {
	return udpServerOn(tb, "127.0.0.1:0", respond)
}

// udpServerOn is udpServer on a given loopback address.
func udpServerOn(tb testing.TB, addr string, respond func(q *dns.Msg) [][]byte) netip.AddrPort {
	tb.Helper()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		tb.Skipf("no UDP socket on %s: %v", addr, err)
	}
	serveUDP(tb, pc, func(q *dns.Msg, send func([]byte)) {
		for _, pkt := range respond(q) {
			send(pkt)
		}
	})
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

// serveUDP hands each query that arrives on pc to handle, with a function
// that sends a packet back to its sender, until the test ends.
func serveUDP(tb testing.TB, pc net.PacketConn, handle func(q *dns.Msg, send func([]byte))) {
	tb.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := new(dns.Msg)
			if q.Unpack(buf[:n]) != nil {
				continue
			}
			handle(q, func(pkt []byte) { pc.WriteTo(pkt, from) })
		}
	}()
}

// tcpServer answers one query over TCP on addr with respond.
func tcpServer(tb testing.TB, addr netip.AddrPort, respond func(q *dns.Msg) *dns.Msg) {
	tb.Helper()
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		dc := &dns.Conn{Conn: c}
		if q, err := dc.ReadMsg(); err == nil {
			dc.WriteMsg(respond(q))
		}
	}()
}

func answerFor(tb testing.TB, q *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Authoritative = true
	m.Answer = rrs(tb, q.Question[0].Name+" 300 IN A 192.0.2.1")
	return m
}

func pack(tb testing.TB, m *dns.Msg) []byte {
	b, err := m.Pack()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestTransportKeepsWaitingPastBadPackets(t *testing.T) {
	tests := []struct {
		name string
		bad  func(q *dns.Msg) []byte
	}{
		{"garbage", func(*dns.Msg) []byte { return []byte{0xde, 0xad, 0xbe, 0xef} }},
		{"truncated header", func(q *dns.Msg) []byte { return pack(t, answerFor(t, q))[:11] }},
		{"unparsable body", func(q *dns.Msg) []byte { b := pack(t, answerFor(t, q)); return b[:len(b)-3] }},
		{"other question", func(q *dns.Msg) []byte {
			m := answerFor(t, q)
			m.Question[0].Name = "evil.example."
			return pack(t, m)
		}},
		{"query, not a reply", func(q *dns.Msg) []byte { return pack(t, q) }},
		{"empty datagram", func(*dns.Msg) []byte { return []byte{} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := udpServer(t, func(q *dns.Msg) [][]byte { return [][]byte{tc.bad(q), pack(t, answerFor(t, q))} })
			q := new(dns.Msg)
			q.SetQuestion("www.example.com.", dns.TypeA)
			ctx, cancel := t.Context(), func() {}
			defer cancel()
			resp, _, err := (&NetTransport{}).Exchange(ctx, q, srv)
			if err != nil || len(resp.Answer) != 1 {
				t.Fatalf("Exchange = %v, %v; want the real answer after the bad packet", resp, err)
			}
		})
	}
}

// The raw-socket path (no Dialer) and the net.Dialer path both exchange
// over IPv4 and IPv6 loopback.
func TestTransportBothPathsBothFamilies(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		for _, tr := range []*NetTransport{{}, {Dialer: &net.Dialer{}}} {
			t.Run(fmt.Sprintf("%s/dialer=%v", addr, tr.Dialer != nil), func(t *testing.T) {
				srv := udpServerOn(t, addr, func(q *dns.Msg) [][]byte { return [][]byte{pack(t, answerFor(t, q))} })
				for range 3 {
					q := new(dns.Msg)
					q.SetQuestion("www.example.com.", dns.TypeA)
					resp, _, err := tr.Exchange(t.Context(), q, srv)
					if err != nil || len(resp.Answer) != 1 {
						t.Fatalf("Exchange = %v, %v; want the answer", resp, err)
					}
				}
			})
		}
	}
}

// An ICMP port unreachable ends the exchange at once instead of waiting
// for the deadline.
func TestTransportClosedPortFailsFast(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := netip.MustParseAddrPort(pc.LocalAddr().String())
	pc.Close()
	q := new(dns.Msg)
	q.SetQuestion("www.example.com.", dns.TypeA)
	ctx, cancel := contextWithTimeout(t, 30*time.Second)
	defer cancel()
	_, _, err = (&NetTransport{}).Exchange(ctx, q, srv)
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want connection refused", err)
	}
}

func TestTransportWrongIDMovesToTCP(t *testing.T) {
	srv := udpServer(t, func(q *dns.Msg) [][]byte {
		m := answerFor(t, q)
		m.Id = q.Id ^ 0x5555
		m.Answer = rrs(t, q.Question[0].Name+" 300 IN A 203.0.113.66") // the spoofer's address
		return [][]byte{pack(t, m)}
	})
	// A TCP listener on the same port gives the true answer.
	tcpServer(t, srv, func(q *dns.Msg) *dns.Msg { return answerFor(t, q) })
	q := new(dns.Msg)
	q.SetQuestion("www.example.com.", dns.TypeA)
	resp, _, err := (&NetTransport{}).Exchange(t.Context(), q, srv)
	if err != nil || len(resp.Answer) != 1 || resp.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
		t.Fatalf("Exchange = %v, %v; want the TCP answer", resp, err)
	}
}

func TestTransportTruncatedRetriesOverTCP(t *testing.T) {
	srv := udpServer(t, func(q *dns.Msg) [][]byte {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Truncated = true
		return [][]byte{pack(t, m)}
	})
	tcpServer(t, srv, func(q *dns.Msg) *dns.Msg { return answerFor(t, q) })
	q := new(dns.Msg)
	q.SetQuestion("big.example.com.", dns.TypeA)
	resp, _, err := (&NetTransport{}).Exchange(t.Context(), q, srv)
	if err != nil || resp.Truncated || len(resp.Answer) != 1 {
		t.Fatalf("Exchange = %v, %v; want the full answer over TCP", resp, err)
	}
}

func TestTransportCaseMismatch(t *testing.T) {
	srv := udpServer(t, func(q *dns.Msg) [][]byte {
		m := answerFor(t, q)
		m.Question[0].Name = "www.example.com."
		return [][]byte{pack(t, m)}
	})
	q := new(dns.Msg)
	q.SetQuestion("wWw.ExamPle.com.", dns.TypeA)
	if _, _, err := (&NetTransport{}).Exchange(t.Context(), q, srv); !errors.Is(err, errCaseMismatch) {
		t.Fatalf("err = %v, want errCaseMismatch", err)
	}
}

func TestTransportSilentServerTimesOut(t *testing.T) {
	srv := udpServer(t, func(*dns.Msg) [][]byte { return nil })
	q := new(dns.Msg)
	q.SetQuestion("www.example.com.", dns.TypeA)
	ctx, cancel := contextWithTimeout(t, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := (&NetTransport{}).Exchange(ctx, q, srv)
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("err = %v after %v, want a timeout near 100ms", err, time.Since(start))
	}
}

func TestTransportOversizedUDPMovesToTCP(t *testing.T) {
	big := func(q *dns.Msg) *dns.Msg {
		m := answerFor(t, q)
		for i := range 300 {
			m.Answer = append(m.Answer, rrs(t, fmt.Sprintf("%s 300 IN A 10.0.%d.%d", q.Question[0].Name, i/250, i%250))...)
		}
		return m
	}
	// A server that ignores our EDNS buffer and sends 5 KB over UDP.
	srv := udpServer(t, func(q *dns.Msg) [][]byte { return [][]byte{pack(t, big(q))} })
	tcpServer(t, srv, big)
	q := new(dns.Msg)
	q.SetQuestion("big.example.com.", dns.TypeA)
	resp, _, err := (&NetTransport{}).Exchange(t.Context(), q, srv)
	if err != nil || len(resp.Answer) != 301 {
		t.Fatalf("Exchange = %d records, %v; want the whole answer over TCP", len(resp.Answer), err)
	}
}

// Sockets are closed from goroutines of their own after each exchange:
// none may be left open once they have run.
func TestTransportClosesItsSockets(t *testing.T) {
	fds := func() int {
		entries, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skipf("no /proc/self/fd: %v", err)
		}
		return len(entries)
	}
	// No collection, so that no os.File finalizer closes what we forgot.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	srv := udpServer(t, func(q *dns.Msg) [][]byte { return [][]byte{pack(t, answerFor(t, q))} })
	q := new(dns.Msg)
	q.SetQuestion("www.example.com.", dns.TypeA)
	tr := &NetTransport{}
	if _, _, err := tr.Exchange(t.Context(), q, srv); err != nil {
		t.Fatal(err)
	}
	before := fds()
	for range 300 {
		if _, _, err := tr.Exchange(t.Context(), q, srv); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for fds() > before+2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d file descriptors open after 300 exchanges, %d before", fds(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The engine's per-server timeout reaches NetTransport as a limit, not a
// context: a silent server still ends the exchange at the limit, over UDP
// and, on the Dialer path, the same.
func TestTransportLimitEndsSilentExchange(t *testing.T) {
	srv := udpServer(t, func(*dns.Msg) [][]byte { return nil })
	for _, tr := range []*NetTransport{{}, {Dialer: &net.Dialer{}}} {
		q := new(dns.Msg)
		q.SetQuestion("www.example.com.", dns.TypeA)
		start := time.Now()
		_, _, _, err := tr.ExchangeTimed(t.Context(), q, srv, 100*time.Millisecond)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 3*time.Second {
			t.Fatalf("dialer=%v: err = %v after %v, want a timeout near 100ms", tr.Dialer != nil, err, time.Since(start))
		}
	}
	// A context deadline sooner than the limit wins.
	ctx, cancel := contextWithTimeout(t, 50*time.Millisecond)
	defer cancel()
	q := new(dns.Msg)
	q.SetQuestion("www.example.com.", dns.TypeA)
	start := time.Now()
	if _, _, _, err := (&NetTransport{}).ExchangeTimed(ctx, q, srv, time.Hour); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 3*time.Second {
		t.Fatalf("err = %v after %v, want the context's deadline", err, time.Since(start))
	}
}
