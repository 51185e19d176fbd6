package resolver

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
)

// forwarder is a recursive server on the fake network: it answers RD=1
// questions with a resolver of its own, over a network of its own, and
// records the questions it got.
type forwarder struct {
	up *Resolver
	mu sync.Mutex
	qs []string // "name TYPE rd"
}

func newForwarder(tb testing.TB) *forwarder {
	return &forwarder{up: newTestResolver(tb, standardNet(tb), nil)}
}

func (f *forwarder) handle(q *dns.Msg) *dns.Msg {
	f.mu.Lock()
	f.qs = append(f.qs, strings.ToLower(q.Question[0].Name)+" "+dns.TypeToString[q.Question[0].Qtype]+" rd="+map[bool]string{true: "1", false: "0"}[q.RecursionDesired])
	f.mu.Unlock()
	m := new(dns.Msg).SetReply(q)
	m.RecursionAvailable = true
	if !q.RecursionDesired {
		m.Rcode = dns.RcodeRefused
		return m
	}
	ans, err := f.up.Resolve(context.Background(), q.Question[0].Name, q.Question[0].Qtype)
	if err != nil {
		m.Rcode = dns.RcodeServerFailure
		return m
	}
	m.Rcode, m.Answer, m.Ns = ans.Rcode, ans.Answer, ans.Ns
	return m
}

func (f *forwarder) questions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.qs)
}

// fwdZone is a forward zone of plain forwarders on the fake network.
func fwdZone(zone string, addrs ...string) ForwardZone {
	fz := ForwardZone{Zone: zone}
	for _, a := range addrs {
		fz.Servers = append(fz.Servers, Forwarder{Addr: netip.MustParseAddrPort(a)})
	}
	return fz
}

func firstA(tb testing.TB, m *dns.Msg) string {
	tb.Helper()
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			return a.A.String()
		}
	}
	tb.Fatalf("no A record in %v", m)
	return ""
}

// TestForwardZone: a name in a forward zone is asked of the forwarder,
// with RD, and of no authoritative server; a name outside is iterated;
// the answer is cached, at the rank of a non-authoritative answer.
func TestForwardZone(t *testing.T) {
	n := standardNet(t)
	fw := newForwarder(t)
	n.handle("127.53.50.1", fw.handle)
	r := newTestResolver(t, n, func(c *Config) {
		c.ForwardZones = []ForwardZone{fwdZone("Example.COM", "127.53.50.1:53")}
	})
	m, err := r.Resolve(t.Context(), "www.example.com.", dns.TypeA)
	if err != nil || firstA(t, m) != "192.0.2.1" {
		t.Fatalf("got %v, %v; want 192.0.2.1", m, err)
	}
	if got := fw.questions(); !slices.Equal(got, []string{"www.example.com. A rd=1"}) {
		t.Errorf("the forwarder got %q, want the one question with RD", got)
	}
	for _, q := range n.queries() {
		if !strings.HasPrefix(q, "127.53.50.1 ") {
			t.Errorf("asked %s: a forward zone's names go to its forwarders only", q)
		}
	}
	if e, ok := r.Cache().Get("www.example.com.", dns.TypeA, dns.ClassINET); !ok || e.Rank != cache.RankAnswer {
		t.Errorf("cached %+v, %v; want the answer at RankAnswer", e, ok)
	}
	// Below a zone cut inside the forward zone too: no iteration.
	if m, err := r.Resolve(t.Context(), "www.shop.example.com.", dns.TypeA); err != nil || firstA(t, m) != "192.0.2.7" {
		t.Fatalf("got %v, %v; want 192.0.2.7", m, err)
	}
	before := len(n.queries())
	if _, err := r.Resolve(t.Context(), "www.example.com.", dns.TypeA); err != nil || len(n.queries()) != before {
		t.Errorf("a cached forwarded answer was asked again (%v)", err)
	}
}

// TestForwardRoot: "." forwarded, every question goes to the forwarder,
// the root is never primed, and a deeper stub zone still wins.
func TestForwardRoot(t *testing.T) {
	n := standardNet(t)
	fw := newForwarder(t)
	n.handle("127.53.50.1", fw.handle)
	r := newTestResolver(t, n, func(c *Config) {
		c.ForwardZones = []ForwardZone{fwdZone(".", "127.53.50.1:53")}
		c.StubZones = []StubZone{{Zone: "shop.example.com.", Addrs: []netip.Addr{netip.MustParseAddr("127.53.3.1")}}}
	})
	for name, want := range map[string]string{"alias.example.com.": "192.0.2.1", "www.shop.example.com.": "192.0.2.7"} {
		if m, err := r.Resolve(t.Context(), name, dns.TypeA); err != nil || firstA(t, m) != want {
			t.Fatalf("%s: got %v, %v; want %s", name, m, err, want)
		}
	}
	m, err := r.Resolve(t.Context(), "nope.example.com.", dns.TypeA)
	if err != nil || m.Rcode != dns.RcodeNameError {
		t.Fatalf("got %v, %v; want NXDOMAIN", m, err)
	}
	if cut, err := r.Lookup("www.example.com"); err != nil || cut.Zone != "." || cut.Source != "forward zone" || len(cut.Servers) != 1 || !cut.Servers[0].Known {
		t.Errorf("Lookup: %+v, %v; want the forward zone . and its known server", cut, err)
	}
	for _, q := range n.queries() {
		if !strings.HasPrefix(q, "127.53.50.1 ") && !strings.HasPrefix(q, "127.53.3.1 www.shop.example.com.") {
			t.Errorf("asked %s: with . forwarded, only the forwarder and the stub zone's server", q)
		}
	}
}

// TestForwardFailover: the first forwarder is dead; the question goes
// to the next and is answered.
func TestForwardFailover(t *testing.T) {
	n := standardNet(t)
	fw := newForwarder(t)
	n.handle("127.53.50.1", func(*dns.Msg) *dns.Msg { return nil }) // silent
	n.handle("127.53.50.2", fw.handle)
	r := newTestResolver(t, n, func(c *Config) {
		c.ForwardZones = []ForwardZone{fwdZone(".", "127.53.50.1:53", "127.53.50.2:53")}
	})
	// Make the dead one the first asked: its SRTT is unknown, the live
	// one's measured as slow.
	r.infra.report(netip.MustParseAddr("127.53.50.2"), ".", OutcomeAnswered, MaxServerTimeout, r.now())
	m, err := r.Resolve(t.Context(), "www.example.com.", dns.TypeA)
	if err != nil || firstA(t, m) != "192.0.2.1" {
		t.Fatalf("got %v, %v; want 192.0.2.1 from the second forwarder", m, err)
	}
	if len(n.askedOf("127.53.50.1")) == 0 {
		t.Error("the dead forwarder was not tried first; the test proves nothing")
	}
}

// TestForwarderOutOfZoneDataNotCached: a forwarder of shop.example.com
// adds records of names outside its zone; they are neither cached nor
// answered, and a CNAME leaving the zone is followed by iteration.
func TestForwarderOutOfZoneDataNotCached(t *testing.T) {
	n := standardNet(t)
	n.handle("127.53.50.1", func(q *dns.Msg) *dns.Msg {
		m := new(dns.Msg).SetReply(q)
		m.RecursionAvailable = true
		switch strings.ToLower(q.Question[0].Name) {
		case "www.shop.example.com.":
			m.Answer = rrs(t, "www.shop.example.com. 300 IN A 192.0.2.7", "www.example.com. 300 IN A 203.0.113.66")
		case "alias.shop.example.com.":
			m.Answer = rrs(t, "alias.shop.example.com. 300 IN CNAME www.example.com.", "www.example.com. 300 IN A 203.0.113.66")
		}
		m.Ns = rrs(t, "example.com. 300 IN NS evil.example.net.")
		m.Extra = rrs(t, "ns1.example.com. 300 IN A 203.0.113.53")
		return m
	})
	r := newTestResolver(t, n, func(c *Config) {
		c.ForwardZones = []ForwardZone{fwdZone("shop.example.com.", "127.53.50.1:53")}
	})
	if m, err := r.Resolve(t.Context(), "www.shop.example.com.", dns.TypeA); err != nil || len(m.Answer) != 1 || firstA(t, m) != "192.0.2.7" {
		t.Fatalf("got %v, %v; want only www.shop.example.com's record", m, err)
	}
	for _, k := range []struct {
		name string
		t    uint16
	}{{"www.example.com.", dns.TypeA}, {"example.com.", dns.TypeNS}, {"ns1.example.com.", dns.TypeA}} {
		if e, ok := r.Cache().Get(k.name, k.t, dns.ClassINET); ok {
			t.Errorf("%s %s cached from a forwarder of shop.example.com: %v", k.name, dns.TypeToString[k.t], e.RRs)
		}
	}
	m, err := r.Resolve(t.Context(), "alias.shop.example.com.", dns.TypeA)
	if err != nil || len(m.Answer) != 2 || firstA(t, m) != "192.0.2.1" {
		t.Fatalf("got %v, %v; want the CNAME and www.example.com's own address", m, err)
	}
	if len(n.askedOf("127.53.2.1")) == 0 {
		t.Error("the CNAME's target outside the zone was not iterated")
	}
}

// TestForwarderReferralIsNotFollowed: a forwarder that answers with a
// referral does not recurse; the walk does not iterate from it.
func TestForwarderReferralIsNotFollowed(t *testing.T) {
	n := standardNet(t)
	n.handle("127.53.50.1", n.handlers[netip.MustParseAddr("127.53.1.1")]) // com's authority
	r := newTestResolver(t, n, func(c *Config) {
		c.ForwardZones = []ForwardZone{fwdZone("com.", "127.53.50.1:53")}
	})
	if m, err := r.Resolve(t.Context(), "www.example.com.", dns.TypeA); err == nil {
		t.Fatalf("got %v, want an error", m)
	}
	if q := n.askedOf("127.53.2.1"); len(q) > 0 {
		t.Errorf("followed the forwarder's referral: asked %q", q)
	}
}

// TestStubZoneServerPorts: a stub zone's servers given with ports are
// asked on those ports.
func TestStubZoneServerPorts(t *testing.T) {
	n := standardNet(t)
	var mu sync.Mutex
	ports := map[string]uint16{}
	rec := exchangeFunc(func(ctx context.Context, m *dns.Msg, server netip.AddrPort) (*dns.Msg, time.Duration, error) {
		mu.Lock()
		ports[server.Addr().String()] = server.Port()
		mu.Unlock()
		return n.Exchange(ctx, m, server)
	})
	r := newTestResolver(t, n, func(c *Config) {
		c.Transport = rec
		c.UpstreamPort = 5300
		c.StubZones = []StubZone{{Zone: "example.com.", Servers: []netip.AddrPort{netip.MustParseAddrPort("127.53.2.1:5353")}}}
	})
	if m, err := r.Resolve(t.Context(), "www.example.com.", dns.TypeA); err != nil || firstA(t, m) != "192.0.2.1" {
		t.Fatalf("got %v, %v", m, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if ports["127.53.2.1"] != 5353 {
		t.Errorf("the stub server was asked on port %d, want 5353", ports["127.53.2.1"])
	}
	if len(ports) != 1 {
		t.Errorf("asked %v; a stub zone's names go to its servers only", ports)
	}
}

func TestConfiguredZonesValidation(t *testing.T) {
	ap := netip.MustParseAddrPort
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"forward zone without servers", Config{ForwardZones: []ForwardZone{{Zone: "example."}}}},
		{"bad forward zone name", Config{ForwardZones: []ForwardZone{{Zone: "a..b", Servers: []Forwarder{{Addr: ap("127.0.0.1:53")}}}}}},
		{"TLS name without TLS", Config{ForwardZones: []ForwardZone{{Zone: "example.", Servers: []Forwarder{{Addr: ap("127.0.0.1:53"), TLSName: "dot.test"}}}}}},
		{"address twice", Config{ForwardZones: []ForwardZone{fwdZone("example.", "127.0.0.1:53", "127.0.0.1:54")}}},
		{"stub and forward", Config{ForwardZones: []ForwardZone{fwdZone("example.", "127.0.0.1:53")},
			StubZones: []StubZone{{Zone: "Example.", Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.2")}}}}},
		{"stub address twice", Config{StubZones: []StubZone{{Zone: "example.", Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.2")}, Servers: []netip.AddrPort{ap("127.0.0.2:5300")}}}}},
	} {
		if _, err := New(tc.cfg); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

// TestForwardedAnswersValidated: with . forwarded and validation on, the
// queries carry DO, the chain of trust (DS and DNSKEY sets) comes
// through the forwarder too, a good answer is secure and one the
// forwarder changed is bogus.
func TestForwardedAnswersValidated(t *testing.T) {
	root, example, anchor := rootAndExample(t, 21, 22, "www.example. 300 IN A 192.0.2.1", "ftp.example. 300 IN A 192.0.2.2",
		"alias.example. 300 IN CNAME www.example.")
	tree := newTreeNet()
	tree.serve("127.53.0.1", root)
	tree.serve("127.53.1.1", example)
	up, err := New(Config{RootHints: treeHints(), Transport: tree, DontQuery: []netip.Prefix{}, DisableIPv6: true, Now: treeClock,
		DNSSEC: DNSSECConfig{TrustAnchors: anchor}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var noDO []string
	n := newFakeNet(t)
	n.handle("127.53.50.1", func(q *dns.Msg) *dns.Msg {
		opt := q.IsEdns0()
		if opt == nil || !opt.Do() {
			mu.Lock()
			noDO = append(noDO, q.Question[0].Name)
			mu.Unlock()
		}
		m := new(dns.Msg).SetReply(q)
		m.RecursionAvailable = true
		a, err := up.Query(context.Background(), q.Question[0].Name, q.Question[0].Qtype, Options{DNSSECOK: opt != nil && opt.Do()})
		if err != nil {
			m.Rcode = dns.RcodeServerFailure
			return m
		}
		m.Rcode, m.Answer, m.Ns = a.Msg.Rcode, a.Msg.Answer, a.Msg.Ns
		if strings.EqualFold(q.Question[0].Name, "ftp.example.") {
			m.Answer = slices.Clone(m.Answer)
			for i, rr := range m.Answer {
				if rr.Header().Rrtype == dns.TypeA {
					m.Answer[i] = rrs(t, "ftp.example. 300 IN A 203.0.113.6")[0]
				}
			}
		}
		return m
	})
	r := newTestResolver(t, n, func(c *Config) {
		c.Now = treeClock
		c.RootHints = treeHints()
		c.DNSSEC = DNSSECConfig{TrustAnchors: anchor}
		c.ForwardZones = []ForwardZone{fwdZone(".", "127.53.50.1:53")}
	})
	a, err := r.Query(t.Context(), "www.example.", dns.TypeA, Options{})
	if err != nil || !a.Msg.AuthenticatedData {
		t.Fatalf("got %v (%v), %v; want a secure answer", a.Msg, a.Security, err)
	}
	// A chain taken whole from one reply is validated link by link.
	if a, err := r.Query(t.Context(), "alias.example.", dns.TypeA, Options{}); err != nil || !a.Msg.AuthenticatedData || len(a.Msg.Answer) != 2 {
		t.Errorf("alias.example.: got %v, %v; want a secure CNAME and address", a.Msg, err)
	}
	if _, err := r.Query(t.Context(), "ftp.example.", dns.TypeA, Options{}); err == nil {
		t.Error("an answer the forwarder changed was not found bogus")
	}
	asked := map[string]bool{}
	for _, q := range n.queries() {
		f := strings.Fields(q)
		asked[f[1]+" "+f[2]] = true
	}
	for _, want := range []string{". DNSKEY", "example. DS", "example. DNSKEY"} {
		if !asked[want] {
			t.Errorf("%s not asked of the forwarder (asked %v)", want, n.queries())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(noDO) > 0 {
		t.Errorf("asked without DO: %q", noDO)
	}
}

// TestForwardedPrivateZone: a private zone forwarded, which the signed
// public tree does not delegate, is bogus unless a negative trust
// anchor names it, as in Unbound (domain-insecure) and Knot Resolver.
func TestForwardedPrivateZone(t *testing.T) {
	root, example, anchor := rootAndExample(t, 21, 22, "www.example. 300 IN A 192.0.2.1")
	tree := newTreeNet()
	tree.serve("127.53.0.1", root)
	tree.serve("127.53.1.1", example)
	n := newFakeNet(t)
	n.handle("127.53.50.1", func(q *dns.Msg) *dns.Msg {
		m := new(dns.Msg).SetReply(q)
		m.RecursionAvailable = true
		if q.Question[0].Qtype == dns.TypeA {
			m.Answer = rrs(t, q.Question[0].Name+" 300 IN A 10.1.1.1")
		}
		return m
	})
	for _, insecure := range []bool{false, true} {
		r := newTestResolver(t, n, func(c *Config) {
			c.Now = treeClock
			c.RootHints = treeHints()
			c.Transport = exchangeFunc(func(ctx context.Context, m *dns.Msg, s netip.AddrPort) (*dns.Msg, time.Duration, error) {
				if s.Addr().String() == "127.53.50.1" {
					return n.Exchange(ctx, m, s)
				}
				return tree.Exchange(ctx, m, s)
			})
			c.DNSSEC = DNSSECConfig{TrustAnchors: anchor}
			if insecure {
				c.DNSSEC.InsecureDomains = []string{"corp."}
			}
			c.ForwardZones = []ForwardZone{fwdZone("corp.", "127.53.50.1:53")}
		})
		a, err := r.Query(t.Context(), "www.corp.", dns.TypeA, Options{})
		switch {
		case !insecure && err == nil:
			t.Errorf("no negative trust anchor: got %v, want bogus", a.Msg)
		case insecure && (err != nil || a.Msg.AuthenticatedData || firstA(t, a.Msg) != "10.1.1.1"):
			t.Errorf("under a negative trust anchor: got %v, %v; want the answer without AD", a.Msg, err)
		}
	}
}

// TestForwardChoiceBySRTT: of two live forwarders, the one with the
// lower smoothed RTT gets the questions.
func TestForwardChoiceBySRTT(t *testing.T) {
	n := standardNet(t)
	fw := newForwarder(t)
	n.handle("127.53.50.1", fw.handle)
	n.handle("127.53.50.2", fw.handle)
	r := newTestResolver(t, n, func(c *Config) {
		c.ForwardZones = []ForwardZone{fwdZone(".", "127.53.50.1:53", "127.53.50.2:53")}
	})
	r.infra.report(netip.MustParseAddr("127.53.50.1"), ".", OutcomeAnswered, 300*time.Millisecond, r.now())
	r.infra.report(netip.MustParseAddr("127.53.50.2"), ".", OutcomeAnswered, 5*time.Millisecond, r.now())
	for _, name := range []string{"www.example.com.", "alias.example.com.", "a.b.example.com.", "www.shop.example.com."} {
		if _, err := r.Resolve(t.Context(), name, dns.TypeA); err != nil {
			t.Fatal(err)
		}
	}
	if slow, fast := len(n.askedOf("127.53.50.1")), len(n.askedOf("127.53.50.2")); slow != 0 || fast == 0 {
		t.Errorf("asked the slow forwarder %d times, the fast one %d; want only the fast one", slow, fast)
	}
}

// TestForwardedChainTakenWhole: a forwarder's CNAME chain inside the
// zone, ending in the answer, is taken from one reply, and each link is
// cached; a chain leaving the zone is followed by the resolver itself.
func TestForwardedChainTakenWhole(t *testing.T) {
	n := standardNet(t)
	fw := newForwarder(t)
	n.handle("127.53.50.1", fw.handle)
	r := newTestResolver(t, n, func(c *Config) {
		c.ForwardZones = []ForwardZone{fwdZone(".", "127.53.50.1:53")}
	})
	m, err := r.Resolve(t.Context(), "alias.example.com.", dns.TypeA)
	if err != nil || len(m.Answer) != 2 || firstA(t, m) != "192.0.2.1" {
		t.Fatalf("got %v, %v; want the CNAME and the address", m, err)
	}
	if got := fw.questions(); len(got) != 1 {
		t.Errorf("the forwarder got %q, want one question for the whole chain", got)
	}
	for _, name := range []string{"alias.example.com.", "www.example.com."} {
		if _, ok := r.Cache().Get(name, map[bool]uint16{true: dns.TypeCNAME, false: dns.TypeA}[name == "alias.example.com."], dns.ClassINET); !ok {
			t.Errorf("%s not cached", name)
		}
	}
}

// TestForwardFirst: with forward-first, a question whose forwarders all
// fail is iterated as if the zone were not forwarded; without it, it
// fails.
func TestForwardFirst(t *testing.T) {
	for _, first := range []bool{false, true} {
		t.Run(map[bool]string{false: "forward-only", true: "forward-first"}[first], func(t *testing.T) {
			n := standardNet(t)
			n.handle("127.53.50.1", func(q *dns.Msg) *dns.Msg { // a forwarder that has lost its upstream
				m := new(dns.Msg).SetRcode(q, dns.RcodeServerFailure)
				m.RecursionAvailable = true
				return m
			})
			r := newTestResolver(t, n, func(c *Config) {
				fz := fwdZone("example.com", "127.53.50.1:53")
				fz.First = first
				c.ForwardZones = []ForwardZone{fz}
			})
			m, err := r.Resolve(t.Context(), "www.example.com.", dns.TypeA)
			if !first {
				if err == nil {
					t.Fatalf("answered %v with every forwarder failing and no forward-first", m)
				}
				return
			}
			if err != nil || firstA(t, m) != "192.0.2.1" {
				t.Fatalf("got %v, %v; want 192.0.2.1 by iteration", m, err)
			}
			if len(n.askedOf("127.53.50.1")) == 0 {
				t.Error("the forwarder was never asked")
			}
			// Names outside the forward zone never meet the forwarder.
			if _, err := r.Resolve(t.Context(), "www.example.net.", dns.TypeA); err != nil {
				t.Fatal(err)
			}
		})
	}
}
