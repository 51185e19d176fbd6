package cache

import (
	"hash/maphash"
	"math"
	"sort"

	"github.com/miekg/dns"
)

// The store keeps the cache's entries in few, mostly pointer-free objects,
// so that they cost little heap and little garbage collector work:
//
//   - slots: fixed-size structs in chunks of chunkSize, linked into an
//     intrusive LRU list by slot number. Chunks are never copied (the first
//     grows up to chunkSize) and freed slots are reused, so churn at a fixed
//     bound never grows them. Slots hold no pointer.
//   - data: each entry's bytes (see entry.data) in a cell of the arena,
//     large byte chunks carved into cells of a few size classes, with a free
//     list per class.
//   - index: map from a 64-bit hash of a name to the first slot of the
//     name's chain: its entries (every type and class, its NXDOMAIN entry
//     too), linked through the slots' sib. Neither side holds a pointer,
//     so the collector never scans the map.
//
// Nothing of the store holds a pointer but the few chunk headers, so the
// collector's mark phase does not grow with the cache. With one string per
// entry it did, and a cache of 250,000 RRsets stretched every mark phase
// of a filling cache into a stall that the cold-resolution p99 showed.
//
// One index entry per name, not per key: a cold resolution asks for a
// name's type, its NXDOMAIN entry and its CNAME, and writes its data and
// clears its NXDOMAIN, all through one probe of the map, whose misses
// (a cache miss each, in a large map) were most of the store's time. A
// chain holds at most maxChain entries: a name with ever more types (a
// hostile zone's) loses its oldest ones rather than make every lookup of
// it long.
//
// The slot keeps its key, and a lookup compares it: the names whose hashes
// collide share a chain, and a key is never answered with another key's
// data.
//
// The store is not safe for concurrent use: Cache locks around it. Its
// methods take the hash of the name (hash(name)), which Cache computes
// once for the shard and the index.
type store struct {
	hash       func(name string) uint64
	index      map[uint64]uint32
	arena      arena
	chunks     [][]slot // slot i is chunks[i>>chunkBits][i&chunkMask]; slot 0 is the list's head
	free       uint32   // first free slot, linked through next; 0: none
	count      int      // entries in the list
	bytes      int64    // sum of the entries' size()
	maxEntries int
	maxBytes   int64
	types      *typeSet // every type put, for Cache.MayHold; one set shared by a cache's shards
}

const (
	chunkBits = 10
	chunkSize = 1 << chunkBits
	chunkMask = chunkSize - 1
	// maxSlots bounds the entries, hence the slot numbers (uint32), so
	// that they fit an int anywhere.
	maxSlots = math.MaxInt32
	// maxChain bounds the entries of a chain: a name's types (with a
	// name of a colliding hash's, which 64 bits make rare).
	maxChain = 32
)

// entry is one cached RRset or negative answer, in wire form: one dns.RR
// struct per record (header, owner name, slices) costs several times the
// bytes of the data. Records are unpacked afresh on Get, which hands out
// copies anyway. It is what goes into and comes out of the store, which
// keeps it as a slot and a cell.
type entry struct {
	// data is the key's canonical name (nameLen bytes), then for a positive
	// entry the owner as learned when its case differs from the key's
	// (ownerLen bytes) and each record's RDATA after its 2-byte length; for
	// a negative one, the SOA as a packed RR or nothing. The last tailLen
	// bytes are the DNSSEC records, none for unsigned data: nsigs RRSIGs,
	// RDATA after its length, whose owner is the RRset's or the SOA's, then
	// the proof, whole packed records. What get returns is a copy: readers
	// may use it after the store's lock is released.
	data     string
	expires  int64  // Unix nanoseconds of Config.Now
	ttl      uint32 // the TTL it was stored with, in seconds (prefetch)
	nameLen  uint16
	ownerLen uint16
	tailLen  uint16
	typ      uint16 // dns.TypeNone for an NXDOMAIN entry
	class    uint16
	ede      uint16
	negative Negative
	rank     Rank
	security Security
	nsigs    uint8
	// keepStale is Set.KeepStale, for put; not stored.
	keepStale int64
}

// slot is an entry without its data, which is in the arena's cell ref,
// with the hash of its name, its links in the LRU list (towards the head:
// next is more recent) and the next slot of its chain (sib, 0 at the
// end); a free slot's next is the next free slot. Its fields are ordered
// to leave no padding: 56 bytes.
type slot struct {
	hash     uint64
	expires  int64
	ref      cell
	dataLen  uint32
	prev     uint32
	next     uint32
	sib      uint32
	ttl      uint32
	nameLen  uint16
	ownerLen uint16
	tailLen  uint16
	typ      uint16
	class    uint16
	ede      uint16
	negative Negative
	rank     Rank
	security Security
	nsigs    uint8
}

// entryOverhead estimates the bytes an entry costs besides its data: its
// slot (56) and its share of the index (a 16-byte map slot and control
// byte at the map's load, one per name: less when a name has more than
// one entry), plus the data's rounding up to its cell's
// size. BenchmarkMemoryPerRRset checks it against the heap.
const entryOverhead = 88

func (e *entry) name() string { return e.data[:e.nameLen] }

func (e *entry) size() int64 { return entryOverhead + int64(len(e.data)) }

func (sl *slot) size() int64 { return entryOverhead + int64(sl.dataLen) }

// entryAt copies slot sl and its data out of the store.
func (s *store) entryAt(sl *slot) entry {
	return entry{
		data:     string(s.arena.bytes(sl.ref, int(sl.dataLen))),
		expires:  sl.expires,
		ttl:      sl.ttl,
		nameLen:  sl.nameLen,
		ownerLen: sl.ownerLen,
		tailLen:  sl.tailLen,
		typ:      sl.typ,
		class:    sl.class,
		ede:      sl.ede,
		negative: sl.negative,
		rank:     sl.rank,
		security: sl.security,
		nsigs:    sl.nsigs,
	}
}

// newStore returns an empty store. hash nil means maphash with a random
// seed of the store's own.
func newStore(maxEntries int, maxBytes int64, hash func(name string) uint64) *store {
	if hash == nil {
		hash = seededHash()
	}
	maxEntries = min(max(maxEntries, 1), maxSlots)
	maxBytes = min(maxBytes, maxStoreBytes)
	return &store{
		hash: hash,
		// Never more than maxEntries+1 slots: the first chunk need not grow
		// in a small store.
		chunks:     [][]slot{make([]slot, 1, min(chunkSize, 1+maxEntries))},
		index:      make(map[uint64]uint32),
		maxEntries: maxEntries,
		maxBytes:   maxBytes,
		types:      new(typeSet),
	}
}

// seededHash returns maphash with a random seed: two names collide with
// probability 2^-64 per pair, for a seed no one outside the process knows.
func seededHash() func(name string) uint64 {
	seed := maphash.MakeSeed()
	return func(name string) uint64 { return maphash.String(seed, name) }
}

func (s *store) at(i uint32) *slot { return &s.chunks[i>>chunkBits][i&chunkMask] }

// lookup returns the slot holding the key, or 0; h is hash(name).
func (s *store) lookup(h uint64, name string, typ, class uint16) uint32 {
	for i := s.index[h]; i != 0; {
		sl := s.at(i)
		if sl.typ == typ && sl.class == class && s.named(sl, name) {
			return i
		}
		i = sl.sib
	}
	return 0
}

// lookup2 returns the slots holding the keys of name and class with types
// typ and alt (typ != alt), 0 for none: one probe of the index for both.
func (s *store) lookup2(h uint64, name string, typ, alt, class uint16) (i, j uint32) {
	for k := s.index[h]; k != 0 && (i == 0 || j == 0); {
		sl := s.at(k)
		if sl.class == class && (sl.typ == typ || sl.typ == alt) && s.named(sl, name) {
			if sl.typ == typ {
				i = k
			} else {
				j = k
			}
		}
		k = sl.sib
	}
	return i, j
}

// lookupOrNX returns the slots of the key and of its name's NXDOMAIN
// entry (type None), 0 for none; with qtype None, that entry once.
func (s *store) lookupOrNX(h uint64, name string, qtype, qclass uint16) (i, nx uint32) {
	if qtype == dns.TypeNone {
		return s.lookup(h, name, qtype, qclass), 0
	}
	return s.lookup2(h, name, qtype, dns.TypeNone, qclass)
}

// named reports whether sl's name is name; it is compared in the arena.
func (s *store) named(sl *slot, name string) bool {
	return int(sl.nameLen) == len(name) && string(s.arena.bytes(sl.ref, int(sl.nameLen))) == name
}

// get returns the entry for the key that is live at now, in Unix
// nanoseconds, and makes it the most recently used. Expired entries are
// not promoted. An entry expired less than stale nanoseconds ago counts
// as live (serve-stale reads); 0 for live entries only. h is hash(name).
func (s *store) get(h uint64, name string, typ, class uint16, now, stale int64) (entry, bool) {
	i := s.lookup(h, name, typ, class)
	if i == 0 {
		return entry{}, false
	}
	return s.getAt(i, now, stale)
}

// getAt is get for the slot i that lookup found.
func (s *store) getAt(i uint32, now, stale int64) (entry, bool) {
	sl, ok := s.liveAt(i, now, stale)
	if !ok {
		return entry{}, false
	}
	return s.entryAt(sl), true
}

// liveAt is getAt without the copy of the entry: its slot, promoted.
func (s *store) liveAt(i uint32, now, stale int64) (*slot, bool) {
	sl := s.at(i)
	if now >= sl.expires && (stale == 0 || now-sl.expires >= stale) {
		return nil, false
	}
	s.unlink(sl)
	s.pushFront(i, sl)
	return sl, true
}

// put stores e as the most recently used entry, unless live data that e
// may not replace holds its key (see supersedes) or e is larger than an
// arena cell can be. It evicts the least recently used entries to stay
// within the bounds, the new one aside, and the oldest entry of its chain
// when the chain is full. h is hash(e.name()).
func (s *store) put(h uint64, e entry, now int64) bool {
	if len(e.data) > arenaChunk {
		return false // a name of up to 64 KB and a SOA (PutNegative)
	}
	var i, last uint32
	n := 0
	for k := s.index[h]; k != 0; k = s.at(k).sib {
		if sl := s.at(k); sl.typ == e.typ && sl.class == e.class && s.named(sl, e.name()) {
			i = k
		}
		last = k
		n++
	}
	if i != 0 {
		old := s.at(i)
		if now < old.expires && !e.supersedes(old.rank, old.security) {
			return false
		}
		if e.security == Bogus && old.security != Bogus && now-old.expires < e.keepStale {
			return false // the stale data stays servable
		}
		s.drop(i)
	} else if n >= maxChain {
		s.drop(last) // the chain's oldest
	}
	if s.count >= s.maxEntries {
		s.drop(s.at(0).prev)
	}
	if s.arena.wasteful(len(e.data)) {
		s.compact()
	}
	if s.arena.full(len(e.data)) {
		return false // unreachable within maxStoreBytes; a wrapped cell would corrupt another entry
	}
	s.types.add(e.typ)
	i = s.alloc()
	sl := s.at(i)
	head := s.index[h] // after the drops, which may have changed it
	*sl = slot{
		hash:     h,
		sib:      head,
		expires:  e.expires,
		ttl:      e.ttl,
		ref:      s.arena.alloc(len(e.data)),
		dataLen:  uint32(len(e.data)),
		nameLen:  e.nameLen,
		ownerLen: e.ownerLen,
		tailLen:  e.tailLen,
		typ:      e.typ,
		class:    e.class,
		ede:      e.ede,
		negative: e.negative,
		rank:     e.rank,
		security: e.security,
		nsigs:    e.nsigs,
	}
	copy(s.arena.bytes(sl.ref, len(e.data)), e.data)
	s.pushFront(i, sl)
	s.index[h] = i
	s.count++
	s.bytes += e.size()
	for s.bytes > s.maxBytes && s.count > 1 {
		s.drop(s.at(0).prev)
	}
	return true
}

// remove drops the key's entry, if any; h is hash(name).
func (s *store) remove(h uint64, name string, typ, class uint16) {
	if i := s.lookup(h, name, typ, class); i != 0 {
		s.drop(i)
	}
}

// removeFor drops the key's entry unless it is live and of a security
// that a set of security sec may not replace (rank aside). h is
// hash(name).
func (s *store) removeFor(h uint64, name string, typ, class uint16, sec Security, now int64) {
	if i := s.lookup(h, name, typ, class); i != 0 {
		if sl := s.at(i); now >= sl.expires || replaces(sec, sl.security) {
			s.drop(i)
		}
	}
}

// keys returns the keys of all entries, oldest first.
func (s *store) keys() []Key {
	out := make([]Key, 0, s.count)
	for i := s.at(0).prev; i != 0; {
		sl := s.at(i)
		out = append(out, Key{Name: string(s.arena.bytes(sl.ref, int(sl.nameLen))), Type: sl.typ, Class: sl.class})
		i = sl.prev
	}
	return out
}

// drop unlinks slot i from the list and its chain and frees it.
func (s *store) drop(i uint32) {
	sl := s.at(i)
	s.unlink(sl)
	if head := s.index[sl.hash]; head == i {
		if sl.sib == 0 {
			delete(s.index, sl.hash)
		} else {
			s.index[sl.hash] = sl.sib
		}
	} else {
		prev := s.at(head)
		for prev.sib != i {
			prev = s.at(prev.sib)
		}
		prev.sib = sl.sib
	}
	s.count--
	s.bytes -= sl.size()
	s.arena.free(sl.ref, int(sl.dataLen))
	*sl = slot{next: s.free}
	s.free = i
}

// compact moves every entry's data into a fresh arena, leaving the spare
// cells of the old one to the collector.
func (s *store) compact() {
	var a arena
	for i := s.at(0).next; i != 0; i = s.at(i).next {
		sl := s.at(i)
		ref := a.alloc(int(sl.dataLen))
		copy(a.bytes(ref, int(sl.dataLen)), s.arena.bytes(sl.ref, int(sl.dataLen)))
		sl.ref = ref
	}
	s.arena = a
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

// The arena holds the entries' data in chunks of arenaChunk bytes, carved
// into cells whose sizes are classes a few percent apart; a freed cell
// goes on its class's free list for the next entry of that class. Chunks
// hold no pointers: the collector never looks inside them.
//
// A spare cell serves its class only, so entries of one size after
// another would leave every class its peak of cells: the store compacts
// the arena (copies the live cells into a new one) when it would grow
// while less than half of it is in use.
type arena struct {
	chunks [][]byte
	used   int      // bytes taken in the last chunk
	live   int      // bytes of the cells given out and not freed
	spare  [][]cell // freed cells, by class
}

// cell names an arena cell: chunk number, then offset in cellAlign units.
type cell uint32

// arenaChunkLimit is how many chunks a cell can name (a variable for the
// tests). maxStoreBytes keeps the arena well within it: the arena holds at
// most about 2.5 times the bytes budget (a cell rounds its data up by up
// to a quarter, and compaction waits until half the arena is spare), and
// 2^20 chunks of 64 KB are 64 GB.
var arenaChunkLimit = 1 << (32 - cellShift)

const maxStoreBytes = 16 << 30

const (
	arenaChunk = 64 << 10
	cellAlign  = 16
	cellShift  = 12 // bits of the offset, in cellAlign units, in a cell
)

// cellSizes are the classes: every 16 bytes to 256, every 64 to 1024,
// every 256 to the chunk's size. A positive entry's data is at most
// MaxRRsetBytes plus two names, well within a chunk; put refuses larger
// data, which only a negative entry's 64 KB name can make.
var cellSizes = func() []int {
	var sizes []int
	for n := cellAlign; n <= arenaChunk; {
		sizes = append(sizes, n)
		switch {
		case n < 256:
			n += 16
		case n < 1024:
			n += 64
		default:
			n += 256
		}
	}
	return sizes
}()

func classOf(n int) int { return sort.SearchInts(cellSizes, max(n, 1)) }

// needsChunk reports whether alloc(n) would take a new chunk.
func (a *arena) needsChunk(n int) bool {
	c := classOf(n)
	return !(c < len(a.spare) && len(a.spare[c]) > 0 || len(a.chunks) > 0 && a.used+cellSizes[c] <= arenaChunk)
}

// wasteful reports whether alloc(n) would take a new chunk while the
// cells in use fill less than half of the arena, two chunks aside.
func (a *arena) wasteful(n int) bool {
	return a.needsChunk(n) && len(a.chunks)*arenaChunk > 2*a.live+2*arenaChunk
}

// full reports whether alloc(n) would need a chunk beyond those a cell can
// name.
func (a *arena) full(n int) bool {
	return a.needsChunk(n) && len(a.chunks) >= arenaChunkLimit
}

// alloc returns a cell of at least n bytes (n at most arenaChunk).
func (a *arena) alloc(n int) cell {
	c := classOf(n)
	a.live += cellSizes[c]
	if c < len(a.spare) {
		if list := a.spare[c]; len(list) > 0 {
			ref := list[len(list)-1]
			a.spare[c] = list[:len(list)-1]
			return ref
		}
	}
	size := cellSizes[c]
	if len(a.chunks) == 0 || a.used+size > arenaChunk {
		a.chunks = append(a.chunks, make([]byte, arenaChunk))
		a.used = 0
	}
	ref := cell((len(a.chunks)-1)<<cellShift | a.used/cellAlign)
	a.used += size
	return ref
}

// free returns the cell of n bytes that alloc gave.
func (a *arena) free(ref cell, n int) {
	c := classOf(n)
	a.live -= cellSizes[c]
	for len(a.spare) <= c {
		a.spare = append(a.spare, nil)
	}
	a.spare[c] = append(a.spare[c], ref)
}

// bytes is the cell's first n bytes.
func (a *arena) bytes(ref cell, n int) []byte {
	off := int(ref&(1<<cellShift-1)) * cellAlign
	return a.chunks[ref>>cellShift][off : off+n]
}
