package resolver

import (
	"context"
	"net/netip"
	"time"
)

// Step is one upstream exchange, reported to a trace function as it happens.
type Step struct {
	Depth   int            // 0 for the client's question, 1+ for name server address lookups
	Qname   string         // the name asked (as sent)
	Qtype   uint16         //
	Zone    string         // the zone the server was asked as authority for
	NSName  string         // the server's name ("" when only its address is known)
	Server  netip.AddrPort // where the query went
	TCP     bool           // the exchange used TCP
	RTT     time.Duration  //
	Outcome string         // what came back: "answer", "referral to com.", "nxdomain", "timeout", ...
	Err     error          // the transport's error, if any
}

type traceKey struct{}

// WithTrace returns a context whose resolutions report every upstream
// exchange to fn, in order, from the goroutine that made it. fn must be safe
// for concurrent use when name server lookups run in parallel.
func WithTrace(ctx context.Context, fn func(Step)) context.Context {
	return context.WithValue(ctx, traceKey{}, fn)
}

func traceFrom(ctx context.Context) func(Step) {
	fn, _ := ctx.Value(traceKey{}).(func(Step))
	return fn
}
