// Package peertest runs real DNS software next to recursor for tests:
// Unbound as a reference resolver over the same loopback testnet, and the
// recursor binary itself as a process. Tests skip, saying why, when a peer
// is not installed; .ci/run installs them.
package peertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/internal/ports"
	"github.com/recursor-dns/recursor/roothints"
)

// LookPath finds a program in PATH or in the sbin directories, where
// Debian puts daemons such as unbound and nsd.
func LookPath(name string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// FreePort returns a port free on 127.0.0.1 for both UDP and TCP, as far
// as can be known without holding it. The port lies outside the kernel's
// ephemeral range where it can: no port-0 bind or connect of another test
// takes it before the daemon binds it, and a daemon with SO_REUSEPORT
// (Unbound's default, recursor's threads) cannot be joined by a client
// socket that asks for SO_REUSEPORT, as dig's does (see package ports).
func FreePort(tb testing.TB) int {
	tb.Helper()
	for range 50 {
		addr := "127.0.0.1:0"
		if p, ok := ports.OutsideEphemeral(); ok {
			addr = "127.0.0.1:" + strconv.Itoa(int(p))
		}
		l, err := net.ListenPacket("udp", addr)
		if errors.Is(err, syscall.EADDRINUSE) {
			continue
		}
		if err != nil {
			tb.Fatal(err)
		}
		port := l.LocalAddr().(*net.UDPAddr).Port
		t, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		l.Close()
		if err == nil {
			t.Close()
			return port
		}
	}
	tb.Fatal("no free port on 127.0.0.1")
	return 0
}

// WriteHints writes h to a file in dir and returns its path.
func WriteHints(tb testing.TB, dir string, h *roothints.Hints) string {
	tb.Helper()
	var b bytes.Buffer
	if _, err := h.WriteTo(&b); err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, "named.root")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// StartUnbound runs Unbound (one thread, validation off, QNAME
// minimisation on) on 127.0.0.1 with the given root hints, and returns its
// address. Unbound always asks authoritative servers on port 53, so the
// network it resolves through must listen there. It skips the test when
// unbound is not installed.
func StartUnbound(tb testing.TB, hintsPath string) string {
	tb.Helper()
	return StartUnboundWith(tb, UnboundConfig{RootHints: hintsPath})
}

// UnboundConfig says how StartUnboundWith sets Unbound up.
type UnboundConfig struct {
	// RootHints is the path of the root hints file Unbound starts from.
	RootHints string
	// TrustAnchors, when set, turn validation on with these DS or DNSKEY
	// records as the only anchors (no RFC 5011 tracking, no built-in
	// root key), and Unbound answers with extended DNS errors (RFC 8914).
	TrustAnchors []dns.RR
}

// StartUnboundWith runs Unbound as StartUnbound does, validating when
// cfg has trust anchors, and returns its address.
func StartUnboundWith(tb testing.TB, cfg UnboundConfig) string {
	tb.Helper()
	bin, ok := LookPath("unbound")
	if !ok {
		tb.Skip("unbound is not installed (apt-get install unbound; .ci/run does)")
	}
	dir := tb.TempDir()
	port := FreePort(tb)
	conf := fmt.Sprintf(`server:
	interface: 127.0.0.1
	port: %d
	num-threads: 1
	do-ip6: no
	do-not-query-localhost: no
	root-hints: %q
	qname-minimisation: yes
	chroot: ""
	username: ""
	directory: %q
	pidfile: %q
	use-syslog: no
	logfile: ""
	access-control: 127.0.0.0/8 allow
	outgoing-port-permit: 1024-65535
	outgoing-interface: 127.0.0.1
	minimal-responses: yes
`, port, cfg.RootHints, dir, filepath.Join(dir, "unbound.pid"))
	if len(cfg.TrustAnchors) == 0 {
		conf += "\tmodule-config: \"iterator\"\n\tverbosity: 0\n\tval-log-level: 0\n"
	} else {
		conf += validatingConf(tb, dir, cfg.TrustAnchors)
	}
	conf += "remote-control:\n\tcontrol-enable: no\n"
	confPath := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		tb.Fatal(err)
	}
	var stderr LockedBuffer
	cmd := exec.Command(bin, "-d", "-c", confPath)
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start unbound: %v", err)
	}
	tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if tb.Failed() {
			out := stderr.String()
			tb.Logf("unbound's output (the last %d bytes at most):\n%s", maxLoggedOutput, out[max(0, len(out)-maxLoggedOutput):])
		}
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	WaitForDNS(tb, addr, stderr.String)
	return addr
}

// maxLoggedOutput bounds how much of a peer's output a failed test logs.
const maxLoggedOutput = 16 << 10

// validatingConf writes anchors to a trust-anchor-file in dir and returns
// the server: lines that make Unbound validate from them alone. The
// verdicts of the sandbox's broken zones are logged (val-log-level 2) for
// whoever reads a failing test's output, and each question is answered
// from its own proof: no aggressive use of cached NSEC (RFC 8198), no
// root key sentinel or trust anchor signalling queries of its own.
func validatingConf(tb testing.TB, dir string, anchors []dns.RR) string {
	tb.Helper()
	var b strings.Builder
	for _, rr := range anchors {
		b.WriteString(rr.String() + "\n")
	}
	path := filepath.Join(dir, "trust-anchors")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return fmt.Sprintf(`	module-config: "validator iterator"
	trust-anchor-file: %q
	trust-anchor-signaling: no
	root-key-sentinel: no
	aggressive-nsec: no
	ede: yes
	verbosity: 1
	val-log-level: 2
`, path)
}

// WaitForDNS waits until addr answers a DNS query over UDP (any rcode),
// failing the test after 10 s with the peer's output.
func WaitForDNS(tb testing.TB, addr string, output func() string) {
	tb.Helper()
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	q := new(dns.Msg)
	q.SetQuestion("health.invalid.", dns.TypeA)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, _, err := c.ExchangeContext(context.Background(), q, addr); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("%s did not answer within 10 s; output:\n%s", addr, output())
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// RecursorBinary builds cmd/recursor once per test process and returns
// its path.
func RecursorBinary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			buildErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		root := filepath.Dir(strings.TrimSpace(string(out)))
		dir, err := os.MkdirTemp("", "recursor-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "recursor")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/recursor")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binPath
}

// StartRecursor runs `recursor serve` with args plus a --listen address on
// a free loopback port, and --upstream-loopback-only: a zone that names a
// server elsewhere makes a refusal in the log, which fails the test, not a
// packet that leaves. It returns the address once it answers; the process
// ends with the test (StartRecursorProcess).
func StartRecursor(tb testing.TB, args ...string) string {
	tb.Helper()
	return StartRecursorProcess(tb, args...).Addr
}

// LockedBuffer collects a process's output while tests read it: a
// bytes.Buffer safe for one writer and readers at once.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
