package cache

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// domainRRsets is what resolving www.<domain> A and AAAA leaves in the
// cache, as in make bench: the NS set, the addresses of both servers and
// the two answers.
func domainRRsets(tb testing.TB, i int) [][]dns.RR {
	d := fmt.Sprintf("d%06d.com.", i)
	return [][]dns.RR{
		mustRRs(tb, d+" 86400 IN NS ns1."+d, d+" 86400 IN NS ns2."+d),
		mustRRs(tb, "ns1."+d+" 86400 IN A 127.53.2.1"),
		mustRRs(tb, "ns2."+d+" 86400 IN A 127.53.2.2"),
		mustRRs(tb, "www."+d+" 3600 IN A 192.0.2.1"),
		mustRRs(tb, "www."+d+" 3600 IN AAAA 2001:db8::1"),
	}
}

// signedSets is domainRRsets(i), each RRset with one ECDSA P-256 RRSIG
// (algorithm 13, a 64-byte signature) and Secure.
func signedSets(tb testing.TB, i int) []Set {
	var out []Set
	for _, rrs := range domainRRsets(tb, i) {
		h := rrs[0].Header()
		sig := fmt.Sprintf("%s %d IN RRSIG %s 13 %d %d 20260201000000 20251201000000 12345 d%06d.com. %s",
			h.Name, h.Ttl, dns.TypeToString[h.Rrtype], dns.CountLabel(h.Name), h.Ttl, i, strings.Repeat("QUJD", 22)[:86]+"==")
		out = append(out, Set{RRs: rrs, Sigs: mustRRs(tb, sig), Rank: RankAuthAnswer, Security: Secure})
	}
	return out
}

// BenchmarkMemoryPerSignedRRset reports the heap one cached RRset with one
// ECDSA signature takes.
func BenchmarkMemoryPerSignedRRset(b *testing.B) {
	const domains = 20_000
	sets := make([][]Set, domains)
	for i := range sets {
		sets[i] = signedSets(b, i)
	}
	b.ReportAllocs()
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		c := New(Config{MaxEntries: 1 << 20})
		n := 0
		for _, d := range sets {
			for _, s := range d {
				if c.PutSet(s) {
					n++
				}
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(n), "B/rrset")
		b.ReportMetric(float64(c.Bytes())/float64(n), "estB/rrset")
		runtime.KeepAlive(c)
	}
}

// BenchmarkMemoryPerRRset reports the heap one cached RRset takes.
func BenchmarkMemoryPerRRset(b *testing.B) {
	const domains = 20_000
	sets := make([][][]dns.RR, domains)
	for i := range sets {
		sets[i] = domainRRsets(b, i)
	}
	b.ReportAllocs()
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		c := New(Config{MaxEntries: 1 << 20})
		n := 0
		for _, d := range sets {
			for _, rrs := range d {
				if c.Put(rrs, RankAuthAnswer) {
					n++
				}
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(n), "B/rrset")
		b.ReportMetric(float64(c.Bytes())/float64(n), "estB/rrset")
		runtime.KeepAlive(c)
	}
}
