package resolver

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/dnssec"
	"github.com/recursor-dns/recursor/testnet"
)

// BenchmarkResolveCached is a cache hit through Query for a client
// without DO: an unsigned name of coldNet with validation off, and from
// the fuzzer's tree, validating, an insecure name (one A record, as the
// unsigned one) and a secure one (two A records and their RRSIG, which
// the answer drops). BenchmarkResolveCachedDO is the secure hit for a DO client.
func BenchmarkResolveCached(b *testing.B) {
	b.Run("unsigned", func(b *testing.B) {
		r, err := New(Config{RootHints: testHints(), Transport: testnet.LoopbackOnly(b, coldNet{}), DontQuery: []netip.Prefix{}, DisableIPv6: true})
		if err != nil {
			b.Fatal(err)
		}
		benchHit(b, r, "www.d0.com.", Options{}, dnssec.Indeterminate)
	})
	b.Run("insecure", func(b *testing.B) {
		tree := buildFuzzTree()
		benchHit(b, tree.resolver(b, tree.net()), "www.plain.example.", Options{}, dnssec.Insecure)
	})
	b.Run("secure", func(b *testing.B) {
		tree := buildFuzzTree()
		benchHit(b, tree.resolver(b, tree.net()), "www.example.", Options{}, dnssec.Secure)
	})
}

func BenchmarkResolveCachedDO(b *testing.B) {
	tree := buildFuzzTree()
	benchHit(b, tree.resolver(b, tree.net()), "www.example.", Options{DNSSECOK: true}, dnssec.Secure)
}

// benchHit asks r for qname's A once to fill the cache, then again per
// iteration, checking each answer's verdict and shape.
func benchHit(b *testing.B, r *Resolver, qname string, opts Options, want dnssec.Status) {
	ctx := context.Background()
	check := func(a Answer, err error) {
		sigs := 0
		for _, rr := range a.Msg.Answer {
			if rr.Header().Rrtype == dns.TypeRRSIG {
				sigs++
			}
		}
		if err != nil || a.Security != want || len(a.Msg.Answer) == 0 || (sigs > 0) != (opts.DNSSECOK && want == dnssec.Secure) {
			b.Fatalf("%s: %v %v, err %v; want %v", qname, a.Security, a.Msg, err, want)
		}
	}
	check(r.Query(ctx, qname, dns.TypeA, opts))
	b.ReportAllocs()
	for b.Loop() {
		check(r.Query(ctx, qname, dns.TypeA, opts))
	}
}

// coldTree is BenchmarkResolveCold's tree signed: a signed root and com.
// on 127.53.0.1 and 127.53.1.1, and signed domains dN.com. on 127.53.2.1,
// each with its DS in com., a www A record and its server ns1.dN.com.
// Domains are signed as the benchmark needs them, before its timer runs;
// they share one key (the resolver parses and checks it per zone all the
// same).
type coldTree struct {
	net       *treeNet
	anchor    []dns.RR
	com       *treeZone
	comKey    *treeKey
	domainKey *treeKey
	mu        sync.Mutex
	domains   int
}

var buildColdTree = sync.OnceValue(func() *coldTree {
	tb := &onceTB{}
	rootKey, comKey := newTreeKey(".", 11, 257), newTreeKey("com.", 12, 257)
	root := newTreeZone(tb, ".", rootKey, nil, []string{
		". 86400 IN SOA rootns. h.rootns. 1 1800 900 604800 86400",
		". 518400 IN NS rootns.",
		"rootns. 518400 IN A 127.53.0.1",
		"com. 172800 IN NS ns.com.",
		"ns.com. 172800 IN A 127.53.1.1",
	}, comKey.ds())
	com := newTreeZone(tb, "com.", comKey, nil, []string{
		"com. 900 IN SOA ns.com. h.com. 1 1800 900 604800 300",
		"com. 172800 IN NS ns.com.",
		"ns.com. 172800 IN A 127.53.1.1",
	})
	if tb.err != "" {
		panic(tb.err)
	}
	t := &coldTree{net: newTreeNet(), anchor: []dns.RR{rootKey.ds()}, com: com, comKey: comKey, domainKey: newTreeKey("com.", 13, 257)}
	t.net.serve("127.53.0.1", root)
	t.net.serve("127.53.1.1", com)
	return t
})

// ensure signs the domains d0.com. to dN.com. not signed yet.
func (t *coldTree) ensure(tb testing.TB, n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for ; t.domains <= n; t.domains++ {
		d := fmt.Sprintf("d%d.com.", t.domains)
		key := &treeKey{rr: dns.Copy(t.domainKey.rr).(*dns.DNSKEY), priv: t.domainKey.priv}
		key.rr.Hdr.Name = d
		z := newTreeZone(tb, d, key, nil, []string{
			d + " 900 IN SOA ns1." + d + " h." + d + " 1 1800 900 604800 300",
			d + " 86400 IN NS ns1." + d,
			"ns1." + d + " 86400 IN A 127.53.2.1",
			"www." + d + " 3600 IN A 192.0.2.1",
		})
		t.net.serve("127.53.2.1", z)
		// The delegation in com., added after its signing: no NSEC
		// covers it, and none is needed for a referral with a DS.
		ds := key.ds()
		ds.Hdr.Ttl = 86400
		t.com.rrsets[rrKey{d, dns.TypeNS}] = z.rrsets[rrKey{d, dns.TypeNS}]
		t.com.rrsets[rrKey{"ns1." + d, dns.TypeA}] = z.rrsets[rrKey{"ns1." + d, dns.TypeA}]
		t.com.rrsets[rrKey{d, dns.TypeDS}] = []dns.RR{ds}
		t.com.sigs[rrKey{d, dns.TypeDS}] = []dns.RR{t.comKey.sign(tb, []dns.RR{ds})}
	}
}

// BenchmarkResolveColdValidated is BenchmarkResolveCold over the signed
// coldTree with validation: a never-seen www.dN.com. A per iteration,
// com. and its keys cached. It loops over b.N rather than b.Loop so that
// the N domains are signed before the timer starts.
func BenchmarkResolveColdValidated(b *testing.B) {
	t := buildColdTree()
	t.ensure(b, b.N)
	r, err := New(Config{
		RootHints:   treeHints(),
		Transport:   t.net,
		DontQuery:   []netip.Prefix{},
		DisableIPv6: true,
		Now:         treeClock,
		DNSSEC:      DNSSECConfig{TrustAnchors: t.anchor},
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if a, err := r.Query(ctx, "www.d0.com.", dns.TypeA, Options{}); err != nil || a.Security != dnssec.Secure {
		b.Fatalf("www.d0.com.: %v, %v", a.Security, err)
	}
	sent, verified := t.net.sent.Load(), 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		a, err := r.Query(ctx, fmt.Sprintf("www.d%d.com.", i), dns.TypeA, Options{})
		if err != nil || a.Security != dnssec.Secure || len(a.Msg.Answer) != 1 {
			b.Fatalf("www.d%d.com.: %v %v, err %v", i, a.Security, a.Msg, err)
		}
		verified += a.Verifications
	}
	b.StopTimer()
	b.ReportMetric(float64(t.net.sent.Load()-sent)/float64(b.N), "queries/op")
	b.ReportMetric(float64(verified)/float64(b.N), "verifications/op")
}
