package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"testing"

	"github.com/miekg/dns"
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
			[]string{"status: NOERROR", "example.com.\t3600\tIN\tHINFO\t\"RFC8482\" \"\""}, ""},
		{"an insecure answer's EDE in the OPT pseudo-section", []string{"resolve", "--sandbox", "www.unknownalg.lab", "A"},
			[]string{";; OPT PSEUDOSECTION:", "; EDE: 1 (Unsupported DNSKEY Algorithm)", "status: NOERROR"}, ""},
		{"default type A and trace", []string{"resolve", "--sandbox", "--trace", "www.shop.example.com"},
			[]string{"referral to shop.example.com.", "A -> answer (1 records)", "192.0.2.80"}, ""},
		{"nxdomain is an answer", []string{"resolve", "--sandbox", "nothing.example.com", "A"},
			[]string{"status: NXDOMAIN", "AUTHORITY SECTION", "example.com.\t300\tIN\tSOA"}, ""},
		{"failure names the zone and servers", []string{"resolve", "--sandbox", "www.all-lame.lab"},
			nil, "at zone all-lame.lab. (servers 127.53.21."},
		{"unknown type", []string{"resolve", "--sandbox", "example.com", "BOGUS"}, nil, `unknown query type "BOGUS"`},
		{"bad limit", []string{"resolve", "--sandbox", "--max-cnames", "0", "example.com"}, nil, "--max-cnames 0: must be at least 1"},
		{"bad dont-query", []string{"resolve", "--dont-query", "10.0.0.0/99", "example.com"}, nil, `--dont-query "10.0.0.0/99"`},
		{"special-use name answered locally", []string{"resolve", "--sandbox", "localhost", "AAAA"},
			[]string{"status: NOERROR", "localhost.\t3600\tIN\tAAAA\t::1"}, ""},
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

func TestResolveJSON(t *testing.T) {
	out, err := runCommand(t, "resolve", "--sandbox", "--json", "chain1.example.com", "A")
	if err != nil {
		t.Fatal(err)
	}
	var res jsonResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if res.Status != "NOERROR" || len(res.Answer) != 3 || len(res.Trace) == 0 {
		t.Errorf("JSON result = %+v", res)
	}
	out, err = runCommand(t, "resolve", "--sandbox", "--json", "www.all-lame.lab", "A")
	if code := exitCode(err); code != exitNoAnswer {
		t.Fatalf("failure err = %v, exit status %d, want %d", err, code, exitNoAnswer)
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Status != "SERVFAIL" || res.EDE == nil || res.EDE.Code != 22 {
		t.Errorf("failure JSON = %+v (%v)", res, err)
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
