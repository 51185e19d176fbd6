package main

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/peertest"
)

func TestPlannedIdentity(t *testing.T) {
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody here: %v", err)
	}
	for _, tc := range []struct {
		name    string
		f       serverOpsFlags
		euid    int
		wantUID int // -1: no change
		wantErr string
	}{
		{"root without --user or --allow-root", serverOpsFlags{}, 0, -1, "--allow-root"},
		{"root with --allow-root", serverOpsFlags{allowRoot: true}, 0, -1, ""},
		{"root with --user", serverOpsFlags{user: "nobody"}, 0, atoi(t, nobody.Uid), ""},
		{"--user root", serverOpsFlags{user: "root"}, 0, -1, "is root"},
		{"unknown user", serverOpsFlags{user: "no-such-user-here"}, 0, -1, `--user "no-such-user-here"`},
		{"not root", serverOpsFlags{}, 1000, -1, ""},
		{"not root, --user another", serverOpsFlags{user: "nobody"}, atoi(t, nobody.Uid) + 1, -1, "only root"},
		{"not root, --user itself", serverOpsFlags{user: "nobody"}, atoi(t, nobody.Uid), -1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := tc.f.plannedIdentity(tc.euid)
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("err %v, want one saying %q", err, tc.wantErr)
				}
			case err != nil:
				t.Errorf("err %v", err)
			case tc.wantUID < 0 && id != nil:
				t.Errorf("becomes %+v, want no change", id)
			case tc.wantUID >= 0 && (id == nil || id.uid != tc.wantUID || id.gid != atoi(t, nobody.Gid)):
				t.Errorf("becomes %+v, want uid %d", id, tc.wantUID)
			}
		})
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestServeRefusesRootWithoutUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: the refusal to run as root is for root (TestPlannedIdentity covers the check)")
	}
	_, err := runCommand(t, "serve", "--sandbox", "--listen", "127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), "--user NAME") || !strings.Contains(err.Error(), "--allow-root") {
		t.Errorf("err %v, want the refusal saying --user NAME or --allow-root", err)
	}
}

// TestServeDropsToUser: started as root with --user nobody, serve runs as
// nobody once its sockets are bound, and still answers on them and on its
// control socket.
func TestServeDropsToUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: dropping privileges needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody here: %v", err)
	}
	bin := peertest.RecursorBinary(t)
	sock := filepath.Join(t.TempDir(), "control.sock")
	p := startServe(t, bin, "--sandbox", "--user", "nobody", "--control-socket", sock)
	status, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	want := "Uid:\t" + strings.Repeat(nobody.Uid+"\t", 3) + nobody.Uid
	if !strings.Contains(string(status), want+"\n") {
		t.Errorf("/proc status lacks %q:\n%s", want, status)
	}
	wantGid := "Gid:\t" + strings.Repeat(nobody.Gid+"\t", 3) + nobody.Gid
	if !strings.Contains(string(status), wantGid+"\n") {
		t.Errorf("/proc status lacks %q", wantGid)
	}
	m := new(dns.Msg)
	m.SetQuestion("www.example.com.", dns.TypeA)
	c := &dns.Client{Timeout: 10 * time.Second}
	if r, _, err := c.Exchange(m, p.addr); err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
		t.Errorf("query after the drop: %v %v", r, err)
	}
	out, err := exec.Command(bin, "control", "--control-socket", sock, "stats").CombinedOutput()
	if err != nil {
		t.Errorf("control socket after the drop: %v\n%s", err, out)
	}
	if !strings.Contains(p.stderr.String(), "msg=\"running as\" user=nobody") {
		t.Errorf("log does not say whom it runs as:\n%s", p.stderr)
	}
}

// TestServeIdentityAndJSONLogs asks a served sandbox for its identity,
// version and NSID, and reads the query log as JSON lines.
func TestServeIdentityAndJSONLogs(t *testing.T) {
	bin := peertest.RecursorBinary(t)
	p := startServe(t, bin, "--sandbox", "--log-format", "json", "--log-queries", "--log-servfail",
		"--identity", "lab-1", "--version-string", "recursor test", "--nsid", "ascii_lab-1",
		"--access-control", "127.0.0.1=allow_snoop", "--access-control", "127.0.0.2=deny")
	ask := func(m *dns.Msg) *dns.Msg {
		t.Helper()
		r, _, err := (&dns.Client{Timeout: 10 * time.Second}).Exchange(m, p.addr)
		if err != nil {
			t.Fatalf("%v: %v", m.Question, err)
		}
		return r
	}
	id := new(dns.Msg)
	id.SetQuestion("id.server.", dns.TypeTXT)
	id.Question[0].Qclass = dns.ClassCHAOS
	if r := ask(id); len(r.Answer) != 1 || !strings.Contains(r.Answer[0].String(), `"lab-1"`) {
		t.Errorf("id.server: %v", r)
	}
	ver := new(dns.Msg)
	ver.SetQuestion("version.bind.", dns.TypeTXT)
	ver.Question[0].Qclass = dns.ClassCHAOS
	if r := ask(ver); len(r.Answer) != 1 || !strings.Contains(r.Answer[0].String(), `"recursor test"`) {
		t.Errorf("version.bind: %v", r)
	}
	q := new(dns.Msg)
	q.SetQuestion("www.example.com.", dns.TypeA)
	q.SetEdns0(1232, true)
	q.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_NSID{Code: dns.EDNS0NSID}}
	r := ask(q)
	var nsid string
	for _, o := range r.IsEdns0().Option {
		if n, ok := o.(*dns.EDNS0_NSID); ok {
			nsid = n.Nsid
		}
	}
	if nsid != "6c61622d31" {
		t.Errorf("NSID %q, want 6c61622d31 (lab-1)", nsid)
	}
	fail := new(dns.Msg)
	fail.SetQuestion("www.all-lame.lab.", dns.TypeA)
	ask(fail)
	// allow_snoop: RD=0 for a name not asked gets the cached delegation.
	snoop := new(dns.Msg)
	snoop.SetQuestion("not-asked.example.com.", dns.TypeA)
	snoop.RecursionDesired = false
	if r := ask(snoop); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) == 0 || r.Ns[0].Header().Name != "example.com." {
		t.Errorf("RD=0 from allow_snoop: %v, want a referral to example.com.", r)
	}
	// The log reaches us through a pipe, maybe after the answer: stop
	// the server and read all of it.
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}

	var query, servfail map[string]any
	for line := range strings.SplitSeq(p.stderr.String(), "\n") {
		var m map[string]any
		if line == "" {
			continue
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("a log line is not JSON: %q", line)
		}
		switch {
		case m["msg"] == "query" && m["name"] == "www.example.com.":
			query = m
		case m["msg"] == "servfail":
			servfail = m
		}
	}
	if query == nil || query["rd"] != true || query["do"] != true || query["cd"] != false || query["size"] != float64(r.Len()) || query["rcode"] != "NOERROR" {
		t.Errorf("query line %v, want rd, do, no cd, size %d", query, r.Len())
	}
	if servfail == nil || servfail["level"] != "INFO" || servfail["reason"] == "" || servfail["ede"] != float64(22) {
		t.Errorf("servfail line %v, want one at INFO with its reason and EDE 22\n%s", servfail, p.stderr)
	}
}

// TestServeIdentityRealClients asks with dig and kdig: identity, NSID,
// RD=0 refused to a plain allow client, and silence for a denied one.
func TestServeIdentityRealClients(t *testing.T) {
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
	p := startServe(t, bin, "--sandbox", "--identity", "lab-1", "--nsid", "ascii_lab-1",
		"--access-control", "127.0.0.1=allow", "--access-control", "127.0.0.2=deny")
	host, port, _ := net.SplitHostPort(p.addr)
	for _, tool := range tools {
		retry := "+tries=1" // kdig says +retry=0
		if tool == "kdig" {
			retry = "+retry=0"
		}
		at := []string{"@" + host, "-p", port, retry, "+time=5"}
		for _, tc := range []struct {
			args []string
			want []string
		}{
			{[]string{"CH", "TXT", "id.server"}, []string{`status: NOERROR`, `id\.server\.\s+0\s+CH\s+TXT\s+"lab-1"`}},
			{[]string{"+nsid", "www.example.com", "A"}, []string{`status: NOERROR`, `(?i)NSID: 6c ?61 ?62 ?2d ?31`}},
			{[]string{"+norecurse", "+edns", "www.example.com", "A"}, []string{`status: REFUSED`, `(?i)EDE: 20 \(Not Authoritative\)`}},
		} {
			out := runTool(t, tool, append(at, tc.args...)...)
			for _, w := range tc.want {
				if !regexp.MustCompile(w).MatchString(out) {
					t.Errorf("%s %v: output lacks %s:\n%s", tool, tc.args, w, out)
				}
			}
		}
		out, err := exec.Command(tool, append(at[:4:4], "+time=1", "-b", "127.0.0.2", "www.example.com", "A")...).CombinedOutput()
		if err == nil || strings.Contains(string(out), "status:") {
			t.Errorf("%s from a denied client: got an answer (%v):\n%s", tool, err, out)
		}
	}
}

func TestServerOpsFlagValues(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "", want: ""},
		{in: "6e732d31", want: "ns-1"},
		{in: "ascii_ns-1", want: "ns-1"},
		{in: "ascii_", err: "no text"},
		{in: "xyz", err: "hex digits or ascii_TEXT"},
	} {
		got, err := parseNSID(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("--nsid %q: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("--nsid %q: %q %v, want %q", tc.in, got, err, tc.want)
		}
	}
	var buf strings.Builder
	for _, format := range []string{"text", "json"} {
		log, err := (&serverOpsFlags{logFormat: format}).logger(&buf, 0)
		if err != nil {
			t.Fatal(err)
		}
		log.Info("hello")
	}
	if !strings.Contains(buf.String(), "msg=hello") || !strings.Contains(buf.String(), `"msg":"hello"`) {
		t.Errorf("log in both formats:\n%s", buf.String())
	}
	if _, err := (&serverOpsFlags{logFormat: "xml"}).logger(&buf, 0); err == nil || !strings.Contains(err.Error(), "want text or json") {
		t.Errorf("--log-format xml: %v", err)
	}
	_, err := runCommand(t, "serve", "--allow-root", "--listen", "127.0.0.1:0", "--access-control", "10.0.0.0/8=permit")
	if err == nil || !strings.Contains(err.Error(), `--access-control: access rule "10.0.0.0/8=permit"`) {
		t.Errorf("bad --access-control: %v", err)
	}
	if _, err := parseConfig("[server]\naccess-control = [\"192.0.2.0/24=allow\", \"x=allow\"]\n"); err == nil || !strings.Contains(err.Error(), "2: server.access-control") {
		t.Errorf("bad access-control in the config file: %v, want the line and key", err)
	}
}
