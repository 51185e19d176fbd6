package resolver

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
)

// withOverride answers the names in special with fixed replies and the
// rest with h.
func withOverride(tb testing.TB, h func(*dns.Msg) *dns.Msg, special map[string]msgSpec) func(*dns.Msg) *dns.Msg {
	return func(q *dns.Msg) *dns.Msg {
		qn := strings.ToLower(q.Question[0].Name) + " " + dns.TypeToString[q.Question[0].Qtype]
		s, ok := special[qn]
		if !ok {
			return h(q)
		}
		m := buildReply(tb, s)
		m.Id = q.Id
		m.Question = q.Question
		return m
	}
}

func TestNonMinimalNoDataCarriesZoneNS(t *testing.T) {
	// A NODATA that names the zone's NS set instead of its SOA (what is
	// left when every record of the answer was malformed): non-minimal
	// responses repeat the NS set and its addresses.
	n := standardNet(t)
	n.handle("127.53.2.1", withOverride(t, n.handlers[netip.MustParseAddr("127.53.2.1")], map[string]msgSpec{
		"empty.example.com. A": {aa: true, qname: "empty.example.com.", qtype: dns.TypeA,
			ns:    []string{"example.com. 300 IN NS ns1.example.com."},
			extra: []string{"ns1.example.com. 300 IN A 127.53.2.1"}},
	}))
	for _, nonMinimal := range []bool{false, true} {
		r := newTestResolver(t, n, func(c *Config) {
			c.NonMinimalResponses = nonMinimal
			c.AcceptAuthorityNS = true
			c.QNAMEMinimisation = QminOff
		})
		m, err := r.Resolve(t.Context(), "empty.example.com.", dns.TypeA)
		if err != nil {
			t.Fatal(err)
		}
		wantNS := 0
		if nonMinimal {
			wantNS = 1
		}
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 || len(m.Ns) != wantNS {
			t.Errorf("non-minimal %v: got %v, want NODATA with %d NS", nonMinimal, m, wantNS)
		}
	}
}

func TestEmptyAuthoritativeReplyTriesOtherServers(t *testing.T) {
	// example.com has two servers; 127.53.2.1 sends an AA reply with every
	// section empty (no SOA) for www.example.com.
	empty := map[string]msgSpec{"www.example.com. A": {aa: true, qname: "www.example.com.", qtype: dns.TypeA}}
	tests := []struct {
		name       string
		secondToo  bool // the other server is empty as well
		wantAnswer int
	}{
		{"the other server answers", false, 1},
		{"every server empty: NODATA", true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := newFakeNet(t)
			n.handle("127.53.0.1", zoneServer(t, ".",
				". 518400 IN NS a.root.lab.", "a.root.lab. 518400 IN A 127.53.0.1",
				"example.com. 172800 IN NS ns1.example.com.", "example.com. 172800 IN NS ns2.example.com.",
				"ns1.example.com. 172800 IN A 127.53.2.1", "ns2.example.com. 172800 IN A 127.53.2.2"))
			zone := zoneServer(t, "example.com.",
				"example.com. 300 IN SOA ns1.example.com. h.example.com. 1 2 3 4 300",
				"www.example.com. 300 IN A 192.0.2.1")
			n.handle("127.53.2.1", withOverride(t, zone, empty))
			second := zone
			if tc.secondToo {
				second = withOverride(t, zone, empty)
			}
			n.handle("127.53.2.2", second)
			// Servers are picked at random: fresh resolvers, so the empty
			// one comes first in some of them.
			for range 8 {
				r := newTestResolver(t, n, func(c *Config) { c.QNAMEMinimisation = QminOff })
				m, err := r.Resolve(t.Context(), "www.example.com.", dns.TypeA)
				if err != nil {
					t.Fatal(err)
				}
				if m.Rcode != dns.RcodeSuccess || len(m.Answer) != tc.wantAnswer {
					t.Fatalf("got %v, want NOERROR with %d answers", m, tc.wantAnswer)
				}
			}
		})
	}
}

func TestCutBelowZoneLivesNoLongerThanZone(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		zoneTTL uint32 // 0: zone not cached
		ns      string
		wantTTL uint32
	}{
		{"capped to the zone's time left", 600, "s.example.com. 3600 IN NS s.example.com.", 600},
		{"shorter TTL kept", 600, "s.example.com. 60 IN NS s.example.com.", 60},
		{"zone unknown: kept", 0, "s.example.com. 3600 IN NS s.example.com.", 3600},
		{"the zone's own NS set is not capped here", 600, "example.com. 3600 IN NS ns.example.com.", 3600},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := cache.New(cache.Config{Now: func() time.Time { return now }})
			if tc.zoneTTL > 0 {
				c.Put(rrs(t, fmt.Sprintf("example.com. %d IN NS ns.example.com.", tc.zoneTTL)), cache.RankReferral)
			}
			ns := rrs(t, tc.ns)
			capBelowZone(c, "example.com.", ns, now, time.Time{})
			if got := ns[0].Header().Ttl; got != tc.wantTTL {
				t.Errorf("TTL %d, want %d", got, tc.wantTTL)
			}
		})
	}
}

func TestNonMinimalAdditionalSkipsAnswerRRsets(t *testing.T) {
	// The server of s.example.com is s.example.com itself: its address is
	// the answer and is not repeated in the additional section.
	n := standardNet(t)
	n.handle("127.53.2.1", withOverride(t, n.handlers[netip.MustParseAddr("127.53.2.1")], map[string]msgSpec{
		"s.example.com. A": {aa: true, qname: "s.example.com.", qtype: dns.TypeA,
			answer: []string{"s.example.com. 300 IN A 192.0.2.5"},
			ns:     []string{"example.com. 300 IN NS s.example.com."},
			extra:  []string{"s.example.com. 300 IN A 192.0.2.5"}},
	}))
	r := newTestResolver(t, n, func(c *Config) {
		c.NonMinimalResponses = true
		c.AcceptAuthorityNS = true
		c.QNAMEMinimisation = QminOff
	})
	m, err := r.Resolve(t.Context(), "s.example.com.", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Answer) != 1 || len(m.Ns) != 1 || len(m.Extra) != 0 {
		t.Errorf("got %v; want the A in the answer only, with the NS set", m)
	}
}

func TestNegativeWithoutSOACachedBriefly(t *testing.T) {
	// An empty authoritative NODATA (no SOA) is kept NoSOANegativeTTL,
	// or the operator's minimum TTL when longer (Knot's min_ttl).
	empty := map[string]msgSpec{"www.example.com. A": {aa: true, qname: "www.example.com.", qtype: dns.TypeA}}
	n := standardNet(t)
	n.handle("127.53.2.1", withOverride(t, n.handlers[netip.MustParseAddr("127.53.2.1")], empty))
	for _, minTTL := range []time.Duration{0, 30 * time.Second} {
		now := func() time.Time { return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC) }
		c := cache.New(cache.Config{MinTTL: minTTL, Now: now})
		r := newTestResolver(t, n, func(cfg *Config) { cfg.QNAMEMinimisation = QminOff; cfg.Cache = c; cfg.Now = now })
		if m, err := r.Resolve(t.Context(), "www.example.com.", dns.TypeA); err != nil || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 {
			t.Fatalf("got %v, %v; want NODATA", m, err)
		}
		e, ok := c.Get("www.example.com.", dns.TypeA, dns.ClassINET)
		want := max(cache.NoSOANegativeTTL, minTTL)
		if !ok || e.Negative != cache.NoData || time.Duration(e.TTL)*time.Second != want {
			t.Errorf("MinTTL %v: cached %+v, %v; want NODATA for %v", minTTL, e, ok, want)
		}
	}
}

func TestLameStubZoneIsNotFetchedFromParent(t *testing.T) {
	// The stub server of example.com refers upward: lame. The configured
	// servers are all there is; the root is not asked about the name.
	n := standardNet(t)
	n.handle("127.53.9.1", func(q *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Ns = rrs(t, "com. 300 IN NS ns.com.")
		return m
	})
	r := newTestResolver(t, n, func(c *Config) {
		c.QNAMEMinimisation = QminOff
		c.StubZones = []StubZone{{Zone: "example.com.", Addrs: []netip.Addr{netip.MustParseAddr("127.53.9.1")}}}
	})
	if m, err := r.Resolve(t.Context(), "www.example.com.", dns.TypeA); err == nil {
		t.Fatalf("got %v, want an error", m)
	}
	for _, q := range n.queries() {
		if strings.Contains(q, "www.example.com.") && !strings.HasPrefix(q, "127.53.9.1 ") {
			t.Errorf("asked another server than the stub's: %s", q)
		}
	}
}

func TestServerWithOnlyForbiddenGlueIsLookedUp(t *testing.T) {
	// The root delegates example.org to ns1.example.com with only ::1 as
	// glue, an address never queried; its A record is elsewhere.
	n := standardNet(t)
	n.handle("127.53.0.1", withOverride(t, n.handlers[netip.MustParseAddr("127.53.0.1")], map[string]msgSpec{
		"www.example.org. A": {qname: "www.example.org.", qtype: dns.TypeA,
			ns: []string{"example.org. 3600 IN NS ns1.example.com."}, extra: []string{"ns1.example.com. 3600 IN AAAA ::1"}},
	}))
	n.handle("127.53.2.1", withOverride(t, n.handlers[netip.MustParseAddr("127.53.2.1")], map[string]msgSpec{
		"ns1.example.com. A": {aa: true, qname: "ns1.example.com.", qtype: dns.TypeA, answer: []string{"ns1.example.com. 300 IN A 127.53.2.1"}},
		"www.example.org. A": {aa: true, qname: "www.example.org.", qtype: dns.TypeA, answer: []string{"www.example.org. 300 IN A 192.0.2.80"}},
	}))
	r := newTestResolver(t, n, func(c *Config) {
		c.QNAMEMinimisation = QminOff
		c.DisableIPv6 = false
		c.DontQuery = []netip.Prefix{netip.MustParsePrefix("::1/128")}
	})
	m, err := r.Resolve(t.Context(), "www.example.org.", dns.TypeA)
	if err != nil || len(m.Answer) != 1 {
		t.Fatalf("got %v, %v; want the answer through the looked-up address", m, err)
	}
}

func TestChildNSCannotOutliveParentDelegation(t *testing.T) {
	// The parent delegated example.com for 600 s; the child's own NS set
	// replaced the referral in the cache. A later NS set from the child,
	// 300 s on, may live only the 300 s the delegation has left.
	clk := &fakeClock{now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	r := newTestResolver(t, newFakeNet(t), func(c *Config) { c.Now = clk.Now })
	referral := rrs(t, "example.com. 600 IN NS ns.example.com.")
	r.cache.Put(referral, cache.RankReferral)
	r.rememberDelegation(referral, clk.Now())
	own := rrs(t, "example.com. 600 IN NS ns.example.com.")
	r.capToParentTTL("example.com.", own, clk.Now())
	r.cache.Put(own, cache.RankAuthAuthority)
	clk.Advance(300 * time.Second)
	again := rrs(t, "example.com. 3600 IN NS ns.example.com.")
	r.capToParentTTL("example.com.", again, clk.Now())
	if got := again[0].Header().Ttl; got != 300 {
		t.Errorf("TTL %d, want 300 (what the parent's delegation has left)", got)
	}
}

func TestPrivateAddressHintsInSVCB(t *testing.T) {
	private := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fe80::/10")}
	r := newTestResolver(t, newFakeNet(t), func(c *Config) { c.PrivateAddress = private; c.PrivateDomain = []string{"example.net"} })
	tests := []struct {
		rr   string
		kept bool
	}{
		{"www.example.com. 300 IN SVCB 1 foo.example.com. ipv4hint=192.0.2.1", true},
		{"www.example.com. 300 IN SVCB 1 foo.example.com. ipv4hint=10.20.30.40", false},
		{"www.example.com. 300 IN HTTPS 1 . ipv6hint=fe80::15", false},
		{"www.example.com. 300 IN SVCB 1 foo.example.com. ipv4hint=192.0.2.1,10.20.30.42", false},
		{"www.example.net. 300 IN SVCB 1 foo.example.net. ipv4hint=10.20.30.40", true},
	}
	for _, tc := range tests {
		t.Run(tc.rr, func(t *testing.T) {
			got := reply{kind: kindAnswer, answer: rrs(t, tc.rr)}
			r.withoutPrivate(&got)
			if kept := len(got.answer) == 1; kept != tc.kept {
				t.Errorf("kept %v, want %v", kept, tc.kept)
			}
		})
	}
}

func TestAuthorityNSOfAnswers(t *testing.T) {
	// The server of example.com answers a name in the zone and
	// names another server for the zone in authority, with an address.
	n := standardNet(t)
	n.handle("127.53.2.1", withOverride(t, n.handlers[netip.MustParseAddr("127.53.2.1")], map[string]msgSpec{
		"x.example.com. A": {aa: true, qname: "x.example.com.", qtype: dns.TypeA,
			answer: []string{"x.example.com. 300 IN A 192.0.2.9"},
			ns:     []string{"example.com. 86400 IN NS ns.attacker.example.com."},
			extra:  []string{"ns.attacker.example.com. 86400 IN A 127.53.66.6"}},
	}))
	for _, accept := range []bool{false, true} {
		r := newTestResolver(t, n, func(c *Config) { c.QNAMEMinimisation = QminOff; c.AcceptAuthorityNS = accept })
		if _, err := r.Resolve(t.Context(), "x.example.com.", dns.TypeA); err != nil {
			t.Fatal(err)
		}
		e, _ := r.cache.Get("example.com.", dns.TypeNS, dns.ClassINET)
		_, glue := r.cache.Get("ns.attacker.example.com.", dns.TypeA, dns.ClassINET)
		replaced := len(e.RRs) == 1 && e.RRs[0].(*dns.NS).Ns == "ns.attacker.example.com."
		if replaced != accept || glue != accept {
			t.Errorf("AcceptAuthorityNS %v: NS set replaced %v, address cached %v", accept, replaced, glue)
		}
	}
}

func TestTrimNS(t *testing.T) {
	r := newTestResolver(t, newFakeNet(t), func(c *Config) { c.Limits.MaxNSRecords = 2 })
	ns := rrs(t, "sub.example.com. 300 IN NS a.example.com.", "sub.example.com. 300 IN NS b.example.com.", "sub.example.com. 300 IN NS c.example.com.")
	glue := rrs(t, "a.example.com. 300 IN A 192.0.2.1", "c.example.com. 300 IN A 192.0.2.3", "b.example.com. 300 IN AAAA 2001:db8::2")
	tests := []struct {
		name  string
		rep   reply
		qtype uint16
	}{
		{"referral", reply{kind: kindReferral, ns: ns, glue: glue}, dns.TypeA},
		{"NS answer", reply{kind: kindAnswer, answer: ns, glue: glue}, dns.TypeNS},
		{"authority of an answer", reply{kind: kindAnswer, authNS: ns, glue: glue}, dns.TypeA},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.rep
			r.trimNS(&got, tc.qtype)
			if n := len(got.ns) + len(got.authNS) + len(got.answer); n != 2 {
				t.Errorf("%d NS records kept, want 2", n)
			}
			if len(got.glue) != 2 || got.glue[0].Header().Name != "a.example.com." || got.glue[1].Header().Name != "b.example.com." {
				t.Errorf("glue %v, want the addresses of a and b only", got.glue)
			}
		})
	}
}

func TestMinimalNSAnswerCarriesGlue(t *testing.T) {
	n := standardNet(t)
	n.handle("127.53.0.1", withOverride(t, n.handlers[netip.MustParseAddr("127.53.0.1")], map[string]msgSpec{
		". NS": {aa: true, qname: ".", qtype: dns.TypeNS,
			answer: []string{". 518400 IN NS a.root.lab."}, extra: []string{"a.root.lab. 518400 IN A 127.53.0.1"}},
	}))
	r := newTestResolver(t, n, nil)
	m, err := r.Resolve(t.Context(), ".", dns.TypeNS)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Answer) != 1 || len(m.Extra) != 1 || m.Extra[0].Header().Name != "a.root.lab." {
		t.Errorf("got %v; want the NS set and the address of a.root.lab", m)
	}
}

func TestVerifySiblingGlue(t *testing.T) {
	// com delegates sib.com to ns1.example.com, a sibling name, with a
	// stale address for it; the real one is in example.com.
	n := standardNet(t)
	n.handle("127.53.1.1", withOverride(t, n.handlers[netip.MustParseAddr("127.53.1.1")], map[string]msgSpec{
		"www.sib.com. A": {qname: "www.sib.com.", qtype: dns.TypeA,
			ns: []string{"sib.com. 3600 IN NS ns1.example.com."}, extra: []string{"ns1.example.com. 3600 IN A 127.53.66.6"}},
	}))
	n.handle("127.53.2.1", withOverride(t, n.handlers[netip.MustParseAddr("127.53.2.1")], map[string]msgSpec{
		"ns1.example.com. A": {aa: true, qname: "ns1.example.com.", qtype: dns.TypeA, answer: []string{"ns1.example.com. 300 IN A 127.53.2.1"}},
		"www.sib.com. A":     {aa: true, qname: "www.sib.com.", qtype: dns.TypeA, answer: []string{"www.sib.com. 300 IN A 192.0.2.77"}},
	}))
	n.handle("127.53.66.6", func(q *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Authoritative = true
		m.Answer = rrs(t, "www.sib.com. 300 IN A 192.0.2.66")
		return m
	})
	for _, tc := range []struct {
		verify bool
		want   string
	}{{false, "192.0.2.66"}, {true, "192.0.2.77"}} {
		r := newTestResolver(t, n, func(c *Config) { c.QNAMEMinimisation = QminOff; c.VerifySiblingGlue = tc.verify })
		m, err := r.Resolve(t.Context(), "www.sib.com.", dns.TypeA)
		if err != nil || len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != tc.want {
			t.Errorf("VerifySiblingGlue %v: got %v, %v; want %s", tc.verify, m, err, tc.want)
		}
	}
}

func TestDNAMEMetTwiceIsAnsweredOnce(t *testing.T) {
	// d.example.com is a DNAME to example.com: x.d.d.example.com goes
	// through it twice, and each reply repeats it.
	dname := "d.example.com. 300 IN DNAME example.com."
	n := standardNet(t)
	n.handle("127.53.2.1", withOverride(t, n.handlers[netip.MustParseAddr("127.53.2.1")], map[string]msgSpec{
		"x.d.d.example.com. A": {aa: true, qname: "x.d.d.example.com.", qtype: dns.TypeA, answer: []string{dname, "x.d.d.example.com. 300 IN CNAME x.d.example.com."}},
		"x.d.example.com. A":   {aa: true, qname: "x.d.example.com.", qtype: dns.TypeA, answer: []string{dname, "x.d.example.com. 300 IN CNAME x.example.com."}},
		"x.example.com. A":     {aa: true, qname: "x.example.com.", qtype: dns.TypeA, answer: []string{"x.example.com. 300 IN A 192.0.2.4"}},
	}))
	r := newTestResolver(t, n, func(c *Config) { c.QNAMEMinimisation = QminOff })
	m, err := r.Resolve(t.Context(), "x.d.d.example.com.", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, rr := range m.Answer {
		types = append(types, dns.TypeToString[rr.Header().Rrtype])
	}
	if strings.Join(types, " ") != "DNAME CNAME CNAME A" {
		t.Errorf("answer %v, want the DNAME once, two CNAMEs and the A record", m.Answer)
	}
}

func TestGlueIsNotAnAnswer(t *testing.T) {
	// Resolving www.shop.example.com caches ns.shop.example.com's address
	// as glue; a client asking for that address gets it fetched.
	n := standardNet(t)
	r := newTestResolver(t, n, func(c *Config) { c.QNAMEMinimisation = QminOff })
	if _, err := r.Resolve(t.Context(), "www.shop.example.com.", dns.TypeA); err != nil {
		t.Fatal(err)
	}
	if e, ok := r.cache.Get("ns.shop.example.com.", dns.TypeA, dns.ClassINET); !ok || e.Rank != cache.RankGlue {
		t.Fatalf("glue not cached: %+v %v", e, ok)
	}
	before := len(n.queries())
	if _, err := r.Resolve(t.Context(), "ns.shop.example.com.", dns.TypeA); err != nil {
		t.Fatal(err)
	}
	if got := n.queries()[before:]; len(got) != 1 || got[0] != "127.53.3.1 ns.shop.example.com. A" {
		t.Errorf("queries %v, want one to the shop.example.com server", got)
	}
}

func TestExpiredDelegationIsNotRenewedByTheChild(t *testing.T) {
	clk := &fakeClock{now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	r := newTestResolver(t, newFakeNet(t), func(c *Config) { c.Now = clk.Now })
	r.rememberDelegation(rrs(t, "example.com. 600 IN NS ns.example.com."), clk.Now())
	clk.Advance(700 * time.Second)
	own := rrs(t, "example.com. 3600 IN NS ns.example.com.")
	r.capToParentTTL("example.com.", own, clk.Now())
	if got := own[0].Header().Ttl; got != 0 {
		t.Errorf("TTL %d after the parent's delegation ran out, want 0", got)
	}
}

func TestNoDataWithoutSOA(t *testing.T) {
	ns := rrs(t, "example.com. 300 IN NS ns.example.com.")
	tests := []struct {
		name   string
		rep    reply
		cached bool
	}{
		{"empty reply: kept briefly", reply{kind: kindNoData, aa: true, empty: true, target: "ns.example.com."}, true},
		{"NS set instead of SOA: not kept", reply{kind: kindNoData, aa: true, authNS: ns, target: "ns.example.com."}, false},
		{"NXDOMAIN without SOA: kept briefly", reply{kind: kindNXDomain, target: "ns.example.com."}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestResolver(t, newFakeNet(t), func(c *Config) { c.AcceptAuthorityNS = true })
			r.store("example.com.", "ns.example.com.", dns.TypeA, &tc.rep)
			e, ok := r.cache.Get("ns.example.com.", dns.TypeA, dns.ClassINET)
			if cached := ok && e.Negative != cache.Positive; cached != tc.cached {
				t.Errorf("negative entry cached %v, want %v", cached, tc.cached)
			}
		})
	}
}
