package cache

import (
	"container/list"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// checkCache checks every shard's store, under its lock.
func checkCache(tb testing.TB, c *Cache) {
	tb.Helper()
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		checkStore(tb, sh.s)
		sh.mu.Unlock()
	}
}

// checkStore verifies the store's invariants: the list runs both ways over
// count entries, each entry is in the chain of its name's hash once, the
// chains hold nothing else and no key twice and are at most maxChain
// long, bytes is the sum of the sizes, and every slot ever taken is
// either in the list, free, or the head.
func checkStore(tb testing.TB, s *store) {
	tb.Helper()
	var fwd, back []uint32
	for i := s.at(0).next; i != 0; i = s.at(i).next {
		if fwd = append(fwd, i); len(fwd) > s.count {
			tb.Fatalf("list longer than count %d", s.count)
		}
	}
	for i := s.at(0).prev; i != 0; i = s.at(i).prev {
		if back = append(back, i); len(back) > s.count {
			tb.Fatalf("list longer backwards than count %d", s.count)
		}
	}
	slices.Reverse(back)
	if len(fwd) != s.count || !slices.Equal(fwd, back) {
		tb.Fatalf("list forwards %v, backwards reversed %v, count %d", fwd, back, s.count)
	}
	chained := map[uint32]bool{}
	for h, head := range s.index {
		keys := map[Key]bool{}
		n := 0
		for i := head; i != 0; i = s.at(i).sib {
			sl := s.at(i)
			k := Key{Name: string(s.arena.bytes(sl.ref, int(sl.nameLen))), Type: sl.typ, Class: sl.class}
			if sl.hash != h || keys[k] || chained[i] {
				tb.Fatalf("slot %d (%v, hash %#x) in the chain of %#x: another hash, or a key or slot met twice", i, k, sl.hash, h)
			}
			keys[k], chained[i] = true, true
			if n++; n > maxChain {
				tb.Fatalf("chain of %#x longer than %d", h, maxChain)
			}
		}
		if head == 0 {
			tb.Fatalf("empty chain of %#x indexed", h)
		}
	}
	if len(chained) != s.count {
		tb.Fatalf("chains hold %d entries, list %d", len(chained), s.count)
	}
	var bytes int64
	for _, i := range fwd {
		sl := s.at(i)
		name := string(s.arena.bytes(sl.ref, int(sl.nameLen)))
		if sl.hash != s.hash(name) {
			tb.Fatalf("slot %d (%q) keeps a hash not its name's", i, name)
		}
		if !chained[i] {
			tb.Fatalf("slot %d (%q) in no chain", i, name)
		}
		bytes += sl.size()
	}
	if bytes != s.bytes {
		tb.Fatalf("bytes = %d, entries sum to %d", s.bytes, bytes)
	}
	// Every arena cell is either one live entry's or spare, never both.
	owner := map[cell]uint32{}
	live := 0
	for _, i := range fwd {
		live += cellSizes[classOf(int(s.at(i).dataLen))]
		ref := s.at(i).ref
		if j, dup := owner[ref]; dup {
			tb.Fatalf("slots %d and %d share cell %#x", j, i, ref)
		}
		owner[ref] = i
	}
	if live != s.arena.live {
		tb.Fatalf("arena counts %d bytes of cells in use, entries hold %d", s.arena.live, live)
	}
	for c, list := range s.arena.spare {
		for _, ref := range list {
			if j, live := owner[ref]; live {
				tb.Fatalf("cell %#x of slot %d is also spare in class %d", ref, j, c)
			}
		}
	}
	free := 0
	for i := s.free; i != 0; i = s.at(i).next {
		if s.at(i).dataLen != 0 {
			tb.Fatalf("free slot %d keeps its data", i)
		}
		if free++; free > slotsTaken(s) {
			tb.Fatal("free list loops")
		}
	}
	if n := slotsTaken(s); 1+s.count+free != n {
		tb.Fatalf("%d slots taken: head, %d entries and %d free do not add up", n, s.count, free)
	}
}

func slotsTaken(s *store) int {
	return (len(s.chunks)-1)*chunkSize + len(s.chunks[len(s.chunks)-1])
}

// putEntry is put with the hash of e's name.
func (s *store) putEntry(e entry, now int64) bool { return s.put(s.hash(e.name()), e, now) }

// testEntry is an entry whose data is its name and then tag.
func testEntry(name string, typ uint16, tag string, expires int64, rank Rank) entry {
	return entry{data: name + tag, nameLen: uint16(len(name)), typ: typ, class: dns.ClassINET, expires: expires, rank: rank}
}

func TestEvictionOrder(t *testing.T) {
	c := New(Config{MaxEntries: 3})
	put := func(name string) {
		t.Helper()
		if !c.Put(mustRRs(t, name+" 300 IN A 192.0.2.1"), RankAuthAnswer) {
			t.Fatalf("Put %s refused", name)
		}
	}
	names := func() []string {
		var out []string
		for _, k := range c.Keys() {
			out = append(out, k.Name)
		}
		return out
	}
	put("a.")
	put("b.")
	put("c.")
	if got, want := names(), []string{"a.", "b.", "c."}; !slices.Equal(got, want) {
		t.Fatalf("Keys = %v, want %v (oldest first)", got, want)
	}
	if _, ok := c.Get("a.", dns.TypeA, dns.ClassINET); !ok {
		t.Fatal("a. missing")
	}
	put("d.") // evicts b., the least recently used since a. was read
	if got, want := names(), []string{"c.", "a.", "d."}; !slices.Equal(got, want) {
		t.Errorf("after Get a. and Put d.: Keys = %v, want %v", got, want)
	}
	put("c.") // a rewrite is a use
	put("e.")
	if got, want := names(), []string{"d.", "c.", "e."}; !slices.Equal(got, want) {
		t.Errorf("after Put c. and Put e.: Keys = %v, want %v", got, want)
	}
	c.Remove(Key{Name: "c.", Type: dns.TypeA, Class: dns.ClassINET})
	put("f.")
	if got, want := names(), []string{"d.", "e.", "f."}; !slices.Equal(got, want) || c.Len() != 3 {
		t.Errorf("after Remove c. and Put f.: Keys = %v, Len %d; want %v", got, c.Len(), want)
	}
	checkCache(t, c)
}

// TestExpiredNotPromoted: reading an expired entry does not make it recent.
func TestExpiredNotPromoted(t *testing.T) {
	clk := newClock()
	c := New(Config{Now: clk.Now, MaxEntries: 2})
	c.Put(mustRRs(t, "old. 10 IN A 192.0.2.1"), RankAuthAnswer)
	c.Put(mustRRs(t, "new. 300 IN A 192.0.2.1"), RankAuthAnswer)
	clk.Advance(20 * time.Second)
	if _, ok := c.Get("old.", dns.TypeA, dns.ClassINET); ok {
		t.Fatal("expired entry served")
	}
	c.Put(mustRRs(t, "newer. 300 IN A 192.0.2.1"), RankAuthAnswer)
	if _, ok := c.Get("new.", dns.TypeA, dns.ClassINET); !ok {
		t.Error("a live entry was evicted before an expired, older one")
	}
}

// TestSlotReuse: churn at a fixed bound reuses slots; neither the slot
// arrays nor the index grow.
func TestSlotReuse(t *testing.T) {
	const maxEntries = 1000
	s := newStore(maxEntries, DefaultMaxBytes, nil)
	for i := range 200_000 {
		if !s.putEntry(testEntry(fmt.Sprintf("n%d.example.", i), dns.TypeA, "x", 1, RankAnswer), 0) {
			t.Fatalf("put %d refused", i)
		}
	}
	if n := slotsTaken(s); n > maxEntries+1 || len(s.chunks) != 1 || cap(s.chunks[0]) > maxEntries+1 {
		t.Errorf("%d slots in %d chunks (first of capacity %d) for %d entries", n, len(s.chunks), cap(s.chunks[0]), maxEntries)
	}
	if len(s.index) > maxEntries || s.count != maxEntries {
		t.Errorf("index %d, count %d; want %d", len(s.index), s.count, maxEntries)
	}
	checkStore(t, s)

	// A larger bound takes whole chunks, and reuses them too.
	s = newStore(3*chunkSize, DefaultMaxBytes, nil)
	for i := range 20 * chunkSize {
		s.putEntry(testEntry(fmt.Sprintf("n%d.example.", i), dns.TypeA, "x", 1, RankAnswer), 0)
	}
	if n := slotsTaken(s); n > 3*chunkSize+1 || len(s.chunks) != 4 {
		t.Errorf("%d slots in %d chunks for %d entries", n, len(s.chunks), 3*chunkSize)
	}
	for i, ch := range s.chunks {
		if cap(ch) != chunkSize {
			t.Errorf("chunk %d has capacity %d, want %d", i, cap(ch), chunkSize)
		}
	}
	checkStore(t, s)
}

// collidingCache returns a cache of one shard whose every key has the
// same hash.
func collidingCache(cfg Config) *Cache {
	c := New(cfg)
	c.hash = func(string) uint64 { return 42 }
	c.shards = []shard{{s: newStore(c.cfg.MaxEntries, c.cfg.MaxBytes, c.hash)}}
	c.shards[0].s.types = &c.types
	return c
}

// TestCollisionsNeverMixKeys: with every key hashing alike, each key is
// answered with its own data or not at all.
func TestCollisionsNeverMixKeys(t *testing.T) {
	c := collidingCache(Config{})
	in := uint16(dns.ClassINET)
	c.Put(mustRRs(t, "a.example. 300 IN A 192.0.2.1"), RankAuthAnswer)
	for _, q := range []struct {
		name        string
		qtype, clas uint16
	}{
		{"b.example.", dns.TypeA, in}, {"a.example.", dns.TypeAAAA, in},
		{"a.example.", dns.TypeA, dns.ClassCHAOS}, {"a.example.", dns.TypeNone, in},
		{"a.example.x.", dns.TypeA, in}, {"", dns.TypeA, in},
	} {
		if e, ok := c.Get(q.name, q.qtype, q.clas); ok {
			t.Errorf("Get(%q, %d, %d) answered with a.example. A: %+v", q.name, q.qtype, q.clas, e)
		}
	}
	if e, ok := c.Get("A.example.", dns.TypeA, in); !ok || e.RRs[0].(*dns.A).A.String() != "192.0.2.1" {
		t.Fatalf("own key: %+v, %v", e, ok)
	}

	// A colliding write leaves the other key's entry alone, whatever its
	// rank: both are in the chain of their hash.
	if !c.Put(mustRRs(t, "b.example. 300 IN A 203.0.113.1"), RankGlue) {
		t.Fatal("colliding Put refused")
	}
	if e, ok := c.Get("a.example.", dns.TypeA, in); !ok || e.RRs[0].(*dns.A).A.String() != "192.0.2.1" {
		t.Errorf("a.example. after a colliding write: %+v, %v", e, ok)
	}
	if e, ok := c.Get("b.example.", dns.TypeA, in); !ok || e.RRs[0].Header().Name != "b.example." || e.RRs[0].(*dns.A).A.String() != "203.0.113.1" {
		t.Errorf("b.example.: %+v, %v", e, ok)
	}
	c.Remove(Key{Name: "b.example.", Type: dns.TypeA, Class: in})

	// Removing, or clearing the NXDOMAIN of, another key leaves it alone.
	c.Remove(Key{Name: "a.example.", Type: dns.TypeA, Class: in})
	c.Put(mustRRs(t, "c.example. 300 IN TXT \"c\""), RankAuthAnswer) // clears c.example.'s NXDOMAIN, if any
	if _, ok := c.Get("c.example.", dns.TypeTXT, in); !ok || c.Len() != 1 {
		t.Errorf("c.example. TXT missing after a Put that also removed its (absent) NXDOMAIN; Len %d", c.Len())
	}
	c.Remove(Key{Name: "c.example.", Type: dns.TypeNone, Class: in})
	c.Remove(Key{Name: "c.example.", Type: dns.TypeA, Class: in})
	if c.Len() != 1 {
		t.Error("Remove of another key dropped c.example. TXT")
	}

	// A negative entry at the same hash answers only its own name.
	c.PutNegative("nx.example.", dns.TypeA, in, NXDomain, soa(t, 300, 300), RankAuthAuthority)
	if e, ok := c.Get("c.example.", dns.TypeMX, in); ok {
		t.Errorf("c.example. MX answered by the NXDOMAIN of nx.example.: %+v", e)
	}
	if e, ok := c.Get("c.example.", dns.TypeTXT, in); !ok || e.Negative != Positive {
		t.Errorf("c.example. TXT beside the NXDOMAIN of nx.example.: %+v, %v", e, ok)
	}
	if e, ok := c.Get("nx.example.", dns.TypeMX, in); !ok || e.Negative != NXDomain {
		t.Errorf("nx.example.: %+v, %v", e, ok)
	}
	c.Remove(Key{Name: "c.example.", Type: dns.TypeNone, Class: in})
	if c.Len() != 2 {
		t.Error("Remove of c.example.'s NXDOMAIN dropped nx.example.'s")
	}
	checkCache(t, c)
}

// TestCollisionsConcurrent: writers and readers of colliding keys, under
// -race; every answer must be the queried key's own.
func TestCollisionsConcurrent(t *testing.T) {
	c := collidingCache(Config{MaxEntries: 4})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 300 {
				n := (g + i) % 6
				name := fmt.Sprintf("n%d.example.", n)
				c.Put(mustRRs(t, fmt.Sprintf("%s 300 IN A 192.0.2.%d", name, n)), RankAuthAnswer)
				for m := range 6 {
					q := fmt.Sprintf("N%d.example.", m)
					e, ok := c.Get(q, dns.TypeA, dns.ClassINET)
					if !ok {
						continue
					}
					want := fmt.Sprintf("n%d.example.\t300\tIN\tA\t192.0.2.%d", m, m)
					if len(e.RRs) == 1 {
						e.RRs[0].Header().Ttl = 300
					}
					if len(e.RRs) != 1 || e.RRs[0].String() != want {
						t.Errorf("Get(%s) = %v, want %s", q, e.RRs, want)
					}
				}
			}
		})
	}
	wg.Wait()
	checkCache(t, c)
}

// TestBytesBound: the estimate never exceeds MaxBytes, one entry aside,
// and counts each entry once, through rewrites, removals and evictions.
func TestBytesBound(t *testing.T) {
	for _, maxBytes := range []int64{1, 200, 1000, 5000} {
		t.Run(fmt.Sprint(maxBytes), func(t *testing.T) {
			c := New(Config{MaxBytes: maxBytes})
			for i := range 300 {
				name := fmt.Sprintf("n%d.example.com.", i%37)
				switch i % 5 {
				case 0, 1, 2:
					c.Put(mustRRs(t, name+" 300 IN TXT \""+strings.Repeat("x", i%50)+"\""), RankAuthAnswer)
				case 3:
					c.PutNegative(name, dns.TypeA, dns.ClassINET, NXDomain, soa(t, 300, 300), RankAuthAuthority)
				case 4:
					c.Remove(Key{Name: name, Type: dns.TypeTXT, Class: dns.ClassINET})
				}
				if b := c.Bytes(); b > maxBytes && c.Len() > 1 {
					t.Fatalf("step %d: Bytes = %d over %d with %d entries", i, b, maxBytes, c.Len())
				}
				checkCache(t, c)
			}
		})
	}
}

// modelEntry is an entry of the reference model.
type modelEntry struct {
	name     string
	typ      uint16
	data     string
	expires  int64
	rank     Rank
	security Security
}

// model is the store's specification: a map and a list. (Its chains are
// never full: a store of at most maxChain entries.)
type model struct {
	ll         *list.List // of *modelEntry, most recent first
	maxEntries int
	maxBytes   int64
}

func (m *model) size(e *modelEntry) int64 { return entryOverhead + int64(len(e.data)) }

func (m *model) bytes() (n int64) {
	for el := m.ll.Front(); el != nil; el = el.Next() {
		n += m.size(el.Value.(*modelEntry))
	}
	return n
}

func (m *model) find(name string, typ uint16) *list.Element {
	for el := m.ll.Front(); el != nil; el = el.Next() {
		if e := el.Value.(*modelEntry); e.name == name && e.typ == typ {
			return el
		}
	}
	return nil
}

func (m *model) put(e *modelEntry, now int64) bool {
	if el := m.find(e.name, e.typ); el != nil {
		if now < el.Value.(*modelEntry).expires && refuses(e, el.Value.(*modelEntry)) {
			return false
		}
		m.ll.Remove(el)
	}
	m.ll.PushFront(e)
	for m.ll.Len() > m.maxEntries || (m.bytes() > m.maxBytes && m.ll.Len() > 1) {
		m.ll.Remove(m.ll.Back())
	}
	return true
}

// refuses is the specification of the replacement rules for a live entry.
func refuses(e, old *modelEntry) bool {
	switch {
	case old.security == Secure:
		return e.security != Secure || e.rank < old.rank
	case e.security == Bogus:
		return old.security != Bogus || e.rank < old.rank
	case e.security == Secure:
		return false // validated data beats any rank of data that is not
	}
	return e.rank < old.rank
}

func (m *model) get(name string, typ uint16, now int64) (*modelEntry, bool) {
	el := m.find(name, typ)
	if el == nil || now >= el.Value.(*modelEntry).expires {
		return nil, false
	}
	m.ll.MoveToFront(el)
	return el.Value.(*modelEntry), true
}

// FuzzStore drives the store and the model with the same operations, on
// few names and a hash of few bits so that collisions are common, and
// compares every answer, the order of the keys and the byte count.
func FuzzStore(f *testing.F) {
	f.Add([]byte{3, 4, 0x00, 0x11, 0x22, 0x41, 0x10, 0x53, 0x62, 0x00, 0x70})
	f.Add([]byte{1, 0, 0x00, 0x41, 0x01, 0x41})
	f.Add([]byte{8, 255, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x40, 0x41, 0x42, 0x43, 0x13, 0x37, 0x60, 0x42, 0x35})
	f.Add([]byte{5, 1, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29})
	names := []string{".", "a.", "b.", "a.b.", "longer-name.example.", "x."}
	types := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeNone}
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) < 2 {
			return
		}
		ops = ops[:min(len(ops), 300)]      // long enough to fill and churn; fast to minimise
		hashBits := uint64(ops[0] >> 4 & 3) // 0: every key collides
		h := func(name string) uint64 {
			f := fnv.New64a()
			f.Write([]byte(name))
			return f.Sum64() & (1<<hashBits - 1)
		}
		maxEntries := 1 + int(ops[0]&7) // at most maxChain: the chains never fill
		maxBytes := entryOverhead + int64(ops[1])*2
		s := newStore(maxEntries, maxBytes, h)
		m := &model{ll: list.New(), maxEntries: maxEntries, maxBytes: maxBytes}
		var now int64
		for step, op := range ops[2:] {
			name, typ := names[int(op>>2&7)%len(names)], types[int(op>>5)%len(types)]
			switch op & 3 {
			case 0, 1: // put, with a tag of its own and a rank and TTL from the step
				tag := fmt.Sprintf("#%d%s", step, strings.Repeat("z", step%7))
				rank, sec := Rank(1+step%5), Security(step/5%5)
				e := &modelEntry{name: name, typ: typ, data: name + tag, expires: now + int64(1+step%4), rank: rank, security: sec}
				se := testEntry(name, typ, tag, e.expires, rank)
				se.security = sec
				got := s.put(h(name), se, now)
				if want := m.put(e, now); got != want {
					t.Fatalf("step %d: put(%s %d rank %d) = %v, model %v", step, name, typ, rank, got, want)
				}
			case 2: // get
				got, ok := s.get(h(name), name, typ, dns.ClassINET, now, 0)
				want, wok := m.get(name, typ, now)
				if ok != wok || ok && (got.data != want.data || got.name() != name || got.typ != typ || got.class != dns.ClassINET || got.expires != want.expires || got.rank != want.rank || got.security != want.security) {
					t.Fatalf("step %d: get(%s %d) = %q %v, model %+v %v", step, name, typ, got.data, ok, want, wok)
				}
			case 3:
				if op&0x80 != 0 {
					now++
					continue
				}
				s.remove(h(name), name, typ, dns.ClassINET)
				if el := m.find(name, typ); el != nil {
					m.ll.Remove(el)
				}
			}
			var want []Key
			for el := m.ll.Back(); el != nil; el = el.Prev() {
				e := el.Value.(*modelEntry)
				want = append(want, Key{Name: e.name, Type: e.typ, Class: dns.ClassINET})
			}
			if got := s.keys(); !slices.Equal(got, want) {
				t.Fatalf("step %d: keys %v, model %v", step, got, want)
			}
			if s.bytes != m.bytes() || s.count != m.ll.Len() {
				t.Fatalf("step %d: bytes %d count %d, model %d %d", step, s.bytes, s.count, m.bytes(), m.ll.Len())
			}
			checkStore(t, s)
		}
	})
}

// Churn of entries of one size at a fixed bound reuses cells: the arena
// stops growing once the bound is reached.
func TestArenaReusesCells(t *testing.T) {
	s := newStore(1000, 1<<40, nil)
	put := func(i int) {
		name := fmt.Sprintf("n%07d.example.", i)
		if !s.putEntry(testEntry(name, dns.TypeA, strings.Repeat("x", 40), 1<<62, RankAnswer), 0) {
			t.Fatalf("put %s refused", name)
		}
	}
	for i := range 1000 {
		put(i)
	}
	chunks := len(s.arena.chunks)
	for i := 1000; i < 200_000; i++ {
		put(i)
	}
	checkStore(t, s)
	if len(s.arena.chunks) != chunks {
		t.Errorf("arena grew from %d to %d chunks under churn at a fixed bound", chunks, len(s.arena.chunks))
	}
}

// The largest entry a Put can make fits a cell, and every class's cell
// fits in a chunk at any offset alloc gives.
func TestCellSizes(t *testing.T) {
	largest := MaxRRsetBytes + 2*255 + 2*MaxRRsetRecords
	if c := classOf(largest); c >= len(cellSizes) || cellSizes[c] < largest {
		t.Fatalf("no cell class for %d bytes", largest)
	}
	for i, n := range cellSizes {
		if n%cellAlign != 0 || n > arenaChunk || i > 0 && n <= cellSizes[i-1] {
			t.Fatalf("cell size %d at %d: not aligned, too large or out of order", n, i)
		}
	}
	var a arena
	for _, n := range []int{1, 16, 17, 255, 257, 1000, 5000, largest, 16, 1} {
		ref := a.alloc(n)
		b := a.bytes(ref, n)
		for j := range b {
			b[j] = 0xAB
		}
		if off := int(ref&(1<<cellShift-1)) * cellAlign; off+cellSizes[classOf(n)] > arenaChunk {
			t.Fatalf("cell of %d bytes at offset %d runs past the chunk", n, off)
		}
	}
}

// TestArenaBoundedAcrossSizes: spare cells of one class serve no other, so
// a cache refilled with entries of one size after another (a zone of
// RRsets of growing size, queried in turn) kept every class's cells: the
// arena grew to tens of times MaxBytes. It must stay within a small factor.
func TestArenaBoundedAcrossSizes(t *testing.T) {
	const maxBytes = 1 << 20
	s := newStore(1<<30, maxBytes, nil)
	var tags []string // by entry number
	for size := 16; size <= MaxRRsetBytes; size += size/8 + 16 {
		// Half the bound per size: entries of the sizes before stay, and
		// must keep their data through the arena's compactions.
		tag := strings.Repeat(string(rune('a'+len(tags)%26)), size)
		for range maxBytes / 2 / (size + entryOverhead) {
			name := fmt.Sprintf("n%07d.example.", len(tags))
			tags = append(tags, tag)
			if !s.putEntry(testEntry(name, dns.TypeTXT, tag, 1<<62, RankAnswer), 0) {
				t.Fatalf("put %s refused", name)
			}
		}
		checkStore(t, s)
		for _, k := range s.keys() {
			var i int
			fmt.Sscanf(k.Name, "n%07d.", &i)
			if e, ok := s.get(s.hash(k.Name), k.Name, k.Type, k.Class, 0, 0); !ok || e.data != k.Name+tags[i] {
				t.Fatalf("size %d: %s: %.40q..., %v", size, k.Name, e.data, ok)
			}
		}
	}
	if got := len(s.arena.chunks) * arenaChunk; got > 3*maxBytes {
		t.Errorf("arena holds %d KB for at most %d KB of entries", got>>10, maxBytes>>10)
	}
}

// A cell names its chunk in 20 bits: the store must refuse an entry rather
// than take a chunk no cell can name, which would wrap onto chunk 0 and
// overwrite live entries.
func TestArenaChunkLimit(t *testing.T) {
	if s := newStore(10, 1<<50, nil); s.maxBytes != maxStoreBytes {
		t.Errorf("maxBytes %d, want it capped at %d", s.maxBytes, maxStoreBytes)
	}
	defer func(n int) { arenaChunkLimit = n }(arenaChunkLimit)
	arenaChunkLimit = 3
	s := newStore(100_000, 1<<40, nil)
	data := strings.Repeat("x", 4000)
	stored := 0
	for i := range 100 {
		if s.putEntry(testEntry(fmt.Sprintf("n%03d.example.", i), dns.TypeTXT, data, 1<<62, RankAnswer), 0) {
			stored++
		}
	}
	if len(s.arena.chunks) > arenaChunkLimit {
		t.Fatalf("arena has %d chunks, limit %d", len(s.arena.chunks), arenaChunkLimit)
	}
	if stored == 0 || stored == 100 {
		t.Fatalf("%d of 100 entries stored; want the limit to stop some", stored)
	}
	checkStore(t, s)
	for i := range stored {
		name := fmt.Sprintf("n%03d.example.", i)
		if e, ok := s.get(s.hash(name), name, dns.TypeTXT, dns.ClassINET, 0, 0); !ok || !strings.HasSuffix(e.data, data) {
			t.Fatalf("%s: lost or changed after the arena filled", name)
		}
	}
}

// TestChainBound: a name of ever more types keeps its newest maxChain
// entries, and other names theirs.
func TestChainBound(t *testing.T) {
	s := newStore(1000, 1<<40, nil)
	s.putEntry(testEntry("other.example.", dns.TypeA, "x", 1<<62, RankAnswer), 0)
	const n = maxChain + 8
	for typ := uint16(1); typ <= n; typ++ {
		if !s.putEntry(testEntry("many.example.", typ, "x", 1<<62, RankAnswer), 0) {
			t.Fatalf("type %d refused", typ)
		}
		checkStore(t, s)
	}
	for typ := uint16(1); typ <= n; typ++ {
		_, ok := s.get(s.hash("many.example."), "many.example.", typ, dns.ClassINET, 0, 0)
		if want := typ > n-maxChain; ok != want {
			t.Errorf("type %d cached %v, want %v", typ, ok, want)
		}
	}
	if _, ok := s.get(s.hash("other.example."), "other.example.", dns.TypeA, dns.ClassINET, 0, 0); !ok || s.count != maxChain+1 {
		t.Errorf("other.example. A cached %v, %d entries", ok, s.count)
	}
}
