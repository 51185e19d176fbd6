package cache

import (
	"hash/maphash"
	"math"
)

// The store keeps the cache's entries in few, mostly pointer-free objects,
// so that they cost little heap and little garbage collector work:
//
//   - slots: fixed-size structs in chunks of chunkSize, linked into an
//     intrusive LRU list by slot number. Chunks are never copied (the first
//     grows up to chunkSize) and freed slots are reused, so churn at a fixed
//     bound never grows them. A slot's one pointer is its data string.
//   - index: map from a 64-bit hash of the key to a slot number. Neither
//     holds a pointer, so the collector never scans the map.
//
// The slot keeps its key, and a lookup whose slot holds another key (a
// hash collision) is a miss: a key is never answered with another key's
// data. A write whose hash collides replaces the other entry.
//
// The store is not safe for concurrent use: Cache locks around it.
type store struct {
	hash       func(name string, typ, class uint16) uint64
	index      map[uint64]uint32
	chunks     [][]slot // slot i is chunks[i>>chunkBits][i&chunkMask]; slot 0 is the list's head
	free       uint32   // first free slot, linked through next; 0: none
	count      int      // entries in the list
	bytes      int64    // sum of the entries' size()
	maxEntries int
	maxBytes   int64
}

const (
	chunkBits = 10
	chunkSize = 1 << chunkBits
	chunkMask = chunkSize - 1
	// maxSlots bounds the entries, hence the slot numbers (uint32), so
	// that they fit an int anywhere.
	maxSlots = math.MaxInt32
)

// entry is one cached RRset or negative answer, in wire form: one dns.RR
// struct per record (header, owner name, slices) costs several times the
// bytes of the data. Records are unpacked afresh on Get, which hands out
// copies anyway.
type entry struct {
	// data is the key's canonical name (nameLen bytes), then for a positive
	// entry the owner as learned when its case differs from the key's
	// (ownerLen bytes) and each record's RDATA after its 2-byte length; for
	// a negative one, the SOA as a packed RR or nothing. It is immutable:
	// readers may use it after the store's lock is released.
	data     string
	expires  int64 // Unix nanoseconds of Config.Now
	nameLen  uint16
	ownerLen uint16
	typ      uint16 // dns.TypeNone for an NXDOMAIN entry
	class    uint16
	negative Negative
	rank     Rank
}

// slot is an entry and its links in the LRU list (towards the head: next
// is more recent); a free slot's next is the next free slot.
type slot struct {
	entry
	prev, next uint32
}

// entryOverhead estimates the bytes an entry costs besides its data
// string: its slot (48) and its share of the index (a 16-byte map slot and
// control byte at the map's load), plus the data allocation's rounding up
// to a size class. BenchmarkMemoryPerRRset checks it against the heap.
const entryOverhead = 80

func (e *entry) name() string { return e.data[:e.nameLen] }

func (e *entry) size() int64 { return entryOverhead + int64(len(e.data)) }

func (e *entry) is(name string, typ, class uint16) bool {
	return e.typ == typ && e.class == class && e.name() == name
}

// newStore returns an empty store. hash nil means maphash with a random
// seed of the store's own.
func newStore(maxEntries int, maxBytes int64, hash func(name string, typ, class uint16) uint64) *store {
	if hash == nil {
		seed := maphash.MakeSeed()
		hash = func(name string, typ, class uint16) uint64 {
			// Keys of one name differ in the low bits of their hashes;
			// keys of two names collide with probability 2^-64 per pair,
			// for a seed no one outside the process knows.
			return maphash.String(seed, name) ^ uint64(typ)<<16 ^ uint64(class)
		}
	}
	maxEntries = min(max(maxEntries, 1), maxSlots)
	return &store{
		hash: hash,
		// Never more than maxEntries+1 slots: the first chunk need not grow
		// in a small store.
		chunks:     [][]slot{make([]slot, 1, min(chunkSize, 1+maxEntries))},
		index:      make(map[uint64]uint32),
		maxEntries: maxEntries,
		maxBytes:   maxBytes,
	}
}

func (s *store) at(i uint32) *slot { return &s.chunks[i>>chunkBits][i&chunkMask] }

// lookup returns the slot holding the key, or 0.
func (s *store) lookup(name string, typ, class uint16) uint32 {
	i, ok := s.index[s.hash(name, typ, class)]
	if !ok || !s.at(i).is(name, typ, class) {
		return 0
	}
	return i
}

// get returns the live entry for the key, now in Unix nanoseconds, and
// makes it the most recently used. Expired entries are not promoted.
func (s *store) get(name string, typ, class uint16, now int64) (entry, bool) {
	i := s.lookup(name, typ, class)
	if i == 0 {
		return entry{}, false
	}
	sl := s.at(i)
	if now >= sl.expires {
		return entry{}, false
	}
	s.unlink(sl)
	s.pushFront(i, sl)
	return sl.entry, true
}

// put stores e as the most recently used entry, unless live data of a
// higher rank holds its key (RFC 2181 section 5.4.1). It evicts the least
// recently used entries to stay within the bounds, the new one aside.
func (s *store) put(e entry, now int64) bool {
	h := s.hash(e.name(), e.typ, e.class)
	if i, ok := s.index[h]; ok {
		old := s.at(i)
		if old.is(e.name(), e.typ, e.class) && now < old.expires && e.rank < old.rank {
			return false
		}
		s.drop(i) // the key's old entry, or another key's whose hash is the same
	}
	if s.count >= s.maxEntries {
		s.drop(s.at(0).prev)
	}
	i := s.alloc()
	sl := s.at(i)
	sl.entry = e
	s.pushFront(i, sl)
	s.index[h] = i
	s.count++
	s.bytes += e.size()
	for s.bytes > s.maxBytes && s.count > 1 {
		s.drop(s.at(0).prev)
	}
	return true
}

// remove drops the key's entry, if any.
func (s *store) remove(name string, typ, class uint16) {
	if i := s.lookup(name, typ, class); i != 0 {
		s.drop(i)
	}
}

// keys returns the keys of all entries, oldest first.
func (s *store) keys() []Key {
	out := make([]Key, 0, s.count)
	for i := s.at(0).prev; i != 0; {
		sl := s.at(i)
		out = append(out, Key{Name: sl.name(), Type: sl.typ, Class: sl.class})
		i = sl.prev
	}
	return out
}

// drop unlinks slot i, deletes it from the index and frees it.
func (s *store) drop(i uint32) {
	sl := s.at(i)
	s.unlink(sl)
	delete(s.index, s.hash(sl.name(), sl.typ, sl.class))
	s.count--
	s.bytes -= sl.size()
	sl.entry = entry{} // lets the data go
	sl.next, s.free = s.free, i
}

// alloc returns a free slot, taking a new one when none was freed. Appends
// stay within a chunk's capacity: slots never move.
func (s *store) alloc() uint32 {
	if i := s.free; i != 0 {
		s.free = s.at(i).next
		return i
	}
	last := len(s.chunks) - 1
	n := uint32(last<<chunkBits + len(s.chunks[last]))
	if len(s.chunks[last]) < chunkSize {
		s.chunks[last] = append(s.chunks[last], slot{})
	} else {
		s.chunks = append(s.chunks, make([]slot, 1, chunkSize))
	}
	return n
}

func (s *store) unlink(sl *slot) {
	s.at(sl.prev).next = sl.next
	s.at(sl.next).prev = sl.prev
}

func (s *store) pushFront(i uint32, sl *slot) {
	head := s.at(0)
	sl.prev, sl.next = 0, head.next
	s.at(head.next).prev = i
	head.next = i
}
