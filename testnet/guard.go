package testnet

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// Exchanger sends one query to one server. It has the method set of
// resolver.Transport, so either plugs into the other without this package
// importing the resolver.
type Exchanger interface {
	Exchange(ctx context.Context, m *dns.Msg, server netip.AddrPort) (*dns.Msg, time.Duration, error)
}

// LoopbackOnly wraps next so that a query to any address outside
// 127.0.0.0/8 and ::1 fails the test and returns an error, unsent.
func LoopbackOnly(tb TB, next Exchanger) Exchanger {
	return loopbackOnly{tb: tb, next: next}
}

type loopbackOnly struct {
	tb   TB
	next Exchanger
}

func (g loopbackOnly) Exchange(ctx context.Context, m *dns.Msg, server netip.AddrPort) (*dns.Msg, time.Duration, error) {
	if err := g.refuse(m, server); err != nil {
		return nil, 0, err
	}
	return g.next.Exchange(ctx, m, server)
}

// timedExchanger is resolver.TimedTransport: an Exchanger that also takes
// a per-server timeout as a duration and reports whether TCP carried the
// reply.
type timedExchanger interface {
	ExchangeTimed(ctx context.Context, m *dns.Msg, server netip.AddrPort, timeout time.Duration) (*dns.Msg, time.Duration, bool, error)
}

// ExchangeTimed forwards to next's ExchangeTimed when it has one, so that
// the wrapper hides neither the transport's TCP report nor its way with
// timeouts; else it is Exchange under a context ended timeout after it
// starts (when timeout is positive), and tcp is false.
func (g loopbackOnly) ExchangeTimed(ctx context.Context, m *dns.Msg, server netip.AddrPort, timeout time.Duration) (*dns.Msg, time.Duration, bool, error) {
	if err := g.refuse(m, server); err != nil {
		return nil, 0, false, err
	}
	if t, ok := g.next.(timedExchanger); ok {
		return t.ExchangeTimed(ctx, m, server, timeout)
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	resp, rtt, err := g.next.Exchange(ctx, m, server)
	return resp, rtt, false, err
}

// refuse fails the test and returns an error when server is not a
// loopback address.
func (g loopbackOnly) refuse(m *dns.Msg, server netip.AddrPort) error {
	if addr := server.Addr().Unmap(); !addr.IsLoopback() {
		g.tb.Errorf("testnet: query %s to %s: not a loopback address, not sent", questionString(m), server)
		return fmt.Errorf("testnet: %s is not a loopback address", server)
	}
	return nil
}
