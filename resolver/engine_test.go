package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/roothints"
	"github.com/recursor-dns/recursor/testnet"
)

// fakeNet is an in-memory Transport: each server address has a handler
// that builds the reply. It records every query; testnet.LoopbackOnly
// refuses (failing the test) any address outside loopback.
type fakeNet struct {
	tb       testing.TB
	guard    testnet.Exchanger // LoopbackOnly in front of serve
	mu       sync.Mutex
	handlers map[netip.Addr]func(q *dns.Msg) *dns.Msg
	log      []string
	asked    []string // question names as sent, case kept
	sent     atomic.Int32
}

func newFakeNet(tb testing.TB) *fakeNet {
	n := &fakeNet{tb: tb, handlers: map[netip.Addr]func(*dns.Msg) *dns.Msg{}}
	n.guard = testnet.LoopbackOnly(tb, exchangeFunc(n.serve))
	return n
}

// exchangeFunc is a function that is a Transport.
type exchangeFunc func(ctx context.Context, m *dns.Msg, server netip.AddrPort) (*dns.Msg, time.Duration, error)

func (f exchangeFunc) Exchange(ctx context.Context, m *dns.Msg, server netip.AddrPort) (*dns.Msg, time.Duration, error) {
	return f(ctx, m, server)
}

func (n *fakeNet) handle(addr string, h func(q *dns.Msg) *dns.Msg) {
	n.handlers[netip.MustParseAddr(addr)] = h
}

var errFakeTimeout = fmt.Errorf("fake: %w", context.DeadlineExceeded)

func (n *fakeNet) Exchange(ctx context.Context, m *dns.Msg, server netip.AddrPort) (*dns.Msg, time.Duration, error) {
	return n.guard.Exchange(ctx, m, server)
}

// serve answers a query that passed the guard.
func (n *fakeNet) serve(ctx context.Context, m *dns.Msg, server netip.AddrPort) (*dns.Msg, time.Duration, error) {
	n.sent.Add(1)
	n.mu.Lock()
	n.log = append(n.log, fmt.Sprintf("%s %s %s", server.Addr(), strings.ToLower(m.Question[0].Name), dns.TypeToString[m.Question[0].Qtype]))
	n.asked = append(n.asked, m.Question[0].Name)
	h := n.handlers[server.Addr()]
	n.mu.Unlock()
	var resp *dns.Msg
	if h != nil {
		resp = h(m)
	}
	if resp == nil { // silent server: wait for the deadline
		<-ctx.Done()
		return nil, 0, ctx.Err()
	}
	// Through the wire format, as from a real server.
	wire, err := resp.Pack()
	if err != nil {
		n.tb.Fatalf("pack fake reply: %v", err)
	}
	out, err := parseReply(m, wire)
	return out, time.Millisecond, err
}

func (n *fakeNet) queries() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.log...)
}

// errorRecorder is a testing.TB that records Errorf calls instead of
// failing.
type errorRecorder struct {
	testing.TB
	errors []string
}

func (r *errorRecorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *errorRecorder) Helper() {}

// TestFakeNetLoopbackOnly: a query the fake network is asked to send off
// loopback fails the test and reaches no handler.
func TestFakeNetLoopbackOnly(t *testing.T) {
	rec := &errorRecorder{TB: t}
	n := newFakeNet(rec)
	n.handle("192.0.2.1", func(q *dns.Msg) *dns.Msg { return new(dns.Msg).SetReply(q) })
	q := new(dns.Msg).SetQuestion("example.com.", dns.TypeA)
	resp, _, err := n.Exchange(t.Context(), q, netip.MustParseAddrPort("192.0.2.1:53"))
	if err == nil || resp != nil || n.sent.Load() != 0 || len(n.queries()) != 0 || len(rec.errors) != 1 {
		t.Errorf("got %v, %v, %d sent, test errors %q; want an error, nothing sent, one test error", resp, err, n.sent.Load(), rec.errors)
	}
}

// zoneServer answers from a fixed set of records as the authority for
// zone, with referrals for delegated children, in the manner of a plain
// authoritative server.
func zoneServer(tb testing.TB, zone string, records ...string) func(*dns.Msg) *dns.Msg {
	all := rrs(tb, records...)
	return func(q *dns.Msg) *dns.Msg {
		qn, qt := strings.ToLower(q.Question[0].Name), q.Question[0].Qtype
		m := new(dns.Msg)
		m.SetReply(q)
		if !dns.IsSubDomain(zone, qn) {
			m.Rcode = dns.RcodeRefused
			return m
		}
		// Delegations below the zone, deepest first.
		for _, rr := range all {
			if ns, ok := rr.(*dns.NS); ok && !strings.EqualFold(ns.Hdr.Name, zone) && dns.IsSubDomain(ns.Hdr.Name, qn) {
				for _, r := range all {
					if r.Header().Rrtype == dns.TypeNS && strings.EqualFold(r.Header().Name, ns.Hdr.Name) {
						m.Ns = append(m.Ns, r)
						for _, g := range all {
							if g.Header().Rrtype == dns.TypeA && strings.EqualFold(g.Header().Name, r.(*dns.NS).Ns) {
								m.Extra = append(m.Extra, g)
							}
						}
					}
				}
				return m
			}
		}
		m.Authoritative = true
		exists := false
		for _, rr := range all {
			if strings.EqualFold(rr.Header().Name, qn) {
				exists = true
				if rr.Header().Rrtype == qt || rr.Header().Rrtype == dns.TypeCNAME {
					m.Answer = append(m.Answer, rr)
				}
			}
		}
		if len(m.Answer) == 0 {
			if !exists {
				m.Rcode = dns.RcodeNameError
			}
			for _, rr := range all {
				if rr.Header().Rrtype == dns.TypeSOA {
					m.Ns = append(m.Ns, rr)
				}
			}
		}
		return m
	}
}

func testHints() *roothints.Hints {
	return &roothints.Hints{TTL: 3600000, Servers: []roothints.Server{{Name: "a.root.lab.", Addrs: []netip.Addr{netip.MustParseAddr("127.53.0.1")}}}}
}

// standardNet: root on 127.53.0.1, com on 127.53.1.1, example.com on
// 127.53.2.1 with shop.example.com delegated to 127.53.3.1.
func standardNet(tb testing.TB) *fakeNet {
	n := newFakeNet(tb)
	n.handle("127.53.0.1", zoneServer(tb, ".",
		". 86400 IN SOA a.root.lab. h.lab. 1 2 3 4 300",
		". 518400 IN NS a.root.lab.",
		"a.root.lab. 518400 IN A 127.53.0.1",
		"com. 172800 IN NS ns.com.",
		"ns.com. 172800 IN A 127.53.1.1"))
	n.handle("127.53.1.1", zoneServer(tb, "com.",
		"com. 900 IN SOA ns.com. h.com. 1 2 3 4 300",
		"example.com. 172800 IN NS ns1.example.com.",
		"ns1.example.com. 172800 IN A 127.53.2.1"))
	n.handle("127.53.2.1", zoneServer(tb, "example.com.",
		"example.com. 300 IN SOA ns1.example.com. h.example.com. 1 2 3 4 300",
		"www.example.com. 300 IN A 192.0.2.1",
		"a.b.example.com. 300 IN A 192.0.2.9",
		"alias.example.com. 300 IN CNAME www.example.com.",
		"shop.example.com. 86400 IN NS ns.shop.example.com.",
		"ns.shop.example.com. 86400 IN A 127.53.3.1"))
	n.handle("127.53.3.1", zoneServer(tb, "shop.example.com.",
		"shop.example.com. 300 IN SOA ns.shop.example.com. h.example.com. 1 2 3 4 60",
		"www.shop.example.com. 300 IN A 192.0.2.7"))
	return n
}

func newTestResolver(tb testing.TB, n *fakeNet, mod func(*Config)) *Resolver {
	tb.Helper()
	cfg := Config{RootHints: testHints(), Transport: n, DontQuery: []netip.Prefix{}, DisableIPv6: true}
	if mod != nil {
		mod(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func TestIterationFromTheRoot(t *testing.T) {
	tests := []struct {
		mode QNAMEMinimisation
		want []string
	}{
		{QminRelaxed, []string{
			"127.53.0.1 . NS", // priming (RFC 8109)
			"127.53.0.1 com. NS",
			"127.53.1.1 example.com. NS",
			"127.53.2.1 shop.example.com. NS",
			"127.53.3.1 www.shop.example.com. A",
		}},
		{QminOff, []string{
			"127.53.0.1 . NS",
			"127.53.0.1 www.shop.example.com. A",
			"127.53.1.1 www.shop.example.com. A",
			"127.53.2.1 www.shop.example.com. A",
			"127.53.3.1 www.shop.example.com. A",
		}},
	}
	for _, tc := range tests {
		t.Run("qmin "+tc.mode.String(), func(t *testing.T) {
			n := standardNet(t)
			r := newTestResolver(t, n, func(c *Config) { c.QNAMEMinimisation = tc.mode })
			m, err := r.Resolve(t.Context(), "www.shop.example.com.", dns.TypeA)
			if err != nil {
				t.Fatal(err)
			}
			if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != "192.0.2.7" {
				t.Fatalf("answer = %v", m)
			}
			if got := n.queries(); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("upstream queries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			// The delegations are cached: a sibling name needs one query.
			before := len(n.queries())
			if _, err := r.Resolve(t.Context(), "nope.shop.example.com.", dns.TypeA); err != nil {
				t.Fatal(err)
			}
			if got := n.queries()[before:]; len(got) != 1 || got[0] != "127.53.3.1 nope.shop.example.com. A" {
				t.Errorf("after caching, queries = %v; want one to the shop.example.com server", got)
			}
		})
	}
}

func TestQNAMEMinimisationEmptyNonTerminal(t *testing.T) {
	// b.example.com is an empty non-terminal; the fake server, like some
	// real ones, answers NXDOMAIN for it.
	tests := []struct {
		mode  QNAMEMinimisation
		rcode int
	}{{QminRelaxed, dns.RcodeSuccess}, {QminStrict, dns.RcodeNameError}}
	for _, tc := range tests {
		t.Run(tc.mode.String(), func(t *testing.T) {
			r := newTestResolver(t, standardNet(t), func(c *Config) { c.QNAMEMinimisation = tc.mode })
			m, err := r.Resolve(t.Context(), "a.b.example.com.", dns.TypeA)
			if err != nil {
				t.Fatal(err)
			}
			if m.Rcode != tc.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[m.Rcode], dns.RcodeToString[tc.rcode])
			}
		})
	}
}

func TestAnswersAndNegatives(t *testing.T) {
	tests := []struct {
		qname  string
		qtype  uint16
		rcode  int
		answer int
		soa    bool
	}{
		{"www.example.com.", dns.TypeA, dns.RcodeSuccess, 1, false},
		{"alias.example.com.", dns.TypeA, dns.RcodeSuccess, 2, false},
		{"nope.example.com.", dns.TypeA, dns.RcodeNameError, 0, true},
		{"www.example.com.", dns.TypeAAAA, dns.RcodeSuccess, 0, true},
		{"nope.com.", dns.TypeA, dns.RcodeNameError, 0, true},
	}
	r := newTestResolver(t, standardNet(t), nil)
	for _, tc := range tests {
		t.Run(tc.qname+"/"+dns.TypeToString[tc.qtype], func(t *testing.T) {
			for _, pass := range []string{"cold", "cached"} {
				m, err := r.Resolve(t.Context(), tc.qname, tc.qtype)
				if err != nil {
					t.Fatalf("%s: %v", pass, err)
				}
				if m.Rcode != tc.rcode || len(m.Answer) != tc.answer || (len(m.Ns) == 1) != tc.soa {
					t.Errorf("%s: got %s", pass, m)
				}
			}
		})
	}
}

func TestNegativeCacheExpires(t *testing.T) {
	n := standardNet(t)
	clk := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r := newTestResolver(t, n, func(c *Config) { c.Now, c.QNAMEMinimisation = clk.Now, QminOff })
	for range 2 {
		if _, err := r.Resolve(t.Context(), "nope.example.com.", dns.TypeA); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		c := 0
		for _, q := range n.queries() {
			if strings.HasSuffix(q, "nope.example.com. A") {
				c++
			}
		}
		return c
	}
	if c := count(); c != 3 { // root, com, example.com once
		t.Fatalf("queries for the name = %d, want 3 (the second answer from the cache)", c)
	}
	m, _ := r.Resolve(t.Context(), "nope.example.com.", dns.TypeA)
	clk.Advance(299 * time.Second)
	m2, _ := r.Resolve(t.Context(), "nope.example.com.", dns.TypeA)
	if m.Ns[0].Header().Ttl != 300 || m2.Ns[0].Header().Ttl != 1 {
		t.Errorf("negative TTLs %d then %d, want 300 then 1", m.Ns[0].Header().Ttl, m2.Ns[0].Header().Ttl)
	}
	clk.Advance(time.Second)
	r.Resolve(t.Context(), "nope.example.com.", dns.TypeA)
	if c := count(); c != 4 {
		t.Errorf("after expiry queries = %d, want 4", c)
	}
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestCoalescing(t *testing.T) {
	n := standardNet(t)
	gate := make(chan struct{})
	inner := n.handlers[netip.MustParseAddr("127.53.3.1")]
	n.handle("127.53.3.1", func(q *dns.Msg) *dns.Msg {
		<-gate // hold the walk until every caller is waiting
		return inner(q)
	})
	r := newTestResolver(t, n, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Go(func() {
			m, err := r.Resolve(t.Context(), "www.shop.example.com.", dns.TypeA)
			if err == nil && len(m.Answer) != 1 {
				err = fmt.Errorf("answer %v", m.Answer)
			}
			errs <- err
		})
	}
	time.Sleep(50 * time.Millisecond) // let the callers queue on the walk
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	leaf := 0
	for _, q := range n.queries() {
		if strings.HasPrefix(q, "127.53.3.1 ") {
			leaf++
		}
	}
	if leaf != 1 {
		t.Errorf("100 concurrent identical questions sent %d queries to the leaf server, want 1", leaf)
	}
}

func TestBudgetEndsEndlessReferrals(t *testing.T) {
	n := newFakeNet(t)
	depth := 0
	// A hostile root that delegates one label deeper at every query.
	n.handle("127.53.0.1", func(q *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(q)
		qn := q.Question[0].Name
		if qn == "." {
			m.Authoritative = true
			m.Answer = rrs(t, ". 3600 IN NS a.root.lab.")
			m.Extra = rrs(t, "a.root.lab. 3600 IN A 127.53.0.1")
			return m
		}
		depth++
		labels := dns.SplitDomainName(qn)
		zone := strings.Join(labels[max(len(labels)-depth, 0):], ".") + "."
		m.Ns = rrs(t, zone+" 3600 IN NS ns."+zone)
		m.Extra = rrs(t, "ns."+zone+" 3600 IN A 127.53.0.1")
		return m
	})
	r := newTestResolver(t, n, nil)
	_, err := r.Resolve(t.Context(), strings.Repeat("a.", 60)+"lab.", dns.TypeA)
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("err = %v, want ErrLimit", err)
	}
	if got := int(n.sent.Load()); got != DefaultMaxReferrals+2 { // priming, then referrals+1 asks
		t.Errorf("%d upstream queries, want %d", got, DefaultMaxReferrals+2)
	}
	if code, _ := ExtendedError(err); code != dns.ExtendedErrorCodeOther {
		t.Errorf("EDE %d, want Other", code)
	}
}

func TestDeadServerServfailsWithinDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := standardNet(t)
		n.handle("127.53.3.1", func(*dns.Msg) *dns.Msg { return nil }) // never answers
		r := newTestResolver(t, n, nil)
		start := time.Now()
		_, err := r.Resolve(t.Context(), "www.shop.example.com.", dns.TypeA)
		took := time.Since(start)
		if !errors.Is(err, ErrNoReachableServer) {
			t.Fatalf("err = %v, want ErrNoReachableServer", err)
		}
		if took > 3*time.Second {
			t.Errorf("SERVFAIL after %v, want within 3 s", took)
		}
		code, _ := ExtendedError(err)
		if code != dns.ExtendedErrorCodeNoReachableAuthority {
			t.Errorf("EDE = %d, want No Reachable Authority", code)
		}
		// The failure is remembered (RFC 9520): asking again fails fast.
		start = time.Now()
		r.Resolve(t.Context(), "other.shop.example.com.", dns.TypeA)
		if took := time.Since(start); took > 100*time.Millisecond {
			t.Errorf("second query to the dead server took %v, want a fast failure", took)
		}
	})
}

func TestResolveCached(t *testing.T) {
	r := newTestResolver(t, standardNet(t), nil)
	if _, ok := r.ResolveCached("www.example.com.", dns.TypeA); ok {
		t.Fatal("cold cache answered")
	}
	r.Resolve(t.Context(), "alias.example.com.", dns.TypeA)
	m, ok := r.ResolveCached("ALIAS.example.com.", dns.TypeA)
	if !ok || len(m.Answer) != 2 || m.Question[0].Name != "ALIAS.example.com." {
		t.Errorf("ResolveCached = %v, %v", m, ok)
	}
	// \065 is A: one name however it is spelled, as on the wire.
	if _, ok := r.ResolveCached(`\065LIAS.example.com.`, dns.TypeA); !ok {
		t.Error(`\065LIAS.example.com. missed the cache entry of alias.example.com.`)
	}
	// A raw byte that is not ASCII is asked as \DDD, the spelling the
	// reply echoes (sent raw, the reply did not match the query), and
	// stays distinct from its neighbours: strings.ToLower would have
	// folded both to U+FFFD and shared one key.
	if m, err := r.Resolve(t.Context(), "A\xff.example.com.", dns.TypeA); err != nil || m.Rcode != dns.RcodeNameError {
		t.Fatalf("A\\255.example.com.: %v, %v; want NXDOMAIN", m, err)
	}
	if _, ok := r.ResolveCached("A\xfe.example.com.", dns.TypeA); ok {
		t.Error("A\\254.example.com. answered from the entry of A\\255.example.com.")
	}
}

func TestBadQuestions(t *testing.T) {
	r := newTestResolver(t, standardNet(t), nil)
	for _, tc := range []struct {
		name  string
		qtype uint16
	}{{"www.example.com.", dns.TypeAXFR}, {"www.example.com.", dns.TypeANY}, {strings.Repeat("a.", 130), dns.TypeA}, {"bad..name.", dns.TypeA}} {
		if _, err := r.Resolve(t.Context(), tc.name, tc.qtype); !errors.Is(err, ErrBadName) {
			t.Errorf("%q %s: err = %v, want ErrBadName", tc.name, dns.TypeToString[tc.qtype], err)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	if _, err := New(Config{Limits: Limits{MaxCNAMEs: -1}}); err == nil {
		t.Error("negative limit accepted")
	}
	if _, err := New(Config{RootHints: &roothints.Hints{}}); err == nil {
		t.Error("empty root hints accepted")
	}
	r, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if !r.allowed(netip.MustParseAddr("198.41.0.4")) || r.allowed(netip.MustParseAddr("127.0.0.1")) || r.allowed(netip.MustParseAddr("10.1.2.3")) {
		t.Error("default DontQuery list wrong")
	}
}

func TestNetResolver(t *testing.T) {
	r := newTestResolver(t, standardNet(t), nil)
	nr := r.NetResolver()
	addrs, err := nr.LookupHost(t.Context(), "alias.example.com.")
	if err != nil || len(addrs) != 1 || addrs[0] != "192.0.2.1" {
		t.Fatalf("LookupHost = %v, %v; want [192.0.2.1]", addrs, err)
	}
	_, err = nr.LookupHost(t.Context(), "nope.example.com.")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("LookupHost(nope) err = %v, want not found", err)
	}
	// The error names the engine, not resolv.conf's server, never asked.
	if dnsErr == nil || dnsErr.Server != "recursor (in process)" || !strings.Contains(err.Error(), "on recursor (in process)") {
		t.Errorf("LookupHost(nope) err = %v, want it to name the engine", err)
	}
	if mx, err := nr.LookupMX(t.Context(), "nope.example.com."); err == nil || !strings.Contains(err.Error(), "recursor (in process)") {
		t.Errorf("LookupMX(nope) = %v, %v; want an error naming the engine", mx, err)
	}
}

// askedOf returns the question names sent to addr, case kept.
func (n *fakeNet) askedOf(addr string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for i, l := range n.log {
		if strings.HasPrefix(l, addr+" ") {
			out = append(out, n.asked[i])
		}
	}
	return out
}

func TestCaseRandomisation(t *testing.T) {
	n := standardNet(t)
	inner := n.handlers[netip.MustParseAddr("127.53.3.1")]
	// This server lower-cases the question in its replies.
	n.handle("127.53.3.1", func(q *dns.Msg) *dns.Msg {
		m := inner(q)
		m.Question[0].Name = strings.ToLower(m.Question[0].Name)
		return m
	})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := newTestResolver(t, n, func(c *Config) { c.Now = func() time.Time { return now } })
	m, err := r.Resolve(t.Context(), "www.shop.example.com.", dns.TypeA)
	if err != nil || len(m.Answer) != 1 {
		t.Fatalf("Resolve = %v, %v", m, err)
	}
	if owner := m.Answer[0].Header().Name; owner != "www.shop.example.com." {
		t.Errorf("answer owner %q keeps the randomised case", owner)
	}
	n.mu.Lock()
	mixed := 0
	for i, a := range n.asked {
		if !strings.HasPrefix(n.log[i], "127.53.3.1 ") && a != strings.ToLower(a) {
			mixed++
		}
	}
	n.mu.Unlock()
	if mixed == 0 {
		t.Errorf("queries %q: want 0x20 case on the way down", n.queries())
	}
	// One mismatch may be a spoof: asked again in random case, then twice
	// plainly. The third name's mismatch marks the server.
	names := []string{"www.shop.example.com.", "a.shop.example.com.", "b.shop.example.com."}
	for i, name := range names {
		if i > 0 {
			r.Resolve(t.Context(), name, dns.TypeA)
		}
		got := n.askedOf("127.53.3.1")
		got = got[len(got)-4:]
		if got[0] == name || got[1] == name || got[2] != name || got[3] != name {
			t.Errorf("%s asked as %q: want twice in random case, then twice plainly", name, got)
		}
	}
	before := len(n.askedOf("127.53.3.1"))
	r.Resolve(t.Context(), "other.shop.example.com.", dns.TypeA)
	if got := n.askedOf("127.53.3.1")[before:]; !slices.Equal(got, []string{"other.shop.example.com."}) {
		t.Errorf("after %d mismatches, queries %q: want one plain query", CaseMismatchesToMark, got)
	}
	// The mark expires with the server's infra entry.
	now = now.Add(InfraHostTTL)
	before = len(n.askedOf("127.53.3.1"))
	r.Resolve(t.Context(), "later.shop.example.com.", dns.TypeA)
	if got := n.askedOf("127.53.3.1")[before:]; len(got) == 0 || got[0] == "later.shop.example.com." {
		t.Errorf("after the infra entry expired, queries %q: want 0x20 case again", got)
	}
}

// A reply in the wrong case from a server that echoes case (a spoof that
// guessed ID and port) must not switch 0x20 off for that server.
func TestCaseMismatchOnceKeeps0x20(t *testing.T) {
	n := standardNet(t)
	inner := n.handlers[netip.MustParseAddr("127.53.3.1")]
	var spoofed atomic.Bool
	n.handle("127.53.3.1", func(q *dns.Msg) *dns.Msg {
		m := inner(q)
		if !spoofed.Swap(true) {
			m.Question[0].Name = strings.ToUpper(m.Question[0].Name)
		}
		return m
	})
	r := newTestResolver(t, n, nil)
	if m, err := r.Resolve(t.Context(), "www.shop.example.com.", dns.TypeA); err != nil || len(m.Answer) != 1 {
		t.Fatalf("Resolve = %v, %v", m, err)
	}
	got := n.askedOf("127.53.3.1")
	if len(got) != 2 || got[1] == "www.shop.example.com." {
		t.Errorf("queries %q: want the spoofed one and one more in random case", got)
	}
	for range 2 * CaseMismatchesToMark {
		spoofed.Store(false)
		r.cache.Remove(cache.Key{Name: "www.shop.example.com.", Type: dns.TypeA, Class: dns.ClassINET})
		r.Resolve(t.Context(), "www.shop.example.com.", dns.TypeA)
	}
	if r.infra.quirks(netip.MustParseAddr("127.53.3.1"), time.Now())&quirkNo0x20 != 0 {
		t.Error("mismatches that a reply in the right case followed marked the server as not echoing case")
	}
}

// A budget that runs out during the plain retries after a case mismatch
// ends the walk with ErrLimit, never with an empty reply taken as an
// answer.
func TestCaseMismatchOutOfBudget(t *testing.T) {
	for limit := 1; limit <= 12; limit++ {
		n := standardNet(t)
		inner := n.handlers[netip.MustParseAddr("127.53.3.1")]
		n.handle("127.53.3.1", func(q *dns.Msg) *dns.Msg {
			m := inner(q)
			m.Question[0].Name = strings.ToUpper(m.Question[0].Name)
			return m
		})
		r := newTestResolver(t, n, func(c *Config) { c.Limits.MaxUpstreamQueries = limit })
		m, err := r.Resolve(t.Context(), "www.shop.example.com.", dns.TypeA)
		if err == nil && len(m.Answer) != 1 {
			t.Errorf("MaxUpstreamQueries %d: answer %v without an error", limit, m.Answer)
		}
	}
}

func contextWithTimeout(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), d)
}

func TestEDNSFallback(t *testing.T) {
	tests := []struct {
		name string
		// reply to a query with EDNS: nil for silence, else an rcode
		ednsReply func(q *dns.Msg) *dns.Msg
	}{
		{"FORMERR", func(q *dns.Msg) *dns.Msg { m := new(dns.Msg); m.SetRcode(q, dns.RcodeFormatError); return m }},
		{"NOTIMP", func(q *dns.Msg) *dns.Msg { m := new(dns.Msg); m.SetRcode(q, dns.RcodeNotImplemented); return m }},
		{"silence", func(*dns.Msg) *dns.Msg { return nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n := standardNet(t)
				inner := n.handlers[netip.MustParseAddr("127.53.3.1")]
				plain := 0
				n.handle("127.53.3.1", func(q *dns.Msg) *dns.Msg {
					if q.IsEdns0() != nil {
						return tc.ednsReply(q)
					}
					plain++
					return inner(q)
				})
				r := newTestResolver(t, n, nil)
				for _, name := range []string{"www.shop.example.com.", "nope.shop.example.com."} {
					if _, err := r.Resolve(t.Context(), name, dns.TypeA); err != nil {
						t.Fatalf("%s: %v", name, err)
					}
				}
				if r.infra.quirks(netip.MustParseAddr("127.53.3.1"), time.Now())&quirkNoEDNS == 0 {
					t.Error("the server's lack of EDNS was not remembered")
				}
				if plain < 2 {
					t.Errorf("%d plain queries, want one per name", plain)
				}
			})
		})
	}
}

func TestBrokenIPv6PrefersIPv4(t *testing.T) {
	in := newInfra()
	v6 := netip.MustParseAddr("::1")
	v4 := netip.MustParseAddr("127.0.0.1")
	for range v6BrokenAfter {
		in.failure(netip.MustParseAddr("::2"), true, time.Now())
	}
	for range 20 {
		addrs := []netip.Addr{v6, v4}
		in.order(addrs, time.Now())
		if addrs[0] != v4 {
			t.Fatalf("order = %v with IPv6 failing, want IPv4 first", addrs)
		}
	}
	in.success(netip.MustParseAddr("::3"), time.Millisecond, time.Now())
	if in.v6Failures != 0 {
		t.Error("an IPv6 reply did not clear the broken-IPv6 state")
	}
}

// clockAt is a clock that reads t.
func clockAt(t time.Time) func() time.Time { return func() time.Time { return t } }

func TestFailureCacheBacksOff(t *testing.T) {
	f := newFailCache()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	err := &Error{Err: ErrNoReachableServer}
	f.record("k", err, now)
	if f.get("k", clockAt(now.Add(999*time.Millisecond))) == nil || f.get("k", clockAt(now.Add(time.Second))) != nil {
		t.Fatal("first failure not held for exactly 1 s")
	}
	now = now.Add(time.Second)
	f.record("k", err, now)
	if f.get("k", clockAt(now.Add(1500*time.Millisecond))) == nil {
		t.Error("a repeated failure was not held longer")
	}
	for range 20 {
		now = now.Add(time.Second)
		f.record("k", err, now)
	}
	if f.get("k", clockAt(now.Add(MaxFailureCache))) != nil {
		t.Error("hold grew past MaxFailureCache")
	}
	f.record("ctx", context.Canceled, now)
	if f.get("ctx", clockAt(now)) != nil {
		t.Error("a caller's cancellation was cached as a server failure")
	}
}

func TestPrivateAddressFilter(t *testing.T) {
	n := standardNet(t)
	inner := n.handlers[netip.MustParseAddr("127.53.2.1")]
	n.handle("127.53.2.1", func(q *dns.Msg) *dns.Msg {
		m := inner(q)
		if strings.EqualFold(q.Question[0].Name, "rebind.example.com.") {
			m.Rcode, m.Ns = dns.RcodeSuccess, nil
			m.Answer = rrs(t, "rebind.example.com. 300 IN A 10.1.2.3", "rebind.example.com. 300 IN A 192.0.2.1")
		}
		return m
	})
	r := newTestResolver(t, n, func(c *Config) {
		c.PrivateAddress = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	m, err := r.Resolve(t.Context(), "rebind.example.com.", dns.TypeA)
	if err != nil || len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
		t.Fatalf("Resolve = %v, %v; want only the public address", m, err)
	}
	if e, _ := r.cache.Get("rebind.example.com.", dns.TypeA, dns.ClassINET); len(e.RRs) != 1 {
		t.Errorf("cached %v, want the public address alone", e.RRs)
	}
}

func TestInfraHoldsDeadServersNotBusyOnes(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	busy, dead := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	in := newInfra()
	in.success(busy, 10*time.Millisecond, now)
	// A burst of timeouts, as when many queries are in flight to an
	// overloaded server: it answered a moment ago, so it stays in use.
	for range 50 {
		in.failure(busy, true, now.Add(time.Second))
		in.failure(dead, true, now.Add(time.Second))
	}
	if in.held(busy, now.Add(time.Second)) {
		t.Error("a server that answered a second ago was held")
	}
	// A server never heard from is held, and the burst extends the hold
	// once, not fifty times.
	if !in.held(dead, now.Add(time.Second)) {
		t.Fatal("a silent server was not held")
	}
	if in.held(dead, now.Add(time.Second+minFailureHold)) {
		t.Error("a burst of failures held the server longer than the first hold")
	}
}

func TestDelegationBreadthIsBounded(t *testing.T) {
	// example.com is delegated to 30 server names with 10 addresses each,
	// every one of them refusing: only MaxNSConsidered names and
	// MaxAddrsPerNS addresses of each are ever tried, and no more than
	// DefaultMaxQueriesPerName questions go out about the name.
	n := standardNet(t)
	var ns, glue []string
	for i := range 30 {
		name := fmt.Sprintf("ns%d.example.com.", i)
		ns = append(ns, "example.com. 172800 IN NS "+name)
		for j := range 10 {
			addr := fmt.Sprintf("127.54.%d.%d", i, j+1)
			glue = append(glue, name+" 172800 IN A "+addr)
			n.handle(addr, func(q *dns.Msg) *dns.Msg {
				m := new(dns.Msg)
				m.SetRcode(q, dns.RcodeRefused)
				return m
			})
		}
	}
	n.handle("127.53.1.1", zoneServer(t, "com.", append(append([]string{"com. 900 IN SOA ns.com. h.com. 1 2 3 4 300"}, ns...), glue...)...))
	r := newTestResolver(t, n, func(c *Config) {
		c.QNAMEMinimisation = QminOff
		c.Limits.MaxFailures = 1000
		c.Limits.MaxUpstreamQueries = 1000
	})
	_, err := r.Resolve(t.Context(), "www.example.com.", dns.TypeA)
	if !errors.Is(err, ErrLimit) && !errors.Is(err, ErrNoReachableServer) {
		t.Fatalf("err = %v, want a limit or unreachable servers", err)
	}
	names, addrs, asked := map[string]bool{}, map[string]bool{}, 0
	for _, q := range n.queries() {
		f := strings.Fields(q)
		if !strings.HasPrefix(f[0], "127.54.") || f[1] != "www.example.com." {
			continue
		}
		asked++
		addrs[f[0]] = true
		names[strings.Join(strings.Split(f[0], ".")[:3], ".")] = true
	}
	if len(names) > MaxNSConsidered {
		t.Errorf("%d server names asked, want at most %d", len(names), MaxNSConsidered)
	}
	if len(addrs) > MaxNSConsidered*MaxAddrsPerNS {
		t.Errorf("%d addresses asked, want at most %d", len(addrs), MaxNSConsidered*MaxAddrsPerNS)
	}
	if asked > DefaultMaxQueriesPerName {
		t.Errorf("%d questions about the name, want at most %d", asked, DefaultMaxQueriesPerName)
	}
	t.Logf("asked %d addresses of %d names, %d questions: %v", len(addrs), len(names), asked, err)
}
