package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/recursor-dns/recursor/peertest"
)

// TestServeLocalData runs the binary on the sandbox with local data from
// a config file, flags and a hosts file, and asks it with dig: local
// names come back authoritative (aa), a transparent zone's other names are
// resolved, a deny zone gets no reply.
func TestServeLocalData(t *testing.T) {
	if _, err := exec.LookPath("dig"); err != nil {
		t.Skip("dig (bind9-dnsutils) is not installed")
	}
	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts")
	write(t, hosts, "192.168.1.20 printer.lan printer # the office printer\n")
	config := filepath.Join(dir, "recursor.toml")
	write(t, config, `[resolver]
local-zone = ["lan. static", "example.com. transparent", "deny.example. deny"]
local-data = ["lan. SOA ns.lan. hostmaster.lan. 1 3600 600 86400 60", "nas.lan. 600 IN A 192.168.1.10", 'lan. TXT "home network"',
  "www.example.com. 300 A 192.0.2.99"]
`)
	bin := peertest.RecursorBinary(t)
	// A flag given on the command line replaces the file's list of the
	// same key: these add kinds the file leaves out.
	p := startServe(t, bin, "--sandbox", "--config", config, "--hosts", hosts, "--local-data-ptr", "192.168.1.10 nas.lan")
	host, port, _ := net.SplitHostPort(p.addr)
	dig := func(args ...string) string {
		return runTool(t, "dig", append([]string{"@" + host, "-p", port, "+time=5", "+tries=1"}, args...)...)
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"local data", []string{"nas.lan", "A"},
			[]string{`status: NOERROR`, `flags: qr aa rd ra;`, `nas\.lan\.\s+600\s+IN\s+A\s+192\.168\.1\.10`}},
		{"local TXT", []string{"lan", "TXT"},
			[]string{`flags: qr aa rd ra;`, `lan\.\s+3600\s+IN\s+TXT\s+"home network"`}},
		{"static zone NXDOMAIN with SOA", []string{"nothing.lan", "A"},
			[]string{`status: NXDOMAIN`, `flags: qr aa rd ra;`, `lan\.\s+60\s+IN\s+SOA\s+ns\.lan\.`}},
		{"local-data-ptr", []string{"-x", "192.168.1.10"},
			[]string{`flags: qr aa rd ra;`, `10\.1\.168\.192\.in-addr\.arpa\.\s+3600\s+IN\s+PTR\s+nas\.lan\.`}},
		{"hosts name", []string{"printer.lan", "A"},
			[]string{`flags: qr aa rd ra;`, `printer\.lan\.\s+3600\s+IN\s+A\s+192\.168\.1\.20`}},
		{"hosts reverse", []string{"-x", "192.168.1.20"},
			[]string{`flags: qr aa rd ra;`, `PTR\s+printer\.lan\.`}},
		{"without RD", []string{"+norecurse", "nas.lan", "A"},
			[]string{`status: NOERROR`, `flags: qr aa ra;`, `192\.168\.1\.10`}},
		{"transparent zone's data", []string{"www.example.com", "A"},
			[]string{`flags: qr aa rd ra;`, `www\.example\.com\.\s+\d+\s+IN\s+A\s+192\.0\.2\.99`}},
		{"transparent zone resolves the rest", []string{"chain2.example.com", "A"},
			[]string{`status: NOERROR`, `(?i)flags: qr rd ra ad;`, `chain2\.example\.com\.\s+\d+\s+IN\s+CNAME\s+www\.example\.com\.`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := dig(tc.args...)
			for _, w := range tc.want {
				if !regexp.MustCompile(w).MatchString(out) {
					t.Errorf("output lacks %s:\n%s", w, out)
				}
			}
		})
	}
	t.Run("reload reads the hosts file again", func(t *testing.T) {
		dig("printer.lan", "A") // twice: the second from the answer cache
		write(t, hosts, "192.168.1.21 printer.lan\n")
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		for i := 0; !strings.Contains(p.stderr.String(), "msg=reloaded"); i++ {
			if i == 200 {
				t.Fatalf("no reload after SIGHUP:\n%s", p.stderr)
			}
			<-time.After(50 * time.Millisecond)
		}
		if out := dig("printer.lan", "A"); !regexp.MustCompile(`printer\.lan\.\s+3600\s+IN\s+A\s+192\.168\.1\.21`).MatchString(out) {
			t.Errorf("after the reload:\n%s", out)
		}
	})
	t.Run("deny zone", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "dig", "@"+host, "-p", port, "+time=1", "+tries=1", "x.deny.example", "A").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "timed out") {
			t.Errorf("dig got an answer from a deny zone (%v):\n%s", err, out)
		}
	})
}

// TestServeRefuseNonLocal runs the binary with loopback clients set to
// refuse_non_local: its local data is answered, everything else refused,
// which needs the server to ask the engine's local data.
func TestServeRefuseNonLocal(t *testing.T) {
	if _, err := exec.LookPath("dig"); err != nil {
		t.Skip("dig (bind9-dnsutils) is not installed")
	}
	p := startServe(t, peertest.RecursorBinary(t), "--sandbox", "--access-control", "127.0.0.0/8=refuse_non_local",
		"--local-zone", "lan. static", "--local-data", "nas.lan. 600 IN A 192.168.1.10")
	host, port, _ := net.SplitHostPort(p.addr)
	dig := func(args ...string) string {
		return runTool(t, "dig", append([]string{"@" + host, "-p", port, "+time=5", "+tries=1"}, args...)...)
	}
	for _, name := range []string{"nas.lan", "NAS.lan", "nothing.lan"} {
		if out := dig(name, "A"); !strings.Contains(out, "flags: qr aa rd ra;") {
			t.Errorf("%s: local data not answered:\n%s", name, out)
		}
	}
	if out := dig("www.example.com", "A"); !strings.Contains(out, "status: REFUSED") {
		t.Errorf("a name outside local data was not refused:\n%s", out)
	}
}

// Bad local data stops the command with the entry named.
func TestLocalDataFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--local-zone", "example.com. opaque"}, `local-zone "example.com. opaque": unknown local-zone type "opaque"`},
		{[]string{"--local-data", "www.example.com. A 300.1.1.1"}, `local-data "www.example.com. A 300.1.1.1"`},
		{[]string{"--local-data-ptr", "192.0.2.1"}, `local-data-ptr "192.0.2.1": want "ADDR [TTL] NAME"`},
		{[]string{"--hosts", "/nonexistent/hosts"}, `hosts "/nonexistent/hosts"`},
	} {
		args := append([]string{"resolve", "--sandbox", "www.example.com"}, tc.args...)
		if _, err := runCommand(t, args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
}

// recursor resolve answers local data too.
func TestResolveLocalData(t *testing.T) {
	out, err := runCommand(t, "resolve", "--sandbox", "--local-data", "www.example.com. 300 A 192.0.2.99", "www.example.com")
	if err != nil || !strings.Contains(out, "192.0.2.99") {
		t.Errorf("resolve = %q, %v; want the local address", out, err)
	}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
