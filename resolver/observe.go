package resolver

// Observation hooks: the counts and the upstream messages the engine hands
// to whoever watches it (package metrics, package tap). The engine imports
// neither: Config takes interfaces, and nil turns each off.

import (
	"net/netip"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/dnssec"
)

// Metrics receives the engine's counts. Its methods are called on the
// query path, from many goroutines at once: they must be cheap (an atomic
// add, no lookup by label) and never block.
type Metrics interface {
	// Upstream counts one exchange with an authoritative server: its
	// outcome, whether the reply came over TCP after UDP (truncated or
	// suspect), and its round-trip time (the time waited, for a timeout).
	Upstream(o Outcome, tcp bool, rtt time.Duration)
	// Answer counts one answer the engine built for a client (Query and
	// QueryCached), with its DNSSEC verdict; bogus is counted whether
	// the client gets the data (CD) or SERVFAIL.
	Answer(s dnssec.Status)
	// StaleAnswer counts an expired answer served under RFC 8767.
	StaleAnswer()
	// Prefetch counts a background refresh started by a cache hit.
	Prefetch()
}

// Tap receives every upstream exchange, for dnstap. It is called
// synchronously on the query path and must not block; query and reply
// are shared and must not be kept or changed after it returns (pack
// them, or drop them).
type Tap interface {
	// Upstream logs a query sent to server at sent and its reply (nil
	// when none came) rtt later; tcp says the reply came over TCP.
	Upstream(server netip.AddrPort, tcp bool, query, reply *dns.Msg, sent time.Time, rtt time.Duration)
}

// noMetrics is the Metrics of a resolver configured without.
type noMetrics struct{}

func (noMetrics) Upstream(Outcome, bool, time.Duration) {}
func (noMetrics) Answer(dnssec.Status)                  {}
func (noMetrics) StaleAnswer()                          {}
func (noMetrics) Prefetch()                             {}
