package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/quic-go/quic-go"
)

// testCA is a certificate authority made at test time: no private key
// is ever committed.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
	pem  []byte
}

func newTestCA(tb testing.TB) *testCA {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "recursor test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue writes a server certificate for localhost, 127.0.0.1 and ::1,
// named serial, and its key into dir, and returns the two files.
func (ca *testCA) issue(tb testing.TB, dir string, serial int64) (certFile, keyFile string) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	writeFile(tb, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeFile(tb, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	return certFile, keyFile
}

func writeFile(tb testing.TB, name string, data []byte) {
	tb.Helper()
	if err := os.WriteFile(name, data, 0o600); err != nil {
		tb.Fatal(err)
	}
}

// encryptedSetup is a server listening on every transport, and what its
// clients need.
type encryptedSetup struct {
	s                  *Server
	udp, dot, doh, doq netip.AddrPort
	ca                 *testCA
	certs              *CertStore
	dir, certFile      string
}

// startEncrypted serves cfg (Backend set or the fake's) on UDP/TCP, DoT,
// DoH and DoQ, each on a free loopback port, with a certificate of a
// fresh test CA.
func startEncrypted(tb testing.TB, cfg Config) *encryptedSetup {
	tb.Helper()
	e := &encryptedSetup{ca: newTestCA(tb), dir: tb.TempDir()}
	var keyFile string
	e.certFile, keyFile = e.ca.issue(tb, e.dir, 2)
	var err error
	if e.certs, err = LoadCertStore(e.certFile, keyFile); err != nil {
		tb.Fatal(err)
	}
	enc := &cfg.Encrypted
	enc.TLSListen, enc.QUICListen = []string{"127.0.0.1:0"}, []string{"127.0.0.1:0"}
	if enc.HTTPSListen == nil {
		enc.HTTPSListen = []string{"127.0.0.1:0"}
	}
	enc.GetCertificate = e.certs.GetCertificate
	e.s, _ = newTestServer(tb, cfg)
	e.udp = startServer(tb, e.s)
	e.dot, e.doh, e.doq = e.s.TLSAddrs()[0], e.s.HTTPSAddrs()[0], e.s.QUICAddrs()[0]
	return e
}

func (e *encryptedSetup) clientTLS(alpn ...string) *tls.Config {
	return &tls.Config{RootCAs: e.ca.pool, ServerName: "localhost", NextProtos: alpn}
}

// dotExchange sends m over DNS over TLS on a new connection.
func (e *encryptedSetup) dotExchange(tb testing.TB, m *dns.Msg) (*dns.Msg, error) {
	tb.Helper()
	c := &dns.Client{Net: "tcp-tls", TLSConfig: e.clientTLS(), Timeout: 10 * time.Second}
	resp, _, err := c.Exchange(m, e.dot.String())
	return resp, err
}

// httpClient is a DoH client that speaks HTTP/2 (h2) or HTTP/1.1 only.
func (e *encryptedSetup) httpClient(h2 bool) *http.Client {
	var protocols http.Protocols
	protocols.SetHTTP1(!h2)
	protocols.SetHTTP2(h2)
	if e.s.cfg.Encrypted.HTTPSPlain && h2 {
		protocols.SetHTTP2(false)
		protocols.SetUnencryptedHTTP2(true)
	}
	tr := &http.Transport{TLSClientConfig: e.clientTLS(), Protocols: &protocols}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// dohURL is the server's DoH endpoint.
func (e *encryptedSetup) dohURL() string {
	scheme := "https"
	if e.s.cfg.Encrypted.HTTPSPlain {
		scheme = "http"
	}
	return fmt.Sprintf("%s://%s%s", scheme, e.doh, DoHPath)
}

// dohExchange sends m with method (GET or POST) over DoH; m.Id must be 0.
// It fails the test unless the answer is 200 with the DNS media type, and
// returns the response too.
func (e *encryptedSetup) dohExchange(tb testing.TB, c *http.Client, method string, m *dns.Msg) (*dns.Msg, *http.Response, error) {
	tb.Helper()
	wire, err := m.Pack()
	if err != nil {
		tb.Fatal(err)
	}
	var req *http.Request
	if method == http.MethodGet {
		req, err = http.NewRequest(method, e.dohURL()+"?dns="+base64.RawURLEncoding.EncodeToString(wire), nil)
	} else {
		req, err = http.NewRequest(method, e.dohURL(), bytes.NewReader(wire))
		req.Header.Set("Content-Type", dohContentType)
	}
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Accept", dohContentType)
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp, err
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != dohContentType {
		return nil, resp, fmt.Errorf("DoH %s: status %d, type %q: %s", method, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	out := new(dns.Msg)
	return out, resp, out.Unpack(body)
}

// doqDial opens a DoQ connection.
func (e *encryptedSetup) doqDial(tb testing.TB) *quic.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := quic.DialAddr(ctx, e.doq.String(), e.clientTLS(DoQALPN), &quic.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.CloseWithError(DoQNoError, "") })
	return conn
}

// doqExchange sends m on a new stream of conn and reads the answer.
func doqExchange(conn *quic.Conn, m *dns.Msg) (*dns.Msg, error) {
	wire, err := m.Pack()
	if err != nil {
		return nil, err
	}
	raw, err := doqRaw(conn, binary.BigEndian.AppendUint16(nil, uint16(len(wire))), wire)
	if err != nil {
		return nil, err
	}
	if len(raw) < 2 || int(binary.BigEndian.Uint16(raw)) != len(raw)-2 {
		return nil, fmt.Errorf("DoQ answer of %d bytes is not one framed message", len(raw))
	}
	out := new(dns.Msg)
	return out, out.Unpack(raw[2:])
}

// doqRaw writes parts on a new stream, closes its sending side and reads
// the stream to its end.
func doqRaw(conn *quic.Conn, parts ...[]byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	st.SetDeadline(time.Now().Add(10 * time.Second))
	for _, p := range parts {
		if _, err := st.Write(p); err != nil {
			return nil, err
		}
	}
	st.Close()
	return io.ReadAll(st)
}
