package testnet

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// timedFake has ExchangeTimed: it records the timeout it was given and
// says TCP carried the reply.
type timedFake struct {
	fakeExchanger
	timeout time.Duration
}

func (f *timedFake) ExchangeTimed(_ context.Context, m *dns.Msg, _ netip.AddrPort, timeout time.Duration) (*dns.Msg, time.Duration, bool, error) {
	f.calls++
	f.timeout = timeout
	return new(dns.Msg).SetReply(m), 0, true, nil
}

// ExchangeTimed refuses what Exchange refuses, forwards to a next that
// has it (timeout and TCP report unchanged), and otherwise calls Exchange
// under a deadline.
func TestLoopbackOnlyExchangeTimed(t *testing.T) {
	type timed interface {
		ExchangeTimed(context.Context, *dns.Msg, netip.AddrPort, time.Duration) (*dns.Msg, time.Duration, bool, error)
	}
	m := new(dns.Msg).SetQuestion("example.com.", dns.TypeA)
	loop := netip.MustParseAddrPort("127.53.0.1:53")

	rec := &tbRecorder{TB: t}
	next := &timedFake{}
	g := LoopbackOnly(rec, next).(timed)
	if _, _, _, err := g.ExchangeTimed(t.Context(), m, netip.MustParseAddrPort("192.0.2.1:53"), time.Second); err == nil || next.calls != 0 || len(rec.errors) != 1 {
		t.Errorf("non-loopback: err %v, calls %d, test errors %d; want an error, no call and a failed test", err, next.calls, len(rec.errors))
	}
	_, _, tcp, err := g.ExchangeTimed(t.Context(), m, loop, 3*time.Second)
	if err != nil || !tcp || next.calls != 1 || next.timeout != 3*time.Second {
		t.Errorf("forwarded: err %v, tcp %v, calls %d, timeout %v; want the call forwarded as it was", err, tcp, next.calls, next.timeout)
	}

	plain := &deadlineFake{}
	g = LoopbackOnly(t, plain).(timed)
	before := time.Now()
	if _, _, tcp, err := g.ExchangeTimed(t.Context(), m, loop, time.Hour); err != nil || tcp {
		t.Errorf("plain next: err %v, tcp %v; want the reply, tcp false", err, tcp)
	}
	if dl := plain.deadline; dl.Before(before.Add(time.Hour)) || dl.After(time.Now().Add(time.Hour)) {
		t.Errorf("plain next: deadline %v after the call, want the timeout of an hour", dl.Sub(before))
	}
}

// deadlineFake has Exchange only, and records its context's deadline.
type deadlineFake struct{ deadline time.Time }

func (f *deadlineFake) Exchange(ctx context.Context, m *dns.Msg, _ netip.AddrPort) (*dns.Msg, time.Duration, error) {
	f.deadline, _ = ctx.Deadline()
	return new(dns.Msg).SetReply(m), 0, nil
}
