package server

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cookie"
)

const testClientCookie = "2464c4abcf10c957"

// cookieQuery is a query for name A with EDNS and a COOKIE option of the
// hex data c.
func cookieQuery(name, c string) *dns.Msg {
	m := withEDNS(question(name, dns.TypeA), 1232, false)
	m.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: c}}
	return m
}

// cookieOf returns the data of m's COOKIE option ("" for none).
func cookieOf(tb testing.TB, m *dns.Msg) string {
	tb.Helper()
	opt := m.IsEdns0()
	if opt == nil {
		return ""
	}
	for _, o := range opt.Option {
		if c, ok := o.(*dns.EDNS0_COOKIE); ok {
			return c.Cookie
		}
	}
	return ""
}

// ask sends m to s as a packet (so through the answer cache when it can)
// and returns the parsed answer; nil when none is sent.
func ask(tb testing.TB, s *Server, m *dns.Msg, client netip.AddrPort, tcp bool) *dns.Msg {
	tb.Helper()
	out := s.HandlePacket(tb.Context(), pack(tb, m), client, tcp, nil)
	if out == nil {
		return nil
	}
	resp := new(dns.Msg)
	if err := resp.Unpack(out); err != nil {
		tb.Fatalf("answer does not parse: %v", err)
	}
	return resp
}

// TestCookieAnswers: a client cookie is answered with a server cookie of
// ours, which verifies; sent back, it is repeated while young and replaced
// when old, stale or not ours; a malformed option is FORMERR. Each query
// goes twice: the second time the answer cache answers it.
func TestCookieAnswers(t *testing.T) {
	clock := newFakeClock()
	s, _ := newTestServer(t, Config{Now: clock.Now})
	secrets := cookie.NewSecrets(testCookieSecret, nil)
	verify := func(t *testing.T, got string) {
		t.Helper()
		b, _ := hex.DecodeString(got)
		client, server, ok := cookie.Split(b)
		if !ok || hex.EncodeToString(client) != testClientCookie || len(server) != cookie.ServerLen {
			t.Fatalf("answer's cookie %q: want our client cookie and a 16-byte server cookie", got)
		}
		if v := secrets.Check(client, server, clientLoopback.Addr(), uint32(clock.Now().Unix())); v != cookie.Good {
			t.Fatalf("answer's server cookie is %v", v)
		}
	}
	var first string
	for i := range 2 {
		resp := ask(t, s, cookieQuery(nameWWW, testClientCookie), clientLoopback, false)
		if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
			t.Fatalf("query %d with a client cookie: %s", i, resp)
		}
		first = cookieOf(t, resp)
		verify(t, first)
	}
	clock.Advance(10 * time.Minute)
	for i := range 2 {
		resp := ask(t, s, cookieQuery(nameWWW, first), clientLoopback, false)
		if got := cookieOf(t, resp); got != first {
			t.Errorf("query %d with a young valid cookie: answered %s, want it repeated %s", i, got, first)
		}
	}
	clock.Advance(25 * time.Minute) // 35 minutes old: renewed
	for i := range 2 {
		resp := ask(t, s, cookieQuery(nameWWW, first), clientLoopback, false)
		got := cookieOf(t, resp)
		if got == first {
			t.Errorf("query %d with a 35-minute-old cookie: repeated, want a fresh one", i)
		}
		verify(t, got)
	}
	clock.Advance(time.Hour) // past the lifetime: bad, answered anyway
	for i := range 2 {
		resp := ask(t, s, cookieQuery(nameWWW, first), clientLoopback, false)
		if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
			t.Fatalf("query %d with an expired cookie (no rate limit): %s", i, resp)
		}
		verify(t, cookieOf(t, resp))
	}
	wrong := testClientCookie + "0100000000000000ffffffffffffffff"
	resp := ask(t, s, cookieQuery(nameWWW, wrong), clientLoopback, false)
	if resp.Rcode != dns.RcodeSuccess {
		t.Fatalf("a wrong server cookie (no rate limit): %s, want an answer", dns.RcodeToString[resp.Rcode])
	}
	verify(t, cookieOf(t, resp))

	for _, bad := range []string{"0102030405", testClientCookie + "01020304", testClientCookie + hex.EncodeToString(make([]byte, 33))} {
		resp := ask(t, s, cookieQuery(nameWWW, bad), clientLoopback, false)
		if resp.Rcode != dns.RcodeFormatError {
			t.Errorf("cookie of %d bytes: %s, want FORMERR", len(bad)/2, dns.RcodeToString[resp.Rcode])
		}
	}
	if resp := ask(t, s, withEDNS(question(nameWWW, dns.TypeA), 1232, false), clientLoopback, false); cookieOf(t, resp) != "" {
		t.Error("a query without a cookie got one")
	}
}

// TestCookieRotation: after SetCookieSecrets(new, &old) a cookie of the
// old secret is valid (no BADCOOKIE past the rate limit) and replaced;
// after the next rotation it is not.
func TestCookieRotation(t *testing.T) {
	clock := newFakeClock()
	s, _ := newTestServer(t, Config{Now: clock.Now, CookieRateLimit: 1})
	old := cookieOf(t, ask(t, s, cookieQuery(nameWWW, testClientCookie), clientLoopback, true))
	k1, k2 := cookie.RandomKey(), cookie.RandomKey()
	s.SetCookieSecrets(k1, &testCookieSecret)
	ask(t, s, withEDNS(question(nameWWW, dns.TypeA), 1232, false), clientLoopback, false) // spends the one token
	for i := range 2 {
		resp := ask(t, s, cookieQuery(nameWWW, old), clientLoopback, false)
		if resp.Rcode != dns.RcodeSuccess {
			t.Fatalf("query %d with a cookie of the previous secret: %s", i, dns.RcodeToString[resp.Rcode])
		}
		if got := cookieOf(t, resp); got == old {
			t.Errorf("query %d: the previous secret's cookie repeated, want a fresh one", i)
		}
	}
	s.SetCookieSecrets(k2, &k1)
	if resp := ask(t, s, cookieQuery(nameWWW, old), clientLoopback, false); resp.Rcode != dns.RcodeBadCookie {
		t.Errorf("a cookie two rotations old past the limit: %s, want BADCOOKIE", dns.RcodeToString[resp.Rcode])
	}
}

// TestCookieRateLimit: past the rate, UDP queries without a cookie get an
// empty answer with TC set, those with a client cookie only (or a bad
// server cookie) BADCOOKIE with a fresh cookie, which then passes; TCP
// and other networks are not limited.
func TestCookieRateLimit(t *testing.T) {
	clock := newFakeClock()
	s, _ := newTestServer(t, Config{Now: clock.Now, CookieRateLimit: 3, Allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}})
	plain := withEDNS(question(nameWWW, dns.TypeA), 1232, false)
	for i := range 3 {
		if resp := ask(t, s, plain, clientLoopback, false); resp.Truncated || len(resp.Answer) != 1 {
			t.Fatalf("query %d within the rate: %s", i, resp)
		}
	}
	neighbour := netip.MustParseAddrPort("127.0.0.200:5300") // the same /24
	for _, tc := range []struct {
		name   string
		client netip.AddrPort
		tcp    bool
	}{{"the client", clientLoopback, false}, {"a neighbour", neighbour, false}} {
		resp := ask(t, s, plain, tc.client, tc.tcp)
		if !resp.Truncated || len(resp.Answer) != 0 || resp.Rcode != dns.RcodeSuccess {
			t.Errorf("%s past the rate without a cookie: %s, want an empty answer with TC", tc.name, resp)
		}
	}
	if resp := ask(t, s, plain, clientLoopback, true); resp.Truncated || len(resp.Answer) != 1 {
		t.Errorf("over TCP past the rate: %s, want the answer", resp)
	}
	if resp := ask(t, s, plain, clientOther, false); resp.Truncated || len(resp.Answer) != 1 {
		t.Errorf("another network: %s, want the answer", resp)
	}

	resp := ask(t, s, cookieQuery(nameWWW, testClientCookie), clientLoopback, false)
	if resp.Rcode != dns.RcodeBadCookie || len(resp.Answer) != 0 {
		t.Fatalf("a client cookie past the rate: %s, want BADCOOKIE", resp)
	}
	fresh := cookieOf(t, resp)
	if len(fresh) != 2*(cookie.ClientLen+cookie.ServerLen) {
		t.Fatalf("BADCOOKIE carries cookie %q, want a fresh one", fresh)
	}
	if resp := ask(t, s, cookieQuery(nameWWW, testClientCookie+"01000000ffffffff0011223344556677"), clientLoopback, false); resp.Rcode != dns.RcodeBadCookie {
		t.Errorf("a wrong server cookie past the rate: %s, want BADCOOKIE", dns.RcodeToString[resp.Rcode])
	}
	for i := range 3 { // twice through the answer cache
		resp := ask(t, s, cookieQuery(nameWWW, fresh), clientLoopback, false)
		if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 || resp.Truncated {
			t.Fatalf("query %d with the fresh cookie past the rate: %s", i, resp)
		}
	}
	if n := s.Stats().CookieLimited; n != 4 {
		t.Errorf("Stats.CookieLimited = %d, want 4 (two TC, two BADCOOKIE)", n)
	}
	clock.Advance(time.Second) // the bucket refills
	if resp := ask(t, s, plain, clientLoopback, false); resp.Truncated {
		t.Error("a second later, still truncated")
	}
}

// TestCookieAnswerCacheMatchesSlowPath: with each kind of cookie, the
// answer cache's reply is byte for byte the slow path's.
func TestCookieAnswerCacheMatchesSlowPath(t *testing.T) {
	clock := newFakeClock()
	fast, _ := newTestServer(t, Config{Now: clock.Now})
	slow, _ := newTestServer(t, Config{Now: clock.Now, AnswerCacheSize: -1})
	good := cookieOf(t, ask(t, slow, cookieQuery(nameWWW, testClientCookie), clientLoopback, false))
	clock.Advance(time.Minute)
	oldish := cookieOf(t, ask(t, slow, cookieQuery(nameWWW, testClientCookie), clientLoopback, false))
	clock.Advance(31 * time.Minute)
	for name, c := range map[string]string{
		"client only": testClientCookie,
		"good":        oldish,
		"to renew":    good,
		"bad":         testClientCookie + "01000000ffffffff0011223344556677",
		"long bad":    testClientCookie + hex.EncodeToString(bytes.Repeat([]byte{7}, 32)),
	} {
		query := pack(t, cookieQuery(nameWWW, c))
		fast.HandlePacket(t.Context(), query, clientLoopback, false, nil) // stored
		got, ok := fast.answerFast(query, clientLoopback, TransportUDP, nil)
		if !ok {
			t.Errorf("%s: not answered from the answer cache", name)
			continue
		}
		if want := slow.HandlePacket(t.Context(), query, clientLoopback, false, nil); !bytes.Equal(got, want) {
			t.Errorf("%s: answer cache gave\n%x\nslow path\n%x", name, got, want)
		}
	}
}

func TestNoCookies(t *testing.T) {
	s, _ := newTestServer(t, Config{NoCookies: true})
	for i := range 2 {
		resp := ask(t, s, cookieQuery(nameWWW, testClientCookie), clientLoopback, false)
		if resp.Rcode != dns.RcodeSuccess || cookieOf(t, resp) != "" {
			t.Errorf("query %d with cookies off: %s, want an answer without a cookie", i, resp)
		}
	}
}

func TestUDPLimitNetworks(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"192.0.2.1", "192.0.2.254", true},
		{"192.0.2.1", "192.0.3.1", false},
		{"2001:db8:0:100::1", "2001:db8:0:1ff::2", true},
		{"2001:db8:0:100::1", "2001:db8:0:200::1", false},
		{"::ffff:192.0.2.1", "192.0.2.9", true},
	} {
		a, b := netip.MustParseAddr(tc.a), netip.MustParseAddr(tc.b)
		if same := networkOf(a) == networkOf(b); same != tc.same {
			t.Errorf("%s and %s: same network %v, want %v", a, b, same, tc.same)
		}
	}
	l := newUDPLimit(10)
	a := netip.MustParseAddr("192.0.2.1")
	now := int64(1e12)
	n := 0
	for l.allow(a, now) {
		n++
	}
	if n != 10 {
		t.Errorf("burst of %d at once, want 10", n)
	}
	if !l.allow(a, now+int64(100*time.Millisecond)) || l.allow(a, now+int64(100*time.Millisecond)) {
		t.Error("a tenth of a second later: want exactly one more")
	}
}
