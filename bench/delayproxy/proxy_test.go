package main

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// startUpstream runs a DNS server on loopback (UDP and TCP on one port)
// that answers every A question with 127.0.0.7.
func startUpstream(tb testing.TB) netip.AddrPort {
	tb.Helper()
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = append(m.Answer, &dns.A{
			Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
			A:   net.IPv4(127, 0, 0, 7),
		})
		w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		pc.Close()
		tb.Skipf("TCP port %d taken: %v", port, err)
	}
	udp := &dns.Server{PacketConn: pc, Handler: handler}
	tcp := &dns.Server{Listener: ln, Handler: handler}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	tb.Cleanup(func() { udp.Shutdown(); tcp.Shutdown() })
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

// startProxy runs p on loopback in front of upstream and returns where it
// listens; it is stopped when the test ends.
func startProxy(tb testing.TB, p *Proxy, upstream netip.AddrPort) netip.AddrPort {
	tb.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		tb.Skipf("TCP port taken: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { p.ServeUDP(ctx, pc, upstream); done <- struct{}{} }()
	go func() { p.ServeTCP(ctx, ln, upstream); done <- struct{}{} }()
	tb.Cleanup(func() {
		cancel()
		<-done
		<-done
	})
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

func TestProxyForwardsAndDelays(t *testing.T) {
	upstream := startUpstream(t)
	for _, tc := range []struct {
		net   string
		delay time.Duration
	}{
		{"udp", 0},
		{"tcp", 0},
		{"udp", 30 * time.Millisecond},
		{"tcp", 30 * time.Millisecond},
	} {
		t.Run(tc.net+"/"+tc.delay.String(), func(t *testing.T) {
			addr := startProxy(t, &Proxy{Delay: tc.delay, Source: netip.MustParseAddr("127.0.0.1")}, upstream)
			c := &dns.Client{Net: tc.net, Timeout: 5 * time.Second}
			for _, name := range []string{"a.bench.", "b.bench."} {
				q := new(dns.Msg).SetQuestion(name, dns.TypeA)
				start := time.Now()
				r, _, err := c.Exchange(q, addr.String())
				elapsed := time.Since(start)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if r.Id != q.Id || len(r.Answer) != 1 || r.Answer[0].Header().Name != name {
					t.Fatalf("%s: reply does not answer the query: %v", name, r)
				}
				// A lower bound only: the delay is the proxy's whole point.
				if elapsed < tc.delay {
					t.Errorf("%s: answered after %v, before the %v delay", name, elapsed, tc.delay)
				}
			}
		})
	}
}

// Garbage and half-sent frames must end a connection, not the proxy.
func TestProxySurvivesBadStreams(t *testing.T) {
	upstream := startUpstream(t)
	addr := startProxy(t, &Proxy{Timeout: time.Second}, upstream)
	for _, junk := range [][]byte{
		{0x00},
		{0xff, 0xff, 0x01},
		{0x00, 0x03, 'a', 'b', 'c'},
	} {
		conn, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		conn.Write(junk)
		conn.Close()
	}
	udp, err := net.Dial("udp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	udp.Write([]byte{1, 2, 3})
	udp.Close()

	c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
	if _, _, err := c.Exchange(new(dns.Msg).SetQuestion("after.bench.", dns.TypeA), addr.String()); err != nil {
		t.Fatalf("proxy stopped answering after bad input: %v", err)
	}
}

func TestParseRoutes(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    int
		wantErr string
	}{
		{in: "127.53.0.1:15354=127.53.0.1:15353", want: 1},
		{in: "127.53.0.1:2=127.53.0.1:1, 127.53.1.1:2=127.53.1.1:1,", want: 2},
		{in: "[::1]:2=[::1]:1", want: 1},
		{in: "", wantErr: "no routes"},
		{in: "127.53.0.1:2", wantErr: "LISTEN=UPSTREAM"},
		{in: "127.53.0.1=127.53.0.1:1", wantErr: "listen address"},
		{in: "127.53.0.1:2=192.0.2.1:53", wantErr: "loopback"},
		{in: "10.0.0.1:2=127.0.0.1:53", wantErr: "loopback"},
		{in: "127.0.0.1:2=127.0.0.1:2", wantErr: "itself"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			routes, err := parseRoutes(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseRoutes(%q) error = %v, want one mentioning %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil || len(routes) != tc.want {
				t.Fatalf("parseRoutes(%q) = %v, %v; want %d routes", tc.in, routes, err, tc.want)
			}
		})
	}
}
