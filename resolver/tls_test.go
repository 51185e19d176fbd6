package resolver

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// testPKI makes, at test time, a CA and a server certificate it signs
// for names and ips: no private key is committed.
func testPKI(tb testing.TB, names []string, ips []net.IP) (*x509.CertPool, tls.Certificate) {
	tb.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "recursor test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "dot server"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		DNSNames: names, IPAddresses: ips,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return pool, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// countingListener counts the connections accepted.
type countingListener struct {
	net.Listener
	accepted atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// dotServer is an in-process DNS over TLS recursive server on loopback
// that answers every A question with 192.0.2.53.
type dotServer struct {
	addr     netip.AddrPort
	ln       *countingListener
	queries  atomic.Int32
	unpadded atomic.Int32 // queries without EDNS(0) padding
	// mixedCase: queries with 0x20 case, useless over TLS
	mixedCase atomic.Int32
}

func startDoTServer(tb testing.TB, cert tls.Certificate) *dotServer {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &dotServer{addr: netip.MustParseAddrPort(ln.Addr().String()), ln: &countingListener{Listener: ln}}
	tlsLn := tls.NewListener(s.ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	srv := &dns.Server{Listener: tlsLn, Net: "tcp-tls", Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		s.queries.Add(1)
		if name := q.Question[0].Name; name != strings.ToLower(name) {
			s.mixedCase.Add(1)
		}
		if opt := q.IsEdns0(); opt == nil || !slices.ContainsFunc(opt.Option, func(o dns.EDNS0) bool { return o.Option() == dns.EDNS0PADDING }) {
			s.unpadded.Add(1)
		}
		m := new(dns.Msg).SetReply(q)
		m.RecursionAvailable = true
		if q.Question[0].Qtype == dns.TypeA {
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(192, 0, 2, 53)}}
		}
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	tb.Cleanup(func() { srv.Shutdown() })
	return s
}

func dotResolver(tb testing.TB, s *dotServer, pool *x509.CertPool, name string) (*Resolver, *fakeNet) {
	n := newFakeNet(tb) // no plain server: any plain query fails
	r := newTestResolver(tb, n, func(c *Config) {
		c.ForwardZones = []ForwardZone{{Zone: ".", TLS: true, Servers: []Forwarder{{Addr: s.addr, TLSName: name}}}}
		c.ForwardTLS = &tls.Config{RootCAs: pool}
	})
	return r, n
}

// TestDoTForwarder: a TLS forward zone's questions go over one TLS
// connection, kept open and shared by concurrent questions, to a server
// whose certificate is valid for the name given (or for its address
// when none is); a certificate for another name gets no question.
func TestDoTForwarder(t *testing.T) {
	pool, cert := testPKI(t, []string{"dot.test"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	for _, name := range []string{"dot.test", ""} {
		s := startDoTServer(t, cert)
		r, n := dotResolver(t, s, pool, name)
		// Questions at once to a server not yet connected: one dial.
		var first sync.WaitGroup
		for i := range 5 {
			first.Go(func() {
				if _, err := r.Resolve(t.Context(), fmt.Sprintf("f%d.example.", i), dns.TypeA); err != nil {
					t.Errorf("first question %d: %v", i, err)
				}
			})
		}
		first.Wait()
		for i := range 3 {
			m, err := r.Resolve(t.Context(), fmt.Sprintf("n%d.example.", i), dns.TypeA)
			if err != nil || firstA(t, m) != "192.0.2.53" {
				t.Fatalf("name %q: got %v, %v; want the DoT server's answer", name, m, err)
			}
		}
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				if m, err := r.Resolve(t.Context(), fmt.Sprintf("p%d.example.", i), dns.TypeA); err != nil || len(m.Answer) != 1 {
					t.Errorf("pipelined question %d: %v, %v", i, m, err)
				}
			})
		}
		wg.Wait()
		if got := s.ln.accepted.Load(); got != 1 {
			t.Errorf("name %q: %d connections for 28 questions, want 1 kept open", name, got)
		}
		if got := s.queries.Load(); got < 28 {
			// More may come: a pipelined reply later than the
			// engine's timeout (SRTT-based, tight on loopback) is
			// asked again.
			t.Errorf("name %q: the server got %d queries, want 28 or more", name, got)
		}
		if q := n.queries(); len(q) > 0 {
			t.Errorf("plain queries sent: %q", q)
		}
		if u := s.unpadded.Load(); u > 0 {
			t.Errorf("%d queries over TLS without padding", u)
		}
		if m := s.mixedCase.Load(); m > 0 {
			t.Errorf("%d queries over TLS with 0x20 case", m)
		}
	}
}

func TestDoTForwarderCertificateChecked(t *testing.T) {
	pool, cert := testPKI(t, []string{"dot.test"}, nil)
	for _, tc := range []struct {
		why  string
		name string
		pool *x509.CertPool
	}{
		{"another name", "wrong.test", pool},
		{"no name, and none for the address", "", pool},
		{"an unknown CA", "dot.test", x509.NewCertPool()},
	} {
		s := startDoTServer(t, cert)
		r, _ := dotResolver(t, s, tc.pool, tc.name)
		m, err := r.Resolve(t.Context(), "www.example.", dns.TypeA)
		if err == nil {
			t.Errorf("%s: got %v, want an error", tc.why, m)
		}
		if q := s.queries.Load(); q != 0 {
			t.Errorf("%s: %d questions sent to a server whose certificate failed", tc.why, q)
		}
	}
}

// TestDoTReconnects: a connection the server closed is replaced, and
// the question on it is not lost.
func TestDoTReconnects(t *testing.T) {
	pool, cert := testPKI(t, []string{"dot.test"}, nil)
	s := startDoTServer(t, cert)
	r, _ := dotResolver(t, s, pool, "dot.test")
	if _, err := r.Resolve(t.Context(), "a.example.", dns.TypeA); err != nil {
		t.Fatal(err)
	}
	d, _ := r.forwardFor("a.example.")
	dot := d.conf.dot
	dot.mu.Lock()
	for _, c := range dot.conns {
		c.conn.Close() // as a server's idle timeout would, seen from here
	}
	dot.mu.Unlock()
	if m, err := r.Resolve(t.Context(), "b.example.", dns.TypeA); err != nil || len(m.Answer) != 1 {
		t.Fatalf("after the connection closed: %v, %v", m, err)
	}
	if got := s.ln.accepted.Load(); got != 2 {
		t.Errorf("%d connections, want 2", got)
	}
}

func TestPadQuery(t *testing.T) {
	for _, name := range []string{"a.", "www.example.com.", strings.Repeat("x", 60) + ".example.org."} {
		m := new(dns.Msg).SetQuestion(name, dns.TypeA)
		m.SetEdns0(EDNSBufferSize, true)
		before, _ := m.Pack()
		q := *m
		wire, err := padQuery(&q)
		if err != nil {
			t.Fatal(err)
		}
		if len(wire)%DoTPaddingBlock != 0 {
			t.Errorf("%s: %d octets, not a multiple of %d", name, len(wire), DoTPaddingBlock)
		}
		if after, _ := m.Pack(); !bytes.Equal(before, after) {
			t.Errorf("%s: the engine's message was changed", name)
		}
		var got dns.Msg
		if err := got.Unpack(wire); err != nil || got.IsEdns0() == nil || !got.IsEdns0().Do() {
			t.Errorf("%s: padded query %v, %v: want its OPT record with DO kept", name, got, err)
		}
	}
	plain := new(dns.Msg).SetQuestion("a.", dns.TypeA)
	if wire, err := padQuery(plain); err != nil || len(wire) != 19 {
		t.Errorf("a query without EDNS: %d octets, %v; want it unpadded", len(wire), err)
	}
}

// TestDoTFailover: a forwarder that accepts connections but never
// completes a handshake fails within the time server selection gives a
// question (AskTimeBudget), and the next forwarder answers.
func TestDoTFailover(t *testing.T) {
	pool, cert := testPKI(t, []string{"dot.test"}, nil)
	live := startDoTServer(t, cert)
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 here: %v", err)
	}
	var held sync.WaitGroup
	conns := make(chan net.Conn, 16)
	held.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c // held open, never answered
		}
	})
	t.Cleanup(func() {
		ln.Close()
		held.Wait()
		close(conns)
		for c := range conns {
			c.Close()
		}
	})
	dead := netip.MustParseAddrPort(ln.Addr().String())
	r := newTestResolver(t, newFakeNet(t), func(c *Config) {
		c.ForwardZones = []ForwardZone{{Zone: ".", TLS: true, Servers: []Forwarder{{Addr: dead, TLSName: "dot.test"}, {Addr: live.addr, TLSName: "dot.test"}}}}
		c.ForwardTLS = &tls.Config{RootCAs: pool}
	})
	// The dead one first: the live one's SRTT is made slow.
	r.infra.report(live.addr.Addr(), ".", OutcomeAnswered, MaxServerTimeout, r.now())
	m, err := r.Resolve(t.Context(), "www.example.", dns.TypeA)
	if err != nil || firstA(t, m) != "192.0.2.53" {
		t.Fatalf("got %v, %v; want the live forwarder's answer", m, err)
	}
	if len(conns) == 0 {
		t.Error("the dead forwarder was not tried first; the test proves nothing")
	}
}
