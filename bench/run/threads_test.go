package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestUnboundConfThreads(t *testing.T) {
	dir := t.TempDir()
	hints := filepath.Join(dir, "named.root")
	if err := os.WriteFile(hints, []byte(".\t3600000\tNS\ta.root-servers.bench.\na.root-servers.bench.\t3600000\tA\t127.53.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := unboundConf(dir, hints, "", 5301, 2)
	if !strings.Contains(conf, "num-threads: 2\n") || !strings.Contains(conf, `module-config: "iterator"`) || !strings.Contains(conf, "port: 5301\n") {
		t.Fatalf("unbound.conf with 2 threads:\n%s", conf)
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
		t.Errorf("unbound-checkconf rejects it: %v\n%s", err, out)
	}
}

// The threads table puts each thread count's Unbound, ours and their
// ratio side by side, and how each resolver moved from 1 thread to 2.
func TestThreadsMarkdown(t *testing.T) {
	b := &bench{s: settingsFor(true), pin: true}
	var cs []contender
	for _, n := range []string{"1T", "2T"} {
		cs = append(cs, contender{name: "Unbound " + n}, contender{name: "recursor " + n})
	}
	r := newReport(b, cs, nil)
	r.add("Unbound 1T", metrics{"hit_cpu_us": 10, "cold_qps": 1000})
	r.add("recursor 1T", metrics{"hit_cpu_us": 12, "cold_qps": 1500})
	r.add("Unbound 2T", metrics{"hit_cpu_us": 11, "cold_qps": 1800})
	r.add("recursor 2T", metrics{"hit_cpu_us": 11, "cold_qps": 2400})
	text := r.threadsMarkdown(nil)
	for _, want := range []string{
		"| metric | Unbound 1T | recursor 1T | ours/Unbound | Unbound 2T | recursor 2T | ours/Unbound |",
		"µs ↓ | 10.00 | 12.00 | 1.20 | 11.00 | 11.00 | 1.00 |",
		"| throughput, QPS ↑ | 1000 | 1500 | 1.50 | 1800 | 2400 | 1.33 |",
		"| cold QPS | 1.80 | 1.60 |",
		"| CPU per cache hit | 1.10 | 0.92 |",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "median of 20 names") {
		t.Errorf("the threads report shows the delay phase, which it does not run:\n%s", text)
	}
}
