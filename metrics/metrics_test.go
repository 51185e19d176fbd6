package metrics_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/metrics"
	"github.com/recursor-dns/recursor/resolver"
	"github.com/recursor-dns/recursor/server"
	"github.com/recursor-dns/recursor/testnet"
)

const sandboxDir = "../testdata/sandbox"

// rig is a validating resolver over the sandbox testnet, a server on
// loopback and the metrics served over HTTP, all counting into one
// Registry.
type rig struct {
	reg     *metrics.Registry
	net     *testnet.Network
	dnsAddr string
	url     string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	n := testnet.StartTB(t, sandboxDir)
	reg := metrics.New()
	r, err := resolver.New(resolver.Config{
		RootHints:    n.RootHints(),
		UpstreamPort: n.Port(),
		DontQuery:    []netip.Prefix{},
		Transport:    testnet.LoopbackOnly(t, &resolver.NetTransport{}),
		DNSSEC:       resolver.DNSSECConfig{TrustAnchors: n.TrustAnchor(), DisableAggressiveNSEC: true},
		Metrics:      reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Backend: r, Listen: []string{"127.0.0.1:0"}, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	reg.WatchServer(srv)
	reg.WatchCache(r.Cache())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { srv.Serve(ctx); done <- struct{}{} }()
	go func() { reg.Serve(ctx, l); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	return &rig{reg: reg, net: n, dnsAddr: addrs[0].String(), url: "http://" + l.Addr().String() + "/metrics"}
}

// scrape reads /metrics over HTTP into sample -> value ("name{labels}" as
// the text format writes it).
func (rg *rig) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := http.Get(rg.url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	return parseText(t, resp.Body)
}

func parseText(t *testing.T, r io.Reader) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

func (rg *rig) ask(t *testing.T, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg).SetQuestion(name, qtype)
	m.SetEdns0(1232, false)
	c := &dns.Client{Net: network, Timeout: 10 * time.Second}
	resp, _, err := c.Exchange(m, rg.dnsAddr)
	if err != nil {
		t.Fatalf("%s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return resp
}

// TestCounterDeltas runs a scripted set of queries through a real server
// and checks every count it moves, exactly, as scraped over HTTP.
func TestCounterDeltas(t *testing.T) {
	rg := newRig(t)
	before := rg.scrape(t)
	rg.net.ResetQueries()

	script := []struct {
		network, name string
		qtype         uint16
		rcode         int
	}{
		{"udp", "www.example.com.", dns.TypeA, dns.RcodeSuccess},       // miss, secure
		{"udp", "www.example.com.", dns.TypeA, dns.RcodeSuccess},       // hit from the engine's cache, secure
		{"udp", "www.example.com.", dns.TypeA, dns.RcodeSuccess},       // hit from the server's answer cache: no verdict counted
		{"tcp", "nothing.example.com.", dns.TypeA, dns.RcodeNameError}, // miss, secure
		{"udp", "www.shop.example.com.", dns.TypeA, dns.RcodeSuccess},  // miss, insecure
		{"udp", "www.expired.lab.", dns.TypeA, dns.RcodeServerFailure}, // miss, bogus: SERVFAIL EDE 7
		{"udp", "www.example.com.", dns.TypeMX, dns.RcodeSuccess},      // miss, secure NODATA
		{"tcp", "big.example.com.", dns.TypeTXT, dns.RcodeSuccess},     // miss, secure; upstream truncated over UDP, then TCP
	}
	for _, s := range script {
		if got := rg.ask(t, s.network, s.name, s.qtype); got.Rcode != s.rcode {
			t.Fatalf("%s %s: rcode %s, want %s", s.name, dns.TypeToString[s.qtype], dns.RcodeToString[got.Rcode], dns.RcodeToString[s.rcode])
		}
	}
	// A response sent to the server: not answered, counted as dropped.
	conn, err := net.Dial("udp", rg.dnsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	bogus := new(dns.Msg).SetQuestion("www.example.com.", dns.TypeA)
	bogus.Response = true
	wire, _ := bogus.Pack()
	conn.Write(wire)
	// The drop is counted after the read; a query behind it on the same
	// socket is answered only once the response has been handled.
	rg.ask(t, "udp", "www.example.com.", dns.TypeA) // fast hit again

	after := rg.scrape(t)
	delta := func(k string) float64 { return after[k] - before[k] }
	// Each exchange is one UDP query at the testnet, and a TCP one more
	// when the UDP reply was truncated.
	var udpQueries, tcpQueries float64
	for _, q := range rg.net.Queries() {
		if q.TCP {
			tcpQueries++
		} else {
			udpQueries++
		}
	}
	if tcpQueries != 1 {
		t.Errorf("%v TCP queries at the testnet, want 1 (big.example.com TXT)", tcpQueries)
	}
	want := map[string]float64{
		`recursor_client_queries_total{qtype="A",rcode="NOERROR",transport="udp"}`:   5,
		`recursor_client_queries_total{qtype="A",rcode="NXDOMAIN",transport="tcp"}`:  1,
		`recursor_client_queries_total{qtype="A",rcode="SERVFAIL",transport="udp"}`:  1,
		`recursor_client_queries_total{qtype="TXT",rcode="NOERROR",transport="tcp"}`: 1,
		`recursor_upstream_tcp_fallbacks_total`:                                      1,
		`recursor_client_queries_total{qtype="MX",rcode="NOERROR",transport="udp"}`:  1,
		`recursor_client_queries_received_total`:                                     10,
		`recursor_client_queries_dropped_total`:                                      1,
		`recursor_cache_hits_total`:                                                  3,
		`recursor_cache_misses_total`:                                                6,
		`recursor_servfail_total{ede="7"}`:                                           1,
		`recursor_dnssec_answers_total{result="secure"}`:                             7, // the two ready-packed repeats too
		`recursor_dnssec_answers_total{result="insecure"}`:                           1,
		`recursor_dnssec_answers_total{result="bogus"}`:                              1,
		`recursor_dnssec_answers_total{result="indeterminate"}`:                      0,
		`recursor_client_query_duration_seconds_count{cached="true"}`:                3,
		`recursor_client_query_duration_seconds_count{cached="false"}`:               6,
		`recursor_upstream_queries_total{outcome="timeout"}`:                         0,
		`recursor_cache_stale_answers_total`:                                         0,
		`recursor_cache_prefetches_total`:                                            0,
		`recursor_client_queries_in_flight`:                                          0,
		`recursor_upstream_query_duration_seconds_count`:                             udpQueries,
		`recursor_upstream_queries_total{outcome="answer"}`:                          udpQueries,
	}
	for k, v := range want {
		if _, ok := after[k]; !ok {
			t.Errorf("%s: not exported", k)
			continue
		}
		if got := delta(k); got != v {
			t.Errorf("%s: moved by %v, want %v", k, got, v)
		}
	}
	// Every client query series, and only those of the script.
	var series int
	for k := range after {
		if strings.HasPrefix(k, "recursor_client_queries_total{") {
			series++
		}
	}
	if series != 5 {
		t.Errorf("%d recursor_client_queries_total series, want the script's 5", series)
	}
	if after["recursor_cache_entries"] <= 0 || after["recursor_cache_bytes"] <= 0 {
		t.Errorf("cache gauges: %v entries, %v bytes; want both above zero", after["recursor_cache_entries"], after["recursor_cache_bytes"])
	}
	if after["go_goroutines"] <= 0 {
		t.Error("no Go runtime metrics (go_goroutines)")
	}
}

// TestWriteTextMatchesScrape: `recursor control stats` prints what
// /metrics serves.
func TestWriteTextMatchesScrape(t *testing.T) {
	rg := newRig(t)
	rg.ask(t, "udp", "www.example.com.", dns.TypeA)
	rg.ask(t, "tcp", "www.example.com.", dns.TypeAAAA)
	scraped := rg.scrape(t)
	var b strings.Builder
	if err := rg.reg.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	text := parseText(t, strings.NewReader(b.String()))
	var ours int
	for k, v := range scraped {
		if !strings.HasPrefix(k, "recursor_") || k == "recursor_tcp_connections" || k == "recursor_client_queries_in_flight" {
			// The runtime's figures move between the two reads, and so
			// do the live gauges: the server closes the test's TCP
			// connection when it notices the client left.
			continue
		}
		ours++
		if got, ok := text[k]; !ok || got != v {
			t.Errorf("%s: WriteText %v (present %v), scrape %v", k, got, ok, v)
		}
	}
	if ours < 30 {
		t.Errorf("only %d recursor_ samples scraped", ours)
	}
}

// TestUnansweredUpstreamHasNoRoundTrip: a timeout is counted by outcome
// but is no round-trip time.
func TestUnansweredUpstreamHasNoRoundTrip(t *testing.T) {
	reg := metrics.New()
	reg.Upstream(resolver.OutcomeTimeout, false, time.Second)
	reg.Upstream(resolver.OutcomeAnswered, true, time.Millisecond)
	var b strings.Builder
	if err := reg.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	text := parseText(t, strings.NewReader(b.String()))
	for k, v := range map[string]float64{
		`recursor_upstream_queries_total{outcome="timeout"}`: 1,
		`recursor_upstream_queries_total{outcome="answer"}`:  1,
		`recursor_upstream_tcp_fallbacks_total`:              1,
		`recursor_upstream_query_duration_seconds_count`:     1,
	} {
		if text[k] != v {
			t.Errorf("%s = %v, want %v", k, text[k], v)
		}
	}
}

// TestQueriesByTransport: each transport has its own label value, and an
// event that only says TCP (from before transports had names) counts as
// tcp.
func TestQueriesByTransport(t *testing.T) {
	rg := newRig(t)
	for _, e := range []server.QueryEvent{
		{TCP: true, Transport: server.TransportDoT, Qtype: dns.TypeA, EDE: -1, Security: -1},
		{TCP: true, Transport: server.TransportDoH, Qtype: dns.TypeA, EDE: -1, Security: -1},
		{TCP: true, Transport: server.TransportDoH, Qtype: dns.TypeA, EDE: -1, Security: -1},
		{TCP: true, Transport: server.TransportDoQ, Qtype: dns.TypeA, EDE: -1, Security: -1},
		{TCP: true, Qtype: dns.TypeMX, EDE: -1, Security: -1},
	} {
		rg.reg.Query(e)
	}
	got := rg.scrape(t)
	for k, v := range map[string]float64{
		`recursor_client_queries_total{qtype="A",rcode="NOERROR",transport="dot"}`:  1,
		`recursor_client_queries_total{qtype="A",rcode="NOERROR",transport="doh"}`:  2,
		`recursor_client_queries_total{qtype="A",rcode="NOERROR",transport="doq"}`:  1,
		`recursor_client_queries_total{qtype="MX",rcode="NOERROR",transport="tcp"}`: 1,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
