package resolver

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// canaries are names a hostile server tries to plant; none may be cached.
var canaries = []struct {
	name  string
	qtype uint16
}{
	{"victim.net.", dns.TypeA},
	{"victim.net.", dns.TypeNS},
	{"ns.victim.net.", dns.TypeA},
	{"com.", dns.TypeNS},
	{"www.example.org.", dns.TypeA},
}

func assertNoCanary(tb testing.TB, r *Resolver) {
	tb.Helper()
	for _, c := range canaries {
		e, ok := r.cache.Get(c.name, c.qtype, dns.ClassINET)
		if ok && len(e.RRs) > 0 && (c.name != "com." || e.RRs[0].(*dns.NS).Ns == "ns.victim.net.") {
			tb.Errorf("poison cached: %s %s = %v", c.name, dns.TypeToString[c.qtype], e.RRs)
		}
	}
}

func TestHostileServerCannotPoison(t *testing.T) {
	inject := []string{
		"victim.net. 86400 IN A 203.0.113.66",
		"victim.net. 86400 IN NS ns.victim.net.",
		"ns.victim.net. 86400 IN A 203.0.113.66",
		"com. 86400 IN NS ns.victim.net.",
		"www.example.org. 86400 IN A 203.0.113.66",
	}
	tests := []struct {
		name  string
		qname string
		qtype uint16
		shape func(q, honest *dns.Msg) *dns.Msg
		rcode int
	}{
		{"extra RRsets in every section of an answer", "www.shop.example.com.", dns.TypeA, func(q, m *dns.Msg) *dns.Msg {
			m.Answer = append(m.Answer, rrs(t, inject...)...)
			m.Ns = append(m.Ns, rrs(t, inject...)...)
			m.Extra = append(m.Extra, rrs(t, inject...)...)
			return m
		}, dns.RcodeSuccess},
		{"CNAME answer with the target's data out of zone", "www.shop.example.com.", dns.TypeA, func(q, m *dns.Msg) *dns.Msg {
			m.Answer = rrs(t, "www.shop.example.com. 300 IN CNAME www.example.org.", "www.example.org. 86400 IN A 203.0.113.66")
			return m
		}, -1},
		{"negative answer with a foreign SOA and extras", "nope.shop.example.com.", dns.TypeA, func(q, m *dns.Msg) *dns.Msg {
			m.Ns = append(m.Ns, rrs(t, "victim.net. 300 IN SOA ns.victim.net. h.victim.net. 1 2 3 4 5")...)
			m.Ns = append(m.Ns, rrs(t, inject...)...)
			m.Extra = append(m.Extra, rrs(t, inject...)...)
			return m
		}, dns.RcodeNameError},
		{"answer for a question not asked", "www.shop.example.com.", dns.TypeA, func(q, m *dns.Msg) *dns.Msg {
			m.Question[0].Name = "victim.net."
			m.Answer = rrs(t, inject[0])
			return m
		}, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := standardNet(t)
			inner := n.handlers[netip.MustParseAddr("127.53.3.1")]
			n.handle("127.53.3.1", func(q *dns.Msg) *dns.Msg { return tc.shape(q, inner(q)) })
			r := newTestResolver(t, n, func(c *Config) { c.Limits.Timeout = 2 * time.Second })
			m, err := r.Resolve(t.Context(), tc.qname, tc.qtype)
			if tc.rcode >= 0 && (err != nil || m.Rcode != tc.rcode) {
				t.Errorf("Resolve = %v, %v; want rcode %s", m, err, dns.RcodeToString[tc.rcode])
			}
			assertNoCanary(t, r)
		})
	}
}

func TestHostileReferralGlue(t *testing.T) {
	n := standardNet(t)
	// The com server adds glue for unrelated names and an extra NS set.
	inner := n.handlers[netip.MustParseAddr("127.53.1.1")]
	n.handle("127.53.1.1", func(q *dns.Msg) *dns.Msg {
		m := inner(q)
		m.Ns = append(m.Ns, rrs(t, "victim.net. 86400 IN NS ns.victim.net.")...)
		m.Extra = append(m.Extra, rrs(t, "ns.victim.net. 86400 IN A 203.0.113.66", "www.example.org. 86400 IN A 203.0.113.66")...)
		return m
	})
	r := newTestResolver(t, n, nil)
	if _, err := r.Resolve(t.Context(), "www.example.com.", dns.TypeA); err != nil {
		t.Fatal(err)
	}
	assertNoCanary(t, r)
}

// delegateAttack makes the example.com server delegate attack.example.com
// to count glueless server names made from nameFormat.
func delegateAttack(t *testing.T, n *fakeNet, count int, nameFormat string) {
	inner := n.handlers[netip.MustParseAddr("127.53.2.1")]
	n.handle("127.53.2.1", func(q *dns.Msg) *dns.Msg {
		if !strings.HasSuffix(strings.ToLower(q.Question[0].Name), "attack.example.com.") {
			return inner(q)
		}
		m := new(dns.Msg)
		m.SetReply(q)
		for i := range count {
			m.Ns = append(m.Ns, rrs(t, "attack.example.com. 300 IN NS "+fmt.Sprintf(nameFormat, i))...)
		}
		return m
	})
}

func TestNXNSAttackIsBounded(t *testing.T) {
	n := standardNet(t)
	// example.com delegates attack.example.com to 100 glueless names
	// under victim.lab, each of which would need a lookup.
	delegateAttack(t, n, 100, "ns%d.victim.lab.")
	r := newTestResolver(t, n, nil)
	_, err := r.Resolve(t.Context(), "www.attack.example.com.", dns.TypeA)
	if err == nil {
		t.Fatal("answered through a delegation to nowhere")
	}
	sent := int(n.sent.Load())
	// Priming and the walk to attack.example.com (4), then at most
	// DefaultMaxGluelessLookups lookups of one query each, plus the
	// minimised "lab. NS" of the first parallel batch, before the root's
	// NXDOMAIN for lab. is cached.
	if !errors.Is(err, ErrLimit) || sent > 4+DefaultMaxGluelessLookups+DefaultMaxParallelGlueless {
		t.Errorf("%d upstream queries for one client query: amplification not bounded", sent)
	}
	t.Logf("NXNS: %d upstream queries, err %v", sent, err)
}

func TestCNAMELoopsAndLongChains(t *testing.T) {
	tests := []struct {
		name    string
		records []string
		qname   string
		wantErr error
	}{
		{"loop inside the zone", []string{"a.loop.lab. 300 IN CNAME b.loop.lab.", "b.loop.lab. 300 IN CNAME a.loop.lab."}, "a.loop.lab.", ErrLoop},
		{"chain longer than the limit", func() []string {
			var out []string
			for i := range 20 {
				out = append(out, fmt.Sprintf("c%d.loop.lab. 300 IN CNAME c%d.loop.lab.", i, i+1))
			}
			return out
		}(), "c0.loop.lab.", ErrLimit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := newFakeNet(t)
			n.handle("127.53.0.1", zoneServer(t, ".",
				". 518400 IN NS a.root.lab.", "a.root.lab. 518400 IN A 127.53.0.1",
				"loop.lab. 3600 IN NS ns.loop.lab.", "ns.loop.lab. 3600 IN A 127.53.9.1"))
			// The server answers one CNAME at a time, so the resolver
			// has to chase each hop itself.
			all := rrs(t, tc.records...)
			n.handle("127.53.9.1", func(q *dns.Msg) *dns.Msg {
				m := new(dns.Msg)
				m.SetReply(q)
				m.Authoritative = true
				for _, rr := range all {
					if strings.EqualFold(rr.Header().Name, q.Question[0].Name) {
						m.Answer = []dns.RR{rr}
					}
				}
				return m
			})
			r := newTestResolver(t, n, func(c *Config) { c.QNAMEMinimisation = QminOff })
			_, err := r.Resolve(t.Context(), tc.qname, dns.TypeA)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if sent := int(n.sent.Load()); sent > 2+DefaultMaxCNAMEs+2 {
				t.Errorf("%d upstream queries", sent)
			}
		})
	}
}

func TestDelegationCycleEndsQuickly(t *testing.T) {
	n := newFakeNet(t)
	n.handle("127.53.0.1", zoneServer(t, ".",
		". 518400 IN NS a.root.lab.", "a.root.lab. 518400 IN A 127.53.0.1",
		"cycle-a.lab. 3600 IN NS ns.cycle-b.lab.",
		"cycle-b.lab. 3600 IN NS ns.cycle-a.lab."))
	r := newTestResolver(t, n, nil)
	start := time.Now()
	_, err := r.Resolve(t.Context(), "www.cycle-a.lab.", dns.TypeA)
	if !errors.Is(err, ErrLoop) && !errors.Is(err, ErrNoReachableServer) {
		t.Fatalf("err = %v, want a loop", err)
	}
	first := int(n.sent.Load())
	if took := time.Since(start); took > time.Second || first > 20 {
		t.Errorf("cycle took %v and %d queries", took, first)
	}
	// Client retries are answered from the failure cache (RFC 9520).
	for range 10 {
		r.Resolve(t.Context(), "www.cycle-a.lab.", dns.TypeA)
	}
	if more := int(n.sent.Load()) - first; more != 0 {
		t.Errorf("10 retries sent %d more queries, want 0", more)
	}
}

func TestNonexistentNameServersStopLookups(t *testing.T) {
	// attack.example.com is delegated to 12 glueless names that do not
	// exist (example.com answers NXDOMAIN for each).
	n := standardNet(t)
	delegateAttack(t, n, 12, "nx%d.example.com.")
	lookedUp := func() map[string]int {
		out := map[string]int{}
		for _, q := range n.queries() {
			if f := strings.Fields(q); strings.HasPrefix(f[1], "nx") {
				out[f[1]]++
			}
		}
		return out
	}
	r := newTestResolver(t, n, func(c *Config) { c.QNAMEMinimisation = QminOff })
	for i, want := range []int{DefaultMaxNXNameServers, 12} {
		_, err := r.Resolve(t.Context(), fmt.Sprintf("www%d.attack.example.com.", i), dns.TypeA)
		if !errors.Is(err, ErrLimit) {
			t.Fatalf("query %d: err %v, want ErrLimit", i, err)
		}
		// The second query skips the names cached as NXDOMAIN and looks
		// up the rest: the cache does not count against the limit.
		got := lookedUp()
		if len(got) != want {
			t.Errorf("query %d: %d names looked up (%v), want %d", i, len(got), got, want)
		}
		for name, count := range got {
			if count != 1 {
				t.Errorf("query %d: %s looked up %d times", i, name, count)
			}
		}
	}
}
