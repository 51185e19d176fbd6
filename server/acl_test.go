package server

import (
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
)

func TestAccessListLongestPrefixWins(t *testing.T) {
	rules := []AccessRule{
		{netip.MustParsePrefix("10.0.0.0/8"), ActionAllow},
		{netip.MustParsePrefix("10.1.0.0/16"), ActionDeny},
		{netip.MustParsePrefix("10.1.2.0/24"), ActionAllowSnoop},
		{netip.MustParsePrefix("10.1.2.3/32"), ActionRefuse},
		{netip.MustParsePrefix("10.9.0.0/16"), ActionDeny},
		{netip.MustParsePrefix("10.9.0.0/16"), ActionRefuseNonLocal}, // the later rule for a network wins
		{netip.MustParsePrefix("::ffff:192.0.2.0/120"), ActionAllow}, // mapped: the IPv4 network
		{netip.MustParsePrefix("2001:db8::/32"), ActionAllow},
		{netip.MustParsePrefix("2001:db8:1::/48"), ActionDenyNonLocal},
		{netip.MustParsePrefix("fe80::/10"), ActionAllow},
	}
	many := newAccessList(rules)
	few := newAccessList(append(rules[:7:7], rules[9])) // scanned, not hashed
	if many.v4 == nil || few.few == nil || few.v4 != nil {
		t.Fatalf("the lists are not one of each kind: %d and %d rules scanned", len(many.few), len(few.few))
	}
	for _, tc := range []struct {
		client string
		want   Action
	}{
		{"10.200.0.1", ActionAllow},
		{"10.1.9.9", ActionDeny},
		{"10.1.2.4", ActionAllowSnoop},
		{"10.1.2.3", ActionRefuse},
		{"10.9.1.1", ActionRefuseNonLocal},
		{"::ffff:10.1.2.4", ActionAllowSnoop},
		{"192.0.2.200", ActionAllow},
		{"192.0.3.1", ActionRefuse}, // no rule holds it
		{"2001:db8:2::1", ActionAllow},
		{"2001:db8:1::1", ActionDenyNonLocal},
		{"fe80::1%eth0", ActionAllow},
		{"2001:db9::1", ActionRefuse},
		{"11.0.0.1", ActionRefuse},
	} {
		if got := many.action(netip.MustParseAddr(tc.client)); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.client, got, tc.want)
		}
		if strings.HasPrefix(tc.client, "2001:db8") {
			continue // rules left out of few
		}
		if got := few.action(netip.MustParseAddr(tc.client)); got != tc.want {
			t.Errorf("%s, few rules: %v, want %v", tc.client, got, tc.want)
		}
	}
}

func TestParseAccessRule(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "192.0.2.0/24=allow", want: "192.0.2.0/24=allow"},
		{in: "192.0.2.7/24=ALLOW_SNOOP", want: "192.0.2.0/24=allow_snoop"},
		{in: "2001:db8::1 deny", want: "2001:db8::1/128=deny"},
		{in: "0.0.0.0/0=refuse_non_local", want: "0.0.0.0/0=refuse_non_local"},
		{in: "::/0=deny_non_local", want: "::/0=deny_non_local"},
		{in: "10.0.0.0/8", err: "want NET=ACTION"},
		{in: "10.0.0.0/8=permit", err: `unknown access-control action "permit"`},
		{in: "example.com=allow", err: "not a CIDR prefix or address"},
	} {
		r, err := ParseAccessRule(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: err %v, want one saying %q", tc.in, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case tc.err == "" && r.String() != tc.want:
			t.Errorf("%q read as %s, want %s", tc.in, r, tc.want)
		}
	}
}

// addCached makes the fake backend's cache hold rrs as the answer to
// name and qtype.
func (f *fakeBackend) addCached(tb testing.TB, name string, qtype uint16, rrs ...string) {
	tb.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Response = true
	m.Answer = rrsOf(tb, rrs...)
	k := key(name, qtype)
	f.msgs[k], f.cached[k] = m, true
	b, err := m.Pack()
	if err != nil {
		tb.Fatal(err)
	}
	f.packed[k] = string(b)
}

func TestAccessActions(t *testing.T) {
	var (
		allow    = netip.MustParseAddrPort("192.0.2.1:5000")
		snoop    = netip.MustParseAddrPort("192.0.2.2:5000")
		refuse   = netip.MustParseAddrPort("192.0.2.3:5000")
		deny     = netip.MustParseAddrPort("192.0.2.4:5000")
		nonLocal = netip.MustParseAddrPort("192.0.2.5:5000")
		denyNL   = netip.MustParseAddrPort("192.0.2.6:5000")
		other    = netip.MustParseAddrPort("198.51.100.1:5000")
	)
	rule := func(a netip.AddrPort, action Action) AccessRule {
		return AccessRule{netip.PrefixFrom(a.Addr(), 32), action}
	}
	const localName = "local.example."
	s, fb := newTestServer(t, Config{AccessControl: []AccessRule{
		rule(allow, ActionAllow), rule(snoop, ActionAllowSnoop), rule(refuse, ActionRefuse),
		rule(deny, ActionDeny), rule(nonLocal, ActionRefuseNonLocal), rule(denyNL, ActionDenyNonLocal),
	}, Local: func(name string, _ uint16) bool { return strings.EqualFold(name, localName) }})
	fb.addCached(t, localName, dns.TypeA, localName+" 3600 IN A 192.0.2.53")
	fb.addCached(t, "example.com.", dns.TypeNS, "example.com. 3600 IN NS ns1.example.com.", "example.com. 3600 IN NS ns2.example.net.")
	fb.addCached(t, "ns1.example.com.", dns.TypeA, "ns1.example.com. 3600 IN A 192.0.2.10")
	fb.addCached(t, "ns1.example.com.", dns.TypeAAAA, "ns1.example.com. 3600 IN AAAA 2001:db8::10")

	type outcome struct {
		rcode       int // -1: no answer at all
		ede         int // -1: none
		answers, ns int
		extra       int // records besides the OPT
	}
	dropped := outcome{rcode: -1}
	answered := func(n int) outcome { return outcome{rcode: dns.RcodeSuccess, ede: -1, answers: n} }
	refused := func(ede uint16) outcome { return outcome{rcode: dns.RcodeRefused, ede: int(ede)} }
	for _, tc := range []struct {
		name   string
		client netip.AddrPort
		qname  string
		rd     bool
		want   outcome
	}{
		{"allow, recursive", allow, nameAlias, true, answered(2)},
		{"allow, RD=0 cached: no snooping", allow, nameWWW, false, refused(dns.ExtendedErrorCodeNotAuthoritative)},
		{"allow, RD=0 local data", allow, localName, false, answered(1)},
		{"allow_snoop, RD=0 cached", snoop, nameWWW, false, answered(1)},
		{"allow_snoop, RD=0 not cached: referral from the cache", snoop, "other.example.com.", false,
			outcome{rcode: dns.RcodeSuccess, ede: -1, ns: 2, extra: 2}},
		{"allow_snoop, RD=0 nothing cached above", snoop, "other.example.org.", false, refused(dns.ExtendedErrorCodeNotAuthoritative)},
		{"allow_snoop, recursive", snoop, nameAlias, true, answered(2)},
		{"refuse", refuse, nameWWW, true, refused(dns.ExtendedErrorCodeProhibited)},
		{"no rule: refuse", other, nameWWW, true, refused(dns.ExtendedErrorCodeProhibited)},
		{"deny", deny, nameWWW, true, dropped},
		{"refuse_non_local", nonLocal, nameWWW, true, refused(dns.ExtendedErrorCodeProhibited)},
		{"refuse_non_local, local data", nonLocal, localName, true, answered(1)},
		{"deny_non_local", denyNL, nameWWW, true, dropped},
		{"deny_non_local, local data", denyNL, localName, true, answered(1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, packet := range []bool{false, true} {
				req := withEDNS(question(tc.qname, dns.TypeA), 1232, false)
				req.RecursionDesired = tc.rd
				var resp *dns.Msg
				if packet {
					// Twice, so that a ready answer kept by the first
					// would be what the second gets.
					wire, _ := req.Pack()
					s.HandlePacket(t.Context(), wire, tc.client, false, nil)
					if out := s.HandlePacket(t.Context(), wire, tc.client, false, nil); out != nil {
						resp = new(dns.Msg)
						if err := resp.Unpack(out); err != nil {
							t.Fatal(err)
						}
					}
				} else {
					resp = s.Handle(t.Context(), req, tc.client, false)
				}
				got := outcome{rcode: -1}
				if resp != nil {
					got = outcome{rcode: resp.Rcode, ede: -1, answers: len(resp.Answer), ns: len(resp.Ns), extra: len(resp.Extra) - 1}
					if e := edeOf(resp); e != nil {
						got.ede = int(e.InfoCode)
					}
				}
				if got != tc.want {
					t.Errorf("packet %v: got %+v, want %+v\n%v", packet, got, tc.want, resp)
				}
			}
		})
	}
	fb.checkUnchanged(t)
}

// TestReadyAnswersHonourAccess: the ready-answer fast path answers only
// what the slow path would, for RD=0 queries of plain allow clients too.
func TestReadyAnswersHonourAccess(t *testing.T) {
	snoop := netip.MustParseAddrPort("192.0.2.2:5000")
	s, _ := newTestServer(t, Config{AccessControl: []AccessRule{
		{netip.MustParsePrefix("127.0.0.0/8"), ActionAllow},
		{netip.PrefixFrom(snoop.Addr(), 32), ActionAllowSnoop},
	}})
	rd, _ := question(nameWWW, dns.TypeA).Pack()
	if out := s.HandlePacket(t.Context(), rd, clientLoopback, false, nil); out == nil {
		t.Fatal("no answer")
	}
	if _, ok := s.answerFast(rd, clientLoopback, TransportUDP, nil); !ok {
		t.Fatal("the answer was not kept: the test proves nothing")
	}
	m := question(nameWWW, dns.TypeA)
	m.RecursionDesired = false
	noRD, _ := m.Pack()
	if _, ok := s.answerFast(noRD, clientLoopback, TransportUDP, nil); ok {
		t.Error("fast path answered RD=0 for a plain allow client")
	}
	if _, ok := s.answerFast(noRD, snoop, TransportUDP, nil); !ok {
		t.Error("fast path did not answer RD=0 for an allow_snoop client")
	}
	if _, ok := s.answerFast(rd, netip.MustParseAddrPort("192.0.2.99:53"), TransportUDP, nil); ok {
		t.Error("fast path answered a client no rule allows")
	}
}

// TestDenyOverTheWire: a denied client gets no UDP reply and its TCP
// connection is closed without one.
func TestDenyOverTheWire(t *testing.T) {
	s, _ := newTestServer(t, Config{AccessControl: []AccessRule{
		{netip.MustParsePrefix("127.0.0.1/32"), ActionAllow},
		{netip.MustParsePrefix("127.0.0.2/32"), ActionDeny},
	}})
	addr := startServer(t, s)
	query, _ := question(nameWWW, dns.TypeA).Pack()
	for _, tc := range []struct {
		from  string
		reply bool
	}{{"127.0.0.2", false}, {"127.0.0.1", true}} {
		conn, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(tc.from), 0)), net.UDPAddrFromAddrPort(addr))
		if err != nil {
			t.Fatal(err)
		}
		got := rawUDP(t, conn, query, time.Second)
		conn.Close()
		if (got != nil) != tc.reply {
			t.Errorf("udp from %s: reply %v, want %v", tc.from, got != nil, tc.reply)
		}
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	conn, err := d.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	conn.Write(append([]byte{0, byte(len(query))}, query...))
	buf := make([]byte, 2)
	if n, err := conn.Read(buf); err == nil {
		t.Errorf("tcp from a denied client: read %d bytes, want the connection closed", n)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Error("tcp from a denied client: connection left open")
	}
}

// cacheBackend is the fake backend with an RRset cache beside it, as
// *resolver.Resolver has.
type cacheBackend struct {
	*fakeBackend
	c *cache.Cache
}

func (b cacheBackend) Cache() *cache.Cache { return b.c }

// TestSnoopReferralFromDelegations: an allow_snoop referral hands out the
// NS sets the engine keeps from referrals (below the answer rank, which
// ResolveCached does not answer from), signatures to DO clients, AD when
// secure.
func TestSnoopReferralFromDelegations(t *testing.T) {
	c := cache.New(cache.Config{})
	ns := rrsOf(t, "example.com. 3600 IN NS ns1.example.com.")
	sig := rrsOf(t, "example.com. 3600 IN RRSIG NS 13 2 3600 20300101000000 20200101000000 1 example.com. AAAA")
	if !c.PutSet(cache.Set{RRs: ns, Sigs: sig, Rank: cache.RankReferral, Security: cache.Secure}) ||
		!c.Put(rrsOf(t, "ns1.example.com. 3600 IN A 192.0.2.10"), cache.RankGlue) {
		t.Fatal("cache refused the test data")
	}
	fb := newFakeBackend(t)
	s, err := New(Config{Backend: cacheBackend{fb, c}, AccessControl: []AccessRule{{netip.MustParsePrefix("127.0.0.0/8"), ActionAllowSnoop}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, do := range []bool{false, true} {
		req := withEDNS(question("x.example.com.", dns.TypeA), 1232, do)
		req.RecursionDesired = false
		resp := s.Handle(t.Context(), req, clientLoopback, false)
		wantNS := 1
		if do {
			wantNS = 2
		}
		if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 0 || len(resp.Ns) != wantNS || len(resp.Extra) != 2 || resp.AuthenticatedData != do {
			t.Errorf("DO %v: referral\n%v\nwant NOERROR, %d authority records, the glue, AD %v", do, resp, wantNS, do)
		}
	}
}

func TestAccessRulesInJSONLogs(t *testing.T) {
	var buf strings.Builder
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("serving", "access", accessRules(Config{Allow: DefaultAllow(),
		AccessControl: []AccessRule{{netip.MustParsePrefix("192.0.2.0/24"), ActionDeny}}}))
	if want := `"access":["127.0.0.0/8=allow","::1/128=allow","192.0.2.0/24=deny"]`; !strings.Contains(buf.String(), want) {
		t.Errorf("log %s lacks %s", buf.String(), want)
	}
}

func FuzzParseAccessRule(f *testing.F) {
	for _, s := range []string{"192.0.2.0/24=allow", "::1 deny", "10.0.0.1=allow_snoop", "=", "1.2.3.4/33=allow", "::ffff:1.2.3.4/128=refuse", "fe80::1%eth0=allow"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseAccessRule(s)
		if err != nil {
			return
		}
		again, err := ParseAccessRule(r.String())
		if err != nil || again != r {
			t.Fatalf("%q read as %v, which reads back as %v (%v)", s, r, again, err)
		}
		if !r.Prefix.IsValid() || r.Prefix != r.Prefix.Masked() || r.Action > ActionDenyNonLocal {
			t.Fatalf("%q read as a rule out of shape: %+v", s, r)
		}
	})
}

// BenchmarkAccessAction is the check every query pays, with the default
// rules (scanned) and with a hundred networks (hashed by prefix length).
func BenchmarkAccessAction(b *testing.B) {
	var many []AccessRule
	for i := range 100 {
		many = append(many, AccessRule{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16+i%9), ActionAllow})
	}
	client := netip.MustParseAddr("127.0.0.1")
	for _, tc := range []struct {
		name  string
		rules []AccessRule
	}{{"default", accessRules(Config{Allow: DefaultAllow()})}, {"100 networks", many}} {
		l := newAccessList(tc.rules)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				l.action(client)
			}
		})
	}
}
