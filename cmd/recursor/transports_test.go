package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/quic-go/quic-go"

	"github.com/recursor-dns/recursor/peertest"
)

// writeSelfSigned writes a self-signed certificate (its own CA) for
// localhost and 127.0.0.1 with the given serial, and its key; made at
// test time, never committed.
func writeSelfSigned(t *testing.T, certFile, keyFile string, serial int64) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// TestServeEncryptedTransports runs the binary on the sandbox with DoT,
// DoH and DoQ listeners, asks over each, then replaces the certificate
// and sends SIGHUP: new handshakes get the new one while an open DoT
// connection goes on.
func TestServeEncryptedTransports(t *testing.T) {
	bin := peertest.RecursorBinary(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	pool := writeSelfSigned(t, certFile, keyFile, 1)
	p := startServe(t, bin, "--sandbox", "--tls-cert", certFile, "--tls-key", keyFile,
		"--tls-listen", "127.0.0.1:0", "--https-listen", "127.0.0.1:0", "--quic-listen", "127.0.0.1:0")
	m := regexp.MustCompile(`msg="serving encrypted" tls=\[(\S+)\] https=\[(\S+)\] quic=\[(\S+)\]`).FindStringSubmatch(p.stderr.String())
	if m == nil {
		t.Fatalf("no encrypted listeners logged:\n%s", p.stderr)
	}
	dot, doh, doq := m[1], m[2], m[3]
	clientTLS := func(pool *x509.CertPool, alpn ...string) *tls.Config {
		return &tls.Config{RootCAs: pool, ServerName: "localhost", NextProtos: alpn}
	}
	q := new(dns.Msg)
	q.SetQuestion("www.example.com.", dns.TypeA)
	q.Id = 0
	checkAnswer := func(name string, resp *dns.Msg) {
		t.Helper()
		if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 || !strings.Contains(resp.Answer[0].String(), "192.0.2.10") {
			t.Errorf("%s: %v", name, resp)
		}
	}

	conn, err := tls.Dial("tcp", dot, clientTLS(pool))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dc := &dns.Conn{Conn: conn}
	if err := dc.WriteMsg(q); err != nil {
		t.Fatal(err)
	}
	resp, err := dc.ReadMsg()
	if err != nil {
		t.Fatal(err)
	}
	checkAnswer("dot", resp)

	wire, _ := q.Pack()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS(pool), ForceAttemptHTTP2: true}, Timeout: 10 * time.Second}
	hr, err := hc.Post("https://"+doh+"/dns-query", "application/dns-message", bytes.NewReader(wire))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(hr.Body)
	hr.Body.Close()
	resp = new(dns.Msg)
	if err := resp.Unpack(body); err != nil {
		t.Fatalf("doh: status %d: %v", hr.StatusCode, err)
	}
	checkAnswer("doh", resp)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	qc, err := quic.DialAddr(ctx, doq, clientTLS(pool, "doq"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer qc.CloseWithError(0, "")
	st, err := qc.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(wire))), wire...))
	st.Close()
	raw, err := io.ReadAll(st)
	if err != nil || len(raw) < 2 {
		t.Fatalf("doq: %v", err)
	}
	resp = new(dns.Msg)
	if err := resp.Unpack(raw[2:]); err != nil {
		t.Fatal(err)
	}
	checkAnswer("doq", resp)

	newPool := writeSelfSigned(t, certFile, keyFile, 2)
	p.cmd.Process.Signal(syscall.SIGHUP)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr.String(), "certificate reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload logged after SIGHUP:\n%s", p.stderr)
		}
		<-tick.C
	}
	c2, err := tls.Dial("tcp", dot, clientTLS(newPool))
	if err != nil {
		t.Fatalf("after SIGHUP, the new certificate: %v", err)
	}
	if got := c2.ConnectionState().PeerCertificates[0].SerialNumber.Int64(); got != 2 {
		t.Errorf("serial %d after SIGHUP, want 2", got)
	}
	c2.Close()
	if err := dc.WriteMsg(q); err != nil {
		t.Fatal(err)
	}
	if resp, err = dc.ReadMsg(); err != nil {
		t.Fatalf("the DoT connection opened before SIGHUP: %v", err)
	}
	checkAnswer("dot after SIGHUP", resp)
}
