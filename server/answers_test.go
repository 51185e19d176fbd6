package server

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/resolver"
	"github.com/recursor-dns/recursor/testnet"
)

// fakeClock is an injected clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
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

func pack(tb testing.TB, m *dns.Msg) []byte {
	tb.Helper()
	b, err := m.Pack()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestParseWireQuery(t *testing.T) {
	plain := pack(t, question(nameWWW, dns.TypeA))
	edns := pack(t, withEDNS(question(nameWWW, dns.TypeA), 4096, true))
	withCookie := func() []byte {
		m := withEDNS(question(nameWWW, dns.TypeA), 1232, false)
		m.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"}}
		return pack(t, m)
	}()
	version1 := func() []byte {
		m := withEDNS(question(nameWWW, dns.TypeA), 1232, false)
		m.IsEdns0().SetVersion(1)
		return pack(t, m)
	}()
	set := func(b []byte, at int, v byte) []byte {
		b = bytes.Clone(b)
		b[at] = v
		return b
	}
	tests := []struct {
		name  string
		query []byte
		ok    bool
		want  wireQuery
	}{
		{"plain", plain, true, wireQuery{questionEnd: len(plain)}},
		{"edns do", edns, true, wireQuery{questionEnd: len(plain), edns: true, do: true, udpSize: 4096, variant: 1}},
		{"response", set(plain, 2, plain[2]|0x80), false, wireQuery{}},
		{"notify opcode", set(plain, 2, plain[2]|dns.OpcodeNotify<<3), false, wireQuery{}},
		{"two questions", set(plain, 5, 2), false, wireQuery{}},
		{"answer count", set(plain, 7, 1), false, wireQuery{}},
		{"trailing byte", append(bytes.Clone(plain), 0), false, wireQuery{}},
		{"cut question", plain[:len(plain)-1], false, wireQuery{}},
		{"header only", plain[:headerLen], false, wireQuery{}},
		{"pointer in qname", set(plain, headerLen, 0xc0), false, wireQuery{}},
		{"label runs past end", set(plain, headerLen, 60), false, wireQuery{}},
		{"edns cookie", withCookie, true, wireQuery{questionEnd: len(plain), edns: true, udpSize: 1232, cookieAt: len(withCookie) - 8, cookieLen: 8}},
		{"edns cookie cut", withCookie[:len(withCookie)-1], false, wireQuery{}},
		{"edns cookie longer than the option data", set(withCookie, len(withCookie)-9, 9), false, wireQuery{}},
		{"edns other option", set(withCookie, len(withCookie)-11, dns.EDNS0NSID), false, wireQuery{}},
		{"edns version 1", version1, false, wireQuery{}},
		{"opt not at root", set(edns, len(plain), 1), false, wireQuery{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseWireQuery(tc.query)
			if ok != tc.ok || (ok && got != tc.want) {
				t.Errorf("got %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// queryShapes are the client queries each answer is asked with.
var queryShapes = []struct {
	name string
	make func(name string, qtype uint16) *dns.Msg
	tcp  bool
}{
	{"plain", question, false},
	{"edns 1232", func(n string, t uint16) *dns.Msg { return withEDNS(question(n, t), 1232, false) }, false},
	{"edns 4096 do", func(n string, t uint16) *dns.Msg { return withEDNS(question(n, t), 4096, true) }, false},
	{"edns 512", func(n string, t uint16) *dns.Msg { return withEDNS(question(n, t), 512, false) }, false},
	{"edns cookie, padding", func(n string, t uint16) *dns.Msg {
		m := withEDNS(question(n, t), 1232, false)
		m.IsEdns0().Option = []dns.EDNS0{
			&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"},
			&dns.EDNS0_PADDING{Padding: make([]byte, 5)},
		}
		return m
	}, false},
	{"no rd, cd", func(n string, t uint16) *dns.Msg {
		m := question(n, t)
		m.RecursionDesired, m.CheckingDisabled = false, true
		return m
	}, false},
	{"upper case", func(n string, t uint16) *dns.Msg { return question(strings.ToUpper(n), t) }, false},
	{"tcp", question, true},
}

// TestAnswerCacheMatchesSlowPath resolves every sandbox case through the
// slow path, then asks again, and checks that the answer cache's reply is
// byte for byte what a server without one gives, also after the clock
// moved on.
func TestAnswerCacheMatchesSlowPath(t *testing.T) {
	n := testnet.StartTB(t, "../testdata/sandbox")
	cases, err := testnet.ReadCases("../testdata/sandbox")
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	r, err := resolver.New(resolver.Config{
		RootHints:    n.RootHints(),
		UpstreamPort: n.Port(),
		DontQuery:    []netip.Prefix{},
		Transport:    testnet.LoopbackOnly(t, &resolver.NetTransport{}),
		Now:          clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	fast, _ := newTestServer(t, Config{Backend: r, Now: clock.Now})
	slow, _ := newTestServer(t, Config{Backend: r, AnswerCacheSize: -1, Now: clock.Now})
	hits := 0
	for _, c := range cases {
		if c.Rcode == dns.RcodeServerFailure {
			continue
		}
		for _, shape := range queryShapes {
			query := pack(t, shape.make(c.Qname, c.Qtype))
			ctx := t.Context()
			fast.HandlePacket(ctx, query, clientLoopback, shape.tcp, nil) // resolves
			fast.HandlePacket(ctx, query, clientLoopback, shape.tcp, nil) // from the engine's cache: stored
			for _, wait := range []time.Duration{0, 7 * time.Second} {
				clock.Advance(wait)
				want := slow.HandlePacket(ctx, query, clientLoopback, shape.tcp, nil)
				got, ok := fast.answerFast(query, clientLoopback, transportOf(shape.tcp), nil)
				if !ok {
					if expectStored(want) {
						t.Errorf("%s %s after %v: not answered from the answer cache", c.Name, shape.name, wait)
					}
					continue
				}
				hits++
				if !bytes.Equal(got, want) {
					t.Errorf("%s %s after %v: answer cache gave\n%x\nslow path\n%x", c.Name, shape.name, wait, got, want)
				}
			}
		}
	}
	if hits == 0 {
		t.Fatal("the answer cache answered nothing")
	}
	t.Logf("%d answers compared", hits)
}

// expectStored reports whether a slow-path reply is one the answer cache
// keeps: NOERROR or NXDOMAIN, not truncated, with records whose TTLs are
// all above zero.
func expectStored(resp []byte) bool {
	m := new(dns.Msg)
	if m.Unpack(resp) != nil || m.Truncated || (m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError) {
		return false
	}
	n := 0
	for _, rr := range append(append(append([]dns.RR(nil), m.Answer...), m.Ns...), m.Extra...) {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		if rr.Header().Ttl == 0 {
			return false
		}
		n++
	}
	return n > 0
}

// TestAnswerCacheTTL: TTLs count down on the injected clock, and the entry
// goes once its shortest TTL has run out.
func TestAnswerCacheTTL(t *testing.T) {
	clock := newFakeClock()
	s, fb := newTestServer(t, Config{Now: clock.Now})
	fb.cached[key(nameAlias, dns.TypeA)] = true
	query := pack(t, question(nameAlias, dns.TypeA)) // CNAME 300, A 300
	s.HandlePacket(t.Context(), query, clientLoopback, false, nil)
	tests := []struct {
		advance time.Duration
		hit     bool
		ttl     uint32
	}{
		{0, true, 300},
		{500 * time.Millisecond, true, 299}, // rounded to never exceed the engine's TTL
		{99500 * time.Millisecond, true, 200},
		{199 * time.Second, true, 1},
		{500 * time.Millisecond, false, 0},
	}
	for _, tc := range tests {
		clock.Advance(tc.advance)
		out, ok := s.answerFast(query, clientLoopback, TransportUDP, nil)
		if ok != tc.hit {
			t.Fatalf("after +%v: hit %v, want %v", tc.advance, ok, tc.hit)
		}
		if !ok {
			continue
		}
		m := new(dns.Msg)
		if err := m.Unpack(out); err != nil {
			t.Fatal(err)
		}
		for _, rr := range m.Answer {
			if rr.Header().Ttl != tc.ttl {
				t.Errorf("after +%v: %s", tc.advance, rr)
			}
		}
	}
	fb.checkUnchanged(t)
}

// TestAnswerCacheKeepsOnlyCacheHits: fresh resolutions, errors, refusals
// and truncated answers are never stored.
func TestAnswerCacheKeepsOnlyCacheHits(t *testing.T) {
	tests := []struct {
		name   string
		query  *dns.Msg
		cached bool // the fake's ResolveCached answers it
		client netip.AddrPort
		stored bool
	}{
		{"cache hit", question(nameWWW, dns.TypeA), true, clientLoopback, true},
		{"nxdomain from the cache", question(nameNope, dns.TypeA), true, clientLoopback, true},
		{"resolved", question(nameAlias, dns.TypeA), false, clientLoopback, false},
		{"servfail", question(nameFail, dns.TypeA), false, clientLoopback, false},
		{"any", question(nameWWW, dns.TypeANY), false, clientLoopback, false},
		{"refused client", question(nameWWW, dns.TypeA), true, netip.MustParseAddrPort("192.0.2.1:53"), false},
		{"truncated", question(nameMedium, dns.TypeTXT), true, clientLoopback, false},
		{"fits edns", withEDNS(question(nameMedium, dns.TypeTXT), 1232, false), true, clientLoopback, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, fb := newTestServer(t, Config{})
			q := tc.query.Question[0]
			fb.cached[key(q.Name, q.Qtype)] = tc.cached
			query := pack(t, tc.query)
			s.HandlePacket(t.Context(), query, tc.client, false, nil)
			if got := s.answers.len(); got != map[bool]int{true: 1}[tc.stored] {
				t.Errorf("%d entries stored, want stored %v", got, tc.stored)
			}
			if _, ok := s.answerFast(query, clientLoopback, TransportUDP, nil); ok != tc.stored {
				t.Errorf("fast answer %v, want %v", ok, tc.stored)
			}
		})
	}
}

func TestAnswerCacheBound(t *testing.T) {
	s, _ := newTestServer(t, Config{AnswerCacheSize: 2})
	for _, shape := range []func(*dns.Msg) *dns.Msg{
		func(m *dns.Msg) *dns.Msg { return m },
		func(m *dns.Msg) *dns.Msg { m.Question[0].Name = "WWW.example.com."; return m },
		func(m *dns.Msg) *dns.Msg { m.Question[0].Name = "www.EXAMPLE.com."; return m },
	} {
		s.HandlePacket(t.Context(), pack(t, shape(question(nameWWW, dns.TypeA))), clientLoopback, false, nil)
	}
	if n := s.answers.len(); n != 2 {
		t.Errorf("%d entries, want the bound, 2", n)
	}
	off, _ := newTestServer(t, Config{AnswerCacheSize: -1})
	query := pack(t, question(nameWWW, dns.TypeA))
	off.HandlePacket(t.Context(), query, clientLoopback, false, nil)
	if _, ok := off.answerFast(query, clientLoopback, TransportUDP, nil); ok {
		t.Error("answer cache answered with AnswerCacheSize -1")
	}
}

// FuzzAnswerFast: whatever the bytes, an answer from the answer cache is
// the slow path's answer.
func FuzzAnswerFast(f *testing.F) {
	for _, shape := range queryShapes {
		for _, name := range []string{nameWWW, nameAlias, nameNope, nameMedium} {
			f.Add(pack(f, shape.make(name, dns.TypeA)), shape.tcp)
		}
	}
	clock := newFakeClock()
	fb := tameBackend{newFakeBackend(f)}
	for k := range fb.msgs {
		fb.cached[k] = true
	}
	fast, _ := newTestServer(f, Config{Backend: fb, Now: clock.Now})
	slow, _ := newTestServer(f, Config{Backend: fb, AnswerCacheSize: -1, Now: clock.Now})
	for _, shape := range queryShapes {
		for _, name := range []string{nameWWW, nameAlias, nameNope, nameMedium} {
			fast.HandlePacket(f.Context(), pack(f, shape.make(name, dns.TypeA)), clientLoopback, shape.tcp, nil)
		}
	}
	f.Fuzz(func(t *testing.T, query []byte, tcp bool) {
		got, ok := fast.answerFast(query, clientLoopback, transportOf(tcp), nil)
		if !ok {
			return
		}
		want := slow.HandlePacket(t.Context(), query, clientLoopback, tcp, nil)
		if !bytes.Equal(got, want) {
			t.Fatalf("query %x: answer cache gave\n%x\nslow path\n%x", query, got, want)
		}
		if binary.BigEndian.Uint16(got) != binary.BigEndian.Uint16(query) {
			t.Fatalf("answer ID differs from the query's")
		}
	})
}
