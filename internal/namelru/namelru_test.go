package namelru

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

func get(m *Map, name string) (string, bool) {
	v, ok := m.Get(name, nil)
	return string(v), ok
}

func TestAddGetReplaceRemove(t *testing.T) {
	m := New(10)
	if _, ok := get(m, "a.example."); ok {
		t.Fatal("empty map has a.example.")
	}
	m.Add("a.example.", []byte("one"))
	m.Add("b.example.", nil)
	if v, ok := get(m, "a.example."); !ok || v != "one" {
		t.Fatalf("a.example. = %q %v, want one", v, ok)
	}
	if v, ok := get(m, "b.example."); !ok || v != "" {
		t.Fatalf("b.example. = %q %v, want an empty value", v, ok)
	}
	m.Add("a.example.", []byte("two"))
	if v, _ := get(m, "a.example."); v != "two" || m.Len() != 2 {
		t.Fatalf("after replace: %q, %d entries; want two, 2", v, m.Len())
	}
	if !m.Remove("a.example.") || m.Remove("a.example.") {
		t.Fatal("Remove: want true once, then false")
	}
	if _, ok := get(m, "a.example."); ok || m.Len() != 1 {
		t.Fatalf("a.example. still there, or %d entries", m.Len())
	}
	dst := []byte("keep:")
	if got, ok := m.Peek("b.example.", dst); !ok || string(got) != "keep:" {
		t.Fatalf("Peek appended to dst: %q", got)
	}
	if got, ok := m.Get("nothing.", dst); ok || string(got) != "keep:" {
		t.Fatalf("a miss changed dst: %q", got)
	}
}

func TestEvictsLeastRecentlyUsed(t *testing.T) {
	m := New(3)
	for _, n := range []string{"a.", "b.", "c."} {
		m.Add(n, []byte(n))
	}
	m.Get("a.", nil)  // a is now the most recent
	m.Peek("b.", nil) // Peek does not promote b
	m.Add("d.", []byte("d."))
	if _, ok := get(m, "b."); ok {
		t.Error("b. survived; it was the least recently used")
	}
	for _, n := range []string{"a.", "c.", "d."} {
		if v, ok := get(m, n); !ok || v != n {
			t.Errorf("%s = %q %v", n, v, ok)
		}
	}
	if m.Len() != 3 {
		t.Errorf("Len = %d, want 3", m.Len())
	}
}

// TestCollidingHashes: names of one hash share a chain, and each keeps its
// own value through adds, removals and evictions.
func TestCollidingHashes(t *testing.T) {
	m := New(4)
	m.hash = func(string) uint64 { return 7 }
	for _, n := range []string{"a.", "b.", "c.", "d."} {
		m.Add(n, []byte("v"+n))
	}
	m.Remove("c.")
	m.Add("e.", []byte("ve."))
	m.Add("f.", []byte("vf.")) // evicts a., the chain's tail
	for n, want := range map[string]bool{"a.": false, "b.": true, "c.": false, "d.": true, "e.": true, "f.": true} {
		v, ok := get(m, n)
		if ok != want || (ok && v != "v"+n) {
			t.Errorf("%s = %q %v, want present %v", n, v, ok, want)
		}
	}
	if len(m.index) != 1 {
		t.Errorf("index has %d hashes, want 1", len(m.index))
	}
}

func TestRemoveIf(t *testing.T) {
	m := New(100)
	for _, n := range []string{"example.", "a.example.", "b.a.example.", "example.net.", "xexample."} {
		m.Add(n, []byte(n))
	}
	if n := m.RemoveIf(func(name string) bool { return strings.HasSuffix(name, "example.") && name != "xexample." }); n != 3 {
		t.Fatalf("removed %d, want 3", n)
	}
	for n, want := range map[string]bool{"example.": false, "a.example.": false, "b.a.example.": false, "example.net.": true, "xexample.": true} {
		if _, ok := get(m, n); ok != want {
			t.Errorf("%s present %v, want %v", n, ok, want)
		}
	}
}

func TestRefusesTooLong(t *testing.T) {
	m := New(10)
	if m.Add(strings.Repeat("a", MaxLen+1), nil) || m.Add("a.", make([]byte, MaxLen+1)) {
		t.Fatal("Add stored an over-long name or value")
	}
	if m.Len() != 0 {
		t.Fatalf("Len = %d", m.Len())
	}
	if !m.Add("a.", make([]byte, MaxLen)) {
		t.Fatal("a value of MaxLen was refused")
	}
}

// TestChurnKeepsArenaBounded: entries replaced over and over at a fixed
// bound do not grow the arena without end, and values stay right after
// each compaction.
func TestChurnKeepsArenaBounded(t *testing.T) {
	m := New(100)
	for i := range 100_000 {
		n := fmt.Sprintf("n%d.example.", i%150)
		m.Add(n, []byte(fmt.Sprint(i)))
		if v, ok := get(m, n); !ok || v != fmt.Sprint(i) {
			t.Fatalf("step %d: %s = %q %v", i, n, v, ok)
		}
	}
	if m.Len() != 100 {
		t.Fatalf("Len = %d, want 100", m.Len())
	}
	// 100 live entries of at most 20 bytes, plus at most as much waste
	// and append's slack.
	if c := cap(m.arena); c > 64<<10 {
		t.Errorf("arena holds %d bytes for 100 entries", c)
	}
	if len(m.slots) > 101 {
		t.Errorf("%d slots for 100 entries", len(m.slots))
	}
	m.Purge()
	if m.Len() != 0 {
		t.Fatal("Purge left entries")
	}
	if _, ok := get(m, "n1.example."); ok {
		t.Fatal("Purge left n1.example.")
	}
}

// TestSlotHoldsNoPointer: the point of the package. A field that holds a
// pointer would make the collector scan every slot.
func TestSlotHoldsNoPointer(t *testing.T) {
	typ := reflect.TypeFor[slot]()
	for i := range typ.NumField() {
		switch f := typ.Field(i); f.Type.Kind() {
		case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		default:
			t.Errorf("slot.%s is a %s", f.Name, f.Type)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	m := New(50)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				n := fmt.Sprintf("n%d.", (i*7+g)%80)
				m.Add(n, []byte(n))
				if v, ok := m.Get(n, nil); ok && string(v) != n {
					t.Errorf("%s = %q", n, v)
				}
				if i%500 == 0 {
					m.RemoveIf(func(name string) bool { return strings.HasPrefix(name, "n1") })
				}
			}
		})
	}
	wg.Wait()
	if m.Len() > 50 {
		t.Fatalf("Len = %d over the bound", m.Len())
	}
}

// BenchmarkGCWithEntries times a forced collection with 10,000 entries of
// parent glue held (the resolver's InfraCacheHosts), here and in
// golang-lru's map.
func BenchmarkGCWithEntries(b *testing.B) {
	const n = 10_000
	name := func(i int) string { return fmt.Sprintf("ns%d.zone%d.example.", i%2, i) }
	b.Run("namelru", func(b *testing.B) {
		m := New(n)
		for i := range n {
			m.Add(name(i), make([]byte, 17))
		}
		benchGC(b)
		runtime.KeepAlive(m)
	})
	b.Run("golang-lru", func(b *testing.B) {
		m, _ := lru.New[string, []byte](n)
		for i := range n {
			m.Add(name(i), make([]byte, 17))
		}
		benchGC(b)
		runtime.KeepAlive(m)
	})
}

func benchGC(b *testing.B) {
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		runtime.GC()
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/gc")
}

func BenchmarkGet(b *testing.B) {
	m := New(10_000)
	for i := range 10_000 {
		m.Add(fmt.Sprintf("ns%d.example.", i), make([]byte, 17))
	}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		m.Get("ns5000.example.", buf[:0])
	}
}

func BenchmarkAdd(b *testing.B) {
	m := New(10_000)
	names := make([]string, 20_000)
	for i := range names {
		names[i] = fmt.Sprintf("ns%d.example.", i)
	}
	val := make([]byte, 17)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.Add(names[i%len(names)], val)
		i++
	}
}
