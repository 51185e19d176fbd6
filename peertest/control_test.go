package peertest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/testnet"
)

// controlled is a running `recursor serve --sandbox` with a control
// socket and a config file.
type controlled struct {
	*Recursor
	socket, config string
}

func startControlled(t *testing.T, extra string) controlled {
	t.Helper()
	dir := openTempDir(t)
	c := controlled{socket: filepath.Join(dir, "control.sock"), config: filepath.Join(dir, "recursor.toml")}
	writeConfig(t, c.config, fmt.Sprintf("[server]\ncontrol-socket = %q\n[resolver]\nsandbox = true\n%s", c.socket, extra))
	c.Recursor = StartRecursorProcess(t, "--config", c.config)
	return c
}

// openTempDir is a temporary directory that other users may enter (and
// so reach the socket in it, where its own mode decides).
func openTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "recursor-control-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func writeConfig(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// control runs `recursor control --control-socket socket args...` and
// returns its standard output and error and its exit code.
func control(t *testing.T, socket string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runControl(t, RecursorBinary(t), nil, append([]string{"control", "--control-socket", socket}, args...)...)
}

func runControl(t *testing.T, bin string, cred *syscall.Credential, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run recursor control: %v", err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

func askDO(t *testing.T, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.SetEdns0(1232, true)
	m, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(q, addr)
	if err != nil {
		t.Fatalf("%s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return m
}

// TestControlCommands runs every control command once against a running
// server, through the binary's client and a real socket.
func TestControlCommands(t *testing.T) {
	s := startControlled(t, "")
	if fi, err := os.Stat(s.socket); err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket: %v, %v; want a socket of mode 0600", fi, err)
	}
	if m := askDO(t, s.Addr, "www.example.com.", dns.TypeA); m.Rcode != dns.RcodeSuccess || len(m.Answer) == 0 {
		t.Fatalf("www.example.com: %v", m)
	}
	askDO(t, s.Addr, "nothing.example.com.", dns.TypeA)
	dump := filepath.Join(t.TempDir(), "dump.txt")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"stats"}, "\nrecursor_cache_misses_total 2\n"}, // the /metrics figures; the health check is no resolution
		{[]string{"lookup", "www.example.com"}, "www.example.com.\t"},
		{[]string{"dump-cache", dump}, ""},
		{[]string{"flush", "www.example.com", "A"}, "flushed 1 cache entries of www.example.com. A"},
		{[]string{"flush-negative"}, "negative"},
		{[]string{"flush-bogus"}, "flushed 0 cache entries bogus"},
		{[]string{"flush-zone", "example.com"}, "at or below example.com."},
		{[]string{"flush-infra", "all"}, "server addresses"},
		{[]string{"load-cache", dump}, "loaded "},
		{[]string{"lookup", "www.example.com"}, "IN\tA\t192.0.2.10"}, // back from the file
		{[]string{"insecure-add", "example.com"}, "example.com. is not validated"},
		{[]string{"insecure-list"}, "example.com.\n"},
		{[]string{"insecure-remove", "example.com"}, "example.com. is validated again"},
		{[]string{"reload"}, "reloaded " + s.config},
		{[]string{"trace", "www.shop.example.com", "A"}, "referral to shop.example.com."},
		{[]string{"help"}, "dump-cache FILE"},
	}
	for _, tc := range tests {
		out, errOut, code := control(t, s.socket, tc.args...)
		if code != 0 || errOut != "" || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 0 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
	if data, err := os.ReadFile(dump); err != nil || !bytes.HasPrefix(data, []byte("recursor-cache 2\n")) {
		t.Errorf("dump-cache wrote %.40q, %v", data, err)
	}
	if out, _, _ := control(t, s.socket, "trace", "www.shop.example.com"); !strings.Contains(out, "answered from the cache") {
		t.Errorf("trace www.shop.example.com again:\n%s\nwant it answered from the cache", out)
	}
}

func TestControlErrors(t *testing.T) {
	s := startControlled(t, "")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `recursor: unknown command "frobnicate" (recursor control help lists them)` + "\n"},
		{[]string{"flush", "bad..name"}, `recursor: "bad..name" is not a domain name` + "\n"},
		{[]string{"lookup"}, "recursor: usage: lookup NAME\n"},
		{[]string{"trace", "www.example.com", "BOGUSTYPE"}, `recursor: "BOGUSTYPE" is not a record type` + "\n"},
	}
	for _, tc := range tests {
		out, errOut, code := control(t, s.socket, tc.args...)
		if code == 0 || out != "" || errOut != tc.want {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want a non-zero exit and %q", tc.args, code, out, errOut, tc.want)
		}
	}
	missing := filepath.Join(t.TempDir(), "none.sock")
	if _, errOut, code := control(t, missing, "stats"); code == 0 || !strings.Contains(errOut, "no control socket at "+missing) ||
		strings.Count(errOut, "\n") != 1 {
		t.Errorf("missing socket: exit %d, %q", code, errOut)
	}
	// Another user: root passes any file mode, so run the client as
	// nobody; otherwise take the socket's permission away.
	if os.Getuid() == 0 {
		bin := filepath.Join(openTempDir(t), "recursor")
		data, err := os.ReadFile(RecursorBinary(t))
		if err != nil || os.WriteFile(bin, data, 0o755) != nil {
			t.Fatalf("copy the binary for nobody: %v", err)
		}
		_, errOut, code := runControl(t, bin, &syscall.Credential{Uid: 65534, Gid: 65534}, "control", "--control-socket", s.socket, "stats")
		if code == 0 || !strings.Contains(errOut, "permission denied") {
			t.Errorf("another user: exit %d, %q; want permission denied", code, errOut)
		}
	} else {
		os.Chmod(s.socket, 0)
		_, errOut, code := control(t, s.socket, "stats")
		os.Chmod(s.socket, 0o600)
		if code == 0 || !strings.Contains(errOut, "permission denied") {
			t.Errorf("no permission: exit %d, %q; want permission denied", code, errOut)
		}
	}
}

// TestReloadKeepsCacheAndNamesRestartSettings changes the config file and
// reloads by SIGHUP and by the control command.
func TestReloadKeepsCacheAndNamesRestartSettings(t *testing.T) {
	s := startControlled(t, "")
	askDO(t, s.Addr, "www.example.com.", dns.TypeA)
	writeConfig(t, s.config, fmt.Sprintf("[server]\ncontrol-socket = %q\nmax-tcp-conns = 10\n[resolver]\nsandbox = true\ninsecure-domain = [\"shop.example.com\"]\n", s.socket))
	if err := s.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(s.Output(), "reloaded; these settings changed but need a restart") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(s.Output(), "kept=[max-tcp-conns]") {
		t.Fatalf("SIGHUP did not reload naming max-tcp-conns; output:\n%s", s.Output())
	}
	out, _, code := control(t, s.socket, "insecure-list")
	if code != 0 || out != "shop.example.com.\n" {
		t.Errorf("insecure-list after reload: %q; want the config's new negative trust anchor", out)
	}
	out, _, _ = control(t, s.socket, "reload")
	if !strings.Contains(out, "changed but kept until a restart: max-tcp-conns") {
		t.Errorf("reload: %q", out)
	}
	if out, _, _ := control(t, s.socket, "lookup", "www.example.com"); !strings.Contains(out, "IN\tA\t") {
		t.Errorf("the cache did not survive the reload:\n%s", out)
	}
	writeConfig(t, s.config, "[server]\nno-such-key = 1\n")
	_, errOut, code := control(t, s.socket, "reload")
	if code == 0 || !strings.Contains(errOut, "no-such-key") {
		t.Errorf("a bad config: exit %d, %q; want the reload refused, naming the key", code, errOut)
	}
}

// TestCacheFileSurvivesRestart: serve, resolve, stop; start again with the
// cache file, and the same names are answered with no upstream query.
func TestCacheFileSurvivesRestart(t *testing.T) {
	n := testnet.StartTB(t, "../testdata/sandbox")
	dir := t.TempDir()
	hints := WriteHints(t, dir, n.RootHints())
	var anchors bytes.Buffer
	for _, rr := range n.TrustAnchor() {
		fmt.Fprintln(&anchors, rr.String())
	}
	anchorFile := filepath.Join(dir, "anchors")
	os.WriteFile(anchorFile, anchors.Bytes(), 0o600)
	cacheFile := filepath.Join(dir, "cache")
	args := []string{"--root-hints", hints, "--upstream-port", fmt.Sprint(n.Port()), "--dont-query", "none",
		"--trust-anchor-file", anchorFile, "--cache-file", cacheFile}
	questions := []struct {
		name  string
		qtype uint16
	}{{"www.example.com.", dns.TypeA}, {"www.shop.example.com.", dns.TypeA}, {"nothing.example.com.", dns.TypeA}, {"www.example.com.", dns.TypeMX}}

	first := StartRecursorProcess(t, args...)
	var before []*dns.Msg
	for _, q := range questions {
		before = append(before, askDO(t, first.Addr, q.name, q.qtype))
	}
	first.Stop(t)
	if !strings.Contains(first.Output(), "cache file written") {
		t.Fatalf("no cache file written on shutdown; output:\n%s", first.Output())
	}

	n.ResetQueries()
	second := StartRecursorProcess(t, args...)
	for i, q := range questions {
		m := askDO(t, second.Addr, q.name, q.qtype)
		if m.Rcode != before[i].Rcode || len(m.Answer) != len(before[i].Answer) || m.AuthenticatedData != before[i].AuthenticatedData {
			t.Errorf("%s %s after restart: %v\nbefore: %v", q.name, dns.TypeToString[q.qtype], m, before[i])
		}
	}
	if got := n.QueryCount(); got != 0 {
		t.Errorf("%d upstream queries after the restart, want 0: %v\noutput:\n%s", got, n.Queries(), second.Output())
	}
	second.Stop(t)

	// A damaged file is reported with its line and ignored.
	os.WriteFile(cacheFile, []byte("recursor-cache 2\nnot an entry\n"), 0o600)
	third := StartRecursorProcess(t, args...)
	if out := third.Output(); !strings.Contains(out, "cache file not loaded: starting cold") || !strings.Contains(out, "line 2") {
		t.Errorf("a bad cache file was not reported with its line:\n%s", out)
	}
}
