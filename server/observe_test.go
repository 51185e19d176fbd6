package server

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/dnssec"
)

// recorder is a Metrics and a Tap that keeps what it is told.
type recorder struct {
	mu     sync.Mutex
	events []QueryEvent
	tapped []tapped
}

type tapped struct {
	client      netip.AddrPort
	tcp         bool
	query, resp []byte
}

func (r *recorder) Query(e QueryEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) Client(client netip.AddrPort, via Transport, query, resp []byte, received time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// The server's buffers: a tap copies them.
	r.tapped = append(r.tapped, tapped{client, via.Stream(), append([]byte(nil), query...), append([]byte(nil), resp...)})
}

// TestObserversSeeEveryPath: the metrics hear of every answered query, from
// the answer cache, the engine's cache and the engine, with qtype, rcode,
// EDE and the client; the tap gets the wire bytes the client got.
func TestObserversSeeEveryPath(t *testing.T) {
	rec := &recorder{}
	s, _ := newTestServer(t, Config{Metrics: rec, Tap: rec})
	ctx := t.Context()
	ask := func(name string, qtype uint16, tcp bool) ([]byte, []byte) {
		q, err := withEDNS(question(name, qtype), 1232, false).Pack()
		if err != nil {
			t.Fatal(err)
		}
		out := s.HandlePacket(ctx, q, clientLoopback, tcp, nil)
		return q, append([]byte(nil), out...)
	}
	q1, r1 := ask(nameWWW, dns.TypeA, false) // the engine's cache: stored
	ask(nameWWW, dns.TypeA, false)           // the answer cache
	ask(nameAlias, dns.TypeA, true)          // the engine
	ask(nameFail, dns.TypeA, false)          // SERVFAIL, EDE 22

	want := []QueryEvent{
		// The engine counts the verdicts of the answers it builds; the
		// server, those of its ready-packed repeats (the fake backend's
		// answers are indeterminate).
		{Cached: true, Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, EDE: -1, Security: -1, Client: clientLoopback},
		{Cached: true, Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, EDE: -1, Security: int(dnssec.Indeterminate), Client: clientLoopback},
		{TCP: true, Transport: TransportTCP, Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, EDE: -1, Security: -1, Client: clientLoopback},
		{Qtype: dns.TypeA, Rcode: dns.RcodeServerFailure, EDE: int(dns.ExtendedErrorCodeNoReachableAuthority), Security: -1, Client: clientLoopback},
	}
	if len(rec.events) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(rec.events), len(want), rec.events)
	}
	for i, e := range rec.events {
		if e.Duration < 0 {
			t.Errorf("event %d: duration %v", i, e.Duration)
		}
		e.Duration = 0
		if e != want[i] {
			t.Errorf("event %d: %+v, want %+v", i, e, want[i])
		}
	}
	if len(rec.tapped) != 4 {
		t.Fatalf("%d tapped, want 4", len(rec.tapped))
	}
	if got := rec.tapped[0]; string(got.query) != string(q1) || string(got.resp) != string(r1) || got.client != clientLoopback || got.tcp {
		t.Errorf("tapped %+v, want the query and answer as sent", got)
	}
	if !rec.tapped[2].tcp {
		t.Error("a TCP query tapped as UDP")
	}
}
