package cache

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

func TestShardCount(t *testing.T) {
	perCore := 1
	for perCore < 4*runtime.GOMAXPROCS(0) && perCore < maxShards {
		perCore *= 2
	}
	tests := []struct {
		name       string
		maxEntries int
		maxBytes   int64
		want       int
	}{
		{"small cache: one LRU", 1000, DefaultMaxBytes, 1},
		{"defaults", DefaultMaxEntries, DefaultMaxBytes, min(perCore, 64)},
		{"large", 1 << 24, 1 << 34, perCore},
		{"few bytes", 1 << 24, 2 << 20, min(perCore, 2)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := shardCount(tc.maxEntries, tc.maxBytes); got != tc.want {
				t.Errorf("shardCount(%d, %d) = %d, want %d", tc.maxEntries, tc.maxBytes, got, tc.want)
			}
		})
	}
}

// A cache of several shards keeps the bounds of the whole, answers every
// key from the shard it was stored in, and its operations over every
// entry (Keys, Dump and Load, RemoveFunc) see all the shards.
func TestShardedCache(t *testing.T) {
	clk := newClock()
	const maxEntries = 4 * minShardEntries
	c := New(Config{MaxEntries: maxEntries, Now: clk.Now})
	if len(c.shards) < 2 {
		t.Skipf("%d shard with GOMAXPROCS %d", len(c.shards), runtime.GOMAXPROCS(0))
	}
	name := func(i int) string { return fmt.Sprintf("n%d.example.", i) }
	for i := range 2 * maxEntries {
		if !c.Put(mustRRs(t, name(i)+" 300 IN A 192.0.2.1"), RankAuthAnswer) {
			t.Fatalf("Put %d refused", i)
		}
	}
	if n := c.Len(); n > maxEntries || n < maxEntries*3/4 {
		t.Errorf("Len = %d after %d Puts, want at most %d and near it", n, 2*maxEntries, maxEntries)
	}
	checkCache(t, c)
	used := 0
	for i := range c.shards {
		if c.shards[i].s.count > 0 {
			used++
		}
	}
	if used != len(c.shards) {
		t.Errorf("%d of %d shards hold entries", used, len(c.shards))
	}
	// The latest entries are each in the LRU list of its shard.
	for i := 2*maxEntries - 100; i < 2*maxEntries; i++ {
		if _, ok := c.Get(name(i), dns.TypeA, dns.ClassINET); !ok {
			t.Errorf("Get(%s) missed", name(i))
		}
	}
	if keys := c.Keys(); len(keys) != c.Len() {
		t.Errorf("Keys: %d, Len %d", len(keys), c.Len())
	}

	var file bytes.Buffer
	if err := c.Dump(&file); err != nil {
		t.Fatal(err)
	}
	// Another cache hashes names to other shards, where a full cache's
	// entries fill some shards past their bound: a few give way.
	loaded := New(Config{MaxEntries: maxEntries, Now: clk.Now})
	if n, err := loaded.Load(&file); err != nil || n != c.Len() || loaded.Len() < c.Len()*9/10 {
		t.Errorf("Load = %d, %v; Len %d; want %d stored and most kept", n, err, loaded.Len(), c.Len())
	}
	checkCache(t, loaded)
	kept := loaded.Len()
	if n := loaded.RemoveFunc(func(Meta) bool { return true }); n != kept || loaded.Len() != 0 || loaded.Bytes() != 0 {
		t.Errorf("RemoveFunc dropped %d of %d; Len %d, Bytes %d left", n, kept, loaded.Len(), loaded.Bytes())
	}
}

// Gets and Puts on every shard from many goroutines (run with -race).
func TestShardedConcurrentUse(t *testing.T) {
	c := New(Config{MaxEntries: 4 * minShardEntries})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				n := fmt.Sprintf("n%d.example.", (i*7+g)%3000)
				if i%3 == 0 {
					c.PutNegative(n, dns.TypeAAAA, dns.ClassINET, NXDomain, nil, RankAuthAuthority)
				} else {
					c.Put(mustRRs(t, n+" 300 IN A 192.0.2.1"), RankAuthAnswer)
				}
				c.Get(n, dns.TypeA, dns.ClassINET)
			}
		})
	}
	wg.Wait()
	checkCache(t, c)
}
