package cache

import "time"

// Meta describes an entry without its records: what RemoveFunc's filter
// is shown.
type Meta struct {
	Key
	Negative Negative
	Rank     Rank
	Security Security
	EDE      uint16
	Expires  time.Time
}

// RemoveFunc drops every entry, live or expired, for which drop returns
// true, and returns how many it dropped. drop runs under the cache's lock:
// it must be quick and must not call the cache.
func (c *Cache) RemoveFunc(drop func(Meta) bool) int {
	n := 0
	for i := range c.shards {
		n += c.shards[i].removeFunc(drop)
	}
	return n
}

func (sh *shard) removeFunc(drop func(Meta) bool) int {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	n := 0
	for i := sh.s.at(0).next; i != 0; {
		sl := sh.s.at(i)
		next := sl.next
		m := Meta{
			Key:      Key{Name: string(sh.s.arena.bytes(sl.ref, int(sl.nameLen))), Type: sl.typ, Class: sl.class},
			Negative: sl.negative, Rank: sl.rank, Security: sl.security, EDE: sl.ede,
			Expires: time.Unix(0, sl.expires),
		}
		if drop(m) {
			sh.s.drop(i)
			n++
		}
		i = next
	}
	return n
}

// Entries returns the live entries whose key has name (of every type, an
// NXDOMAIN entry included), in no particular order. It looks at every
// entry of the name's shard: it is for operators' inspection, not for the
// query path.
func (c *Cache) Entries(name string) []Entry {
	name = Canonical(name)
	now := c.cfg.Now()
	sh, _ := c.shardOf(name)
	sh.mu.Lock()
	var found []entry
	for i := sh.s.at(0).next; i != 0; i = sh.s.at(i).next {
		sl := sh.s.at(i)
		if now.UnixNano() < sl.expires && int(sl.nameLen) == len(name) &&
			string(sh.s.arena.bytes(sl.ref, int(sl.nameLen))) == name {
			found = append(found, sh.s.entryAt(sl))
		}
	}
	sh.mu.Unlock()
	out := make([]Entry, 0, len(found))
	for _, e := range found {
		if x, ok := e.export(now); ok {
			if x.Negative == NXDomain {
				x.RRs = nil
			}
			out = append(out, x)
		}
	}
	return out
}
