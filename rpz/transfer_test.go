package rpz

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fakePrimary serves rpz.test. over TCP on loopback: AXFR of the zone it
// holds, and IXFR as its mode says.
type fakePrimary struct {
	addr  netip.AddrPort
	mu    sync.Mutex
	zone  []dns.RR // the current version, SOA first
	diff  []dns.RR // what IXFR answers: the incremental form
	ixfr  string   // "diff", "refuse"
	asked []uint16 // the transfer types asked, in order
}

func startFakePrimary(t *testing.T) *fakePrimary {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &fakePrimary{addr: netip.MustParseAddrPort(l.Addr().String())}
	srv := &dns.Server{Listener: l, Handler: dns.HandlerFunc(p.serve)}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return p
}

func (p *fakePrimary) serve(w dns.ResponseWriter, req *dns.Msg) {
	p.mu.Lock()
	qtype := req.Question[0].Qtype
	p.asked = append(p.asked, qtype)
	zone, diff, mode := p.zone, p.diff, p.ixfr
	p.mu.Unlock()
	if qtype == dns.TypeIXFR && mode == "refuse" {
		m := new(dns.Msg).SetRcode(req, dns.RcodeRefused)
		w.WriteMsg(m)
		return
	}
	rrs := append(append([]dns.RR{}, zone...), zone[0])
	if qtype == dns.TypeIXFR {
		rrs = diff
	}
	ch := make(chan *dns.Envelope, 1)
	tr := new(dns.Transfer)
	go func() { ch <- &dns.Envelope{RR: rrs}; close(ch) }()
	tr.Out(w, req, ch)
}

func mustRRs(t *testing.T, lines ...string) []dns.RR {
	t.Helper()
	var out []dns.RR
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rr)
	}
	return out
}

// TestTransferIXFR: a refresh applies an incremental IXFR; a primary that
// refuses IXFR gets an AXFR instead.
func TestTransferIXFR(t *testing.T) {
	soa := func(serial string) string {
		return "rpz.test. 300 IN SOA ns.rpz.test. h.rpz.test. " + serial + " 3600 600 86400 60"
	}
	p := startFakePrimary(t)
	p.zone = mustRRs(t, soa("1"), "a.rpz.test. 300 IN CNAME .", "b.rpz.test. 300 IN CNAME .")
	timer := newFakeTimer()
	loads := make(chan load, 8)
	s, err := New(Config{Zones: []Source{{Name: "rpz.test", Primary: p.addr}}, After: timer.after,
		Loaded: func(_ string, serial uint32, err error) { loads <- load{serial, err} }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { s.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	step := func(wantSerial uint32) {
		t.Helper()
		select {
		case l := <-loads:
			if l.err != nil || l.serial != wantSerial {
				t.Fatalf("load %+v, want serial %d", l, wantSerial)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("no transfer")
		}
		<-timer.waits
	}
	step(1)

	p.mu.Lock()
	p.ixfr = "diff"
	p.diff = mustRRs(t, soa("2"), soa("1"), "a.rpz.test. 300 IN CNAME .", soa("2"), "c.rpz.test. 300 IN CNAME rpz-drop.", soa("2"))
	p.zone = mustRRs(t, soa("2"), "b.rpz.test. 300 IN CNAME .", "c.rpz.test. 300 IN CNAME rpz-drop.")
	p.mu.Unlock()
	timer.fire <- time.Now()
	step(2)
	for name, want := range map[string]bool{"a.": false, "b.": true, "c.": true} {
		if _, ok := s.MatchName(name); ok != want {
			t.Errorf("after IXFR, %s matched %v, want %v", name, ok, want)
		}
	}

	p.mu.Lock()
	p.ixfr = "refuse"
	p.zone = mustRRs(t, soa("3"), "d.rpz.test. 300 IN CNAME .")
	p.mu.Unlock()
	timer.fire <- time.Now()
	step(3)
	if _, ok := s.MatchName("d."); !ok {
		t.Error("after the AXFR fallback, d. does not match")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	want := []uint16{dns.TypeAXFR, dns.TypeIXFR, dns.TypeIXFR, dns.TypeAXFR}
	if len(p.asked) != len(want) {
		t.Fatalf("asked %v, want %v", p.asked, want)
	}
	for i := range want {
		if p.asked[i] != want[i] {
			t.Fatalf("asked %v, want %v", p.asked, want)
		}
	}
}
