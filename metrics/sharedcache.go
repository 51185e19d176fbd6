package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/recursor-dns/recursor/sharedcache"
)

// SharedCacheStats is what a shared cache tier reports of itself
// (*sharedcache.Tier does).
type SharedCacheStats interface {
	Stats() sharedcache.Stats
}

// WatchSharedCache exports the counts of the fleet's shared cache tier,
// read at scrape time: its hit ratio is hits / (hits + misses), the
// latency a read adds read_seconds_total / reads_total.
func (r *Registry) WatchSharedCache(t SharedCacheStats) {
	counter := func(name, help string, f func(sharedcache.Stats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "shared_cache", Name: name, Help: help},
			func() float64 { return f(t.Stats()) })
	}
	r.reg.MustRegister(
		counter("hits_total", "Keys read from the shared cache and found, sealed and live.", func(s sharedcache.Stats) float64 { return float64(s.Hits) }),
		counter("misses_total", "Keys read from the shared cache and not found, or expired.", func(s sharedcache.Stats) float64 { return float64(s.Misses) }),
		counter("errors_total", "Reads and write batches that failed or timed out.", func(s sharedcache.Stats) float64 { return float64(s.Errors) }),
		counter("rejected_total", "Values whose seal (HMAC) or content failed the check: dropped and deleted.", func(s sharedcache.Stats) float64 { return float64(s.Rejected) }),
		counter("skipped_total", "Keys not read because the circuit breaker was open.", func(s sharedcache.Stats) float64 { return float64(s.Skipped) }),
		counter("writes_queued_total", "Writes queued for the shared cache; each is then written or dropped.", func(s sharedcache.Stats) float64 { return float64(s.Queued) }),
		counter("writes_total", "Values written to the shared cache (and tampered ones deleted).", func(s sharedcache.Stats) float64 { return float64(s.Written) }),
		counter("writes_dropped_total", "Writes dropped: queue full, breaker open, or their batch failed.", func(s sharedcache.Stats) float64 { return float64(s.Dropped) }),
		counter("reads_total", "Reads sent to the shared cache (one per client cache miss and name).", func(s sharedcache.Stats) float64 { return float64(s.Reads) }),
		counter("read_seconds_total", "Time the reads of the shared cache took in all.", func(s sharedcache.Stats) float64 { return s.ReadTime.Seconds() }),
		counter("breaker_opened_total", "Times the circuit breaker opened.", func(s sharedcache.Stats) float64 { return float64(s.BreakerOpened) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "shared_cache", Name: "breaker_open", Help: "1 while the circuit breaker keeps reads and writes from Redis."},
			func() float64 {
				if t.Stats().BreakerOpen {
					return 1
				}
				return 0
			}),
	)
}
