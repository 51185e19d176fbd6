package resolver

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// A second name below a wildcard is answered from the cache: the wildcard
// RRset of the first, secure answer and its NSEC, which covers the second
// name, make the answer without a query (RFC 8198 section 5.4), for a
// wildcard of the type asked and for a wildcard CNAME, whose target is
// cached. With aggressive NSEC off, the second name is asked upstream.
func TestWildcardAnswerFromCache(t *testing.T) {
	root, example, anchor := rootAndExample(t, 51, 52,
		"*.w.example. 300 IN A 192.0.2.9",
		"*.c.example. 300 IN CNAME www.example.",
		"www.example. 300 IN A 192.0.2.1",
	)
	tests := []struct {
		name, first, second string
		wantA               string
	}{
		{"wildcard A", "a.w.example.", "b.w.example.", "192.0.2.9"},
		{"wildcard CNAME", "a.c.example.", "b.c.example.", "192.0.2.1"},
	}
	for _, tt := range tests {
		for _, aggressive := range []bool{true, false} {
			name := tt.name
			if !aggressive {
				name += ", aggressive NSEC off"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				n := newTreeNet()
				n.serve("127.53.0.1", root)
				n.serve("127.53.1.1", example)
				r, err := New(Config{
					RootHints:   treeHints(),
					Transport:   n,
					DontQuery:   []netip.Prefix{},
					DisableIPv6: true,
					Disable0x20: true,
					Now:         treeClock,
					DNSSEC:      DNSSECConfig{TrustAnchors: anchor, DisableAggressiveNSEC: !aggressive},
				})
				if err != nil {
					t.Fatal(err)
				}
				if m, err := r.Resolve(t.Context(), tt.first, dns.TypeA); err != nil || !m.AuthenticatedData {
					t.Fatalf("%s A: %v, %v; want a secure answer", tt.first, m, err)
				}
				before := n.sent.Load()
				m, err := r.Resolve(t.Context(), tt.second, dns.TypeA)
				if err != nil || !m.AuthenticatedData || m.Rcode != dns.RcodeSuccess {
					t.Fatalf("%s A: %v, %v; want a secure answer", tt.second, m, err)
				}
				if len(m.Answer) == 0 || !sameName(m.Answer[0].Header().Name, tt.second) {
					t.Errorf("answer %v; want it to start at %s", m.Answer, tt.second)
				}
				var got string
				for _, rr := range m.Answer {
					if a, ok := rr.(*dns.A); ok {
						got = a.A.String()
					}
				}
				if got != tt.wantA {
					t.Errorf("address %q, want %s; answer %v", got, tt.wantA, m.Answer)
				}
				sent := n.sent.Load() - before
				if aggressive && sent != 0 {
					t.Errorf("%d upstream queries for %s, want 0: the cached wildcard answers it", sent, tt.second)
				}
				if !aggressive && sent == 0 {
					t.Errorf("no upstream query for %s with aggressive NSEC off", tt.second)
				}
			})
		}
	}
}
