package server

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/quic-go/quic-go"
)

// transportExchange sends one query over one encrypted transport.
type transportExchange struct {
	name     string
	exchange func(t *testing.T, m *dns.Msg) (*dns.Msg, error)
}

// encryptedExchanges are the Go clients of every encrypted transport of
// e: DoT, DoH GET and POST over HTTP/2 and HTTP/1.1, and DoQ. DoH and DoQ
// send the query with ID 0, as their RFCs ask.
func (e *encryptedSetup) encryptedExchanges(t *testing.T) []transportExchange {
	h2, h1 := e.httpClient(true), e.httpClient(false)
	doh := func(c *http.Client, method string, wantProto int) func(t *testing.T, m *dns.Msg) (*dns.Msg, error) {
		return func(t *testing.T, m *dns.Msg) (*dns.Msg, error) {
			q := m.Copy()
			q.Id = 0
			resp, hr, err := e.dohExchange(t, c, method, q)
			if err == nil && hr.ProtoMajor != wantProto {
				t.Errorf("DoH answered over HTTP/%d, want HTTP/%d", hr.ProtoMajor, wantProto)
			}
			return resp, err
		}
	}
	doqConn := e.doqDial(t)
	return []transportExchange{
		{"dot", func(t *testing.T, m *dns.Msg) (*dns.Msg, error) { return e.dotExchange(t, m) }},
		{"doh-get-h2", doh(h2, http.MethodGet, 2)},
		{"doh-post-h2", doh(h2, http.MethodPost, 2)},
		{"doh-get-http1.1", doh(h1, http.MethodGet, 1)},
		{"doh-post-http1.1", doh(h1, http.MethodPost, 1)},
		{"doq", func(t *testing.T, m *dns.Msg) (*dns.Msg, error) {
			q := m.Copy()
			q.Id = 0
			return doqExchange(doqConn, q)
		}},
	}
}

// sameAnswer fails unless got has want's rcode and records (TTLs aside:
// a second may pass between the two).
func sameAnswer(t *testing.T, got, want *dns.Msg) {
	t.Helper()
	if got.Rcode != want.Rcode {
		t.Errorf("rcode %s, over UDP %s", dns.RcodeToString[got.Rcode], dns.RcodeToString[want.Rcode])
	}
	g, w := recordStrings(got.Answer), recordStrings(want.Answer)
	if !slices.Equal(g, w) {
		t.Errorf("answer\n%s\nover UDP\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
	}
	if g, w := recordStrings(got.Ns), recordStrings(want.Ns); !slices.Equal(g, w) {
		t.Errorf("authority\n%s\nover UDP\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
	}
}

func recordStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		rr = dns.Copy(rr)
		rr.Header().Ttl = 0
		out = append(out, rr.String())
	}
	slices.Sort(out)
	return out
}

func TestEncryptedTransportsAnswerAsUDP(t *testing.T) {
	e := startEncrypted(t, Config{})
	queries := map[string]*dns.Msg{
		"cached":   question(nameWWW, dns.TypeA),
		"resolved": question(nameAlias, dns.TypeA),
		"nxdomain": withEDNS(question(nameNope, dns.TypeA), 1232, true),
		"servfail": withEDNS(question(nameFail, dns.TypeA), 1232, false),
		"big":      withEDNS(question(nameBig, dns.TypeTXT), 1232, false), // truncated over UDP, whole here
	}
	for _, tr := range e.encryptedExchanges(t) {
		for name, q := range queries {
			t.Run(tr.name+"/"+name, func(t *testing.T) {
				got, err := tr.exchange(t, q)
				if err != nil {
					t.Fatal(err)
				}
				want := exchange(t, "tcp", e.udp, q, netip.Addr{})
				if name != "big" {
					sameAnswer(t, got, exchange(t, "udp", e.udp, q, netip.Addr{}))
				}
				sameAnswer(t, got, want)
				if got.Truncated {
					t.Errorf("TC set over a stream transport")
				}
			})
		}
	}
}

// optionsOf returns the EDNS options of m by code.
func ednsOptionsOf(m *dns.Msg) map[uint16]dns.EDNS0 {
	out := map[uint16]dns.EDNS0{}
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			out[o.Option()] = o
		}
	}
	return out
}

func withOptions(m *dns.Msg, opts ...dns.EDNS0) *dns.Msg {
	m.SetEdns0(1232, false)
	m.IsEdns0().Option = append(m.IsEdns0().Option, opts...)
	return m
}

// TestPaddingAndKeepalive: answers of padded queries are padded to
// 468-byte blocks on the encrypted transports and nowhere else, and
// edns-tcp-keepalive is answered on TCP and TLS with the idle timeout.
func TestPaddingAndKeepalive(t *testing.T) {
	e := startEncrypted(t, Config{TCPIdleTimeout: 7 * time.Second})
	padded := func() *dns.Msg {
		return withOptions(question(nameWWW, dns.TypeA), &dns.EDNS0_PADDING{Padding: make([]byte, 100)})
	}
	keepalive := func() *dns.Msg {
		return withOptions(question(nameAlias, dns.TypeA), &dns.EDNS0_TCP_KEEPALIVE{Code: dns.EDNS0TCPKEEPALIVE})
	}
	for _, tr := range e.encryptedExchanges(t) {
		t.Run(tr.name, func(t *testing.T) {
			got, err := tr.exchange(t, padded())
			if err != nil {
				t.Fatal(err)
			}
			if n := got.Len(); n%paddingBlock != 0 || ednsOptionsOf(got)[dns.EDNS0PADDING] == nil {
				t.Errorf("answer of %d bytes, padding %v; want a multiple of %d", n, ednsOptionsOf(got)[dns.EDNS0PADDING], paddingBlock)
			}
			if len(got.Answer) != 1 {
				t.Errorf("answer %v", got.Answer)
			}
		})
	}
	for _, network := range []string{"udp", "tcp"} {
		got := exchange(t, network, e.udp, padded(), netip.Addr{})
		if ednsOptionsOf(got)[dns.EDNS0PADDING] != nil {
			t.Errorf("%s: padded an unencrypted answer", network)
		}
	}
	dot, err := e.dotExchange(t, keepalive())
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]*dns.Msg{"tcp": exchange(t, "tcp", e.udp, keepalive(), netip.Addr{}), "dot": dot} {
		ka, ok := ednsOptionsOf(m)[dns.EDNS0TCPKEEPALIVE].(*dns.EDNS0_TCP_KEEPALIVE)
		if !ok || ka.Timeout != 70 {
			t.Errorf("%s: keepalive %v, want a timeout of 70 (7 s)", name, ka)
		}
	}
	if ednsOptionsOf(exchange(t, "udp", e.udp, keepalive(), netip.Addr{}))[dns.EDNS0TCPKEEPALIVE] != nil {
		t.Errorf("udp: keepalive answered (RFC 7828 3.2.1 forbids it)")
	}
	if ednsOptionsOf(exchange(t, "tcp", e.udp, question(nameWWW, dns.TypeA), netip.Addr{}))[dns.EDNS0TCPKEEPALIVE] != nil {
		t.Errorf("tcp: keepalive sent unasked")
	}
}

// TestDoQProtocolErrors: what RFC 9250 calls a protocol error closes
// the connection with DOQ_PROTOCOL_ERROR.
func TestDoQProtocolErrors(t *testing.T) {
	e := startEncrypted(t, Config{})
	wire := func(m *dns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	withID := question(nameWWW, dns.TypeA)
	withID.Id = 4711
	zero := question(nameWWW, dns.TypeA)
	zero.Id = 0
	ka := withOptions(question(nameWWW, dns.TypeA), &dns.EDNS0_TCP_KEEPALIVE{Code: dns.EDNS0TCPKEEPALIVE})
	ka.Id = 0
	frame := func(b []byte) []byte { return binary.BigEndian.AppendUint16(nil, uint16(len(b))) }
	tests := []struct {
		name  string
		parts [][]byte
	}{
		{"message ID not 0", [][]byte{frame(wire(withID)), wire(withID)}},
		{"bytes after the message", [][]byte{frame(wire(zero)), wire(zero), {0}}},
		{"length past the end", [][]byte{binary.BigEndian.AppendUint16(nil, uint16(len(wire(zero))+5)), wire(zero)}},
		{"no length", [][]byte{{1}}},
		{"edns-tcp-keepalive", [][]byte{frame(wire(ka)), wire(ka)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn := e.doqDial(t)
			_, err := doqRaw(conn, tc.parts...)
			var ae *quic.ApplicationError
			if !errors.As(err, &ae) || ae.ErrorCode != DoQProtocolError || !ae.Remote {
				t.Fatalf("got %v, want the connection closed with DOQ_PROTOCOL_ERROR", err)
			}
		})
	}
	t.Run("a good query on a fresh connection", func(t *testing.T) {
		m, err := doqExchange(e.doqDial(t), zero)
		if err != nil || m.Id != 0 || len(m.Answer) != 1 {
			t.Fatalf("got %v, %v; want an answer with ID 0", m, err)
		}
	})
}

func TestDoQExcessiveLoad(t *testing.T) {
	e := startEncrypted(t, Config{Encrypted: EncryptedConfig{MaxQUICConns: 1}})
	first := e.doqDial(t)
	q := question(nameWWW, dns.TypeA)
	q.Id = 0
	if _, err := doqExchange(first, q); err != nil {
		t.Fatal(err)
	}
	// The refusal may come as the handshake completes or on the stream.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	second, err := quic.DialAddr(ctx, e.doq.String(), e.clientTLS(DoQALPN), &quic.Config{})
	if err == nil {
		defer second.CloseWithError(DoQNoError, "")
		_, err = doqExchange(second, q)
	}
	var ae *quic.ApplicationError
	if !errors.As(err, &ae) || ae.ErrorCode != DoQExcessiveLoad {
		t.Fatalf("second connection: %v, want DOQ_EXCESSIVE_LOAD", err)
	}
	if _, err := doqExchange(first, q); err != nil {
		t.Errorf("the first connection broke: %v", err)
	}
}

func TestDoHRequestParsing(t *testing.T) {
	query, err := question(nameWWW, dns.TypeA).Pack()
	if err != nil {
		t.Fatal(err)
	}
	b64 := strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(stdBase64(query)), "=")
	tests := []struct {
		name, method, target, ctype, body string
		want                              int
	}{
		{"GET", "GET", "/dns-query?dns=" + b64, "", "", http.StatusOK},
		{"GET padded base64", "GET", "/dns-query?dns=" + b64 + "==", "", "", http.StatusOK},
		{"GET without dns", "GET", "/dns-query", "", "", http.StatusBadRequest},
		{"GET two dns", "GET", "/dns-query?dns=" + b64 + "&dns=" + b64, "", "", http.StatusBadRequest},
		{"GET std base64", "GET", "/dns-query?dns=" + strings.ReplaceAll(b64, "-", "+") + "+/", "", "", http.StatusBadRequest},
		{"GET short", "GET", "/dns-query?dns=AAAA", "", "", http.StatusBadRequest},
		{"POST", "POST", "/dns-query", dohContentType, string(query), http.StatusOK},
		{"POST with parameters", "POST", "/dns-query", dohContentType + "; charset=x", string(query), http.StatusOK},
		{"POST wrong type", "POST", "/dns-query", "text/plain", string(query), http.StatusUnsupportedMediaType},
		{"POST too long", "POST", "/dns-query", dohContentType, strings.Repeat("x", 70000), http.StatusRequestEntityTooLarge},
		{"PUT", "PUT", "/dns-query", dohContentType, string(query), http.StatusMethodNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			got, status := dohQuery(r)
			if status != tc.want {
				t.Fatalf("status %d, want %d", status, tc.want)
			}
			if status == http.StatusOK && string(got) != string(query) {
				t.Errorf("query %x, want %x", got, query)
			}
		})
	}
}

// TestDoHResponse: status, media type and Cache-Control of DoH answers,
// and a path other than /dns-query.
func TestDoHResponse(t *testing.T) {
	e := startEncrypted(t, Config{})
	c := e.httpClient(true)
	q := question(nameNope, dns.TypeA)
	q.Id = 0
	m, hr, err := e.dohExchange(t, c, http.MethodGet, q)
	if err != nil {
		t.Fatal(err)
	}
	if m.Id != 0 || m.Rcode != dns.RcodeNameError {
		t.Errorf("ID %d rcode %d", m.Id, m.Rcode)
	}
	// The SOA's TTL (3600) is the smallest the engine handed over.
	if cc := hr.Header.Get("Cache-Control"); cc != "max-age=3600" {
		t.Errorf("Cache-Control %q, want max-age=3600", cc)
	}
	resp, err := c.Get(strings.Replace(e.dohURL(), DoHPath, "/other", 1))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("other path: %d, want 404", resp.StatusCode)
	}
}

func stdBase64(b []byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	var sb strings.Builder
	for i := 0; i < len(b); i += 3 {
		var v uint32
		n := min(3, len(b)-i)
		for j := range 3 {
			v <<= 8
			if j < n {
				v |= uint32(b[i+j])
			}
		}
		for j := range 4 {
			if j <= n {
				sb.WriteByte(alphabet[(v>>(18-6*j))&63])
			} else {
				sb.WriteByte('=')
			}
		}
	}
	return sb.String()
}

func TestForwardedClient(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.0/8")}
	tests := []struct {
		name    string
		headers map[string]string
		want    string // "" for none
	}{
		{"x-forwarded-for", map[string]string{"X-Forwarded-For": "192.0.2.7"}, "192.0.2.7"},
		{"right-most untrusted", map[string]string{"X-Forwarded-For": "198.51.100.1, 192.0.2.7, 10.1.1.1"}, "192.0.2.7"},
		{"forwarded wins", map[string]string{"Forwarded": `for="[2001:db8::1]:443";proto=https`, "X-Forwarded-For": "192.0.2.7"}, "2001:db8::1"},
		{"forwarded list", map[string]string{"Forwarded": "for=198.51.100.1, for=192.0.2.8"}, "192.0.2.8"},
		{"with port", map[string]string{"X-Forwarded-For": "192.0.2.7:5353"}, "192.0.2.7"},
		{"only proxies", map[string]string{"X-Forwarded-For": "10.0.0.1"}, ""},
		{"garbage", map[string]string{"X-Forwarded-For": "unknown"}, ""},
		{"obfuscated", map[string]string{"Forwarded": "for=_hidden"}, ""},
		{"none", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.headers {
				h.Set(k, v)
			}
			a, ok := forwardedClient(h, trusted)
			got := ""
			if ok {
				got = a.String()
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestDoHTrustedProxy: in plain-HTTP mode behind a proxy, the allow list
// judges the address the trusted proxy names, and only a trusted one.
func TestDoHTrustedProxy(t *testing.T) {
	allow := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	q := question(nameWWW, dns.TypeA)
	q.Id = 0
	ask := func(t *testing.T, e *encryptedSetup, forwardedFor string) int {
		wire, _ := q.Pack()
		req, _ := http.NewRequest(http.MethodPost, e.dohURL(), strings.NewReader(string(wire)))
		req.Header.Set("Content-Type", dohContentType)
		if forwardedFor != "" {
			req.Header.Set("X-Forwarded-For", forwardedFor)
		}
		resp, err := e.httpClient(true).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		m := new(dns.Msg)
		body := make([]byte, 65535)
		n, _ := readAll(resp, body)
		if err := m.Unpack(body[:n]); err != nil {
			t.Fatalf("status %d: %v", resp.StatusCode, err)
		}
		return m.Rcode
	}
	trustedCfg := Config{Allow: allow, Encrypted: EncryptedConfig{HTTPSPlain: true, HTTPSTrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}}
	e := startEncrypted(t, trustedCfg)
	if got := ask(t, e, "192.0.2.10"); got != dns.RcodeSuccess {
		t.Errorf("allowed client through the proxy: %s", dns.RcodeToString[got])
	}
	if got := ask(t, e, "198.51.100.10"); got != dns.RcodeRefused {
		t.Errorf("other client through the proxy: %s", dns.RcodeToString[got])
	}
	if got := ask(t, e, ""); got != dns.RcodeRefused {
		t.Errorf("the proxy itself: %s", dns.RcodeToString[got])
	}
	untrusted := startEncrypted(t, Config{Allow: allow, Encrypted: EncryptedConfig{HTTPSPlain: true}})
	if got := ask(t, untrusted, "192.0.2.10"); got != dns.RcodeRefused {
		t.Errorf("header without trusted proxies: %s, want REFUSED", dns.RcodeToString[got])
	}
}

func readAll(resp *http.Response, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := resp.Body.Read(buf[n:])
		n += k
		if err != nil {
			return n, nil
		}
	}
	return n, nil
}

// TestPerClientCapOnEveryTransport: the per-client cap counts a client's
// queries whatever carries them.
func TestPerClientCapOnEveryTransport(t *testing.T) {
	e := startEncrypted(t, Config{MaxPerClient: 1})
	fb := e.s.backend.(*fakeBackend)
	slow := question(nameSlow, dns.TypeA)
	slow.Id = 0
	done := make(chan error, 1)
	go func() {
		_, err := e.dotExchange(t, slow)
		done <- err
	}()
	fb.waitStarted(t, 1)
	for _, tr := range e.encryptedExchanges(t) {
		t.Run(tr.name, func(t *testing.T) {
			m, err := tr.exchange(t, question(nameAlias, dns.TypeA))
			if err != nil {
				t.Fatal(err)
			}
			if m.Rcode != dns.RcodeServerFailure {
				t.Errorf("rcode %s, want SERVFAIL (busy)", dns.RcodeToString[m.Rcode])
			}
		})
	}
	close(fb.release)
	if err := <-done; err != nil {
		t.Error(err)
	}
}

// TestCertificateReload: after Reload new handshakes get the new
// certificate and a connection opened before goes on.
func TestCertificateReload(t *testing.T) {
	e := startEncrypted(t, Config{})
	conn, err := tls.Dial("tcp", e.dot.String(), e.clientTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	serialOf := func(cs tls.ConnectionState) int64 { return cs.PeerCertificates[0].SerialNumber.Int64() }
	if got := serialOf(conn.ConnectionState()); got != 2 {
		t.Fatalf("serial %d before reload", got)
	}
	e.ca.issue(t, e.dir, 3)
	if err := e.certs.Reload(); err != nil {
		t.Fatal(err)
	}
	dc := &dns.Conn{Conn: conn}
	if err := dc.WriteMsg(question(nameWWW, dns.TypeA)); err != nil {
		t.Fatal(err)
	}
	if m, err := dc.ReadMsg(); err != nil || len(m.Answer) != 1 {
		t.Fatalf("old connection after reload: %v, %v", m, err)
	}
	for _, alpn := range [][]string{nil, {DoQALPN}} {
		if alpn != nil {
			qc := e.doqDial(t)
			if got := serialOf(qc.ConnectionState().TLS); got != 3 {
				t.Errorf("DoQ: serial %d after reload, want 3", got)
			}
			continue
		}
		c2, err := tls.Dial("tcp", e.dot.String(), e.clientTLS())
		if err != nil {
			t.Fatal(err)
		}
		if got := serialOf(c2.ConnectionState()); got != 3 {
			t.Errorf("DoT: serial %d after reload, want 3", got)
		}
		c2.Close()
	}
	writeFile(t, e.certFile, []byte("not a certificate"))
	if err := e.certs.Reload(); err == nil {
		t.Errorf("Reload of a broken file: no error")
	}
	if c3, err := tls.Dial("tcp", e.dot.String(), e.clientTLS()); err != nil {
		t.Errorf("after a failed reload: %v", err)
	} else {
		c3.Close()
	}
}

func TestEncryptedConfigErrors(t *testing.T) {
	for name, enc := range map[string]EncryptedConfig{
		"tls without certificate":   {TLSListen: []string{"127.0.0.1:0"}},
		"quic without certificate":  {QUICListen: []string{"127.0.0.1:0"}},
		"https without certificate": {HTTPSListen: []string{"127.0.0.1:0"}},
		"bad address":               {HTTPSListen: []string{"localhost:443"}, HTTPSPlain: true},
		"negative streams":          {MaxStreamsPerConn: -1},
	} {
		if _, err := New(Config{Backend: newFakeBackend(t), Encrypted: enc}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := New(Config{Backend: newFakeBackend(t), Encrypted: EncryptedConfig{HTTPSListen: []string{"127.0.0.1:0"}, HTTPSPlain: true}}); err != nil {
		t.Errorf("plain HTTP needs no certificate: %v", err)
	}
}

// TestEncryptedShutdown: Serve returns after cancel with DoT, DoH and DoQ
// connections open, and their in-flight queries are answered first.
func TestEncryptedShutdown(t *testing.T) {
	cfg := Config{Listen: []string{"127.0.0.1:0"}}
	e := &encryptedSetup{ca: newTestCA(t), dir: t.TempDir()}
	certFile, keyFile := e.ca.issue(t, e.dir, 2)
	certs, err := LoadCertStore(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Encrypted = EncryptedConfig{TLSListen: []string{"127.0.0.1:0"}, HTTPSListen: []string{"127.0.0.1:0"}, QUICListen: []string{"127.0.0.1:0"}, GetCertificate: certs.GetCertificate}
	s, fb := newTestServer(t, cfg)
	e.s = s
	if _, err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	e.dot, e.doh, e.doq = s.TLSAddrs()[0], s.HTTPSAddrs()[0], s.QUICAddrs()[0]
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()
	trs := e.encryptedExchanges(t)
	results := make(chan error, len(trs))
	for _, tr := range trs {
		go func() {
			m, err := tr.exchange(t, question(nameSlow, dns.TypeA))
			if err == nil && len(m.Answer) != 1 {
				err = errors.New(tr.name + ": no answer")
			}
			results <- err
		}()
	}
	fb.waitStarted(t, len(trs))
	cancel()
	close(fb.release)
	for range trs {
		if err := <-results; err != nil {
			t.Error(err)
		}
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return")
	}
}

// TestDoTHandshakeTimeout: a client that connects and never starts TLS
// is closed after the handshake timeout, long before the idle timeout.
func TestDoTHandshakeTimeout(t *testing.T) {
	e := startEncrypted(t, Config{TCPIdleTimeout: time.Minute, Encrypted: EncryptedConfig{HandshakeTimeout: 50 * time.Millisecond}})
	conn, err := net.Dial("tcp", e.dot.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = conn.Read(make([]byte, 1))
	if err == nil || isTimeout(err) {
		t.Fatalf("read: %v; want the server to close the connection", err)
	}
}

// TestDoTPipelining: DoT is the TCP front end: queries on one connection
// are answered as they complete, a slow one last.
func TestDoTPipelining(t *testing.T) {
	e := startEncrypted(t, Config{})
	fb := e.s.backend.(*fakeBackend)
	conn, err := tls.Dial("tcp", e.dot.String(), e.clientTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	dc := &dns.Conn{Conn: conn}
	names := []string{nameSlow, nameWWW, nameAlias}
	for i, name := range names {
		q := question(name, dns.TypeA)
		q.Id = uint16(i + 1)
		if err := dc.WriteMsg(q); err != nil {
			t.Fatal(err)
		}
	}
	fb.waitStarted(t, 1)
	var got []uint16
	for range 2 {
		m, err := dc.ReadMsg()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m.Id)
	}
	close(fb.release)
	m, err := dc.ReadMsg()
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, m.Id)
	if slices.Sort(got[:2]); !slices.Equal(got, []uint16{2, 3, 1}) {
		t.Errorf("answers in the order %v, want 2 and 3 before the slow 1", got)
	}
}

// TestDroppedOnEveryTransport: a query the server drops (here a denied
// client) gets no answer over DoH and DoQ either, and is not mistaken for
// a malformed one (400, DOQ_PROTOCOL_ERROR); the DoQ connection lives on.
func TestDroppedOnEveryTransport(t *testing.T) {
	deny, err := ParseAccessRule("127.0.0.0/8=deny")
	if err != nil {
		t.Fatal(err)
	}
	e := startEncrypted(t, Config{AccessControl: []AccessRule{deny}})
	q := question(nameAlias, dns.TypeA)
	q.Id = 0
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		m, resp, err := e.dohExchange(t, e.httpClient(true), method, q)
		if err == nil || resp != nil && resp.StatusCode == http.StatusBadRequest {
			t.Errorf("DoH %s: a denied query got %v (status %v), want the stream reset", method, m, resp)
		}
	}
	conn := e.doqDial(t)
	for range 2 {
		m, err := doqExchange(conn, q)
		var se *quic.StreamError
		if !errors.As(err, &se) || se.ErrorCode != DoQRequestCancelled {
			t.Errorf("DoQ: a denied query got %v, %v; want the stream cancelled", m, err)
		}
	}
	if err := conn.Context().Err(); err != nil {
		t.Errorf("DoQ connection closed after a drop: %v", context.Cause(conn.Context()))
	}
}

// TestTransportsNamed: the metrics hear each encrypted transport by its
// own name (dot, doh, doq), not as plain TCP.
func TestTransportsNamed(t *testing.T) {
	rec := &recorder{}
	e := startEncrypted(t, Config{Metrics: rec})
	want := map[string]Transport{"dot": TransportDoT, "doh-get-h2": TransportDoH, "doh-post-http1.1": TransportDoH, "doq": TransportDoQ}
	for _, tr := range e.encryptedExchanges(t) {
		via, ok := want[tr.name]
		if !ok {
			continue
		}
		rec.mu.Lock()
		rec.events = nil
		rec.mu.Unlock()
		if _, err := tr.exchange(t, question(nameAlias, dns.TypeA)); err != nil {
			t.Fatalf("%s: %v", tr.name, err)
		}
		rec.mu.Lock()
		events := rec.events
		rec.mu.Unlock()
		if len(events) != 1 || events[0].Transport != via || !events[0].TCP {
			t.Errorf("%s: events %+v, want one over %s", tr.name, events, via)
		}
	}
}
