package cache

import "sync/atomic"

// typeSet remembers which record types the store has ever held, so that a
// lookup of a type it never held costs nothing. A cold resolution looks
// for a DNAME at every ancestor of the name, in every pass over the cache,
// and misses each time (two probes of a large map each, the second for an
// NXDOMAIN entry): a dozen cache misses per cold name in a cache that has
// never seen a DNAME. Types are never removed: the set says "may hold".
type typeSet [4]atomic.Uint64 // types 0-255, a bit each

func (t *typeSet) add(typ uint16) {
	if typ < 256 {
		t[typ>>6].Or(1 << (typ & 63))
	}
}

// mayHold is false only for a type below 256 that was never added.
func (t *typeSet) mayHold(typ uint16) bool {
	return typ >= 256 || t[typ>>6].Load()&(1<<(typ&63)) != 0
}

// MayHold reports whether an entry of qtype may be in the cache: false
// only when no entry of that type (positive or negative) was stored since
// New, through any of Put, PutNegative, PutSet, PutNegativeSet or Load.
// It takes no lock.
func (c *Cache) MayHold(qtype uint16) bool { return c.types.mayHold(qtype) }
