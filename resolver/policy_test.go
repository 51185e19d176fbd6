package resolver_test

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/dnssec"
	"github.com/recursor-dns/recursor/localdata"
	"github.com/recursor-dns/recursor/resolver"
	"github.com/recursor-dns/recursor/rpz"
	"github.com/recursor-dns/recursor/testnet"
)

// testPolicy is a policy zone over the sandbox's names.
const testPolicy = `$TTL 300
@                          SOA   ns.rpz.test. hostmaster.rpz.test. 7 3600 600 86400 60
@                          NS    ns.rpz.test.
blocked.example.com        CNAME .
*.blocked.example.com      CNAME .
v4only.example.com         CNAME *.
dropped.example.com        CNAME rpz-drop.
tcp.example.com            CNAME rpz-tcp-only.
walled.example.com         CNAME www.example.com.
local.example.com          A     192.0.2.99
local.example.com          TXT   "from the policy"
*.local.example.com        AAAA  2001:db8::99
alias-target.example.com   CNAME .
www.example.net            CNAME .
32.51.2.0.192.rpz-ip       CNAME .
mail.example.com           CNAME rpz-passthru.
*.walled.example.com       CNAME *.example.net.
www.alpha.lab              CNAME rpz-drop.
`

// hits records what the policy was told it did.
type hits struct {
	mu   sync.Mutex
	list []string
}

func (h *hits) add(policy string, k resolver.PolicyKind) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.list = append(h.list, policy+" "+k.String())
}

func (h *hits) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.list
	h.list = nil
	return l
}

func newPolicy(tb testing.TB, h *hits) *rpz.Set {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "test.rpz")
	if err := os.WriteFile(path, []byte(testPolicy), 0o644); err != nil {
		tb.Fatal(err)
	}
	s, err := rpz.New(rpz.Config{Zones: []rpz.Source{{Name: "rpz.test.", File: path}}, Hit: h.add})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func policyAnswer(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		h := rr.Header()
		out = append(out, strings.ToLower(h.Name)+" "+dns.TypeToString[h.Rrtype]+" "+strings.TrimPrefix(rr.String(), h.String()))
	}
	return out
}

// TestPolicyActions: each action answers as RPZ says, a policy that
// answers alone sends no query upstream, and each answer is reported
// to the policy once.
func TestPolicyActions(t *testing.T) {
	n := testnet.StartTB(t, sandboxDir)
	h := &hits{}
	policy := newPolicy(t, h)
	for _, tc := range []struct {
		qname    string
		qtype    uint16
		rcode    int
		answer   []string
		ede      uint16
		upstream bool // whether the answer needs queries
		hit      string
	}{
		{"blocked.example.com.", dns.TypeA, dns.RcodeNameError, nil, dns.ExtendedErrorCodeBlocked, false, "nxdomain"},
		{"a.b.blocked.example.com.", dns.TypeA, dns.RcodeNameError, nil, dns.ExtendedErrorCodeBlocked, false, "nxdomain"},
		{"v4only.example.com.", dns.TypeA, dns.RcodeSuccess, nil, dns.ExtendedErrorCodeBlocked, false, "nodata"},
		{"local.example.com.", dns.TypeA, dns.RcodeSuccess, []string{"local.example.com. A 192.0.2.99"}, dns.ExtendedErrorCodeForgedAnswer, false, "local-data"},
		{"local.example.com.", dns.TypeMX, dns.RcodeSuccess, nil, dns.ExtendedErrorCodeForgedAnswer, false, "local-data"},
		{"x.local.example.com.", dns.TypeAAAA, dns.RcodeSuccess, []string{"x.local.example.com. AAAA 2001:db8::99"}, dns.ExtendedErrorCodeForgedAnswer, false, "local-data"},
		{"walled.example.com.", dns.TypeA, dns.RcodeSuccess, []string{"walled.example.com. CNAME www.example.com.", "www.example.com. A 192.0.2.10"}, dns.ExtendedErrorCodeForgedAnswer, true, "local-data"},
		// A CNAME target that is blocked: the chain up to it, then NXDOMAIN.
		{"alias.example.com.", dns.TypeA, dns.RcodeNameError, []string{"alias.example.com. CNAME www.example.net."}, dns.ExtendedErrorCodeBlocked, true, "nxdomain"},
		// A response-IP trigger (192.0.2.51/32) rewrites the whole answer.
		{"host.wild.example.com.", dns.TypeA, dns.RcodeNameError, nil, dns.ExtendedErrorCodeBlocked, true, "nxdomain"},
		// A wildcard target: the name asked, prepended.
		{"www.walled.example.com.", dns.TypeA, dns.RcodeNameError, []string{"www.walled.example.com. CNAME www.walled.example.com.example.net."}, dns.ExtendedErrorCodeForgedAnswer, true, "local-data"},
		{"mail.example.com.", dns.TypeA, dns.RcodeSuccess, []string{"mail.example.com. A 192.0.2.25"}, 0, true, "passthru"},
		{"www.example.com.", dns.TypeA, dns.RcodeSuccess, []string{"www.example.com. A 192.0.2.10"}, 0, true, ""},
	} {
		t.Run(tc.qname+dns.TypeToString[tc.qtype], func(t *testing.T) {
			r := newSandboxResolver(t, n, func(c *resolver.Config) { c.Policy = policy })
			n.ResetQueries()
			a, err := r.Query(t.Context(), tc.qname, tc.qtype, resolver.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if a.Msg.Rcode != tc.rcode || !slices.Equal(policyAnswer(a.Msg), tc.answer) {
				t.Errorf("got %s %q, want %s %q", dns.RcodeToString[a.Msg.Rcode], policyAnswer(a.Msg), dns.RcodeToString[tc.rcode], tc.answer)
			}
			if a.EDE != tc.ede {
				t.Errorf("EDE %d (%s), want %d", a.EDE, a.Why, tc.ede)
			}
			if (a.Policy != "") != (tc.ede != 0) {
				t.Errorf("Policy %q for EDE %d", a.Policy, tc.ede)
			}
			if q := n.Queries(); (len(q) > 0) != tc.upstream {
				t.Errorf("%d upstream queries, want some: %v", len(q), tc.upstream)
			}
			var want []string
			if tc.hit != "" {
				want = []string{"rpz.test. " + tc.hit}
			}
			if got := h.take(); !slices.Equal(got, want) {
				t.Errorf("hits %q, want %q", got, want)
			}
		})
	}
}

// TestPolicyAfterLocalData: local data answers before the policy is
// asked, as Unbound's local-zone comes before its RPZ, and a transparent
// local zone's other names still meet the policy.
func TestPolicyAfterLocalData(t *testing.T) {
	n := testnet.StartTB(t, sandboxDir)
	h := &hits{}
	table, err := localdata.Load(localdata.Config{
		Zones: []string{"example.com. transparent"},
		Data:  []string{"blocked.example.com. 300 A 192.0.2.77"},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := newSandboxResolver(t, n, func(c *resolver.Config) { c.Policy = newPolicy(t, h); c.LocalData = table })
	a, err := r.Query(t.Context(), "blocked.example.com.", dns.TypeA, resolver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := policyAnswer(a.Msg); !slices.Equal(got, []string{"blocked.example.com. A 192.0.2.77"}) || a.Policy != "" {
		t.Errorf("local name: %q, policy %q; want the local data", got, a.Policy)
	}
	a, err = r.Query(t.Context(), "x.blocked.example.com.", dns.TypeA, resolver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Msg.Rcode != dns.RcodeNameError || a.Policy == "" {
		t.Errorf("a name local data passes on: %s, policy %q; want the policy's NXDOMAIN", dns.RcodeToString[a.Msg.Rcode], a.Policy)
	}
	if got := h.take(); !slices.Equal(got, []string{"rpz.test. nxdomain"}) {
		t.Errorf("hits %q", got)
	}
}

// TestPolicyNoUpstreamForBlockedName: a blocked name is answered with
// no upstream query at all, cold cache or not.
func TestPolicyNoUpstreamForBlockedName(t *testing.T) {
	n := testnet.StartTB(t, sandboxDir)
	r := newSandboxResolver(t, n, func(c *resolver.Config) { c.Policy = newPolicy(t, &hits{}) })
	n.ResetQueries()
	m, err := r.Resolve(t.Context(), "blocked.example.com.", dns.TypeAAAA)
	if err != nil || m.Rcode != dns.RcodeNameError {
		t.Fatalf("got %v, %v; want NXDOMAIN", m, err)
	}
	if len(m.Ns) != 1 || m.Ns[0].Header().Name != "rpz.test." || m.Ns[0].Header().Ttl != 60 {
		t.Errorf("authority %v, want the policy zone's SOA with TTL 60", m.Ns)
	}
	if q := n.Queries(); len(q) != 0 {
		t.Errorf("blocked name sent %d queries upstream: %v", len(q), q)
	}
}

// TestPolicyAnswersNotCached: a cached answer does not get past the
// policy, and the policy's answers never enter the cache.
func TestPolicyAnswersNotCached(t *testing.T) {
	n := testnet.StartTB(t, sandboxDir)
	c := cache.New(cache.Config{})
	plain := newSandboxResolver(t, n, func(cfg *resolver.Config) { cfg.Cache = c })
	for _, name := range []string{"v4only.example.com.", "alias.example.com."} {
		if _, err := plain.Resolve(t.Context(), name, dns.TypeA); err != nil {
			t.Fatal(err)
		}
	}
	h := &hits{}
	r := newSandboxResolver(t, n, func(cfg *resolver.Config) { cfg.Cache = c; cfg.Policy = newPolicy(t, h) })
	for _, name := range []string{"v4only.example.com.", "alias.example.com."} {
		a, ok := r.QueryCached(name, dns.TypeA, resolver.Options{})
		if !ok || a.Policy == "" || len(a.Msg.Answer) > 1 {
			t.Errorf("%s from the cache: %v %v, want the policy's answer", name, a.Msg, ok)
		}
	}
	if _, err := r.Resolve(t.Context(), "local.example.com.", dns.TypeA); err != nil {
		t.Fatal(err)
	}
	if a, ok := plain.QueryCached("local.example.com.", dns.TypeA, resolver.Options{}); ok {
		t.Errorf("the policy's local data was cached: %v", a.Msg)
	}
}

// TestPolicyCachedOnlyRewrite: QueryCached cannot finish a CNAME rewrite
// whose target is not cached: it says so and reports no hit, and Query
// then reports one.
func TestPolicyCachedOnlyRewrite(t *testing.T) {
	n := testnet.StartTB(t, sandboxDir)
	h := &hits{}
	r := newSandboxResolver(t, n, func(c *resolver.Config) { c.Policy = newPolicy(t, h) })
	if a, ok := r.QueryCached("walled.example.com.", dns.TypeA, resolver.Options{WillRecurse: true}); ok {
		t.Fatalf("QueryCached answered %v with a cold cache", a.Msg)
	}
	if got := h.take(); len(got) != 0 {
		t.Fatalf("hits %q before any answer", got)
	}
	if _, err := r.Query(t.Context(), "walled.example.com.", dns.TypeA, resolver.Options{}); err != nil {
		t.Fatal(err)
	}
	a, ok := r.QueryCached("walled.example.com.", dns.TypeA, resolver.Options{})
	if !ok || len(a.Msg.Answer) != 2 {
		t.Fatalf("QueryCached after Query: %v %v", a.Msg, ok)
	}
	if got := h.take(); len(got) != 2 {
		t.Errorf("hits %q, want one per answer", got)
	}
}

// TestPolicyDropAndTCPOnly: DROP gives no answer (ErrPolicyDrop); TCP-only
// answers a UDP client with TC and nothing else, a TCP one as resolved.
func TestPolicyDropAndTCPOnly(t *testing.T) {
	n := testnet.StartTB(t, sandboxDir)
	r := newSandboxResolver(t, n, func(c *resolver.Config) { c.Policy = newPolicy(t, &hits{}) })
	a, err := r.Query(t.Context(), "dropped.example.com.", dns.TypeA, resolver.Options{})
	if !errors.Is(err, resolver.ErrPolicyDrop) || !a.Drop || a.Msg != nil {
		t.Errorf("DROP: %v %v, want ErrPolicyDrop and Drop", a, err)
	}
	if a, ok := r.QueryCached("dropped.example.com.", dns.TypeA, resolver.Options{}); !ok || !a.Drop {
		t.Errorf("DROP from QueryCached: %v %v", a, ok)
	}
	// A DROP at a CNAME target drops the whole answer.
	if a, err := r.Query(t.Context(), "to-secure.chains.lab.", dns.TypeA, resolver.Options{}); !errors.Is(err, resolver.ErrPolicyDrop) || !a.Drop {
		t.Errorf("DROP at a CNAME target: %v %v, want ErrPolicyDrop and Drop", a, err)
	}
	udp, err := r.Query(t.Context(), "tcp.example.com.", dns.TypeA, resolver.Options{Client: netip.MustParseAddr("127.0.0.1")})
	if err != nil || !udp.Msg.Truncated || len(udp.Msg.Answer) != 0 {
		t.Errorf("TCP-only over UDP: %v %v, want an empty truncated answer", udp.Msg, err)
	}
	tcp, err := r.Query(t.Context(), "tcp.example.com.", dns.TypeA, resolver.Options{TCP: true})
	if err != nil || tcp.Msg.Truncated || tcp.Msg.Rcode != dns.RcodeNameError || tcp.Policy == "" {
		t.Errorf("TCP-only over TCP: %v %v, want as resolved (NXDOMAIN), marked the policy's", tcp.Msg, err)
	}
}

// TestPolicyRewriteToBogus: a rewrite whose target is bogus fails as the
// target does, from the walk and from the cache.
func TestPolicyRewriteToBogus(t *testing.T) {
	n := testnet.StartTB(t, sandboxDir)
	path := filepath.Join(t.TempDir(), "bogus.rpz")
	zone := "$TTL 300\n@ SOA ns.rpz.test. h.rpz.test. 1 3600 600 86400 60\nto-bogus.example.com CNAME www.badsig.lab.\n"
	if err := os.WriteFile(path, []byte(zone), 0o644); err != nil {
		t.Fatal(err)
	}
	policy, err := rpz.New(rpz.Config{Zones: []rpz.Source{{Name: "rpz.test.", File: path}}})
	if err != nil {
		t.Fatal(err)
	}
	r := newSandboxResolver(t, n, func(c *resolver.Config) {
		c.Policy = policy
		c.DNSSEC.TrustAnchors = n.TrustAnchor()
	})
	var ve *resolver.ValidationError
	if _, err := r.Query(t.Context(), "to-bogus.example.com.", dns.TypeA, resolver.Options{}); !errors.As(err, &ve) {
		t.Fatalf("Query: %v, want the target's validation error", err)
	}
	a, ok := r.QueryCached("to-bogus.example.com.", dns.TypeA, resolver.Options{})
	if !ok || a.Msg != nil || a.Security != dnssec.Bogus {
		t.Errorf("QueryCached: %+v %v, want bogus without a message (SERVFAIL)", a, ok)
	}
}
