package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestServeUDPAndTCP(t *testing.T) {
	s, fb := newTestServer(t, Config{})
	addr := startServer(t, s)
	tests := []struct {
		name string
		req  func() *dns.Msg
		want want
	}{
		{"cached answer, case echoed", func() *dns.Msg { return question("wWw.EXAMPLE.com.", dns.TypeA) },
			want{rcode: dns.RcodeSuccess, answers: 1, first: "A", ede: -1, question: true}},
		{"CNAME chain", func() *dns.Msg { return question(nameAlias, dns.TypeA) },
			want{rcode: dns.RcodeSuccess, answers: 2, first: "CNAME", ede: -1, question: true}},
		{"NXDOMAIN with SOA", func() *dns.Msg { return question(nameNope, dns.TypeA) },
			want{rcode: dns.RcodeNameError, ns: 1, ede: -1, question: true}},
		{"EDNS echoed", func() *dns.Msg { return withEDNS(question(nameWWW, dns.TypeA), 4096, true) },
			want{rcode: dns.RcodeSuccess, answers: 1, first: "A", edns: true, ede: -1, question: true}},
		{"BADVERS", func() *dns.Msg {
			m := withEDNS(question(nameWWW, dns.TypeA), 1232, false)
			m.IsEdns0().SetVersion(2)
			return m
		}, want{rcode: dns.RcodeBadVers, edns: true, ede: -1, question: true}},
		{"SERVFAIL with EDE", func() *dns.Msg { return withEDNS(question(nameFail, dns.TypeA), 1232, false) },
			want{rcode: dns.RcodeServerFailure, edns: true, ede: int(dns.ExtendedErrorCodeNoReachableAuthority), question: true}},
		{"two questions: FORMERR", func() *dns.Msg {
			m := question(nameWWW, dns.TypeA)
			m.Question = append(m.Question, dns.Question{Name: nameAlias, Qtype: dns.TypeA, Qclass: dns.ClassINET})
			return m
		}, want{rcode: dns.RcodeFormatError, ede: -1}},
		{"no question: FORMERR", func() *dns.Msg { m := question(nameWWW, dns.TypeA); m.Question = nil; return m },
			want{rcode: dns.RcodeFormatError, ede: -1}},
		{"NOTIFY: NOTIMP", func() *dns.Msg { m := question("example.com.", dns.TypeSOA); m.Opcode = dns.OpcodeNotify; return m },
			want{rcode: dns.RcodeNotImplemented, ede: -1, question: true}},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tc := range tests {
			t.Run(network+"/"+tc.name, func(t *testing.T) {
				req := tc.req()
				checkResponse(t, req, exchange(t, network, addr, req, netip.Addr{}), tc.want)
			})
		}
	}
	fb.checkUnchanged(t)
}

func TestTruncationThenTCP(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	addr := startServer(t, s)
	tests := []struct {
		name    string
		req     func() *dns.Msg
		answers int
	}{
		{"over 512 without EDNS", func() *dns.Msg { return question(nameMedium, dns.TypeTXT) }, 4},
		{"over our 1232 with EDNS 4096", func() *dns.Msg { return withEDNS(question(nameBig, dns.TypeTXT), 4096, false) }, 15},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			udp := exchange(t, "udp", addr, tc.req(), netip.Addr{})
			if !udp.Truncated || len(udp.Answer) >= tc.answers {
				t.Fatalf("UDP: TC %v with %d answers, want TC and fewer than %d", udp.Truncated, len(udp.Answer), tc.answers)
			}
			tcp := exchange(t, "tcp", addr, tc.req(), netip.Addr{})
			if tcp.Truncated || len(tcp.Answer) != tc.answers {
				t.Errorf("TCP: TC %v with %d answers, want all %d", tcp.Truncated, len(tcp.Answer), tc.answers)
			}
		})
	}
}

func TestRefusedClient(t *testing.T) {
	s, fb := newTestServer(t, Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	addr := startServer(t, s)
	for _, tc := range []struct {
		network string
		from    netip.Addr
		rcode   int
	}{
		{"udp", netip.MustParseAddr("127.0.0.2"), dns.RcodeRefused},
		{"tcp", netip.MustParseAddr("127.0.0.2"), dns.RcodeRefused},
		{"udp", netip.MustParseAddr("127.0.0.1"), dns.RcodeSuccess},
		{"tcp", netip.MustParseAddr("127.0.0.1"), dns.RcodeSuccess},
	} {
		t.Run(fmt.Sprintf("%s from %s", tc.network, tc.from), func(t *testing.T) {
			req := withEDNS(question(nameAlias, dns.TypeA), 1232, false)
			resp := exchange(t, tc.network, addr, req, tc.from)
			if resp.Rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s", rcodeString(resp.Rcode), rcodeString(tc.rcode))
			}
			if tc.rcode == dns.RcodeRefused {
				if e := edeOf(resp); e == nil || e.InfoCode != dns.ExtendedErrorCodeProhibited || len(resp.Answer) != 0 {
					t.Errorf("refusal with EDE %v and %d answers, want Prohibited and none", e, len(resp.Answer))
				}
			}
		})
	}
	for _, c := range fb.resolveCalls() {
		if c != key(nameAlias, dns.TypeA) {
			t.Errorf("unexpected backend call %s", c)
		}
	}
	if n := len(fb.resolveCalls()); n != 2 {
		t.Errorf("backend asked %d times, want 2 (the allowed client only)", n)
	}
}

// rawUDP sends b to addr and returns the reply, or nil after wait.
func rawUDP(t *testing.T, conn *net.UDPConn, b []byte, wait time.Duration) []byte {
	t.Helper()
	if _, err := conn.Write(b); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 65535)
	n, err := conn.Read(buf)
	if err != nil {
		if isTimeout(err) {
			return nil
		}
		t.Fatal(err)
	}
	return buf[:n]
}

func TestMalformedOverUDP(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	addr := startServer(t, s)
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	valid, _ := question(nameWWW, dns.TypeA).Pack()
	garbage := append(append([]byte{}, valid[:12]...), 0xc0, 0xff, 0x00)
	garbage[0], garbage[1] = 0xab, 0xcd

	out := rawUDP(t, conn, garbage, 5*time.Second)
	resp := new(dns.Msg)
	if err := resp.Unpack(out); err != nil {
		t.Fatalf("FORMERR unparsable: %v", err)
	}
	if resp.Id != 0xabcd || resp.Rcode != dns.RcodeFormatError || len(resp.Question) != 0 {
		t.Errorf("got id %x rcode %s question %v, want abcd FORMERR none", resp.Id, rcodeString(resp.Rcode), resp.Question)
	}
	// Too short to answer: then the next reply is the valid query's.
	if _, err := conn.Write([]byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	out = rawUDP(t, conn, valid, 5*time.Second)
	if err := resp.Unpack(out); err != nil || resp.Id != binary.BigEndian.Uint16(valid) || resp.Rcode != dns.RcodeSuccess {
		t.Errorf("after a runt packet: %v %v", err, resp)
	}
}

// tcpQuery frames m for TCP.
func tcpQuery(t *testing.T, m *dns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...)
}

func readTCPAnswer(t *testing.T, conn net.Conn) *dns.Msg {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var prefix [2]byte
	if _, err := io.ReadFull(conn, prefix[:]); err != nil {
		t.Fatalf("read length: %v", err)
	}
	b := make([]byte, binary.BigEndian.Uint16(prefix[:]))
	if _, err := io.ReadFull(conn, b); err != nil {
		t.Fatalf("read message: %v", err)
	}
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		t.Fatalf("unpack: %v", err)
	}
	return m
}

func TestTCPPipelining(t *testing.T) {
	s, fb := newTestServer(t, Config{})
	addr := startServer(t, s)
	conn, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Three queries in one write; the first waits for the engine until the
	// other two are answered, so answers must come as they complete.
	slow, alias, www := question(nameSlow, dns.TypeA), question(nameAlias, dns.TypeA), question(nameWWW, dns.TypeA)
	var stream []byte
	for _, m := range []*dns.Msg{slow, alias, www} {
		stream = append(stream, tcpQuery(t, m)...)
	}
	if _, err := conn.Write(stream); err != nil {
		t.Fatal(err)
	}
	fb.waitStarted(t, 1)
	got := map[uint16]*dns.Msg{}
	for range 2 {
		m := readTCPAnswer(t, conn)
		got[m.Id] = m
	}
	if got[alias.Id] == nil || got[www.Id] == nil {
		t.Fatalf("first two answers %v, want the alias and www queries'", got)
	}
	close(fb.release)
	last := readTCPAnswer(t, conn)
	if last.Id != slow.Id || last.Rcode != dns.RcodeSuccess || len(last.Answer) != 1 {
		t.Errorf("last answer:\n%v\nwant the slow query's", last)
	}
	// The connection stays open for more.
	if _, err := conn.Write(tcpQuery(t, www)); err != nil {
		t.Fatal(err)
	}
	if m := readTCPAnswer(t, conn); m.Id != www.Id {
		t.Errorf("fourth answer has id %d, want %d", m.Id, www.Id)
	}
}

func TestSlowlorisDoesNotBlockOthers(t *testing.T) {
	s, _ := newTestServer(t, Config{TCPIdleTimeout: 200 * time.Millisecond, MaxTCPConns: 3})
	addr := startServer(t, s)
	// Two clients that trickle: one sends a length and a few bytes, one
	// half a length prefix; neither finishes.
	var slow []net.Conn
	for _, partial := range [][]byte{{0, 40, 1, 2, 3}, {0}} {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(partial); err != nil {
			t.Fatal(err)
		}
		slow = append(slow, c)
	}
	// Others are served over UDP and TCP meanwhile, and a burst of new TCP
	// connections past the cap evicts the idle ones instead of waiting.
	for i := range 5 {
		for _, network := range []string{"udp", "tcp"} {
			if resp := exchange(t, network, addr, question(nameAlias, dns.TypeA), netip.Addr{}); len(resp.Answer) != 2 {
				t.Fatalf("query %d over %s while slow clients hang: %v", i, network, resp)
			}
		}
	}
	// The trickling clients are closed, at the latest by the idle timeout.
	for i, c := range slow {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := c.Read(make([]byte, 1))
		if n != 0 || !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("slow client %d: read %d bytes, %v; want the connection closed", i, n, err)
		}
	}
}

func TestTCPConnCap(t *testing.T) {
	s, fb := newTestServer(t, Config{MaxTCPConns: 1})
	addr := startServer(t, s)
	// The only slot is held by a connection with an answer outstanding:
	// it cannot be evicted, so a new connection is refused.
	busy, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	slow := question(nameSlow, dns.TypeA)
	busy.Write(tcpQuery(t, slow))
	fb.waitStarted(t, 1)
	c := &dns.Client{Net: "tcp", Timeout: 5 * time.Second}
	if _, _, err := c.Exchange(question(nameWWW, dns.TypeA), addr.String()); err == nil {
		t.Errorf("a second connection was served past MaxTCPConns 1 with the first busy")
	}
	close(fb.release)
	if m := readTCPAnswer(t, busy); m.Id != slow.Id {
		t.Errorf("busy connection got id %d, want %d", m.Id, slow.Id)
	}
	// Now idle, it gives way to a new connection.
	if resp := exchange(t, "tcp", addr, question(nameWWW, dns.TypeA), netip.Addr{}); resp.Rcode != dns.RcodeSuccess {
		t.Errorf("new connection after the old went idle: %v", resp)
	}
}

// serveUntilCancelled serves s until cancel, for the tests of shutdown;
// served receives what Serve returns.
func serveUntilCancelled(t *testing.T, s *Server) (addrs []netip.AddrPort, cancel context.CancelFunc, served <-chan error) {
	t.Helper()
	addrs, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	return addrs, cancel, done
}

func TestGracefulShutdown(t *testing.T) {
	s, fb := newTestServer(t, Config{ShutdownGrace: time.Minute})
	addrs, cancel, served := serveUntilCancelled(t, s)

	answers := make(chan *dns.Msg, 2)
	for _, network := range []string{"udp", "tcp"} {
		go func() {
			c := &dns.Client{Net: network, Timeout: 30 * time.Second}
			m, _, err := c.Exchange(question(nameSlow, dns.TypeA), addrs[0].String())
			if err != nil {
				t.Errorf("%s: %v", network, err)
			}
			answers <- m
		}()
	}
	fb.waitStarted(t, 2)
	cancel()
	select {
	case err := <-served:
		t.Fatalf("Serve returned (%v) with queries in flight and grace left", err)
	case m := <-answers:
		t.Fatalf("answered before release: %v", m)
	case <-time.After(100 * time.Millisecond): // a bounded look, not a synchronisation
	}
	close(fb.release)
	for range 2 {
		if m := <-answers; m == nil || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
			t.Errorf("in-flight query after shutdown began: %v", m)
		}
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	if _, err := net.Dial("tcp", addrs[0].String()); err == nil {
		t.Errorf("still accepting TCP after Serve returned")
	}
}

func TestShutdownGraceCancelsQueries(t *testing.T) {
	s, fb := newTestServer(t, Config{ShutdownGrace: 50 * time.Millisecond})
	addrs, cancel, served := serveUntilCancelled(t, s)
	answer := make(chan *dns.Msg, 1)
	go func() {
		c := &dns.Client{Net: "tcp", Timeout: 30 * time.Second}
		m, _, _ := c.Exchange(withEDNS(question(nameSlow, dns.TypeA), 1232, false), addrs[0].String())
		answer <- m
	}()
	fb.waitStarted(t, 1)
	cancel() // never released: the grace period ends and the query is cancelled
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if m := <-answer; m == nil || m.Rcode != dns.RcodeServerFailure {
		t.Errorf("cancelled query got %v, want SERVFAIL", m)
	}
}

func TestListenErrors(t *testing.T) {
	taken, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	s, _ := newTestServer(t, Config{Listen: []string{taken.LocalAddr().String()}})
	if _, err := s.Listen(); err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("Listen on a taken port: %v, want 'already in use'", err)
	}
	if err := s.Serve(t.Context()); err == nil {
		t.Errorf("Serve after a failed Listen returned nil")
	}
	perm := bindError("udp", netip.MustParseAddrPort("127.0.0.1:53"), &net.OpError{Op: "listen", Err: os.NewSyscallError("bind", syscall.EACCES)})
	for _, w := range []string{"permission denied", "CAP_NET_BIND_SERVICE", "127.0.0.1:5353"} {
		if !strings.Contains(perm.Error(), w) {
			t.Errorf("privileged port error %q lacks %q", perm, w)
		}
	}
}

func TestListenSamePortUDPAndTCP(t *testing.T) {
	s, _ := newTestServer(t, Config{Listen: []string{"127.0.0.1:0", "[::1]:0"}})
	addrs, err := s.Listen()
	if err != nil {
		if strings.Contains(err.Error(), "::1") {
			t.Skipf("no IPv6 loopback here: %v", err)
		}
		t.Fatal(err)
	}
	defer func() { s.mu.Lock(); s.closeListeners(); s.mu.Unlock() }()
	if len(addrs) != 2 {
		t.Fatalf("addrs %v", addrs)
	}
	// Config.Threads sockets of each kind per address, in its order.
	per := len(s.udpConns) / len(addrs)
	for i, a := range addrs {
		for j := i * per; j < (i+1)*per; j++ {
			if a.Port() == 0 || s.udpConns[j].conn.LocalAddr().(*net.UDPAddr).Port != int(a.Port()) || s.listeners[j].Addr().(*net.TCPAddr).Port != int(a.Port()) {
				t.Errorf("address %d: %v, UDP %v, TCP %v", i, a, s.udpConns[j].conn.LocalAddr(), s.listeners[j].Addr())
			}
		}
	}
}

func TestWildcardListen(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("wildcard sockets need IP_PKTINFO (Linux)")
	}
	tests := []struct {
		listen string
		to     []string // addresses the client asks, all local
	}{
		{"0.0.0.0:0", []string{"127.0.0.1", "127.0.0.2", "127.0.0.53"}},
		{"[::]:0", []string{"::1"}},
	}
	for _, tc := range tests {
		t.Run(tc.listen, func(t *testing.T) {
			s, _ := newTestServer(t, Config{Listen: []string{tc.listen}})
			addrs, err := s.Listen()
			if err != nil {
				if strings.Contains(tc.listen, "::") {
					t.Skipf("no IPv6 here: %v", err)
				}
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- s.Serve(ctx) }()
			defer func() { cancel(); <-done }()
			for _, to := range tc.to {
				server := netip.AddrPortFrom(netip.MustParseAddr(to), addrs[0].Port())
				// The client's socket is connected: a reply from any
				// other source address than the one asked is discarded.
				for _, network := range []string{"udp", "tcp"} {
					if resp := exchange(t, network, server, question(nameWWW, dns.TypeA), netip.Addr{}); resp.Rcode != dns.RcodeSuccess {
						t.Errorf("%s via %s: %v", network, server, resp)
					}
				}
			}
		})
	}
}

// TestUDPBurst sends many queries before reading any answer, so the server
// finds several waiting per read (recvmmsg on Linux) and answers hits and
// misses alike.
// udpClient starts a test server and returns a UDP socket connected to
// it, with room for bursts of answers.
func udpClient(t *testing.T) *net.UDPConn {
	t.Helper()
	s, _ := newTestServer(t, Config{})
	addr := startServer(t, s)
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetReadBuffer(1 << 20)
	return conn
}

func TestUDPBurst(t *testing.T) {
	conn := udpClient(t)
	// Rounds of 40 stay well inside the server's default socket buffer,
	// so nothing is lost even when the machine is busy.
	const rounds, perRound = 5, 40
	names := []string{nameWWW, nameAlias, nameNope, "WWW.example.COM."}
	buf := make([]byte, 65535)
	for r := range rounds {
		want := map[uint16]string{}
		for i := range perRound {
			m := question(names[i%len(names)], dns.TypeA)
			m.Id = uint16(r*perRound + i + 1)
			want[m.Id] = m.Question[0].Name
			b, _ := m.Pack()
			if _, err := conn.Write(b); err != nil {
				t.Fatal(err)
			}
		}
		for range perRound {
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			k, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("round %d, after %d answers: %v", r, perRound-len(want), err)
			}
			m := new(dns.Msg)
			if err := m.Unpack(buf[:k]); err != nil {
				t.Fatal(err)
			}
			name, ok := want[m.Id]
			if !ok || len(m.Question) != 1 || m.Question[0].Name != name {
				t.Fatalf("answer %d for %v: unexpected or repeated", m.Id, m.Question)
			}
			delete(want, m.Id)
		}
	}
}

// Queries one at a time make every batched read short, so the reader
// waits in the poller without a last recvmmsg: a lost wakeup would leave a
// query unanswered here. Bursts of sizes around the batch follow.
func TestUDPOneAtATimeThenBursts(t *testing.T) {
	conn := udpClient(t)
	buf := make([]byte, 65535)
	id := uint16(0)
	exchange := func(n int) {
		t.Helper()
		for range n {
			id++
			m := question(nameWWW, dns.TypeA)
			m.Id = id
			b, _ := m.Pack()
			if _, err := conn.Write(b); err != nil {
				t.Fatal(err)
			}
		}
		for got := 0; got < n; got++ {
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			k, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("burst of %d ending at ID %d: %d answered: %v", n, id, got, err)
			}
			if k < 12 {
				t.Fatalf("short reply of %d bytes", k)
			}
		}
	}
	for range 300 {
		exchange(1)
	}
	const batch = 32 // mmsgBatch on 64-bit Linux
	for _, n := range []int{batch - 1, batch, batch + 1, 2 * batch, 1, 1} {
		exchange(n)
	}
}

func TestOversizedUDPQuery(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	addr := startServer(t, s)
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m := withEDNS(question(nameWWW, dns.TypeA), 1232, false)
	m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_LOCAL{Code: 65001, Data: make([]byte, 6000)})
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	out := rawUDP(t, conn, b, 5*time.Second)
	resp := new(dns.Msg)
	if err := resp.Unpack(out); err != nil || resp.Id != m.Id {
		t.Fatalf("no usable answer to a %d-byte query: %v %v", len(b), err, resp)
	}
	// Linux reads queries in batches into 4 KB slots: a longer datagram
	// cannot be read whole, and gets FORMERR.
	if runtime.GOOS == "linux" && (runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64") && resp.Rcode != dns.RcodeFormatError {
		t.Errorf("rcode %s, want FORMERR for a datagram longer than %d bytes", rcodeString(resp.Rcode), mmsgQuerySize)
	}
}

func TestIPv6Loopback(t *testing.T) {
	s, _ := newTestServer(t, Config{Listen: []string{"[::1]:0"}})
	if _, err := s.Listen(); err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	for _, network := range []string{"udp", "tcp"} {
		resp := exchange(t, network, s.Addrs()[0], question(nameAlias, dns.TypeA), netip.Addr{})
		if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 2 {
			t.Errorf("%s over ::1: %v", network, resp)
		}
	}
}

// TestHostileTraffic throws random and mangled packets at both transports;
// the server must stay up, answer what has a header, and never panic.
func TestHostileTraffic(t *testing.T) {
	s, _ := newTestServer(t, Config{TCPIdleTimeout: time.Second})
	addr := startServer(t, s)
	rng := rand.New(rand.NewPCG(1, 2))
	valid, _ := withEDNS(question(nameWWW, dns.TypeA), 1232, false).Pack()
	packet := func() []byte {
		switch rng.IntN(3) {
		case 0: // random bytes
			b := make([]byte, rng.IntN(600))
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			return b
		case 1: // a valid query with bytes flipped
			b := append([]byte{}, valid...)
			for range 1 + rng.IntN(4) {
				b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
			}
			return b
		default: // a valid query cut short
			return append([]byte{}, valid[:rng.IntN(len(valid))]...)
		}
	}
	udp, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	for range 500 {
		udp.Write(packet())
	}
	tcp, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	go io.Copy(io.Discard, tcp) // whatever comes back
	for range 100 {
		b := packet()
		tcp.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...))
	}
	// 500 datagrams at once can overflow the socket's receive buffer, and
	// a query lost with them is not the server's fault: UDP gets the
	// retries a stub resolver makes.
	for try := 1; ; try++ {
		c := &dns.Client{Net: "udp", Timeout: 2 * time.Second, UDPSize: 65535}
		resp, _, err := c.Exchange(question(nameAlias, dns.TypeA), addr.String())
		if err == nil && len(resp.Answer) == 2 {
			break
		}
		if try == 3 {
			t.Fatalf("udp after hostile traffic, %d tries: %v, %v", try, resp, err)
		}
	}
	if resp := exchange(t, "tcp", addr, question(nameAlias, dns.TypeA), netip.Addr{}); len(resp.Answer) != 2 {
		t.Errorf("tcp after hostile traffic: %v", resp)
	}
	if st := s.Stats(); st.Panics != 0 {
		t.Errorf("%d panics", st.Panics)
	}
}

// TestDefaultListenSkipsMissingAddress: a host without IPv6 loopback (or,
// here, without 192.0.2.1) serves on the default addresses it has, with a
// warning; the same address named by the user stays an error. Binding
// sends nothing.
func TestDefaultListenSkipsMissingAddress(t *testing.T) {
	saved := DefaultListen
	DefaultListen = []string{"127.0.0.1:0", "192.0.2.1:0"}
	defer func() { DefaultListen = saved }()
	var logged strings.Builder
	s, err := New(Config{Backend: newFakeBackend(t), Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := s.Listen()
	if err != nil {
		t.Fatalf("Listen with a missing default address: %v", err)
	}
	defer func() { s.mu.Lock(); s.closeListeners(); s.mu.Unlock() }()
	if len(addrs) != 1 || addrs[0].Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("bound %v, want 127.0.0.1 alone", addrs)
	}
	if !strings.Contains(logged.String(), "192.0.2.1") || !strings.Contains(logged.String(), "no such local address") {
		t.Errorf("no warning naming the skipped address: %q", logged.String())
	}

	named, _ := newTestServer(t, Config{Listen: []string{"127.0.0.1:0", "192.0.2.1:0"}})
	if _, err := named.Listen(); err == nil || !strings.Contains(err.Error(), "no such local address") {
		t.Errorf("Listen on a named missing address: %v, want 'no such local address'", err)
	}

	DefaultListen = []string{"192.0.2.1:0"}
	none, err := New(Config{Backend: newFakeBackend(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := none.Listen(); err == nil || !strings.Contains(err.Error(), "--listen") {
		t.Errorf("Listen with no default address bindable: %v, want an error pointing at --listen", err)
	}
}
