package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/recursor-dns/recursor/peertest"
)

// writeTestPKI writes, at test time, a CA certificate and a server key
// and certificate it signs for name, as PEM files in dir: no private key
// is committed.
func writeTestPKI(t *testing.T, dir, name string) (ca, cert, key string) {
	t.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "recursor test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, cert, key = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	for path, block := range map[string]*pem.Block{ca: {Type: "CERTIFICATE", Bytes: caDER}, cert: {Type: "CERTIFICATE", Bytes: der}, key: {Type: "PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return ca, cert, key
}

// TestForwardToUnbound: `recursor resolve` forwards to a real Unbound,
// over plain DNS and over DNS over TLS (Unbound's tls-service-pem), with
// the certificate checked.
func TestForwardToUnbound(t *testing.T) {
	bin, ok := peertest.LookPath("unbound")
	if !ok {
		t.Skip("unbound is not installed (apt-get install unbound; .ci/run does)")
	}
	dir := t.TempDir()
	caPath, certPath, keyPath := writeTestPKI(t, dir, "dot.test")
	plain, tlsPort := peertest.FreePort(t), peertest.FreePort(t)
	conf := fmt.Sprintf(`server:
	interface: 127.0.0.1@%d
	interface: 127.0.0.1@%d
	tls-port: %d
	tls-service-key: %q
	tls-service-pem: %q
	num-threads: 1
	do-ip6: no
	chroot: ""
	username: ""
	directory: %q
	pidfile: ""
	use-syslog: no
	logfile: ""
	verbosity: 1
	access-control: 127.0.0.0/8 allow
	module-config: "iterator"
	local-zone: "fwd.test." static
	local-data: "www.fwd.test. 300 IN A 192.0.2.80"
remote-control:
	control-enable: no
`, plain, tlsPort, tlsPort, keyPath, certPath, dir)
	confPath := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var out peertest.LockedBuffer
	cmd := exec.Command(bin, "-d", "-c", confPath)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start unbound: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("unbound's output:\n%s", out.String())
		}
	})
	peertest.WaitForDNS(t, "127.0.0.1:"+strconv.Itoa(plain), out.String)

	base := []string{"resolve", "--no-dnssec", "--upstream-loopback-only", "--forward-tls-ca", caPath}
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr bool
	}{
		{"plain", []string{"--forward", "fwd.test=127.0.0.1@" + strconv.Itoa(plain)}, false},
		{"TLS", []string{"--forward-tls", "fwd.test=127.0.0.1@" + strconv.Itoa(tlsPort) + "#dot.test"}, false},
		{"TLS, another name", []string{"--forward-tls", "fwd.test=127.0.0.1@" + strconv.Itoa(tlsPort) + "#other.test"}, true},
	} {
		got, err := runCommand(t, append(append(base, tc.args...), "www.fwd.test", "A")...)
		answered := err == nil && regexp.MustCompile(`www\.fwd\.test\.\s+300\s+IN\s+A\s+192\.0\.2\.80`).MatchString(got)
		if answered == tc.wantErr {
			t.Errorf("%s: got %q, %v", tc.name, got, err)
		}
	}
}
