package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/resolver"
)

func runCommand(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	cmd.SetContext(t.Context())
	err := cmd.Execute()
	return out.String(), err
}

func TestResolveCommand(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    []string // substrings of the output
		wantErr string   // substring of the error, "" for success
	}{
		{"answer", []string{"resolve", "--sandbox", "www.example.com", "A"},
			[]string{";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: ", ";; flags: qr rd ra ad;", "www.example.com.\t300\tIN\tA\t192.0.2.10", ";; Query time:", ";; MSG SIZE  rcvd: "}, ""},
		{"ANY answered as the server answers it", []string{"resolve", "--sandbox", "example.com", "ANY"},
			[]string{"status: NOERROR", "example.com.\t\t3600\tIN\tHINFO\t\"RFC8482\" \"\""}, ""},
		{"an insecure answer's EDE in the OPT pseudo-section", []string{"resolve", "--sandbox", "www.unknownalg.lab", "A"},
			[]string{";; OPT PSEUDOSECTION:", "; EDE: 1 (Unsupported DNSKEY Algorithm)", "status: NOERROR"}, ""},
		{"default type A and trace", []string{"resolve", "--sandbox", "--trace", "www.shop.example.com"},
			[]string{"referral to shop.example.com.", "A -> answer (1 records)", "192.0.2.80"}, ""},
		{"nxdomain is an answer", []string{"resolve", "--sandbox", "nothing.example.com", "A"},
			[]string{"status: NXDOMAIN", "AUTHORITY SECTION", "example.com.\t\t300\tIN\tSOA"}, ""},
		{"failure names the zone and servers", []string{"resolve", "--sandbox", "www.all-lame.lab"},
			nil, "at zone all-lame.lab. (servers 127.53.21."},
		{"unknown type", []string{"resolve", "--sandbox", "example.com", "BOGUS"}, nil, `unknown query type "BOGUS"`},
		{"bad limit", []string{"resolve", "--sandbox", "--max-cnames", "0", "example.com"}, nil, "--max-cnames 0: must be at least 1"},
		{"bad dont-query", []string{"resolve", "--dont-query", "10.0.0.0/99", "example.com"}, nil, `--dont-query "10.0.0.0/99"`},
		{"special-use name answered locally", []string{"resolve", "--sandbox", "localhost", "AAAA"},
			[]string{"status: NOERROR", "localhost.\t\t3600\tIN\tAAAA\t::1"}, ""},
		{"private reverse zone answered locally", []string{"resolve", "--sandbox", "4.3.2.10.in-addr.arpa", "PTR"},
			[]string{"status: NXDOMAIN", "10.in-addr.arpa.\t3600\tIN\tSOA\tlocalhost. nobody.invalid."}, ""},
		{"bad no-default-zone", []string{"resolve", "--sandbox", "--no-default-zone", "example.com", "example.com"}, nil, `--no-default-zone "example.com": not a built-in local zone`},
		{"missing hints file", []string{"resolve", "--root-hints", "/nonexistent/named.root", "example.com"}, nil, "--root-hints: open /nonexistent/named.root"},
		{"sandbox and hints", []string{"resolve", "--sandbox", "--root-hints", "x", "example.com"}, nil, "--root-hints"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCommand(t, tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q; output:\n%s", err, tc.wantErr, out)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v; output:\n%s", err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestResolveJSON: --json prints the response with RFC 8427's member
// names, the trace only with --trace, and a failure as RCODE 2 with the
// reason and exit status 9.
func TestResolveJSON(t *testing.T) {
	var res map[string]any
	decode := func(out string) {
		t.Helper()
		res = nil
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, out)
		}
	}
	out, err := runCommand(t, "resolve", "--sandbox", "--json", "chain1.example.com", "A")
	if err != nil {
		t.Fatal(err)
	}
	decode(out)
	for name, want := range map[string]any{"QR": 1.0, "RD": 1.0, "RA": 1.0, "AD": 1.0, "TC": 0.0, "RCODE": 0.0, "Opcode": 0.0,
		"QDCOUNT": 1.0, "ANCOUNT": 3.0, "QNAME": "chain1.example.com.", "QTYPE": 1.0, "QTYPEname": "A", "QCLASS": 1.0, "QCLASSname": "IN"} {
		if res[name] != want {
			t.Errorf("%s = %v, want %v", name, res[name], want)
		}
	}
	if _, ok := res["trace"]; ok {
		t.Errorf("a trace without --trace")
	}
	answer, _ := res["answerRRs"].([]any)
	if len(answer) != 3 {
		t.Fatalf("answerRRs = %v, want 3 records", res["answerRRs"])
	}
	last, _ := answer[2].(map[string]any)
	for name, want := range map[string]any{"NAME": "www.example.com.", "TYPE": 1.0, "TYPEname": "A", "CLASS": 1.0, "CLASSname": "IN",
		"rdataA": "192.0.2.10", "RDLENGTH": 4.0, "RDATAHEX": "C000020A"} {
		if last[name] != want {
			t.Errorf("answer %s = %v, want %v", name, last[name], want)
		}
	}
	if first, _ := answer[0].(map[string]any); first["rdataCNAME"] != "chain2.example.com." {
		t.Errorf("first answer %v, want the CNAME to chain2.example.com.", first)
	}

	out, err = runCommand(t, "resolve", "--sandbox", "--json", "--trace", "www.example.com", "A")
	if err != nil {
		t.Fatal(err)
	}
	decode(out)
	if steps, _ := res["trace"].([]any); len(steps) == 0 {
		t.Errorf("no trace with --trace:\n%s", out)
	}

	out, err = runCommand(t, "resolve", "--sandbox", "--json", "www.all-lame.lab", "A")
	if code := exitCode(err); code != exitNoAnswer {
		t.Fatalf("failure err = %v, exit status %d, want %d", err, code, exitNoAnswer)
	}
	decode(out)
	ede, _ := res["extendedError"].(map[string]any)
	if res["RCODE"] != 2.0 || res["QNAME"] != "www.all-lame.lab." || ede["code"] != 22.0 || res["error"] == nil {
		t.Errorf("failure JSON:\n%s", out)
	}
	opt, _ := res["additionalRRs"].([]any)
	if len(opt) != 1 || opt[0].(map[string]any)["TYPEname"] != "OPT" || opt[0].(map[string]any)["CLASS"] != 1232.0 {
		t.Errorf("failure's additionalRRs = %v, want the OPT record (with the EDE)", res["additionalRRs"])
	}
}

// TestRRObject: every record gets RDATAHEX, the RDATA on the wire; a
// known type its rdata<TYPE> in presentation form; OPT no CLASSname.
func TestRRObject(t *testing.T) {
	for _, tc := range []struct {
		rr   string
		want string
	}{
		{"example.com. 60 IN MX 10 mail.example.com.",
			`{"NAME":"example.com.","TYPE":15,"TYPEname":"MX","CLASS":1,"CLASSname":"IN","TTL":60,"rdataMX":"10 mail.example.com.","RDLENGTH":20,"RDATAHEX":"000A046D61696C076578616D706C6503636F6D00"}`},
		{"example.com. 60 IN TYPE65400 \\# 2 ABCD",
			`{"NAME":"example.com.","TYPE":65400,"CLASS":1,"CLASSname":"IN","TTL":60,"RDLENGTH":2,"RDATAHEX":"ABCD"}`},
		{"x.example. 0 IN TXT \"a b\" c",
			`{"NAME":"x.example.","TYPE":16,"TYPEname":"TXT","CLASS":1,"CLASSname":"IN","TTL":0,"rdataTXT":"\"a b\" \"c\"","RDLENGTH":6,"RDATAHEX":"036120620163"}`},
	} {
		rr, err := dns.NewRR(tc.rr)
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(rrObject(rr))
		if err != nil || string(got) != tc.want {
			t.Errorf("%s:\n got %s (%v)\nwant %s", tc.rr, got, err, tc.want)
		}
	}
	m := new(dns.Msg)
	m.SetEdns0(1232, true)
	got, _ := json.Marshal(rrObject(m.IsEdns0()))
	if want := `{"NAME":".","TYPE":41,"TYPEname":"OPT","CLASS":1232,"TTL":32768,"RDLENGTH":0}`; string(got) != want {
		t.Errorf("OPT:\n got %s\nwant %s", got, want)
	}
}

// TestResolveTrace: the trace shows what each referral carried (NS names
// with their glue, the addresses dropped) and when an exchange fell back
// to TCP, as text and as JSON. The hostile tree's tcp-only.lab. truncates
// every UDP reply; inject.lab. adds out-of-zone addresses to its referral.
func TestResolveTrace(t *testing.T) {
	const hostile = "../../testdata/hostile"
	out, err := runCommand(t, "resolve", "--sandbox", "--sandbox-dir", hostile, "--trace", "www.tcp-only.lab")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		"lab. NS ns1.nic.lab. (glue 127.53.3.1), ns2.nic.lab. (glue 127.53.3.2)",
		"tcp-only.lab. NS ns1.tcp-only.lab. (glue 127.53.52.1)",
		"A -> answer (1 records) (", "ms, tcp after udp truncated)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("trace lacks %q:\n%s", want, out)
		}
	}
	out, err = runCommand(t, "resolve", "--sandbox", "--sandbox-dir", hostile, "--trace", "www.sub.inject.lab")
	if err != nil || !strings.Contains(out, "sub.inject.lab. NS ns1.sub.inject.lab. (glue 127.53.30.2); 4 other address record(s) dropped") {
		t.Errorf("err %v; the inject.lab. referral's line missing or wrong:\n%s", err, out)
	}

	out, err = runCommand(t, "resolve", "--sandbox", "--sandbox-dir", hostile, "--trace", "--json", "www.tcp-only.lab")
	if err != nil {
		t.Fatal(err)
	}
	var res struct{ Trace []jsonStep }
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var tcp, referral bool
	for _, s := range res.Trace {
		if s.Server != "" && strings.HasPrefix(s.Server, "127.53.52.1:") {
			tcp = s.TCP && s.TCPFallback == "truncated"
		}
		if r := s.Referral; r != nil && r.Zone == "tcp-only.lab." {
			referral = slices.Equal(r.NS, []string{"ns1.tcp-only.lab."}) && len(r.Glue) == 1 && r.Glue[0] == jsonGlue{"ns1.tcp-only.lab.", "127.53.52.1"}
		}
	}
	if !tcp || !referral {
		t.Errorf("JSON trace: TCP fallback shown %t, referral shown %t:\n%s", tcp, referral, out)
	}
}

func TestSandboxTransportStaysOnLoopback(t *testing.T) {
	var logged bytes.Buffer
	f := engineFlags{loopbackOnly: true}
	tr := f.transport(slog.New(slog.NewTextHandler(&logged, nil)))
	if tr == nil {
		t.Fatal("--upstream-loopback-only gives the default transport")
	}
	if _, _, err := tr.Exchange(t.Context(), new(dns.Msg), netip.MustParseAddrPort("192.0.2.1:53")); err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("err = %v, want a refusal", err)
	}
	if !strings.Contains(logged.String(), "not a loopback address") {
		t.Errorf("refusal not logged: %q", logged.String())
	}
	// The timed path the engine takes (it reports TCP exchanges) checks too.
	timed, ok := tr.(resolver.TimedTransport)
	if !ok {
		t.Fatalf("%T has no ExchangeTimed: the engine cannot tell TCP exchanges", tr)
	}
	if _, _, _, err := timed.ExchangeTimed(t.Context(), new(dns.Msg), netip.MustParseAddrPort("[2001:db8::1]:53"), time.Second); err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("ExchangeTimed err = %v, want a refusal", err)
	}
	if tr := (&engineFlags{}).transport(nil); tr != nil {
		t.Errorf("without the flag: transport %T, want the resolver's own", tr)
	}
}

// TestVersion: `recursor version` prints one line with the build's
// version and the Go that built it.
func TestVersion(t *testing.T) {
	cmd := newRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"version"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "recursor ") || !strings.HasSuffix(lines[0], runtime.Version()) {
		t.Errorf("version output %q", out.String())
	}
}

// TestExitCodes: as dig's, 0 for an answer (NXDOMAIN included), 9 when no
// answer could be had, 1 for a bad command line.
func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"resolve", "--sandbox", "www.example.com", "A"}, 0},
		{[]string{"resolve", "--sandbox", "nope.example.com", "A"}, 0},
		{[]string{"resolve", "--sandbox", "www.all-lame.lab", "A"}, exitNoAnswer},
		{[]string{"resolve", "--sandbox", "www.badsig.lab", "A"}, exitNoAnswer},
		{[]string{"resolve", "--sandbox", "--no-such-flag", "www.example.com", "A"}, exitUsage},
		{[]string{"resolve", "--sandbox", "www.example.com", "NOTATYPE"}, exitUsage},
	} {
		_, err := runCommand(t, tc.args...)
		if got := exitCode(err); got != tc.want {
			t.Errorf("%v: exit %d (%v), want %d", tc.args, got, err, tc.want)
		}
	}
}
