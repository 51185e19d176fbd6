package metrics

// The query path's counters in stripes. Every cache hit counts itself
// (transport, qtype and rcode, its duration, its DNSSEC verdict): with one
// set of counters, every core's hits write the same cache lines, and two
// cores spent 900 ns of CPU a hit passing them back and forth against 200
// ns with one (BenchmarkCacheHitParallel). A stripe is picked by the
// client's port: a client's queries come to one socket, read by one
// thread, so a core mostly writes lines no other core writes. Scrapes sum
// the stripes.

import (
	"sync/atomic"
	"time"

	"github.com/recursor-dns/recursor/dnssec"
	"github.com/recursor-dns/recursor/server"
)

// numStripes is the number of stripes: as many as the server's answer
// cache counts its hits in, enough that 64 cores rarely share one. A
// stripe is about 9.5 KiB, so the Registry holds about 600 KiB of them.
const numStripes = 64

// clientBounds are the upper bounds of the client query duration's
// buckets: cache hits take microseconds, resolutions milliseconds to the
// engine's 10 s deadline.
var clientBounds = [...]time.Duration{
	50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// queryStripe is one stripe of the counters a client query adds to.
type queryStripe struct {
	queries     [server.NumTransports][numQtypes][numRcodes]atomic.Uint64 // [transport][qtype][rcode]
	servfailEDE [numEDE]atomic.Uint64
	answers     [numStatuses]atomic.Uint64 // by dnssec.Status
	clientTime  [2]durations               // [cached]
	// The next stripe's first counters start two cache lines on, as x86
	// fetches lines in pairs.
	_ [128]byte
}

// durations is one stripe of a histogram of durations.
type durations struct {
	counts [len(clientBounds) + 1]atomic.Uint64 // per bucket, not cumulative; the last is above every bound
	sum    atomic.Uint64                        // nanoseconds
}

func (d *durations) observe(v time.Duration) {
	v = max(v, 0)
	i := 0
	for i < len(clientBounds) && v > clientBounds[i] {
		i++
	}
	d.counts[i].Add(1)
	d.sum.Add(uint64(v))
}

func (s *queryStripe) answer(status dnssec.Status) {
	if int(status) < numStatuses {
		s.answers[status].Add(1)
	}
}

// stripeOf is the stripe of a query from client.
func (r *Registry) stripeOf(e *server.QueryEvent) *queryStripe {
	return &r.stripes[e.Client.Port()%numStripes]
}

// histogram sums stripe c of clientTime over the stripes: the count, the
// sum in seconds and the cumulative count per upper bound, in seconds, as
// prometheus.NewConstHistogram takes them.
func (r *Registry) histogram(c int) (count uint64, sum float64, buckets map[float64]uint64) {
	var counts [len(clientBounds) + 1]uint64
	var nanos uint64
	for s := range r.stripes {
		d := &r.stripes[s].clientTime[c]
		for i := range counts {
			counts[i] += d.counts[i].Load()
		}
		nanos += d.sum.Load()
	}
	buckets = make(map[float64]uint64, len(clientBounds))
	for i, bound := range clientBounds {
		count += counts[i]
		buckets[bound.Seconds()] = count
	}
	count += counts[len(clientBounds)]
	return count, time.Duration(nanos).Seconds(), buckets
}

// sum adds up one counter over the stripes.
func (r *Registry) sum(counter func(*queryStripe) *atomic.Uint64) uint64 {
	var n uint64
	for s := range r.stripes {
		n += counter(&r.stripes[s]).Load()
	}
	return n
}
