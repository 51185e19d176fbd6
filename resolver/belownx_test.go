package resolver

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/dnssec"
)

// TestBelowNXDomain: after a secure NXDOMAIN, a name below it is answered
// NXDOMAIN from the cache (RFC 8020), even with aggressive NSEC off; after
// an insecure one (below the unsigned plain.example.) it is asked.
func TestBelowNXDomain(t *testing.T) {
	tree := buildFuzzTree()
	n := tree.net()
	r, err := New(Config{
		RootHints:   treeHints(),
		Transport:   n,
		DontQuery:   []netip.Prefix{},
		DisableIPv6: true,
		Now:         treeClock,
		DNSSEC:      DNSSECConfig{TrustAnchors: tree.anchor, DisableAggressiveNSEC: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		above, below string
		sec          dnssec.Status
		asked        bool
	}{
		{"nothing.example.", "a.b.nothing.example.", dnssec.Secure, false},
		{"nothing.plain.example.", "a.nothing.plain.example.", dnssec.Insecure, true},
	}
	for _, tt := range tests {
		if a, err := r.Query(t.Context(), tt.above, dns.TypeA, Options{}); err != nil || a.Msg.Rcode != dns.RcodeNameError {
			t.Fatalf("%s: %v, err %v", tt.above, a.Msg, err)
		}
		before := n.sent.Load()
		a, err := r.Query(t.Context(), tt.below, dns.TypeTXT, Options{})
		if err != nil || a.Msg.Rcode != dns.RcodeNameError || a.Security != tt.sec {
			t.Errorf("%s: %v %v, err %v; want NXDOMAIN, %v", tt.below, a.Security, a.Msg, err, tt.sec)
		}
		if asked := n.sent.Load() > before; asked != tt.asked {
			t.Errorf("%s: asked upstream %v, want %v", tt.below, asked, tt.asked)
		}
	}
}
