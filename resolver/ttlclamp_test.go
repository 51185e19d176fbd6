package resolver

import (
	"context"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// TestSecureTTLClampedToOriginalTTL: a server (or a spoofer replaying
// genuine signatures) raises the TTL of a signed RRset above the RRSIG's
// original TTL. The signature still verifies, since it covers the original
// TTL, but the answer and the cache must not keep the set longer than the
// signer allowed (RFC 4035 section 5.3.3).
func TestSecureTTLClampedToOriginalTTL(t *testing.T) {
	tree := buildFuzzTree()
	n := tree.net()
	n.mutate = func(q *dns.Msg, _ netip.Addr, wire []byte) []byte {
		if q.Question[0].Name != "www.example." || q.Question[0].Qtype != dns.TypeA {
			return wire
		}
		m := new(dns.Msg)
		if err := m.Unpack(wire); err != nil {
			t.Errorf("unpack: %v", err)
			return wire
		}
		for _, rr := range m.Answer {
			rr.Header().Ttl = 86400 // the zone has 300, its RRSIG too
		}
		out, err := m.Pack()
		if err != nil {
			t.Errorf("pack: %v", err)
			return wire
		}
		return out
	}
	r := tree.resolver(t, n)
	for _, pass := range []string{"cold", "cached"} {
		a, err := r.Query(context.Background(), "www.example.", dns.TypeA, Options{DNSSECOK: true})
		if err != nil {
			t.Fatalf("%s: %v", pass, err)
		}
		m := a.Msg
		if !m.AuthenticatedData {
			t.Fatalf("%s: no AD: %v", pass, m)
		}
		if len(m.Answer) != 3 {
			t.Fatalf("%s: want 2 A records and their RRSIG, got %v", pass, m.Answer)
		}
		for _, rr := range m.Answer {
			if rr.Header().Ttl > 300 {
				t.Errorf("%s: %s has TTL %d, over the signature's original TTL 300", pass, rr.Header().Name, rr.Header().Ttl)
			}
		}
	}
}
