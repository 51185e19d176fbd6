package main

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

func TestParseZoneServers(t *testing.T) {
	ap := netip.MustParseAddrPort
	for _, tc := range []struct {
		spec    string
		tls     bool
		zone    string
		want    []zoneServer
		wantErr string
	}{
		{"example.com=192.0.2.1", false, "example.com.", []zoneServer{{addr: ap("192.0.2.1:0")}}, ""},
		{". = 192.0.2.1:5353, 192.0.2.2@5354", false, ".", []zoneServer{{addr: ap("192.0.2.1:5353")}, {addr: ap("192.0.2.2:5354")}}, ""},
		{"corp.=::1,[::1]:53,2001:db8::1@5300", false, "corp.", []zoneServer{{addr: ap("[::1]:0")}, {addr: ap("[::1]:53")}, {addr: ap("[2001:db8::1]:5300")}}, ""},
		{".=192.0.2.1@853#dns.example.,192.0.2.2", true, ".", []zoneServer{{addr: ap("192.0.2.1:853"), name: "dns.example"}, {addr: ap("192.0.2.2:0")}}, ""},
		{"example.com", false, "", nil, "want ZONE=ADDR"},
		{"example.com=", false, "", nil, "want ZONE=ADDR"},
		{"exa mple..com=192.0.2.1", false, "", nil, "not a domain name"},
		{".=192.0.2.1#dns.example", false, "", nil, "#NAME is for servers over TLS"},
		{".=192.0.2.1@0", false, "", nil, "want 1 to 65535"},
		{".=192.0.2.1:0", false, "", nil, "port 0"},
		{".=dns.example", false, "", nil, "not an address"},
		{".=192.0.2.1@x", false, "", nil, "want 1 to 65535"},
	} {
		zone, got, err := parseZoneServers(tc.spec, tc.tls)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err = %v, want %q", tc.spec, err, tc.wantErr)
			}
			continue
		}
		if err != nil || zone != tc.zone || len(got) != len(tc.want) {
			t.Errorf("%q: got %s %v, %v; want %s %v", tc.spec, zone, got, err, tc.zone, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%q: server %d is %v, want %v", tc.spec, i, got[i], tc.want[i])
			}
		}
	}
}

func TestZoneTablesInConfig(t *testing.T) {
	const good = `[resolver]
timeout = "5s"

[[forward-zone]]
name = "."
addrs = ["192.0.2.1", "192.0.2.2@5353"]

[[forward-zone]]
name = "example.com"
addrs = ["192.0.2.3@853", "192.0.2.4#other.example"]
tls = true
tls-name = "dns.example"
first = true

[[stub-zone]]
name = "corp.example."
addrs = ["10.0.0.53", "10.0.0.54:5300"]
`
	fs := serveFlagSet(t)
	if err := loadConfigFile(writeConfig(t, good), fs); err != nil {
		t.Fatal(err)
	}
	list := func(name string) string {
		v, err := fs.GetStringArray(name)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(v, " | ")
	}
	for name, want := range map[string]string{
		"forward":       ".=192.0.2.1,192.0.2.2@5353",
		"forward-tls":   "example.com=192.0.2.3@853#dns.example,192.0.2.4#other.example",
		"stub-zone":     "corp.example.=10.0.0.53,10.0.0.54:5300",
		"forward-first": "example.com",
	} {
		if got := list(name); got != want {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
	// Two tables make one list, and the command line still wins.
	fs = serveFlagSet(t, "--stub-zone", "lab.=127.0.0.1")
	if err := loadConfigFile(writeConfig(t, good+"[[stub-zone]]\nname = \"x.\"\naddrs = [\"10.0.0.1\"]\n"), fs); err != nil {
		t.Fatal(err)
	}
	if got := list("stub-zone"); got != "lab.=127.0.0.1" {
		t.Errorf("stub-zone = %s, want the command line's", got)
	}
	if got := list("forward"); got != ".=192.0.2.1,192.0.2.2@5353" {
		t.Errorf("forward = %s", got)
	}

	for _, tc := range []struct {
		name, text, wantErr string
	}{
		{"bad address in the second table", "[[forward-zone]]\nname = \".\"\naddrs = [\"192.0.2.1\"]\n\n[[forward-zone]]\nname = \"a.\"\n\naddrs = [\"192.0.2.300\"]\n",
			`:8: forward-zone.addrs: "192.0.2.300": not an address`},
		{"no name", "[[stub-zone]]\naddrs = [\"192.0.2.1\"]\n", `:1: stub-zone.name: want the zone's name`},
		{"unknown key", "[[stub-zone]]\nname = \"a.\"\naddrs = [\"192.0.2.1\"]\ntls = true\n", `:4: stub-zone.tls: unknown key in [[stub-zone]]`},
		{"tls-name without tls", "[[forward-zone]]\nname = \"a.\"\naddrs = [\"192.0.2.1\"]\ntls-name = \"x.example\"\n", `:4: forward-zone.tls-name: want a string, with tls = true`},
		{"no addresses", "[[forward-zone]]\nname = \"a.\"\naddrs = []\n", `:3: forward-zone.addrs: want a list of addresses`},
		{"first not a bool", "[[forward-zone]]\nname = \"a.\"\naddrs = [\"192.0.2.1\"]\nfirst = \"yes\"\n", `:4: forward-zone.first: want true or false`},
		{"not a table", "forward-zone = 3\n", `forward-zone`},
		{"bad list item in [resolver]", "[resolver]\nforward = [\"a.=nowhere\"]\n", `:2: resolver.forward: "a.=nowhere"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.text)
			err := loadConfigFile(path, serveFlagSet(t))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), path) {
				t.Fatalf("err = %v, want %s...%s", err, path, tc.wantErr)
			}
		})
	}
}

// TestResolveForwarded: `recursor resolve --forward` asks an in-process
// recursive server on loopback, with RD, and prints its answer.
func TestResolveForwarded(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var rd atomic.Int32
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg).SetReply(q)
		m.RecursionAvailable = true
		if q.RecursionDesired {
			rd.Add(1)
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 77)}}
		} else {
			m.Rcode = dns.RcodeRefused
		}
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })

	out, err := runCommand(t, "resolve", "--no-dnssec", "--upstream-loopback-only", "--forward", ".="+pc.LocalAddr().String(), "www.example.org", "A")
	if err != nil || !strings.Contains(out, "www.example.org.\t60\tIN\tA\t192.0.2.77") || rd.Load() == 0 {
		t.Fatalf("got %q, %v (%d questions with RD); want the forwarder's answer", out, err, rd.Load())
	}
	_, err = runCommand(t, "resolve", "--no-dnssec", "--upstream-loopback-only", "--forward", ".=192.0.2.1", "www.example.org")
	if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Errorf("a forwarder off loopback with --upstream-loopback-only: err = %v", err)
	}
}

// TestExampleZoneTables: the example config's commented-out zone tables
// load once uncommented.
func TestExampleZoneTables(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("..", "..", "docs", "recursor.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(text), "\n#\n# [[forward-zone]]")
	if !ok {
		t.Fatal("no [[forward-zone]] example")
	}
	var uncommented []string
	for _, l := range strings.Split("# [[forward-zone]]"+block, "\n") {
		uncommented = append(uncommented, strings.TrimPrefix(strings.TrimPrefix(l, "#"), " "))
	}
	fs := serveFlagSet(t)
	if err := loadConfigFile(writeConfig(t, strings.Join(uncommented, "\n")), fs); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"forward": 1, "forward-tls": 1, "stub-zone": 1} {
		if v, _ := fs.GetStringArray(name); len(v) != want {
			t.Errorf("%s = %q, want %d zone", name, v, want)
		}
	}
}

func TestForwardFlagErrors(t *testing.T) {
	junk := filepath.Join(t.TempDir(), "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--forward-tls", ".=127.0.0.1", "--forward-tls-ca", "/nonexistent/ca.pem"}, "--forward-tls-ca: open /nonexistent/ca.pem"},
		{[]string{"--forward-tls", ".=127.0.0.1", "--forward-tls-ca", junk}, "no PEM certificate"},
		{[]string{"--forward", "example.com"}, `--forward "example.com": want ZONE=ADDR`},
		{[]string{"--forward-tls", ".=127.0.0.1#bad..name"}, "not a name to check a certificate against"},
		{[]string{"--stub-zone", "corp.=127.0.0.1#x.example"}, "#NAME is for servers over TLS"},
		{[]string{"--forward", ".=127.0.0.1", "--stub-zone", ".=127.0.0.2"}, "configured already as a stub zone"},
		{[]string{"--forward", "example.com=127.0.0.1", "--forward-first", "example.net"}, "--forward-first example.net.: no --forward or --forward-tls zone of that name"},
		{[]string{"--forward", "example.com=127.0.0.1", "--forward-first", "a..b"}, `--forward-first "a..b": not a domain name`},
	} {
		args := append([]string{"resolve", "--no-dnssec", "--upstream-loopback-only"}, tc.args...)
		if _, err := runCommand(t, append(args, "www.example.org")...); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q: err = %v, want %q", tc.args, err, tc.wantErr)
		}
	}
}

// TestResolveForwardFirst: with --forward-first, a forward zone whose
// forwarder is down is iterated through the sandbox instead; without it,
// the answer fails.
func TestResolveForwardFirst(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := pc.LocalAddr().String()
	pc.Close() // nothing listens there now: the forwarder is down
	fwd := "example.com=" + dead
	out, err := runCommand(t, "resolve", "--sandbox", "--forward", fwd, "--forward-first", "example.com", "--short", "www.example.com", "A")
	if err != nil || strings.TrimSpace(out) != "192.0.2.10" {
		t.Fatalf("with --forward-first: %q, %v; want 192.0.2.10 by iteration", out, err)
	}
	if _, err := runCommand(t, "resolve", "--sandbox", "--forward", fwd, "--short", "www.example.com", "A"); err == nil {
		t.Error("without --forward-first a dead forwarder still gave an answer")
	}
}
