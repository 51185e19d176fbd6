package localdata

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// differential is local data that both Unbound and a Table serve, and the
// questions they must answer alike.
var differential = struct {
	zones, data, ptrs []string
	questions         []string // "NAME TYPE"
}{
	zones: []string{
		"static.example. static", "nosoa.example. static", "transparent.example. transparent",
		"tt.example. typetransparent", "refuse.example. refuse", "deny.example. deny",
		"redirect.example. redirect", "alias.example. redirect", "at.example. always_transparent", "ar.example. always_refuse",
		"anx.example. always_nxdomain",
	},
	data: []string{
		"static.example. 600 IN SOA ns.static.example. host.static.example. 1 2 3 4 300",
		"www.static.example. 600 IN A 192.0.2.1",
		"www.static.example. 600 IN A 192.0.2.2",
		"a.b.static.example. A 192.0.2.3",
		"c.static.example. CNAME www.static.example.",
		"www.nosoa.example. A 192.0.2.4",
		"www.transparent.example. A 192.0.2.5",
		"www.tt.example. AAAA 2001:db8::5",
		"www.refuse.example. A 192.0.2.6",
		"www.deny.example. A 192.0.2.7",
		"redirect.example. 60 A 192.0.2.8",
		"alias.example. CNAME www.static.example.",
		"www.at.example. A 192.0.2.9",
		"www.ar.example. A 192.0.2.10",
		"anx.example. SOA ns.anx.example. h.anx.example. 1 2 3 4 5",
		"www.anx.example. A 192.0.2.11",
		"host.lan. A 192.0.2.12",
		`host.lan. TXT "a b" "c"`,
		"x.implicit. MX 10 mail.implicit.",
	},
	ptrs: []string{"192.0.2.1 www.static.example.", "2001:db8::1 600 v6.example."},
	questions: []string{
		"www.static.example. A", "www.static.example. AAAA", "b.static.example. A", "static.example. A",
		"static.example. SOA", "nope.static.example. A", "c.static.example. A", "c.static.example. CNAME",
		"nope.nosoa.example. A", "www.nosoa.example. TXT",
		"www.transparent.example. A", "www.transparent.example. AAAA", "other.transparent.example. A",
		"www.tt.example. AAAA", "www.tt.example. A", "other.tt.example. A",
		"www.refuse.example. A", "other.refuse.example. A", "www.deny.example. A", "other.deny.example. A",
		"redirect.example. A", "a.b.redirect.example. A", "a.b.redirect.example. MX",
		"www.alias.example. A", "www.alias.example. CNAME",
		"www.at.example. A", "www.ar.example. A", "www.anx.example. A", "x.anx.example. TXT",
		"host.lan. A", "host.lan. TXT", "host.lan. AAAA", "other.lan. A", "x.implicit. MX", "y.x.implicit. A",
		"1.2.0.192.in-addr.arpa. PTR", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. PTR",
	},
}

// TestSameAsUnbound asks a real Unbound, configured with the same local
// data, every question without RD (so that it never sends a query
// anywhere), and expects the Table's verdicts: Unbound's answer for an
// Answer, no reply for a Drop, and REFUSED without AA (no recursion
// desired, nothing cached) for a Pass and for an alias, whose target
// Unbound would resolve.
func TestSameAsUnbound(t *testing.T) {
	bin, err := exec.LookPath("unbound")
	if err != nil {
		t.Skip("unbound is not installed")
	}
	tab := load(t, Config{Zones: differential.zones, Data: differential.data, PTRs: differential.ptrs})
	addr := startUnbound(t, bin)
	c := &dns.Client{Timeout: time.Second}
	for _, q := range differential.questions {
		name, typ, _ := strings.Cut(q, " ")
		qtype := dns.StringToType[typ]
		t.Run(q, func(t *testing.T) {
			m := new(dns.Msg)
			m.SetQuestion(name, qtype)
			m.RecursionDesired = false
			resp, _, err := c.Exchange(m, addr)
			want := tab.Lookup(name, qtype)
			var ne net.Error
			switch {
			case want.Action == Drop:
				if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
					t.Errorf("Unbound answered %v, %v; we drop", resp, err)
				}
			case err != nil:
				t.Fatalf("exchange: %v", err)
			case want.Action == Pass || want.Alias != "":
				if resp.Rcode != dns.RcodeRefused || resp.Authoritative {
					t.Errorf("Unbound gave\n%v\nwe resolve on (REFUSED without RD)", resp)
				}
			default:
				got := fmt.Sprintf("%s aa=%v answer=%v ns=%v", dns.RcodeToString[resp.Rcode], resp.Authoritative, texts(resp.Answer), texts(resp.Ns))
				ours := fmt.Sprintf("%s aa=true answer=%v ns=%v", dns.RcodeToString[want.Rcode], texts(want.Answer), texts(want.Ns))
				if got != ours {
					t.Errorf("Unbound: %s\nours:    %s", got, ours)
				}
			}
		})
	}
}

// texts is rrs in presentation form, sorted (Unbound may rotate RRsets).
func texts(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	slices.Sort(out)
	return out
}

// startUnbound runs Unbound with the differential data on a free loopback
// port until the test ends, and returns its address once it answers. It
// forwards everything to a closed loopback port, and is only asked
// questions without RD: it sends nothing off the machine.
func startUnbound(t *testing.T, bin string) string {
	t.Helper()
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.LocalAddr().(*net.UDPAddr).Port
	l.Close()
	dir := t.TempDir()
	var conf strings.Builder
	fmt.Fprintf(&conf, "server:\n  interface: 127.0.0.1\n  port: %d\n  do-tcp: no\n  do-ip6: no\n", port)
	conf.WriteString("  do-daemonize: no\n  use-syslog: no\n  logfile: \"\"\n  chroot: \"\"\n  username: \"\"\n  pidfile: \"\"\n")
	fmt.Fprintf(&conf, "  directory: %q\n  module-config: \"iterator\"\n  outgoing-interface: 127.0.0.1\n  do-not-query-localhost: no\n  verbosity: 0\n", dir)
	for _, z := range differential.zones {
		name, typ, _ := strings.Cut(z, " ")
		fmt.Fprintf(&conf, "  local-zone: %q %s\n", name, typ)
	}
	for _, d := range differential.data {
		fmt.Fprintf(&conf, "  local-data: '%s'\n", d)
	}
	for _, p := range differential.ptrs {
		fmt.Fprintf(&conf, "  local-data-ptr: %q\n", p)
	}
	conf.WriteString("forward-zone:\n  name: \".\"\n  forward-addr: 127.0.0.1@9\n")
	path := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(path, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-d", "-c", path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
	probe := new(dns.Msg).SetQuestion("www.static.example.", dns.TypeA)
	probe.RecursionDesired = false
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	for range 200 { // 10 s at most
		if _, _, err := c.Exchange(probe, addr); err == nil {
			return addr
		}
		select {
		case <-done:
			t.Fatalf("unbound exited:\n%s", stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("unbound did not answer on %s:\n%s", addr, stderr.String())
	return ""
}
