package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/recursor-dns/recursor/peertest"
)

// rpzZone blocks and rewrites names of the sandbox.
const rpzZone = `$TTL 300
@                    SOA   ns.rpz.test. hostmaster.rpz.test. 1 3600 600 86400 60
@                    NS    ns.rpz.test.
blocked.example.com  CNAME .
*.ads.example.com    CNAME .
walled.example.com   CNAME www.example.com.
dropped.example.com  CNAME rpz-drop.
tcp.example.com      CNAME rpz-tcp-only.
32.10.100.51.198.rpz-ip CNAME *.
`

// TestServeRPZ runs the binary with a policy zone file and asks it with
// dig: blocked names are NXDOMAIN with EDE 15, rewrites carry EDE 4, a
// response-IP trigger empties the answer, DROP sends nothing, and
// TCP-only makes dig retry over TCP.
func TestServeRPZ(t *testing.T) {
	if _, err := exec.LookPath("dig"); err != nil {
		t.Skip("dig (bind9-dnsutils) is not installed")
	}
	path := filepath.Join(t.TempDir(), "rpz.test.zone")
	if err := os.WriteFile(path, []byte(rpzZone), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := peertest.RecursorBinary(t)
	socket := filepath.Join(t.TempDir(), "control.sock")
	p := startServe(t, bin, "--sandbox", "--rpz", "rpz.test=file:"+path, "--control-socket", socket)
	host, port, _ := strings.Cut(p.addr, ":")
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"blocked", []string{"blocked.example.com", "A"},
			[]string{`status: NXDOMAIN`, `EDE: 15 \(Blocked\): \(blocked by policy rpz\.test\.\)`, `rpz\.test\.\s+60\s+IN\s+SOA`}},
		{"wildcard", []string{"x.y.ads.example.com", "AAAA"}, []string{`status: NXDOMAIN`, `EDE: 15 \(Blocked\)`}},
		{"rewrite", []string{"walled.example.com", "A"},
			[]string{`status: NOERROR`, `EDE: 4 \(Forged Answer\)`, `walled\.example\.com\.\s+300\s+IN\s+CNAME\s+www\.example\.com\.`, `www\.example\.com\.\s+\d+\s+IN\s+A\s+192\.0\.2\.10`}},
		{"response IP", []string{"www.example.net", "A"}, []string{`status: NOERROR`, `ANSWER: 0`, `EDE: 15 \(Blocked\)`}},
		{"not blocked", []string{"www.example.com", "A"}, []string{`status: NOERROR`, `192\.0\.2\.10`}},
		{"tcp-only", []string{"tcp.example.com", "A"}, []string{`Truncated, retrying in TCP mode`, `status: NXDOMAIN`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := runTool(t, "dig", append([]string{"@" + host, "-p", port, "+time=5", "+tries=1"}, tc.args...)...)
			for _, w := range tc.want {
				if !regexp.MustCompile(w).MatchString(out) {
					t.Errorf("output lacks %s:\n%s", w, out)
				}
			}
		})
	}
	t.Run("drop", func(t *testing.T) {
		out, err := exec.CommandContext(t.Context(), "dig", "@"+host, "-p", port, "+time=1", "+tries=1", "dropped.example.com", "A").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "timed out") {
			t.Errorf("dig got an answer to a dropped name (%v):\n%s", err, out)
		}
	})
	stats := runTool(t, bin, "control", "--control-socket", socket, "stats")
	for _, want := range []string{`recursor_rpz_hits_total{action="nxdomain",policy="rpz.test."} 2`, `recursor_rpz_hits_total{action="tcp-only",policy="rpz.test."} 2`, `recursor_rpz_hits_total{action="drop",policy="rpz.test."} 1`} {
		if !strings.Contains(stats, want) {
			t.Errorf("stats lack %s:\n%s", want, stats)
		}
	}
	if log := p.stderr.String(); !strings.Contains(log, `msg="rpz hit" policy=rpz.test. trigger=blocked.example.com. action=nxdomain qname=blocked.example.com. qtype=A client=127.0.0.1`) {
		t.Errorf("no log line for the hit:\n%s", log)
	}
}
