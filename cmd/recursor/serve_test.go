package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/peertest"
)

// servingProcess is `recursor serve` running in the background.
type servingProcess struct {
	cmd    *exec.Cmd
	addr   string // host:port it serves on
	stderr *peertest.LockedBuffer
	done   chan error
}

// startServe runs bin serve with args plus --listen 127.0.0.1:0, and waits
// for the line that says where it serves.
func startServe(t *testing.T, bin string, args ...string) *servingProcess {
	t.Helper()
	// --allow-root: CI runs the tests as root; a test of --user says so.
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--allow-root"}, args...)...)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &servingProcess{cmd: cmd, stderr: &peertest.LockedBuffer{}, done: make(chan error, 1)}
	found := make(chan string, 1)
	go func() {
		// The serving line as text or as JSON (--log-format json).
		re := regexp.MustCompile(`(?:msg=serving addrs=\[|"msg":"serving","addrs":\[")(127\.0\.0\.1:\d+)`)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Text()
			p.stderr.Write([]byte(line + "\n"))
			if m := re.FindStringSubmatch(line); m != nil {
				found <- m[1]
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
		}
	})
	select {
	case p.addr = <-found:
	case err := <-p.done:
		t.Fatalf("recursor serve exited: %v\n%s", err, p.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("recursor serve did not say where it serves:\n%s", p.stderr)
	}
	return p
}

// runTool runs a DNS client and returns its output.
func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestServeRealClients runs the binary on the sandbox and asks it with dig
// and kdig, as a person would.
func TestServeRealClients(t *testing.T) {
	var tools []string
	for _, tool := range []string{"dig", "kdig"} {
		if _, err := exec.LookPath(tool); err == nil {
			tools = append(tools, tool)
		}
	}
	if len(tools) == 0 {
		t.Skip("neither dig (bind9-dnsutils) nor kdig (knot-dnsutils) is installed")
	}
	bin := peertest.RecursorBinary(t)
	p := startServe(t, bin, "--sandbox", "--allow", "127.0.0.1/32", "--log-queries")
	host, port, _ := net.SplitHostPort(p.addr)

	tests := []struct {
		name  string
		args  []string // after the server and port options
		want  []string // regular expressions the output must match
		tools []string // nil: every tool
	}{
		{"answer", []string{"www.example.com", "A"},
			[]string{`status: NOERROR`, `(?i)flags: qr rd ra ad;`, `www\.example\.com\.\s+\d+\s+IN\s+A\s+192\.0\.2\.10`}, nil},
		{"no AD for a client without AD or DO", []string{"+noadflag", "www.example.com", "A"},
			[]string{`status: NOERROR`, `(?i)flags: qr rd ra;`}, nil},
		{"DO gets the RRSIGs", []string{"+dnssec", "www.example.com", "A"},
			[]string{`status: NOERROR`, `(?i)flags: qr rd ra ad;`, `www\.example\.com\.\s+\d+\s+IN\s+RRSIG\s+A 13 3 300`}, nil},
		{"bogus is SERVFAIL with EDE 6", []string{"+edns", "www.badsig.lab", "A"},
			[]string{`status: SERVFAIL`, `(?i)EDE: 6 \(DNSSEC Bogus\)`}, nil},
		{"CD gets bogus data without AD", []string{"+cd", "www.badsig.lab", "A"},
			[]string{`status: NOERROR`, `(?i)flags: qr rd ra cd;`, `www\.badsig\.lab\.\s+\d+\s+IN\s+A\s`}, nil},
		{"answer over TCP", []string{"+tcp", "www.example.net", "AAAA"},
			[]string{`status: NOERROR`, `www\.example\.net\.\s+\d+\s+IN\s+AAAA\s+2001:db8:1::10`}, nil},
		{"CNAME chain", []string{"chain1.example.com", "A"},
			[]string{`status: NOERROR`, `chain1\.example\.com\.\s+\d+\s+IN\s+CNAME\s+chain2\.example\.com\.`,
				`chain2\.example\.com\.\s+\d+\s+IN\s+CNAME\s+www\.example\.com\.`, `www\.example\.com\.\s+\d+\s+IN\s+A\s+192\.0\.2\.10`}, nil},
		{"NXDOMAIN with SOA", []string{"nothing.example.com", "A"},
			[]string{`status: NXDOMAIN`, `AUTHORITY SECTION`, `example\.com\.\s+\d+\s+IN\s+SOA`}, nil},
		{"SERVFAIL with EDE", []string{"+edns", "www.all-lame.lab", "A"},
			[]string{`status: SERVFAIL`, `EDE: 22 \(No Reachable Authority\)`}, []string{"dig"}},
		{"SERVFAIL with EDE", []string{"+edns", "www.all-lame.lab", "A"},
			[]string{`status: SERVFAIL`, `(?i)EDE: 22 \(No Reachable Authority\)`}, []string{"kdig"}},
		{"truncated then TCP", []string{"big.example.com", "TXT"},
			[]string{`status: NOERROR`, `big\.example\.com\.\s+\d+\s+IN\s+TXT\s+"a{10}`}, []string{"dig"}},
		{"truncated without retry", []string{"+ignore", "big.example.com", "TXT"},
			[]string{`flags: qr tc rd ra ad;`, `ANSWER: 0`}, []string{"dig"}},
		{"truncated without retry", []string{"+ignore", "big.example.com", "TXT"},
			[]string{`(?i)flags: qr tc rd ra ad;`, `ANSWER: 0`}, []string{"kdig"}},
		{"refused for a client not allowed", []string{"-b", "127.0.0.9", "www.example.com", "A"},
			[]string{`status: REFUSED`}, nil},
		{"client case echoed", []string{"WwW.ExAmPlE.CoM", "A"}, // kdig lower-cases what it sends
			[]string{`;WwW\.ExAmPlE\.CoM\.\s+IN\s+A`}, []string{"dig"}},
		{"no recursion desired, not cached", []string{"+norecurse", "www.alpha.lab", "MX"},
			[]string{`status: REFUSED`}, nil},
		{"ANY answered minimally", []string{"example.com", "ANY"},
			[]string{`status: NOERROR`, `HINFO\s+"RFC8482"`}, nil},
	}
	for _, tool := range tools {
		for _, tc := range tests {
			if tc.tools != nil && !slices.Contains(tc.tools, tool) {
				continue
			}
			t.Run(tool+"/"+tc.name, func(t *testing.T) {
				args := append([]string{"@" + host, "-p", port, "+time=5", "+tries=1"}, tc.args...)
				if tool == "kdig" {
					args = append([]string{"@" + host, "-p", port, "+timeout=5", "+retry=0"}, tc.args...)
				}
				out := runTool(t, tool, args...)
				for _, w := range tc.want {
					if !regexp.MustCompile(w).MatchString(out) {
						t.Errorf("output lacks %s:\n%s", w, out)
					}
				}
			})
		}
	}

	t.Run("kdig several queries on one TCP connection", func(t *testing.T) {
		if _, err := exec.LookPath("kdig"); err != nil {
			t.Skip("kdig (knot-dnsutils) is not installed")
		}
		out := runTool(t, "kdig", "@"+host, "-p", port, "+tcp", "+keepopen", "+timeout=5",
			"www.example.com", "A", "www.example.org", "A", "x.wild.example.com", "A")
		for _, w := range []string{`192\.0\.2\.10`, `198\.51\.100\.20`, `192\.0\.2\.50`} {
			if !regexp.MustCompile(w).MatchString(out) {
				t.Errorf("output lacks %s:\n%s", w, out)
			}
		}
	})

	t.Run("pipelined queries written at once", func(t *testing.T) {
		conn, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		names := []string{"www.shop.example.com.", "www.beta.lab.", "www.sub.beta.lab."}
		var stream []byte
		ids := map[uint16]string{}
		for _, n := range names {
			m := new(dns.Msg)
			m.SetQuestion(n, dns.TypeA)
			ids[m.Id] = n
			b, _ := m.Pack()
			stream = append(binary.BigEndian.AppendUint16(stream, uint16(len(b))), b...)
		}
		if _, err := conn.Write(stream); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		for range names {
			var prefix [2]byte
			if _, err := io.ReadFull(conn, prefix[:]); err != nil {
				t.Fatal(err)
			}
			b := make([]byte, binary.BigEndian.Uint16(prefix[:]))
			if _, err := io.ReadFull(conn, b); err != nil {
				t.Fatal(err)
			}
			m := new(dns.Msg)
			if err := m.Unpack(b); err != nil {
				t.Fatal(err)
			}
			if ids[m.Id] == "" || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
				t.Errorf("unexpected answer:\n%v", m)
			}
			delete(ids, m.Id)
		}
	})

	t.Run("FORMERR for a malformed packet", func(t *testing.T) {
		conn, err := net.Dial("udp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// A header promising one question, then a label running past the end.
		if _, err := conn.Write([]byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 9, 'e', 'x'}); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 512)
		n, err := conn.Read(b)
		if err != nil {
			t.Fatal(err)
		}
		m := new(dns.Msg)
		if err := m.Unpack(b[:n]); err != nil || m.Id != 0x1234 || m.Rcode != dns.RcodeFormatError {
			t.Errorf("got %v %v, want FORMERR for id 0x1234", err, m)
		}
	})

	// SIGTERM: a graceful stop with status 0.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, p.stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit after SIGTERM")
	}
	logs := p.stderr.String()
	for _, w := range []string{"msg=query", "name=www.example.com.", "cached=true", "msg=stopped"} {
		if !strings.Contains(logs, w) {
			t.Errorf("logs lack %q", w)
		}
	}
	if t.Failed() {
		t.Logf("server log:\n%s", logs)
	}
}

func TestServeBindErrors(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Log("running as root: the privileged-port message is not exercised here (see server.TestListenErrors)")
	}
	taken, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	_, err = runCommand(t, "serve", "--sandbox", "--allow-root", "--listen", taken.LocalAddr().String())
	if err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("err = %v, want 'already in use'", err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--allow-root", "--listen", "localhost:53"}, `listen address "localhost:53": want IP:PORT`},
		{[]string{"serve", "--allow", "10.0.0.0/40"}, `--allow "10.0.0.0/40"`},
		{[]string{"serve", "--max-in-flight", "0"}, "--max-in-flight 0: must be at least 1"},
		{[]string{"serve", "--threads", "-1"}, "--threads -1: want 0 (one per core) or more"},
	} {
		if _, err := runCommand(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
}
