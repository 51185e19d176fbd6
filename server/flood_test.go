package server

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// refillBackend is the fake backend, but each cache lookup first sends
// two more queries to the server: its socket never drains, as under a
// flood that outpaces it.
type refillBackend struct {
	*fakeBackend
	client  *net.UDPConn
	query   []byte
	stop    atomic.Bool
	lookups atomic.Int64
	busy    chan struct{} // closed after 1000 lookups
}

func (r *refillBackend) ResolveCached(name string, qtype uint16) (*dns.Msg, bool) {
	if !r.stop.Load() {
		r.client.Write(r.query)
		r.client.Write(r.query)
	}
	if r.lookups.Add(1) == 1000 {
		close(r.busy)
	}
	return r.fakeBackend.ResolveCached(name, qtype)
}

// TestShutdownDuringFlood: Serve stops reading when its context ends even
// though queries keep arriving faster than they are answered.
func TestShutdownDuringFlood(t *testing.T) {
	rb := &refillBackend{fakeBackend: newFakeBackend(t), busy: make(chan struct{})}
	s, _ := newTestServer(t, Config{Backend: rb, AnswerCacheSize: -1, ShutdownGrace: time.Second})
	addrs, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	rb.client, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addrs[0]))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rb.client.Close() })
	rb.query, _ = question(nameWWW, dns.TypeA).Pack()
	defer rb.stop.Store(true)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	for range 64 {
		rb.client.Write(rb.query)
	}
	select {
	case <-rb.busy:
	case <-time.After(10 * time.Second):
		t.Fatal("the flood did not start")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		rb.stop.Store(true)
		t.Errorf("Serve did not return within 5 s of cancel while the flood went on")
		<-done
	}
}
