// Package namelru owns a bounded least-recently-used map from DNS names to
// short byte values, kept in memory that holds no pointer.
//
// The resolver keeps per-name facts beside its cache (the glue a referral
// gave, when the parent's delegation ends) for as many names as the
// infrastructure cache holds. In golang-lru's map each entry is a linked
// element with a string key and a boxed value: thousands of pointers that
// every collection cycle marks, and the mark phase of a filling cache
// stalled cold resolutions (docs/architecture.md). Here the index maps a
// 64-bit hash to a slot number, slots are plain structs, and names and
// values share one byte arena: the collector scans none of it.
//
// A Map is safe for concurrent use.
package namelru

import (
	"hash/maphash"
	"math"
	"sync"
)

// MaxLen bounds a name's and a value's length; Add refuses longer ones.
const MaxLen = math.MaxUint16

// Map is the LRU map. Names are compared byte for byte: callers
// canonicalise them (lower case) first.
type Map struct {
	mu    sync.Mutex
	hash  func(name string) uint64
	index map[uint64]uint32 // hash of a name → first slot of its chain
	slots []slot            // slots[0] is the list's head; slots are reused, never moved out
	free  uint32            // first free slot, linked through next; 0: none
	count int
	max   int
	arena []byte // each live slot's name, then its value, at its off
	waste int    // arena bytes that no live slot refers to
}

// slot is one entry: where its name and value are in the arena, its links
// in the LRU list (next is more recent) and the next slot whose name has
// the same hash (sib, 0 at the end).
type slot struct {
	hash    uint64
	off     uint32
	nameLen uint16
	valLen  uint16
	prev    uint32
	next    uint32
	sib     uint32
}

// New returns an empty Map of at most limit entries (at least one).
func New(limit int) *Map {
	seed := maphash.MakeSeed()
	m := &Map{
		// A seed no one outside the process knows: two names collide with
		// probability 2^-64, and an attacker cannot pick names that do.
		hash: func(name string) uint64 { return maphash.String(seed, name) },
		max:  min(max(limit, 1), math.MaxInt32-1),
	}
	m.reset()
	return m
}

func (m *Map) reset() {
	m.index = make(map[uint64]uint32)
	m.slots = make([]slot, 1, min(m.max+1, 1024))
	m.free, m.count, m.arena, m.waste = 0, 0, nil, 0
}

// Len returns the number of entries.
func (m *Map) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.count
}

// Purge removes every entry.
func (m *Map) Purge() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reset()
}

// Add stores val for name as the most recently used entry, replacing what
// name had, and evicts the least recently used entry when the map is full.
// A name or value longer than MaxLen is not stored; Add reports whether
// val was.
func (m *Map) Add(name string, val []byte) bool {
	if len(name) > MaxLen || len(val) > MaxLen {
		return false
	}
	h := m.hash(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if i := m.lookup(h, name); i != 0 {
		m.drop(i)
	} else if m.count >= m.max {
		m.drop(m.slots[0].next)
	}
	if m.waste > 4096 && m.waste > len(m.arena)/2 {
		m.compact()
	}
	if len(m.arena)+len(name)+len(val) > math.MaxUint32 {
		return false // not reached at any bound the resolver sets
	}
	i := m.alloc()
	sl := &m.slots[i]
	*sl = slot{hash: h, off: uint32(len(m.arena)), nameLen: uint16(len(name)), valLen: uint16(len(val)), sib: m.index[h]}
	m.arena = append(append(m.arena, name...), val...)
	m.pushBack(i)
	m.index[h] = i
	m.count++
	return true
}

// Get appends name's value to dst and makes the entry the most recently
// used; ok is false, and dst returned as it was, when name has none.
func (m *Map) Get(name string, dst []byte) (_ []byte, ok bool) { return m.get(name, dst, true) }

// Peek is Get without touching the LRU order.
func (m *Map) Peek(name string, dst []byte) (_ []byte, ok bool) { return m.get(name, dst, false) }

func (m *Map) get(name string, dst []byte, promote bool) ([]byte, bool) {
	h := m.hash(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	i := m.lookup(h, name)
	if i == 0 {
		return dst, false
	}
	if promote {
		m.unlink(i)
		m.pushBack(i)
	}
	return append(dst, m.value(i)...), true
}

// Remove removes name's entry and reports whether there was one.
func (m *Map) Remove(name string) bool {
	h := m.hash(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	i := m.lookup(h, name)
	if i == 0 {
		return false
	}
	m.drop(i)
	return true
}

// RemoveIf removes the entries whose names f reports true for and returns
// how many it removed. f is called with the map locked: it must not call
// the map.
func (m *Map) RemoveIf(f func(name string) bool) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for i := m.slots[0].next; i != 0; {
		next := m.slots[i].next
		if f(string(m.name(i))) {
			m.drop(i)
			n++
		}
		i = next
	}
	return n
}

func (m *Map) name(i uint32) []byte {
	sl := &m.slots[i]
	return m.arena[sl.off : sl.off+uint32(sl.nameLen)]
}

func (m *Map) value(i uint32) []byte {
	sl := &m.slots[i]
	start := sl.off + uint32(sl.nameLen)
	return m.arena[start : start+uint32(sl.valLen)]
}

// lookup returns name's slot, 0 for none; h is its hash. Names whose
// hashes collide share a chain, and the name is compared, so a name never
// gets another's value.
func (m *Map) lookup(h uint64, name string) uint32 {
	for i := m.index[h]; i != 0; i = m.slots[i].sib {
		if sl := &m.slots[i]; int(sl.nameLen) == len(name) && string(m.name(i)) == name {
			return i
		}
	}
	return 0
}

// drop removes slot i from the list, its chain and the index, and frees it.
func (m *Map) drop(i uint32) {
	sl := &m.slots[i]
	if head := m.index[sl.hash]; head == i {
		if sl.sib == 0 {
			delete(m.index, sl.hash)
		} else {
			m.index[sl.hash] = sl.sib
		}
	} else {
		for k := head; k != 0; k = m.slots[k].sib {
			if m.slots[k].sib == i {
				m.slots[k].sib = sl.sib
				break
			}
		}
	}
	m.unlink(i)
	m.waste += int(sl.nameLen) + int(sl.valLen)
	*sl = slot{next: m.free}
	m.free = i
	m.count--
}

// alloc returns a free slot number, growing slots when none is free.
func (m *Map) alloc() uint32 {
	if i := m.free; i != 0 {
		m.free = m.slots[i].next
		return i
	}
	m.slots = append(m.slots, slot{})
	return uint32(len(m.slots) - 1)
}

// The list is circular through slots[0]: slots[0].next is the least
// recently used entry, slots[0].prev the most recent.

func (m *Map) unlink(i uint32) {
	sl := &m.slots[i]
	m.slots[sl.prev].next = sl.next
	m.slots[sl.next].prev = sl.prev
}

func (m *Map) pushBack(i uint32) {
	last := m.slots[0].prev
	m.slots[i].prev, m.slots[i].next = last, 0
	m.slots[last].next = i
	m.slots[0].prev = i
}

// compact copies the live entries' bytes into a new arena, in list order.
// The new arena has room for as many bytes again, so that the next
// compaction comes after that many bytes were added, not at the next
// append's doubling.
func (m *Map) compact() {
	live := len(m.arena) - m.waste
	arena := make([]byte, 0, 2*live+4096)
	for i := m.slots[0].next; i != 0; i = m.slots[i].next {
		sl := &m.slots[i]
		off := len(arena)
		arena = append(arena, m.arena[sl.off:sl.off+uint32(sl.nameLen)+uint32(sl.valLen)]...)
		sl.off = uint32(off)
	}
	m.arena, m.waste = arena, 0
}
