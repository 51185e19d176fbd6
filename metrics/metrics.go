// Package metrics owns the Prometheus metrics of a recursor: one Registry
// per instance (never the package-level default registerer), which
// implements server.Metrics and resolver.Metrics, reads the server's and
// the cache's own totals at scrape time, and serves /metrics or writes the
// text exposition format.
//
// The counters of the query path are plain atomics in fixed arrays indexed
// by small integers (transport, qtype, rcode, outcome) that a custom
// collector turns into labelled samples at scrape time: a cache hit costs
// a few atomic adds and a histogram observation, never a label lookup.
// Those a client query adds to are striped by the client's port, so that
// cores do not pass the same cache lines back and forth (stripes.go).
package metrics

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/dnssec"
	"github.com/recursor-dns/recursor/resolver"
	"github.com/recursor-dns/recursor/server"
)

// Namespace prefixes every metric of ours.
const Namespace = "recursor"

// Registry holds the metrics of one recursor instance. It is safe for
// concurrent use.
type Registry struct {
	reg *prometheus.Registry

	stripes [numStripes]queryStripe // what client queries count

	upstream     [numOutcomes]atomic.Uint64
	tcpFallbacks atomic.Uint64
	upstreamTime prometheus.Observer
	stale        atomic.Uint64
	prefetches   atomic.Uint64
}

var (
	_ server.Metrics   = (*Registry)(nil)
	_ resolver.Metrics = (*Registry)(nil)
)

// upstreamBuckets are the upper bounds of the upstream round trip's
// buckets, in seconds (clientBounds are the client queries').
var upstreamBuckets = []float64{1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5, 5}

// New returns a Registry with the query metrics and the Go runtime and
// process collectors registered.
func New() *Registry {
	r := &Registry{reg: prometheus.NewRegistry()}
	upstreamTime := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "upstream_query_duration_seconds",
		Help:    "Round-trip time of upstream queries that got a reply.",
		Buckets: upstreamBuckets,
	})
	r.upstreamTime = upstreamTime
	r.reg.MustRegister(
		upstreamTime, (*queryCollector)(r),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return r
}

// Query implements server.Metrics.
func (r *Registry) Query(e server.QueryEvent) {
	t := e.Transport
	if t == server.TransportUDP && e.TCP {
		t = server.TransportTCP // an event from before transports had names
	}
	if int(t) >= server.NumTransports {
		t = server.TransportTCP
	}
	s := r.stripeOf(&e)
	s.queries[t][qtypeIndex(e.Qtype)][rcodeIndex(e.Rcode)].Add(1)
	if e.Rcode == dns.RcodeServerFailure {
		s.servfailEDE[edeIndex(e.EDE)].Add(1)
	}
	c := 0
	if e.Cached {
		c = 1
	}
	s.clientTime[c].observe(e.Duration)
	if e.Security >= 0 {
		s.answer(dnssec.Status(e.Security))
	}
}

// Upstream implements resolver.Metrics.
func (r *Registry) Upstream(o resolver.Outcome, tcp bool, rtt time.Duration) {
	if int(o) < numOutcomes {
		r.upstream[o].Add(1)
	}
	if tcp {
		r.tcpFallbacks.Add(1)
	}
	if o != resolver.OutcomeTimeout && o != resolver.OutcomeNetError {
		r.upstreamTime.Observe(rtt.Seconds())
	}
}

// Answer implements resolver.Metrics.
// The engine says no client, so the stripe is a random one: as unlikely
// as the client's to be another core's at the moment.
func (r *Registry) Answer(s dnssec.Status) {
	r.stripes[rand.Uint32()%numStripes].answer(s)
}

// StaleAnswer implements resolver.Metrics.
func (r *Registry) StaleAnswer() { r.stale.Add(1) }

// Prefetch implements resolver.Metrics.
func (r *Registry) Prefetch() { r.prefetches.Add(1) }

// WatchServer exports the totals s keeps (queries received, cache hits,
// queries resolved, dropped, in flight, TCP connections), read at scrape
// time.
func (r *Registry) WatchServer(s *server.Server) {
	counter := func(name, help string, f func(server.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help},
			func() float64 { return float64(f(s.Stats())) })
	}
	gauge := func(name, help string, f func(server.Stats) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help},
			func() float64 { return float64(f(s.Stats())) })
	}
	r.reg.MustRegister(
		counter("client_queries_received_total", "Client queries received, parsable or not.", func(st server.Stats) uint64 { return st.Queries }),
		counter("cache_hits_total", "Client queries answered from the cache without waiting for the engine.", func(st server.Stats) uint64 { return st.CacheHits }),
		counter("cache_misses_total", "Client queries that waited for the engine.", func(st server.Stats) uint64 { return st.Resolved }),
		counter("client_queries_dropped_total", "Client queries not answered: over a limit, or responses sent to us.", func(st server.Stats) uint64 { return st.Dropped }),
		counter("panics_total", "Client queries whose handling panicked (a bug).", func(st server.Stats) uint64 { return st.Panics }),
		counter("cookie_limited_total", "UDP queries past the cookie rate limit without a valid server cookie, answered BADCOOKIE or TC=1.", func(st server.Stats) uint64 { return st.CookieLimited }),
		gauge("client_queries_in_flight", "Client queries waiting for the engine now.", func(st server.Stats) int { return st.InFlight }),
		gauge("tcp_connections", "Open client TCP connections.", func(st server.Stats) int { return st.TCPConns }),
	)
}

// WatchCache exports the entries and the estimated bytes of c, read at
// scrape time.
func (r *Registry) WatchCache(c *cache.Cache) {
	r.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: "cache_entries", Help: "RRsets and negative answers in the cache."},
			func() float64 { return float64(c.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: "cache_bytes", Help: "Estimated size of the cache's entries."},
			func() float64 { return float64(c.Bytes()) }),
	)
}

// TapStats are what a dnstap output reports of itself (*tap.Tap does).
type TapStats interface {
	Sent() uint64    // messages written
	Dropped() uint64 // messages dropped: the queue was full or the output broken
}

// WatchTap exports the counts of a dnstap output.
func (r *Registry) WatchTap(t TapStats) {
	r.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: Namespace, Name: "dnstap_sent_total", Help: "dnstap messages written."},
			func() float64 { return float64(t.Sent()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: Namespace, Name: "dnstap_dropped_total", Help: "dnstap messages dropped: queue full or output unavailable."},
			func() float64 { return float64(t.Dropped()) }),
	)
}

// Handler serves the metrics in the Prometheus exposition formats.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{})
}

// WriteText writes every metric in the Prometheus text format, for
// `recursor control stats`.
func (r *Registry) WriteText(w io.Writer) error {
	families, err := r.reg.Gather()
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return err
		}
	}
	return nil
}

// Serve answers GET /metrics on l until ctx ends, then shuts down.
func (r *Registry) Serve(ctx context.Context, l net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", r.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// itoa is strconv.Itoa, for label values.
func itoa(i int) string { return strconv.Itoa(i) }
