package resolver

import (
	"context"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
)

// memTier is a SharedCache in memory, shared by the test's resolvers.
type memTier struct {
	mu      sync.Mutex
	entries map[cache.Key]cache.Entry
	stores  int
	lookups int
}

func newMemTier() *memTier { return &memTier{entries: map[cache.Key]cache.Entry{}} }

func (m *memTier) Lookup(_ context.Context, keys []cache.Key) []cache.Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lookups++
	out := make([]cache.Entry, len(keys))
	for i, k := range keys {
		out[i] = m.entries[k]
	}
	return out
}

func (m *memTier) Store(k cache.Key, e cache.Entry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stores++
	m.entries[k] = e
}

func (m *memTier) Run(ctx context.Context) error { <-ctx.Done(); return nil }

func (m *memTier) counts() (stores, lookups int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stores, m.lookups
}

func TestSharedCacheAnswersAnotherResolver(t *testing.T) {
	tier := newMemTier()
	first := newTestResolver(t, standardNet(t), func(c *Config) { c.SharedCache = tier })
	questions := []struct {
		name   string
		qtype  uint16
		rcode  int
		answer int
	}{
		{"alias.example.com.", dns.TypeA, dns.RcodeSuccess, 2}, // a CNAME, then its target
		{"nope.example.com.", dns.TypeAAAA, dns.RcodeNameError, 0},
		{"www.example.com.", dns.TypeAAAA, dns.RcodeSuccess, 0}, // NODATA
	}
	for _, q := range questions {
		if _, err := first.Resolve(t.Context(), q.name, q.qtype); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []cache.Key{
		{Name: "alias.example.com.", Type: dns.TypeCNAME, Class: dns.ClassINET},
		{Name: "www.example.com.", Type: dns.TypeA, Class: dns.ClassINET},
		{Name: "nope.example.com.", Type: dns.TypeNone, Class: dns.ClassINET},
		{Name: "www.example.com.", Type: dns.TypeAAAA, Class: dns.ClassINET},
	} {
		if _, ok := tier.entries[k]; !ok {
			t.Errorf("the tier was not given %v", k)
		}
	}

	n := standardNet(t)
	second := newTestResolver(t, n, func(c *Config) { c.SharedCache = tier })
	stores, _ := tier.counts()
	for _, q := range questions {
		m, err := second.Resolve(t.Context(), q.name, q.qtype)
		if err != nil {
			t.Fatal(err)
		}
		if m.Rcode != q.rcode || len(m.Answer) != q.answer || q.answer == 0 && (len(m.Ns) != 1 || m.Ns[0].Header().Ttl == 0) {
			t.Errorf("%s %s from the tier: %v", q.name, dns.TypeToString[q.qtype], m)
		}
	}
	if got := n.queries(); len(got) != 0 {
		t.Errorf("the second resolver asked upstream: %v", got)
	}
	after, lookups := tier.counts()
	if after != stores {
		t.Errorf("answers read from the tier were written back (%d stores)", after-stores)
	}
	// Now cached locally: no more reads of the tier.
	for _, q := range questions {
		second.Resolve(t.Context(), q.name, q.qtype)
	}
	if _, again := tier.counts(); again != lookups {
		t.Errorf("cache hits read the tier (%d reads)", again-lookups)
	}
	if e, ok := second.Cache().Get("www.example.com.", dns.TypeA, dns.ClassINET); !ok || e.Security != cache.Unchecked || e.Rank != cache.RankAuthAnswer {
		t.Errorf("entry from the tier in the cache: %+v", e)
	}
}

func TestSharedEntryStatusFollowsTheReader(t *testing.T) {
	soa, _ := dns.NewRR("example.com. 300 IN SOA ns1.example.com. h.example.com. 1 2 3 4 300")
	a, _ := dns.NewRR("www.example.com. 300 IN A 192.0.2.1")
	ds, _ := dns.NewRR(". 3600 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D")
	k := cache.Key{Name: "www.example.com.", Type: dns.TypeA, Class: dns.ClassINET}
	unchecked := cache.Entry{RRs: []dns.RR{a}, Rank: cache.RankAuthAnswer, Security: cache.Unchecked, TTL: 300}
	insecure := unchecked
	insecure.Security = cache.Insecure
	validating := newTestResolver(t, standardNet(t), func(c *Config) { c.DNSSEC.TrustAnchors = []dns.RR{ds} })
	if validating.putShared(k, unchecked) {
		t.Error("a validating resolver took data its writer did not validate")
	}
	if !validating.putShared(k, insecure) {
		t.Error("a validating resolver refused an insecure entry")
	}
	plain := newTestResolver(t, standardNet(t), nil)
	secure := insecure
	secure.Security = cache.Secure
	if !plain.putShared(k, secure) {
		t.Fatal("refused")
	}
	if e, _ := plain.Cache().Get(k.Name, k.Type, k.Class); e.Security != cache.Unchecked {
		t.Errorf("a resolver that does not validate kept status %v", e.Security)
	}
	bogus := secure
	bogus.Security = cache.Bogus
	neg := cache.Entry{Negative: cache.NXDomain, SOA: soa.(*dns.SOA), Rank: cache.RankAuthAuthority, Security: cache.Bogus, TTL: 300}
	if plain.putShared(cache.Key{Name: "x.example.com.", Type: dns.TypeNone, Class: dns.ClassINET}, neg) || plain.putShared(k, bogus) {
		t.Error("bogus data taken from the tier")
	}
}
