package resolver_test

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/resolver"
	"github.com/recursor-dns/recursor/roothints"
	"github.com/recursor-dns/recursor/testnet"
)

// An upstream that speaks cookies, honestly or not: each test server
// answers every A question of cookie.test with goodAddr, and plays one of
// these parts.
type cookiePart int

const (
	honestCookies cookiePart = iota // echoes the client cookie, adds a server cookie
	noCookies                       // answers without a COOKIE option
	// wrongCookieFirst sends, before each honest reply, one with the
	// right ID and question, a poisoned answer and another client
	// cookie: a spoofer that guessed all but the cookie.
	wrongCookieFirst
	// onlyWrongCookies sends only such replies.
	onlyWrongCookies
	// requireCookie answers BADCOOKIE, with its server cookie, to a
	// query without that cookie, as a server past its rate limit does.
	requireCookie
	// dropsCookieLater answers the first UDP query with a cookie and the
	// later ones, and every TCP query, without: a spoofer's reply after
	// the server showed it speaks cookies, or a server that stopped.
	dropsCookieLater
)

var (
	goodAddr   = netip.MustParseAddr("192.0.2.10")
	poisonAddr = netip.MustParseAddr("192.0.2.66")
)

const serverCookieHex = "0100000011223344aabbccddeeff0011"

// cookieUpstream is one test server and the COOKIE options it was sent.
type cookieUpstream struct {
	part cookiePart
	conn *net.UDPConn
	tcp  *net.TCPListener

	mu   sync.Mutex
	seen []string // the hex COOKIE data of each query ("" for none)
}

func (u *cookieUpstream) cookies() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.seen...)
}

func (u *cookieUpstream) serve() {
	buf := make([]byte, 4096)
	for {
		n, from, err := u.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		req := new(dns.Msg)
		if req.Unpack(buf[:n]) != nil || len(req.Question) != 1 {
			continue
		}
		sent := ""
		if opt := req.IsEdns0(); opt != nil {
			for _, o := range opt.Option {
				if c, ok := o.(*dns.EDNS0_COOKIE); ok {
					sent = c.Cookie
				}
			}
		}
		u.mu.Lock()
		u.seen = append(u.seen, sent)
		first := len(u.seen) == 1
		u.mu.Unlock()
		if u.part == dropsCookieLater && !first {
			sent = "" // answered as if the query had none: no cookie back
		}
		for _, m := range u.replies(req, sent) {
			wire, err := m.Pack()
			if err == nil {
				u.conn.WriteToUDPAddrPort(wire, from)
			}
		}
	}
}

// serveTCP answers each query over TCP honestly, without a cookie, and
// notes it in seen as "tcp".
func (u *cookieUpstream) serveTCP() {
	for {
		c, err := u.tcp.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			dc := &dns.Conn{Conn: c}
			req, err := dc.ReadMsg()
			if err != nil || len(req.Question) != 1 {
				return
			}
			u.mu.Lock()
			u.seen = append(u.seen, "tcp")
			u.mu.Unlock()
			m := new(dns.Msg)
			m.SetReply(req)
			m.Authoritative = true
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: goodAddr.AsSlice()}}
			dc.WriteMsg(m)
		}()
	}
}

// replies are what the server sends for req, whose COOKIE data was sent.
func (u *cookieUpstream) replies(req *dns.Msg, sent string) []*dns.Msg {
	reply := func(addr netip.Addr, c string) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		q := req.Question[0]
		if q.Qtype == dns.TypeA {
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: addr.AsSlice()}}
		} else {
			soa, _ := dns.NewRR("cookie.test. 300 IN SOA ns.cookie.test. host.cookie.test. 1 3600 600 86400 300")
			m.Ns = []dns.RR{soa}
		}
		if req.IsEdns0() != nil {
			m.SetEdns0(1232, false)
			if c != "" {
				m.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: c}}
			}
		}
		return m
	}
	right := "" // no cookie for a query without one
	if len(sent) >= 16 {
		right = sent[:16] + serverCookieHex
	}
	wrong := reply(poisonAddr, "0badc0de0badc0de"+serverCookieHex)
	switch u.part {
	case noCookies:
		return []*dns.Msg{reply(goodAddr, "")}
	case wrongCookieFirst:
		return []*dns.Msg{wrong, reply(goodAddr, right)}
	case onlyWrongCookies:
		return []*dns.Msg{wrong, wrong}
	case requireCookie:
		if sent != right {
			m := reply(goodAddr, right)
			m.Answer = nil
			m.Rcode = dns.RcodeBadCookie
			return []*dns.Msg{m}
		}
	}
	return []*dns.Msg{reply(goodAddr, right)}
}

// startCookieUpstreams starts one server per part, on addresses 127.0.0.x
// that share one free port, and returns them and the port.
func startCookieUpstreams(t *testing.T, parts ...cookiePart) ([]*cookieUpstream, uint16) {
	t.Helper()
	for try := 0; try < 10; try++ {
		var ups []*cookieUpstream
		var port uint16
		ok := true
		for i, part := range parts {
			addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(101 + i)}), port)
			conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
			if err != nil {
				ok = false
				break
			}
			port = uint16(conn.LocalAddr().(*net.UDPAddr).Port)
			u := &cookieUpstream{part: part, conn: conn}
			ups = append(ups, u)
			addr = netip.AddrPortFrom(addr.Addr(), port)
			if u.tcp, err = net.ListenTCP("tcp", net.TCPAddrFromAddrPort(addr)); err != nil {
				ok = false
				break
			}
		}
		for _, u := range ups {
			t.Cleanup(func() {
				u.conn.Close()
				if u.tcp != nil {
					u.tcp.Close()
				}
			})
			if ok {
				go u.serve()
				go u.serveTCP()
			}
		}
		if ok {
			return ups, port
		}
	}
	t.Fatal("no free port shared by the test servers")
	return nil, 0
}

// cookieResolver resolves cookie.test through the stub servers ups
// (DNSSEC off, the root hints a dead loopback address).
func cookieResolver(t *testing.T, ups []*cookieUpstream, port uint16) *resolver.Resolver {
	t.Helper()
	hints, err := roothints.Parse(strings.NewReader(". 3600000 NS a.root.test.\na.root.test. 3600000 A 127.0.0.99\n"))
	if err != nil {
		t.Fatal(err)
	}
	var addrs []netip.Addr
	for _, u := range ups {
		addrs = append(addrs, u.conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr())
	}
	r, err := resolver.New(resolver.Config{
		RootHints:    hints,
		UpstreamPort: port,
		DontQuery:    []netip.Prefix{},
		Transport:    testnet.LoopbackOnly(t, &resolver.NetTransport{}),
		DNSSEC:       resolver.DNSSECConfig{Disable: true},
		StubZones:    []resolver.StubZone{{Zone: "cookie.test.", Addrs: addrs}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func answerAddr(t *testing.T, m *dns.Msg) netip.Addr {
	t.Helper()
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			addr, _ := netip.AddrFromSlice(a.A)
			return addr.Unmap()
		}
	}
	t.Fatalf("no A record in %v", m)
	return netip.Addr{}
}

// TestCookiesSentAndLearnt: the first query to a server carries our client
// cookie alone, later ones the server cookie it returned.
func TestCookiesSentAndLearnt(t *testing.T) {
	ups, port := startCookieUpstreams(t, honestCookies)
	r := cookieResolver(t, ups, port)
	for _, name := range []string{"a.cookie.test.", "b.cookie.test."} {
		m, err := r.Resolve(t.Context(), name, dns.TypeA)
		if err != nil {
			t.Fatal(err)
		}
		if got := answerAddr(t, m); got != goodAddr {
			t.Fatalf("%s: %v", name, got)
		}
	}
	seen := ups[0].cookies()
	if len(seen) < 2 {
		t.Fatalf("server saw %d queries, want 2 or more", len(seen))
	}
	if len(seen[0]) != 16 {
		t.Errorf("first query's cookie %q: want a client cookie alone", seen[0])
	}
	last := seen[len(seen)-1]
	if last != seen[0]+serverCookieHex {
		t.Errorf("later query's cookie %q: want the client cookie %s and the server's %s", last, seen[0], serverCookieHex)
	}
}

// TestWrongClientCookieDiscarded: a reply echoing another client cookie,
// though ID, port and question match, is dropped, and the real reply that
// follows on the same socket is taken.
func TestWrongClientCookieDiscarded(t *testing.T) {
	ups, port := startCookieUpstreams(t, wrongCookieFirst)
	r := cookieResolver(t, ups, port)
	m, err := r.Resolve(t.Context(), "www.cookie.test.", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if got := answerAddr(t, m); got != goodAddr {
		t.Fatalf("answer %v, want %v: the spoofed reply was taken", got, goodAddr)
	}
	if n := len(ups[0].cookies()); n != 1 {
		t.Errorf("server asked %d times, want once: the wait goes on on the same socket", n)
	}
}

// TestOnlyWrongCookiesTimeOut: a server that only ever echoes wrong
// cookies gives no answer; its query times out and the next server
// answers.
func TestOnlyWrongCookiesTimeOut(t *testing.T) {
	ups, port := startCookieUpstreams(t, onlyWrongCookies, honestCookies)
	spoofer := ups[0].conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr()
	// A cold resolver picks either server first, at random: take fresh
	// ones until one has asked the spoofer.
	for i := 0; i < 30 && len(ups[0].cookies()) == 0; i++ {
		var steps []resolver.Step
		ctx := resolver.WithTrace(t.Context(), func(s resolver.Step) { steps = append(steps, s) })
		m, err := cookieResolver(t, ups, port).Resolve(ctx, "www.cookie.test.", dns.TypeA)
		if err != nil {
			t.Fatal(err)
		}
		if got := answerAddr(t, m); got != goodAddr {
			t.Fatalf("answer %v, want %v", got, goodAddr)
		}
		if len(ups[0].cookies()) == 0 {
			continue
		}
		timedOut := false
		for _, s := range steps {
			if s.Server.Addr() != spoofer {
				continue
			}
			if s.Outcome == resolver.OutcomeAnswered {
				t.Errorf("an answer was accepted from the server that only echoes wrong cookies: %+v", s)
			}
			timedOut = timedOut || s.Outcome == resolver.OutcomeTimeout
		}
		if !timedOut {
			t.Errorf("the exchange with the spoofer did not time out: %+v", steps)
		}
		return
	}
	t.Fatal("no resolver asked the spoofer")
}

// TestBadCookieRetried: BADCOOKIE is answered by one more query with the
// server cookie it brought, which the server accepts.
func TestBadCookieRetried(t *testing.T) {
	ups, port := startCookieUpstreams(t, requireCookie)
	r := cookieResolver(t, ups, port)
	m, err := r.Resolve(t.Context(), "www.cookie.test.", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if got := answerAddr(t, m); got != goodAddr {
		t.Fatalf("answer %v", got)
	}
	seen := ups[0].cookies()
	if len(seen) != 2 || len(seen[0]) != 16 || seen[1] != seen[0]+serverCookieHex {
		t.Errorf("queries' cookies %q: want the client cookie, then it with the server cookie", seen)
	}
}

// TestNoCookieServer: a server without cookie support is used as ever,
// and sent no server cookie.
func TestNoCookieServer(t *testing.T) {
	ups, port := startCookieUpstreams(t, noCookies)
	r := cookieResolver(t, ups, port)
	for _, name := range []string{"a.cookie.test.", "b.cookie.test."} {
		m, err := r.Resolve(t.Context(), name, dns.TypeA)
		if err != nil {
			t.Fatal(err)
		}
		if got := answerAddr(t, m); got != goodAddr {
			t.Fatalf("%s: %v", name, got)
		}
	}
	for _, c := range ups[0].cookies() {
		if len(c) != 16 {
			t.Errorf("cookie %q sent to a server without cookies: want the client cookie alone", c)
		}
	}
}

// TestDisableCookies: no COOKIE option goes upstream.
func TestDisableCookies(t *testing.T) {
	ups, port := startCookieUpstreams(t, honestCookies)
	hints, _ := roothints.Parse(strings.NewReader(". 3600000 NS a.root.test.\na.root.test. 3600000 A 127.0.0.99\n"))
	r, err := resolver.New(resolver.Config{
		RootHints: hints, UpstreamPort: port, DontQuery: []netip.Prefix{}, DisableCookies: true,
		Transport: testnet.LoopbackOnly(t, &resolver.NetTransport{}), DNSSEC: resolver.DNSSECConfig{Disable: true},
		StubZones: []resolver.StubZone{{Zone: "cookie.test.", Addrs: []netip.Addr{ups[0].conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr()}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resolve(t.Context(), "www.cookie.test.", dns.TypeA); err != nil {
		t.Fatal(err)
	}
	for _, c := range ups[0].cookies() {
		if c != "" {
			t.Errorf("cookie %q sent with cookies disabled", c)
		}
	}
}

// TestMissingCookieGoesTCP: once a server has sent a cookie, a UDP reply
// without one is a spoof suspect: the answer is fetched over TCP, and the
// server's cookie, absent there too, is forgotten, so the next query is
// answered over UDP as from a server without cookies.
func TestMissingCookieGoesTCP(t *testing.T) {
	ups, port := startCookieUpstreams(t, dropsCookieLater)
	r := cookieResolver(t, ups, port)
	var tcp []bool
	ctx := resolver.WithTrace(t.Context(), func(s resolver.Step) { tcp = append(tcp, s.TCP) })
	for _, name := range []string{"a.cookie.test.", "b.cookie.test.", "c.cookie.test."} {
		m, err := r.Resolve(ctx, name, dns.TypeA)
		if err != nil {
			t.Fatal(err)
		}
		if got := answerAddr(t, m); got != goodAddr {
			t.Fatalf("%s: %v", name, got)
		}
	}
	seen := ups[0].cookies()
	want := []string{"client", "client+server", "tcp", "client"}
	if len(seen) != len(want) {
		t.Fatalf("server saw %q, want %d queries: %v", seen, len(want), want)
	}
	for i, w := range want {
		got := seen[i]
		switch {
		case w == "tcp" && got != "tcp",
			w == "client" && len(got) != 16,
			w == "client+server" && len(got) != 16+len(serverCookieHex):
			t.Errorf("query %d: %q, want %s", i, got, w)
		}
	}
	if len(tcp) != 3 || tcp[0] || !tcp[1] || tcp[2] {
		t.Errorf("steps over TCP %v, want the second only", tcp)
	}
}
