package cache

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/internal/cputime"
)

// BenchmarkPut stores RRsets of distinct names into a full cache, so every
// Put also evicts the oldest entry.
func BenchmarkPut(b *testing.B) {
	const domains = 4000
	var sets [][]dns.RR
	for i := range domains {
		sets = append(sets, domainRRsets(b, i)...)
	}
	c := New(Config{MaxEntries: len(sets) / 2})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.Put(sets[i%len(sets)], RankAuthAnswer)
		i++
	}
}

// filledForGets returns a cache of 10,000 RRsets (2,000 domains) and
// their keys.
func filledForGets(b *testing.B) (*Cache, []Key) {
	const domains = 2000
	c := New(Config{})
	var keys []Key
	for i := range domains {
		for _, rrs := range domainRRsets(b, i) {
			c.Put(rrs, RankAuthAnswer)
			h := rrs[0].Header()
			keys = append(keys, Key{Name: h.Name, Type: h.Rrtype, Class: h.Class})
		}
	}
	return c, keys
}

// BenchmarkGet answers from a cache of 10,000 RRsets, each Get a hit.
func BenchmarkGet(b *testing.B) {
	c, keys := filledForGets(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := keys[i%len(keys)]
		if _, ok := c.Get(k.Name, k.Type, k.Class); !ok {
			b.Fatalf("miss on %v", k)
		}
		i++
	}
}

// BenchmarkGetSigned answers from a cache of 10,000 RRsets, each with one
// RRSIG, each Get a hit: what a DO client's hit costs the cache.
func BenchmarkGetSigned(b *testing.B) {
	const domains = 2000
	c := New(Config{})
	var keys []Key
	for i := range domains {
		for _, s := range signedSets(b, i) {
			if !c.PutSet(s) {
				b.Fatal("PutSet refused")
			}
			h := s.RRs[0].Header()
			keys = append(keys, Key{Name: h.Name, Type: h.Rrtype, Class: h.Class})
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := keys[i%len(keys)]
		if e, ok := c.Get(k.Name, k.Type, k.Class); !ok || len(e.Sigs) != 1 {
			b.Fatalf("miss on %v", k)
		}
		i++
	}
}

// BenchmarkGCFullCache reports how long a full garbage collection takes
// with 100,000 RRsets cached: the cost of scanning the cache's pointers.
func BenchmarkGCFullCache(b *testing.B) {
	const domains = 20_000
	c := New(Config{MaxEntries: 1 << 20})
	for i := range domains {
		for _, rrs := range domainRRsets(b, i) {
			c.Put(rrs, RankAuthAnswer)
		}
	}
	runtime.GC()
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		runtime.GC()
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/gc")
	runtime.KeepAlive(c)
}

// BenchmarkGetParallel is BenchmarkGet from every core at once
// (-cpu 1,2,4,8): ns/op that does not fall, or cpu-ns/op (the process's
// CPU time per Get, steadier on a shared machine) that rises, with the
// cores is contention on what every hit shares with every other core.
func BenchmarkGetParallel(b *testing.B) {
	c, keys := filledForGets(b)
	var next atomic.Int64
	b.ReportAllocs()
	cpu := cputime.Process()
	defer func() { b.ReportMetric(float64(cputime.Process()-cpu)/float64(b.N), "cpu-ns/op") }()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(7919)) // each goroutine starts elsewhere
		for pb.Next() {
			k := keys[i%len(keys)]
			if _, ok := c.Get(k.Name, k.Type, k.Class); !ok {
				b.Errorf("miss on %v", k)
				return
			}
			i++
		}
	})
}

// BenchmarkColdName is what a cold resolution asks of a cache of 500,000
// RRsets (100,000 domains) for a never-seen domain, as BenchmarkResolveCold
// does: the A, CNAME and NS of www, the NS of the domain (misses, each
// also probing the name's NXDOMAIN), then the referral's glue and NS set
// and the answer stored. Its figures are mostly the index's cache misses.
func BenchmarkColdName(b *testing.B) {
	const domains = 100_000
	c := New(Config{MaxEntries: 1 << 22})
	var sets [][][]dns.RR
	for i := range 2 * domains {
		sets = append(sets, domainRRsets(b, i))
	}
	for _, d := range sets[:domains] {
		for _, rrs := range d {
			c.Put(rrs, RankAuthAnswer)
		}
	}
	b.ReportAllocs()
	i := domains
	for b.Loop() {
		d := sets[i%len(sets)]
		www, zone := d[3][0].Header().Name, d[0][0].Header().Name
		c.Get(www, dns.TypeA, dns.ClassINET)
		c.Get(www, dns.TypeCNAME, dns.ClassINET)
		c.Get(www, dns.TypeNS, dns.ClassINET)
		c.Get(zone, dns.TypeNS, dns.ClassINET)
		c.Put(d[1], RankGlue)
		c.Put(d[2], RankGlue)
		c.Put(d[0], RankReferral)
		c.Put(d[3], RankAuthAnswer)
		i++
	}
}
