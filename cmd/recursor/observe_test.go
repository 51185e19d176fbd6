package main

import (
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/peertest"
)

// TestServeMetricsAndDnstap runs the binary with --metrics-listen and
// --dnstap-file, asks it a question twice, scrapes /metrics over HTTP and,
// after SIGTERM, reads the dnstap file back with dnstap-read.
func TestServeMetricsAndDnstap(t *testing.T) {
	bin := peertest.RecursorBinary(t)
	file := filepath.Join(t.TempDir(), "serve.dnstap")
	p := startServe(t, bin, "--sandbox", "--metrics-listen", "127.0.0.1:0", "--dnstap-file", file)
	url := regexp.MustCompile(`msg=metrics url=(\S+)`).FindStringSubmatch(p.stderr.String())
	if url == nil {
		t.Fatalf("no metrics URL logged:\n%s", p.stderr)
	}
	for range 2 {
		c := &dns.Client{Timeout: 10 * time.Second}
		if r, _, err := c.Exchange(new(dns.Msg).SetQuestion("www.example.com.", dns.TypeA), p.addr); err != nil || r.Rcode != dns.RcodeSuccess {
			t.Fatalf("www.example.com: %v %v", r, err)
		}
	}
	resp, err := http.Get(url[1])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`recursor_client_queries_total{qtype="A",rcode="NOERROR",transport="udp"} 2`,
		`recursor_cache_hits_total 1`,
		`recursor_cache_misses_total 1`,
		`recursor_dnssec_answers_total{result="secure"} 2`,
		`recursor_dnstap_dropped_total 0`,
		`go_goroutines `,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err // for startServe's cleanup
	case <-time.After(15 * time.Second):
		t.Fatal("recursor serve did not stop on SIGTERM")
	}
	reader, err := exec.LookPath("dnstap-read")
	if err != nil {
		t.Skip("dnstap-read (bind9-utils) is not installed")
	}
	out, err := exec.Command(reader, file).CombinedOutput()
	if err != nil {
		t.Fatalf("dnstap-read: %v\n%s", err, out)
	}
	for _, want := range []string{` CQ 127.0.0.1:`, ` CR 127.0.0.1:`, ` RQ ? -> 127.53.`, ` RR ? <- 127.53.`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("dnstap-read output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(strings.ToLower(string(out)), "www.example.com/in/a"); n < 6 {
		t.Errorf("www.example.com/IN/A in %d messages, want at least 6 (2 CQ, 2 CR, RQ, RR):\n%s", n, out)
	}
}

// TestServeMetricsAfterReload: the engine a reload builds still reports
// to the metrics (it lost them once: the new engine had no hooks).
func TestServeMetricsAfterReload(t *testing.T) {
	config := filepath.Join(t.TempDir(), "recursor.toml")
	write(t, config, "[resolver]\nprefetch = false\n")
	p := startServe(t, peertest.RecursorBinary(t), "--sandbox", "--config", config, "--metrics-listen", "127.0.0.1:0")
	url := regexp.MustCompile(`msg=metrics url=(\S+)`).FindStringSubmatch(p.stderr.String())
	if url == nil {
		t.Fatalf("no metrics URL logged:\n%s", p.stderr)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for i := 0; !strings.Contains(p.stderr.String(), "msg=reloaded"); i++ {
		if i == 200 {
			t.Fatalf("no reload after SIGHUP:\n%s", p.stderr)
		}
		<-time.After(50 * time.Millisecond)
	}
	c := &dns.Client{Timeout: 10 * time.Second}
	if r, _, err := c.Exchange(new(dns.Msg).SetQuestion("www.example.com.", dns.TypeA), p.addr); err != nil || r.Rcode != dns.RcodeSuccess {
		t.Fatalf("www.example.com: %v %v", r, err)
	}
	resp, err := http.Get(url[1])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`recursor_cache_misses_total 1`, `recursor_dnssec_answers_total{result="secure"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics after a reload lacks %q", want)
		}
	}
}
