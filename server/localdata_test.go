package server

import (
	"context"
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/localdata"
	"github.com/recursor-dns/recursor/resolver"
)

// noNetwork is a resolver transport that sends nothing and counts what
// it was asked to send.
type noNetwork struct{ asked atomic.Int64 }

func (n *noNetwork) Exchange(context.Context, *dns.Msg, netip.AddrPort) (*dns.Msg, time.Duration, error) {
	n.asked.Add(1)
	return nil, 0, errors.New("no network in this test")
}

func localTable(tb testing.TB, cfg localdata.Config) *localdata.Table {
	tb.Helper()
	t, err := localdata.Load(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// Local data reaches the client with AA, from the slow path and from the
// answer cache alike, without RD too; a deny zone's questions get no
// reply; and after a swap of the table and FlushAnswers (what a reload
// does) the new data is served.
func TestLocalDataThroughTheServer(t *testing.T) {
	upstream := &noNetwork{}
	r, err := resolver.New(resolver.Config{
		Transport: upstream,
		LocalData: localTable(t, localdata.Config{
			Zones: []string{"lan. static", "deny.example. deny"},
			Data:  []string{"nas.lan. 600 A 192.0.2.10"},
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newTestServer(t, Config{Backend: r})
	ctx := t.Context()
	unpack := func(b []byte) *dns.Msg {
		t.Helper()
		m := new(dns.Msg)
		if err := m.Unpack(b); err != nil {
			t.Fatalf("unpack: %v", err)
		}
		return m
	}
	query := pack(t, question("nas.lan.", dns.TypeA))
	for i := range 3 { // the slow path, then the answer cache
		m := unpack(s.HandlePacket(ctx, query, clientLoopback, false, nil))
		if !m.Authoritative || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != "192.0.2.10" {
			t.Errorf("answer %d: aa=%v %s %v, want aa and the local A", i, m.Authoritative, dns.RcodeToString[m.Rcode], m.Answer)
		}
	}
	if _, ok := s.answerFast(query, clientLoopback, TransportUDP, nil); !ok {
		t.Error("a local answer was not kept in the answer cache")
	}
	noRD := question("other.lan.", dns.TypeA)
	noRD.RecursionDesired = false
	if m := unpack(s.HandlePacket(ctx, pack(t, noRD), clientLoopback, false, nil)); m.Rcode != dns.RcodeNameError || !m.Authoritative {
		t.Errorf("other.lan. without RD: aa=%v %s, want an authoritative NXDOMAIN", m.Authoritative, dns.RcodeToString[m.Rcode])
	}
	for _, rd := range []bool{true, false} {
		q := question("x.deny.example.", dns.TypeA)
		q.RecursionDesired = rd
		if out := s.HandlePacket(ctx, pack(t, q), clientLoopback, false, nil); out != nil {
			t.Errorf("deny zone, rd=%v: answered %v", rd, unpack(out))
		}
		if resp := s.Handle(ctx, q, clientLoopback, true); resp != nil {
			t.Errorf("deny zone over Handle, rd=%v: answered %v", rd, resp)
		}
	}
	r.SetLocalData(localTable(t, localdata.Config{Data: []string{"nas.lan. 600 A 192.0.2.20"}}))
	s.FlushAnswers()
	if m := unpack(s.HandlePacket(ctx, query, clientLoopback, false, nil)); len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != "192.0.2.20" {
		t.Errorf("after the swap: %v, want the new address", m.Answer)
	}
	if n := upstream.asked.Load(); n != 0 {
		t.Errorf("%d queries upstream for local data", n)
	}
}
