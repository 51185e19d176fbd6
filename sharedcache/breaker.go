package sharedcache

import (
	"sync"
	"time"
)

// breaker stops the tier from asking Redis for a while after failures in a
// row: a Redis that is down or slow then costs a client nothing at all,
// where every read would otherwise wait out its deadline. When the pause
// is over one request goes through (half open): its success closes the
// breaker, its failure opens it for another pause.
type breaker struct {
	threshold int
	pause     time.Duration
	now       func() time.Time

	mu        sync.Mutex // guards the fields below
	failures  int        // in a row
	openUntil time.Time
	probing   bool // a half-open request is out
	opened    uint64
}

// allow reports whether a request may go to Redis now.
func (b *breaker) allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failures < b.threshold {
		return true
	}
	if b.probing || b.now().Before(b.openUntil) {
		return false
	}
	b.probing = true
	return true
}

// done reports how a request that allow let through went.
func (b *breaker) done(ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ok {
		b.failures, b.probing = 0, false
		return
	}
	b.failures++
	if b.failures == b.threshold || b.probing {
		b.openUntil = b.now().Add(b.pause)
		b.opened++
	}
	b.probing = false
}

// state reports whether the breaker is open (or half open) and how many
// times it opened.
func (b *breaker) state() (open bool, opened uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.failures >= b.threshold, b.opened
}
