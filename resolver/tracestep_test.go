package resolver_test

import (
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/resolver"
)

// tracedSteps resolves qname through e and returns the steps traced.
func tracedSteps(t *testing.T, e *hostileEnv, qname string) []resolver.Step {
	t.Helper()
	var mu sync.Mutex
	var steps []resolver.Step
	ctx := resolver.WithTrace(t.Context(), func(s resolver.Step) {
		mu.Lock()
		defer mu.Unlock()
		steps = append(steps, s)
	})
	if _, err := e.r.Resolve(ctx, qname, dns.TypeA); err != nil {
		t.Fatalf("%s: %v", qname, err)
	}
	return steps
}

// TestTraceTCPFallback: a step whose UDP reply was truncated, or came
// after a reply with a wrong ID, says it went over TCP and why.
func TestTraceTCPFallback(t *testing.T) {
	for _, tc := range []struct{ qname, server, why string }{
		{"www.tcp-only.lab.", "127.53.52.1", "truncated"},
		{"www.spoof.lab.", "127.53.51.1", "wrong ID"},
	} {
		t.Run(tc.why, func(t *testing.T) {
			e := newHostileEnv(t)
			var found bool
			for _, s := range tracedSteps(t, e, tc.qname) {
				if s.Server.Addr() != netip.MustParseAddr(tc.server) {
					if s.TCP || s.TCPFallback != "" {
						t.Errorf("step to %s: TCP %t fallback %q, want UDP", s.Server, s.TCP, s.TCPFallback)
					}
					continue
				}
				found = true
				if !s.TCP || s.TCPFallback != tc.why {
					t.Errorf("step to %s: TCP %t fallback %q, want TCP after %q", s.Server, s.TCP, s.TCPFallback, tc.why)
				}
			}
			if !found {
				t.Fatalf("no step to %s", tc.server)
			}
		})
	}
}

// TestTraceReferral: a referral's step carries the child zone, its NS
// names and the glue kept; the out-of-zone addresses the server added are
// counted as dropped.
func TestTraceReferral(t *testing.T) {
	e := newHostileEnv(t)
	var refs []resolver.Referral
	for _, s := range tracedSteps(t, e, "www.sub.inject.lab.") {
		if s.Referral != nil {
			refs = append(refs, *s.Referral)
		}
	}
	i := slices.IndexFunc(refs, func(r resolver.Referral) bool { return r.Zone == "sub.inject.lab." })
	if i < 0 {
		t.Fatalf("no referral to sub.inject.lab. among %+v", refs)
	}
	r := refs[i]
	wantGlue := []resolver.Glue{{Name: "ns1.sub.inject.lab.", Addr: netip.MustParseAddr("127.53.30.2")}}
	if !slices.Equal(r.NS, []string{"ns1.sub.inject.lab."}) || !slices.Equal(r.Glue, wantGlue) {
		t.Errorf("referral NS %v glue %v, want %v and %v", r.NS, r.Glue, []string{"ns1.sub.inject.lab."}, wantGlue)
	}
	if r.GlueDropped == 0 {
		t.Errorf("referral with the injected canaries: no glue dropped")
	}
}
