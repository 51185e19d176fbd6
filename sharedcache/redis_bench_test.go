package sharedcache

import (
	"testing"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/peertest"
)

// BenchmarkLookupRealRedis is the latency a shared-cache read adds to a
// cache miss: one MGET of the three keys the resolver asks for a name
// (the type's, the name's NXDOMAIN, its CNAME), one found, from a real
// redis-server on loopback, with the seal checked and the entry decoded.
func BenchmarkLookupRealRedis(b *testing.B) {
	redis := peertest.StartRedis(b)
	clk := newClock()
	tier := newTier(b, redis.Addr, clk, nil)
	pk, pe := positive(b, clk)
	tier.Store(pk, pe)
	drain(tier)
	keys := []cache.Key{pk, {Name: pk.Name, Type: dns.TypeNone, Class: pk.Class}, {Name: pk.Name, Type: dns.TypeCNAME, Class: pk.Class}}
	b.ReportAllocs()
	for b.Loop() {
		if e := tier.Lookup(b.Context(), keys); e[0].Rank == 0 {
			b.Fatal("miss")
		}
	}
	if st := tier.Stats(); st.Errors != 0 {
		b.Fatalf("%d errors", st.Errors)
	}
}

// BenchmarkSealAndCheck is the CPU the seal costs: encoding an entry for
// Store, and checking and decoding it on read.
func BenchmarkSealAndCheck(b *testing.B) {
	clk := newClock()
	ks := deriveKeys(secret)
	pk, pe := positive(b, clk)
	rk := ks.redisKey(pk)
	b.ReportAllocs()
	for b.Loop() {
		v, err := ks.encode(rk, pe)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ks.decode(rk, pk, v, clk.now()); err != nil {
			b.Fatal(err)
		}
	}
}
