package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/recursor-dns/recursor/sharedcache"
)

type fixedTier sharedcache.Stats

func (f fixedTier) Stats() sharedcache.Stats { return sharedcache.Stats(f) }

func TestWatchSharedCache(t *testing.T) {
	r := New()
	r.WatchSharedCache(fixedTier{Hits: 3, Misses: 5, Rejected: 1, Queued: 9, Written: 7, Dropped: 2, Reads: 4, ReadTime: 2 * time.Millisecond, BreakerOpen: true, BreakerOpened: 1})
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"recursor_shared_cache_hits_total 3", "recursor_shared_cache_misses_total 5", "recursor_shared_cache_rejected_total 1",
		"recursor_shared_cache_writes_queued_total 9", "recursor_shared_cache_writes_total 7", "recursor_shared_cache_writes_dropped_total 2",
		"recursor_shared_cache_reads_total 4", "recursor_shared_cache_read_seconds_total 0.002",
		"recursor_shared_cache_breaker_open 1", "recursor_shared_cache_breaker_opened_total 1",
	} {
		if !strings.Contains(b.String(), "\n"+line+"\n") {
			t.Errorf("no line %q", line)
		}
	}
}
