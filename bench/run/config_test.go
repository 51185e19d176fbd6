package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestRecursorArgs(t *testing.T) {
	const fullHelp = `Usage:
  recursor serve [flags]
Flags:
      --listen strings          addresses to listen on
      --root-hints string       root hints file
      --upstream-port uint16    port of the authoritative servers (default 53)
      --dont-query strings      network never queried upstream
      --no-ipv6                 never query IPv6 server addresses
      --cache-entries int       entries the cache keeps at most
`
	for _, tc := range []struct {
		name     string
		help     string
		want     []string // must appear in order-independent form
		notWant  []string
		wantErr  string
		settings string
	}{
		{
			name: "every flag",
			help: fullHelp,
			want: []string{"serve", "--listen", "127.0.0.1:5302", "--root-hints", "/h/named.root", "--upstream-port", "53",
				"--dont-query", "none", "--no-ipv6", "--cache-entries", "4000000"},
			notWant: []string{"--qname-minimisation"},
		},
		{
			name:    "required flags only",
			help:    "--listen --root-hints --upstream-port --dont-query",
			notWant: []string{"--no-ipv6", "--cache-entries"},
		},
		{name: "no serve command", help: "Usage:\n  recursor [command]\nAvailable Commands:\n  resolve\n", wantErr: "--listen"},
		{name: "no dont-query", help: "--listen --root-hints --upstream-port", wantErr: "--dont-query"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			argv, _, err := recursorArgs("bin/recursor", "/h/named.root", 5302, serveFlags(tc.help))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("recursorArgs error = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !slices.Contains(argv, w) {
					t.Errorf("argv %q lacks %q", argv, w)
				}
			}
			for _, w := range tc.notWant {
				if slices.Contains(argv, w) {
					t.Errorf("argv %q has %q, which the help does not offer", argv, w)
				}
			}
		})
	}
}

// The Unbound configuration must be one Unbound accepts, with the settings
// the comparison depends on.
func TestUnboundConf(t *testing.T) {
	dir := t.TempDir()
	hints := filepath.Join(dir, "named.root")
	if err := os.WriteFile(hints, []byte(".\t3600000\tNS\ta.root-servers.bench.\na.root-servers.bench.\t3600000\tA\t127.53.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := unboundConf(dir, hints, "", 5301, 0)
	for _, want := range []string{`module-config: "iterator"`, "num-threads: 1", "do-not-query-localhost: no",
		"port: 5301", "interface: 127.0.0.1", "qname-minimisation: yes", `chroot: ""`, `username: ""`, "use-syslog: no"} {
		if !strings.Contains(conf, want) {
			t.Errorf("unbound.conf lacks %q", want)
		}
	}
	checker, err := exec.LookPath("unbound-checkconf")
	if err != nil {
		t.Skip("unbound-checkconf not installed")
	}
	path := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(checker, path).CombinedOutput(); err != nil {
		t.Errorf("unbound-checkconf rejects the configuration: %v\n%s\n%s", err, out, conf)
	}
	if err := checkUnboundValidates(checker, path); err == nil {
		t.Errorf("the unsigned configuration passes for a validating one:\n%s", conf)
	}
}

// The signed variant's Unbound must validate from the bench anchor only.
func TestUnboundConfSigned(t *testing.T) {
	checker, err := exec.LookPath("unbound-checkconf")
	if err != nil {
		t.Skip("unbound-checkconf not installed")
	}
	dir := t.TempDir()
	hints := filepath.Join(dir, "named.root")
	anchor := filepath.Join(dir, "root.ds")
	for path, text := range map[string]string{
		hints:  ".\t3600000\tNS\ta.root-servers.bench.\na.root-servers.bench.\t3600000\tA\t127.53.10.1\n",
		anchor: ".\t86400\tIN\tDS\t20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n",
	} {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	conf := unboundConf(dir, hints, anchor, 5311, 0)
	for _, want := range []string{`module-config: "validator iterator"`, "trust-anchor-file: " + strconvQuote(anchor), "key-cache-size: 64m", "port: 5311", `directory: "` + dir} {
		if !strings.Contains(conf, want) {
			t.Errorf("unbound.conf lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "auto-trust-anchor-file") {
		t.Errorf("unbound.conf names an auto-trust-anchor-file:\n%s", conf)
	}
	path := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkUnboundValidates(checker, path); err != nil {
		t.Errorf("%v\n%s", err, conf)
	}
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }

func TestNftRules(t *testing.T) {
	rules := nftRules(15353, []uint16{15353, 15354})
	for _, want := range []string{
		"ip daddr 127.53.0.0/16 udp dport 53 counter name upstream_udp udp dport set 15353",
		"udp sport { 15353, 15354 } udp sport set 53",
		"ip daddr 127.0.0.1",
	} {
		if !strings.Contains(rules, want) {
			t.Errorf("rules lack %q:\n%s", want, rules)
		}
	}
	// nft -c parses and checks without changing anything; it needs the
	// privilege to talk to the kernel, so it is skipped without it.
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Skip("nft not installed")
	}
	cmd := exec.Command(nft, "-c", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(string(out), "Operation not permitted") {
		t.Skip("nft -c needs CAP_NET_ADMIN")
	}
	if err != nil {
		t.Errorf("nft rejects the rules: %v\n%s\n%s", err, out, rules)
	}
}

func TestReportMarkdown(t *testing.T) {
	s := settingsFor(false)
	b := &bench{s: s, pin: true}
	r := newReport(b, []contender{{name: "Unbound"}, {name: "recursor"}}, nil)
	for _, v := range []float64{100, 300, 200} {
		r.add("Unbound", metrics{"hit_qps": v, "hit_loadgen_cpu_pct": 50})
	}
	for _, v := range []float64{50, 150, 100} {
		r.add("recursor", metrics{"hit_qps": v, "hit_loadgen_cpu_pct": 95})
	}
	r.add("Unbound", metrics{"cold_qps": 1000})
	for _, v := range []float64{20, 10} {
		r.add("Unbound", metrics{"hit_cpu_us": v})
	}
	r.add("recursor", metrics{"hit_cpu_us": 12})
	r.floorCPU = []float64{12, 9, 10}
	r.warner("floor", 1)("CPU per cache hit, slice 2: exited")
	r.errors["recursor"] = []string{"round 1: exited"}
	out := r.markdown([]string{"date: today"})
	for _, want := range []string{
		"| throughput, QPS (max) ↑ | 200 | 100 | 0.50 |", // medians and their ratio
		"| throughput, QPS ↑ | 1000 | n/a | n/a |",       // one side missing
		"- date: today",
		"recursor: round 1: exited",
		"100 / 300 / 200",       // per-round values
		"dnsperf used 95%",      // saturation note for recursor only
		"Go floor: bench/floor", // the floor's median against each median
		"floor: round 2: CPU per cache hit, slice 2: exited",
		"used 10.00 µs per query in the same CPU slices; 0.67 of Unbound's; 0.83 of recursor's",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "during Unbound's throughput run") {
		t.Errorf("report flags an unsaturated run:\n%s", out)
	}
	if strings.Contains(out, "quick run:") {
		t.Errorf("a full run carries the quick run's note:\n%s", out)
	}
	r.floorCPU = nil
	if again := r.markdown(nil); strings.Count(again, "dnsperf used") != 1 || strings.Contains(again, "Go floor") {
		t.Errorf("rendering twice repeats notes:\n%s", again)
	}
}

func TestReportQuickNote(t *testing.T) {
	r := newReport(&bench{s: settingsFor(true)}, []contender{{name: "Unbound"}, {name: "recursor"}}, nil)
	if out := r.markdown(nil); !strings.Contains(out, "quick run: with this few names cached, RSS per RRset") {
		t.Errorf("a quick run's report does not warn about RSS per RRset:\n%s", out)
	}
}
