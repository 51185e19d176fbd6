package resolver_test

import (
	"context"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/resolver"
	"github.com/recursor-dns/recursor/testnet"
)

// mapTier is a resolver.SharedCache in memory.
type mapTier struct {
	mu      sync.Mutex
	entries map[cache.Key]cache.Entry
}

func (m *mapTier) Lookup(_ context.Context, keys []cache.Key) []cache.Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]cache.Entry, len(keys))
	for i, k := range keys {
		out[i] = m.entries[k]
	}
	return out
}

func (m *mapTier) Store(k cache.Key, e cache.Entry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries[k] = e
}

func (m *mapTier) Run(ctx context.Context) error { <-ctx.Done(); return nil }

// A validated denial read from the tier denies other names too, as it did
// for the member that wrote it: that member answered the CNAME's missing
// target from it (RFC 8198) and left no entry of the target to share.
func TestSandboxSharedDenialCoversOtherNames(t *testing.T) {
	n := testnet.StartTB(t, sandboxDir)
	tier := &mapTier{entries: map[cache.Key]cache.Entry{}}
	validating := func(c *resolver.Config) { c.DNSSEC.TrustAnchors, c.SharedCache = n.TrustAnchor(), tier }
	first := newSandboxResolver(t, n, validating)
	questions := []string{"nothing.example.com.", "dangling.example.com."}
	for _, q := range questions {
		if m, err := first.Resolve(t.Context(), q, dns.TypeA); err != nil || m.Rcode != dns.RcodeNameError || !m.AuthenticatedData {
			t.Fatalf("%s: %v %v", q, m, err)
		}
	}
	ct := &countingTransport{Transport: testnet.LoopbackOnly(t, &resolver.NetTransport{})}
	second := newSandboxResolver(t, n, func(c *resolver.Config) { validating(c); c.Transport = ct })
	for _, q := range questions {
		m, err := second.Resolve(t.Context(), q, dns.TypeA)
		if err != nil || m.Rcode != dns.RcodeNameError || !m.AuthenticatedData {
			t.Errorf("%s from the tier: %v %v", q, m, err)
		}
	}
	if sent := ct.sent.Load(); sent != 0 {
		t.Errorf("the second resolver sent %d queries upstream, want 0", sent)
	}
}
