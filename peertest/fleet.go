package peertest

// Real servers of a fleet: redis-server (the shared cache tier) and
// dnsdist (the load balancer in front of the recursors), started on
// loopback high ports for a test.

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Daemon is a server process started for a test; it ends with the test.
type Daemon struct {
	Addr string // host:port it listens on
	cmd  *exec.Cmd
	out  *LockedBuffer
	done chan struct{}
}

// Output is what the process printed so far.
func (d *Daemon) Output() string { return d.out.String() }

// Kill ends the process at once (SIGKILL) and waits for it: a server
// that dies, not one that shuts down.
func (d *Daemon) Kill() {
	d.cmd.Process.Kill()
	<-d.done
}

func startDaemon(tb testing.TB, addr, bin string, args ...string) *Daemon {
	tb.Helper()
	d := &Daemon{Addr: addr, out: &LockedBuffer{}, done: make(chan struct{})}
	d.cmd = exec.Command(bin, args...)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", bin, err)
	}
	go func() { d.cmd.Wait(); close(d.done) }()
	tb.Cleanup(d.Kill)
	return d
}

// StartRedis runs redis-server on a free loopback port without
// persistence (an empty --save, --appendonly no), and returns it once it takes
// connections. It skips the test when redis-server is not installed.
func StartRedis(tb testing.TB) *Daemon {
	tb.Helper()
	bin, ok := LookPath("redis-server")
	if !ok {
		tb.Skip("redis-server is not installed (apt-get install redis-server; .ci/run does)")
	}
	port := strconv.Itoa(FreePort(tb))
	d := startDaemon(tb, "127.0.0.1:"+port, bin, "--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", tb.TempDir(), "--daemonize", "no",
		"--maxmemory", "64mb", "--maxmemory-policy", "volatile-ttl")
	waitForTCP(tb, d, "PING")
	return d
}

// StartDNSDist runs dnsdist on a free loopback port with a round-robin
// pool of backends (DNS addresses), and returns it once it listens. It
// skips the test when dnsdist is not installed. Security polling is off
// (it would query the internet); health checks ask localhost., which a
// recursor answers itself.
func StartDNSDist(tb testing.TB, backends ...string) *Daemon {
	tb.Helper()
	bin, ok := LookPath("dnsdist")
	if !ok {
		tb.Skip("dnsdist is not installed (apt-get install dnsdist; .ci/run does)")
	}
	addr := "127.0.0.1:" + strconv.Itoa(FreePort(tb))
	conf := DNSDistConfig(addr, backends...)
	path := filepath.Join(tb.TempDir(), "dnsdist.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		tb.Fatal(err)
	}
	d := startDaemon(tb, addr, bin, "--supervised", "--disable-syslog", "-C", path)
	WaitForDNS(tb, addr, d.Output)
	return d
}

// DNSDistConfig is the dnsdist configuration of a fleet: listen on addr,
// spread queries over backends round robin.
func DNSDistConfig(addr string, backends ...string) string {
	var b strings.Builder
	b.WriteString("setSecurityPollSuffix(\"\")\n")
	fmt.Fprintf(&b, "setLocal(%q)\n", addr)
	for i, be := range backends {
		fmt.Fprintf(&b, "newServer({address=%q, name=\"recursor%d\", checkName=\"localhost.\", checkInterval=1})\n", be, i+1)
	}
	b.WriteString("setServerPolicy(roundrobin)\n")
	return b.String()
}

// waitForTCP waits until d takes a TCP connection and answers a RESP
// inline command, failing the test after 10 s.
func waitForTCP(tb testing.TB, d *Daemon, command string) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", d.Addr, 200*time.Millisecond)
		if err == nil {
			c.SetDeadline(time.Now().Add(time.Second))
			fmt.Fprintf(c, "%s\r\n", command)
			buf := make([]byte, 64)
			n, _ := c.Read(buf)
			c.Close()
			if n > 0 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("%s did not answer within 10 s; output:\n%s", d.Addr, d.Output())
}
