package main

import (
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestReply(t *testing.T) {
	q := new(dns.Msg).SetQuestion("www.example.com.", dns.TypeA)
	q.Id = 0x1234
	b, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if !reply(b) {
		t.Fatal("reply refused a query")
	}
	var r dns.Msg
	if err := r.Unpack(b); err != nil {
		t.Fatal(err)
	}
	if !r.Response || !r.RecursionAvailable || !r.RecursionDesired || r.Rcode != dns.RcodeSuccess || r.Id != 0x1234 ||
		len(r.Question) != 1 || r.Question[0] != q.Question[0] || len(r.Answer) != 0 {
		t.Errorf("reply = %v", &r)
	}
	if reply(b[:11]) {
		t.Error("reply took 11 bytes as a DNS message")
	}
}

func TestServe(t *testing.T) {
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		t.Skip(errUnsupported)
	}
	// Binding 192.0.2.1 would fail anyway: only the refusal itself shows
	// that the address was checked.
	if err := run("192.0.2.1:53"); err == nil || !strings.Contains(err.Error(), "loopback addresses only") {
		t.Errorf("run(192.0.2.1:53) = %v, want the loopback-only refusal", err)
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	go serve(raw)
	t.Cleanup(func() { conn.Close() })
	c := &dns.Client{Timeout: 2 * time.Second}
	for i := range 3 {
		q := new(dns.Msg).SetQuestion("www.example.com.", dns.TypeAAAA)
		r, _, err := c.Exchange(q, conn.LocalAddr().String())
		if err != nil {
			t.Fatalf("query %d: %v", i, err)
		}
		if r.Id != q.Id || !r.Response || r.Question[0] != q.Question[0] {
			t.Fatalf("query %d: reply %v", i, r)
		}
	}
}
