package resolver

import (
	"errors"
	"fmt"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Resolution failures are remembered (RFC 9520) so that a dead or cyclic
// delegation cannot turn client retries into a query storm. A cached
// failure is consulted only after the answer cache, so it never hides a
// good answer.
const (
	MinFailureCache = time.Second
	MaxFailureCache = 5 * time.Minute
	failureEntries  = 10_000
)

type failure struct {
	err     error
	until   time.Time
	backoff time.Duration // the hold used last time, doubled on the next failure
}

type failCache struct {
	mu      sync.Mutex
	entries *lru.Cache[string, *failure]
}

func newFailCache() *failCache {
	c, _ := lru.New[string, *failure](failureEntries)
	return &failCache{entries: c}
}

// get returns the error of a live failure for key, reading clock only
// when it holds one: time.Now is a vDSO call, slow on a KVM guest, and a
// cold name's every ask looks here and all but always finds none. The
// error may be shared: do not change it.
func (f *failCache) get(key string, clock func() time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e, ok := f.entries.Peek(key); ok && clock().Before(e.until) {
		return e.err
	}
	return nil
}

// record remembers err for key if it is a failure of the servers (not of
// the caller, nor of the question), holding longer each time in a row.
func (f *failCache) record(key string, err error, now time.Time) {
	if !errors.Is(err, ErrNoReachableServer) && !errors.Is(err, ErrLoop) && !errors.Is(err, ErrLimit) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	hold := MinFailureCache
	if e, ok := f.entries.Peek(key); ok && now.Sub(e.until) < e.backoff {
		hold = min(e.backoff*2, MaxFailureCache) // failed again soon after the last hold
	}
	f.entries.Add(key, &failure{err: err, until: now.Add(hold), backoff: hold})
}

func (f *failCache) forget(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries.Remove(key)
}

// zoneDown returns, while the servers of zone are remembered as failed
// (Resolver.deadZones) by clock, the error that says so. Each call makes a new
// *Error: callers fill in their question.
func (f *failCache) zoneDown(zone string, clock func() time.Time) error {
	err := f.get(zone, clock)
	if err == nil {
		return nil
	}
	return &Error{Zone: zone, Err: fmt.Errorf("%w (failed lately, not asked again yet): %w", errZoneDown, err)}
}

// errZoneDown marks a failure answered from Resolver.deadZones.
var errZoneDown = errors.New("every server of the zone failed")

// forgetIf drops the failures whose key matches.
func (f *failCache) forgetIf(match func(key string) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range f.entries.Keys() {
		if match(k) {
			f.entries.Remove(k)
		}
	}
}
