//go:build linux && (amd64 || arm64)

package server

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestAdmissionNextOldestFirst(t *testing.T) {
	a := &admission{efd: -1}
	push := func(port uint16) {
		a.mu.Lock()
		a.queue = append(a.queue, admitted{to: netip.AddrPortFrom(netip.IPv4Unspecified(), port)})
		a.armed = true
		a.mu.Unlock()
	}
	for port := range uint16(10) {
		push(port)
	}
	var batch [admitBatch]admitted
	var got []uint16
	for {
		n, more := a.next(&batch)
		for _, p := range batch[:n] {
			got = append(got, p.to.Port())
		}
		if !more {
			break
		}
	}
	for i, port := range got {
		if port != uint16(i) {
			t.Fatalf("started in the order %v, want 0 to 9", got)
		}
	}
	if len(got) != 10 || a.armed || a.head != 0 || len(a.queue) != 0 {
		t.Errorf("after draining: %d started, armed %v, head %d, queue %d; want 10, false, 0, 0", len(got), a.armed, a.head, len(a.queue))
	}
}

// TestAdmissionBurst has more slow queries waiting on the socket when the
// server starts than a reader starts itself: the rest wait in the queue,
// and every one is started and answered.
func TestAdmissionBurst(t *testing.T) {
	const burst = 40
	s, fb := newTestServer(t, Config{})
	addrs, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addrs[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range burst {
		m := question(nameSlow, dns.TypeA)
		m.Id = uint16(i + 1)
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	// Serve from here, so that the first read finds the whole burst.
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	fb.waitStarted(t, burst)
	close(fb.release)
	seen := map[uint16]bool{}
	buf := make([]byte, 512)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for len(seen) < burst {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("%d of %d answered: %v", len(seen), burst, err)
		}
		var m dns.Msg
		if err := m.Unpack(buf[:n]); err != nil {
			t.Fatal(err)
		}
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
			t.Fatalf("answer %d: %v", m.Id, &m)
		}
		seen[m.Id] = true
	}
}
