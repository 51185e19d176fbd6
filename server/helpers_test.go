package server

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cookie"
	"github.com/recursor-dns/recursor/resolver"
)

// Names the fake backend knows.
const (
	nameWWW     = "www.example.com."     // A, in the cache
	nameAlias   = "alias.example.com."   // CNAME to www, resolved
	nameNope    = "nope.example.com."    // NXDOMAIN with SOA
	nameMedium  = "medium.example.com."  // TXT of ~800 bytes: over 512, under 1232
	nameBig     = "big.example.com."     // TXT of ~3000 bytes: over 1232
	nameFail    = "fail.example.com."    // no reachable server
	nameSlow    = "slow.example.com."    // waits for release (or the context)
	namePanic   = "panic.example.com."   // the backend panics
	nameNothing = "nothing.example.com." // nil message, nil error
)

// fakeBackend answers from fixed messages. It returns the same *dns.Msg
// every time, so that a server that changes what it did not create is
// caught by checkUnchanged.
type fakeBackend struct {
	msgs    map[string]*dns.Msg // by lower-case name and type
	packed  map[string]string   // msgs as first packed, to detect changes
	cached  map[string]bool     // keys ResolveCached answers
	release chan struct{}       // closed to let slow queries finish
	started chan string         // receives the name of each slow query started

	mu    sync.Mutex
	calls []string // Resolve calls, "name/TYPE"
}

func key(name string, qtype uint16) string {
	return strings.ToLower(dns.Fqdn(name)) + "/" + dns.TypeToString[qtype]
}

func newFakeBackend(tb testing.TB) *fakeBackend {
	tb.Helper()
	f := &fakeBackend{
		msgs:    map[string]*dns.Msg{},
		packed:  map[string]string{},
		cached:  map[string]bool{},
		release: make(chan struct{}),
		started: make(chan string, 100),
	}
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			tb.Fatal(err)
		}
		return r
	}
	add := func(name string, qtype uint16, rcode int, cached bool, answer, ns []dns.RR) {
		m := new(dns.Msg)
		m.Question = []dns.Question{{Name: name, Qtype: qtype, Qclass: dns.ClassINET}}
		m.Response, m.RecursionAvailable, m.Rcode = true, true, rcode
		m.Answer, m.Ns = answer, ns
		k := key(name, qtype)
		f.msgs[k] = m
		f.cached[k] = cached
		b, err := m.Pack()
		if err != nil {
			tb.Fatal(err)
		}
		f.packed[k] = string(b)
	}
	soa := rr("example.com. 3600 IN SOA ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 300")
	add(nameWWW, dns.TypeA, dns.RcodeSuccess, true, []dns.RR{rr("www.example.com. 300 IN A 192.0.2.1")}, nil)
	add(nameAlias, dns.TypeA, dns.RcodeSuccess, false, []dns.RR{
		rr("alias.example.com. 300 IN CNAME www.example.com."),
		rr("www.example.com. 300 IN A 192.0.2.1"),
	}, nil)
	add(nameNope, dns.TypeA, dns.RcodeNameError, false, nil, []dns.RR{soa})
	add(nameMedium, dns.TypeTXT, dns.RcodeSuccess, false, txtSet(tb, nameMedium, 4), nil)
	add(nameBig, dns.TypeTXT, dns.RcodeSuccess, false, txtSet(tb, nameBig, 15), nil)
	return f
}

// txtSet returns n TXT records of 200 bytes each at name.
func txtSet(tb testing.TB, name string, n int) []dns.RR {
	tb.Helper()
	var rrs []dns.RR
	for i := range n {
		rrs = append(rrs, &dns.TXT{
			Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300},
			Txt: []string{fmt.Sprintf("%03d%s", i, strings.Repeat("x", 197))},
		})
	}
	return rrs
}

func (f *fakeBackend) Resolve(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	k := key(name, qtype)
	f.mu.Lock()
	f.calls = append(f.calls, k)
	f.mu.Unlock()
	switch strings.ToLower(name) {
	case nameFail:
		return nil, &resolver.Error{Qname: name, Qtype: qtype, Zone: "example.com.", Err: resolver.ErrNoReachableServer}
	case namePanic:
		panic("backend bug")
	case nameNothing:
		return nil, nil
	case nameSlow:
		f.started <- name
		select {
		case <-f.release:
			m := new(dns.Msg)
			m.Question = []dns.Question{{Name: name, Qtype: qtype, Qclass: dns.ClassINET}}
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: nameSlow, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 9)}}
			return m, nil
		case <-ctx.Done():
			return nil, &resolver.Error{Qname: name, Qtype: qtype, Err: ctx.Err()}
		}
	}
	if m, ok := f.msgs[k]; ok {
		return m, nil
	}
	return nil, &resolver.Error{Qname: name, Qtype: qtype, Err: resolver.ErrNoReachableServer}
}

func (f *fakeBackend) ResolveCached(name string, qtype uint16) (*dns.Msg, bool) {
	k := key(name, qtype)
	if f.cached[k] {
		return f.msgs[k], true
	}
	return nil, false
}

func (f *fakeBackend) resolveCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// checkUnchanged fails when the server changed a message the backend
// handed it.
func (f *fakeBackend) checkUnchanged(tb testing.TB) {
	tb.Helper()
	for k, m := range f.msgs {
		b, err := m.Pack()
		if err != nil {
			tb.Fatalf("%s: %v", k, err)
		}
		if string(b) != f.packed[k] {
			tb.Errorf("the server changed the backend's message for %s:\n%v", k, m)
		}
	}
}

// waitStarted waits until n slow queries have reached the backend.
func (f *fakeBackend) waitStarted(tb testing.TB, n int) {
	tb.Helper()
	for range n {
		select {
		case <-f.started:
		case <-time.After(10 * time.Second):
			tb.Fatalf("slow queries did not reach the backend")
		}
	}
}

var (
	clientLoopback = netip.MustParseAddrPort("127.0.0.1:40000")
	clientOther    = netip.MustParseAddrPort("192.0.2.77:40000") // never sent to: a source address for Handle only
)

var testCookieSecret = cookie.Key{0xe5, 0xe9, 0x73, 0xe5, 0xa6, 0xb2, 0xa4, 0x3f, 0x48, 0xe7, 0xdc, 0x84, 0x9e, 0x37, 0xbf, 0xcf}

// newTestServer returns a server on the fake backend, not yet listening.
func newTestServer(tb testing.TB, cfg Config) (*Server, *fakeBackend) {
	tb.Helper()
	fb := newFakeBackend(tb)
	if cfg.Backend == nil {
		cfg.Backend = fb
	}
	if cfg.Listen == nil {
		cfg.Listen = []string{"127.0.0.1:0"}
	}
	if cfg.CookieSecret == nil {
		// One secret for every test server, so that two of them (the
		// answer cache's and the slow path's) answer alike.
		cfg.CookieSecret = &testCookieSecret
	}
	s, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return s, fb
}

// startServer serves s on its Listen addresses until the test ends and
// returns the first bound address.
func startServer(tb testing.TB, s *Server) netip.AddrPort {
	tb.Helper()
	addrs, err := s.Listen()
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("Serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			tb.Errorf("Serve did not return after cancel")
		}
	})
	return addrs[0]
}

// question builds a query with RD set, as stub resolvers send.
func question(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return m
}

func withEDNS(m *dns.Msg, size uint16, do bool) *dns.Msg {
	m.SetEdns0(size, do)
	return m
}

// exchange sends m to addr over net ("udp" or "tcp") from local (nil: any).
func exchange(tb testing.TB, network string, addr netip.AddrPort, m *dns.Msg, local netip.Addr) *dns.Msg {
	tb.Helper()
	c := &dns.Client{Net: network, Timeout: 5 * time.Second, UDPSize: 65535}
	if local.IsValid() {
		if network == "tcp" {
			c.Dialer = &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0)), Timeout: 5 * time.Second}
		} else {
			c.Dialer = &net.Dialer{LocalAddr: net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)), Timeout: 5 * time.Second}
		}
	}
	resp, _, err := c.Exchange(m, addr.String())
	if err != nil {
		tb.Fatalf("%s exchange %v: %v", network, m.Question, err)
	}
	if resp == nil {
		tb.Fatalf("%s exchange %v: no response", network, m.Question)
	}
	return resp
}

// edeOf returns the Extended DNS Error of m, or nil.
func edeOf(m *dns.Msg) *dns.EDNS0_EDE {
	opt := m.IsEdns0()
	if opt == nil {
		return nil
	}
	for _, o := range opt.Option {
		if e, ok := o.(*dns.EDNS0_EDE); ok {
			return e
		}
	}
	return nil
}
