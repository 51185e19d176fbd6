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
	if addr := server.Addr().Unmap(); !addr.IsLoopback() {
		g.tb.Errorf("testnet: query %s to %s: not a loopback address, not sent", questionString(m), server)
		return nil, 0, fmt.Errorf("testnet: %s is not a loopback address", server)
	}
	return g.next.Exchange(ctx, m, server)
}
