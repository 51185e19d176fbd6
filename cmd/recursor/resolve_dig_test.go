package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/recursor-dns/recursor/peertest"
)

// TestResolveBesideDig: for the same question, `recursor resolve
// --sandbox` prints what dig prints when it asks `recursor serve
// --sandbox`: the header line, the flags and counts, the OPT
// pseudo-section with its EDE, the sections and their records, and the
// footer's lines. What must differ is set aside: the ID, TTLs (cached
// records count down), the query time, the server and the date.
func TestResolveBesideDig(t *testing.T) {
	if _, err := exec.LookPath("dig"); err != nil {
		t.Skip("dig (bind9-dnsutils) is not installed")
	}
	p := startServe(t, peertest.RecursorBinary(t), "--sandbox", "--allow", "127.0.0.1/32")
	host, port, _ := net.SplitHostPort(p.addr)
	for _, q := range [][]string{
		{"www.example.com", "A"},
		{"chain1.example.com", "A"},    // a CNAME chain
		{"nothing.example.com", "A"},   // NXDOMAIN with the SOA
		{"www.unknownalg.lab", "A"},    // an EDE on an answer
		{"www.all-lame.lab", "A"},      // SERVFAIL with EDE 22
		{"example.com", "MX"},          // NODATA
		{"-x", "192.0.2.80"},           // a reverse lookup
		{"+dnssec", "www.example.com"}, // DO: the RRSIGs
	} {
		t.Run(strings.Join(q, " "), func(t *testing.T) {
			// +nocookie: resolve has no cookie of its own to show.
			dig := runTool(t, "dig", append([]string{"@" + host, "-p", port, "+nocookie"}, q...)...)
			args := append([]string{"resolve", "--sandbox"}, q...)
			if q[0] == "+dnssec" {
				args = []string{"resolve", "--sandbox", "--dnssec", q[1]}
			}
			ours, _ := runCommand(t, args...)
			if q[0] == "+dnssec" {
				ours = strings.SplitN(ours, "\n", 2)[1] // the verdict line delv prints first
			}
			if want, got := digLayout(dig), digLayout(ours); !slices.Equal(got, want) {
				t.Errorf("layout differs from dig's:\n%s\ndig:\n%s\nrecursor resolve:\n%s", lineDiff(want, got), dig, ours)
			}
		})
	}
}

var (
	digPreamble  = regexp.MustCompile(`^(; <<>> DiG|; \(\d+ servers? found\)|;; global options:|;; Got answer:)`)
	digID        = regexp.MustCompile(`id: \d+$`)
	digFooter    = regexp.MustCompile(`^;; (Query time|SERVER|WHEN):`)
	recursorLine = regexp.MustCompile(`^recursor: `)
	recordTTL    = regexp.MustCompile(`^(\S+\s+)\d+(\s)`)
)

// digLayout is dig's output (or ours) reduced to what both must share:
// the lines, their tabs and spaces as they are, but for blank lines and
// the ID, TTLs, RRSIGs' times and signatures, and the footer's values.
func digLayout(out string) []string {
	var lines []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0, digPreamble.MatchString(line), recursorLine.MatchString(line):
			continue
		case digFooter.MatchString(line):
			line = f[0] + " " + f[1]
		case len(f) > 3 && f[3] == "RRSIG":
			// Each sandbox signs its zones as it starts: the times and
			// the signature are its own.
			line = strings.Join(append(slices.Delete(f[:8], 1, 2), f[10:12]...), " ")
		case !strings.HasPrefix(line, ";"):
			line = recordTTL.ReplaceAllString(line, "${1}TTL$2")
		}
		lines = append(lines, digID.ReplaceAllString(line, "id: N"))
	}
	return lines
}

// lineDiff lists the lines of want missing from got (-) and of got not in
// want (+).
func lineDiff(want, got []string) string {
	var b strings.Builder
	for _, l := range want {
		if !slices.Contains(got, l) {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range got {
		if !slices.Contains(want, l) {
			b.WriteString("+ " + l + "\n")
		}
	}
	if b.Len() == 0 {
		return "(the same lines in another order)"
	}
	return b.String()
}

// TestResolveJSONBesideKdig: `recursor resolve --json` and kdig's +json
// (Knot's RFC 8427 output) say the same of the same question asked of
// recursor serve: every member kdig prints is ours too, with the same
// value, but for the ID, the date and TTLs (and RRSIGs, each sandbox
// signing its own).
func TestResolveJSONBesideKdig(t *testing.T) {
	if _, err := exec.LookPath("kdig"); err != nil {
		t.Skip("kdig (knot-dnsutils) is not installed")
	}
	p := startServe(t, peertest.RecursorBinary(t), "--sandbox", "--allow", "127.0.0.1/32")
	host, port, _ := net.SplitHostPort(p.addr)
	skip := map[string]bool{"ID": true, "dateString": true, "dateSeconds": true, "TTL": true}
	for _, q := range [][]string{{"chain1.example.com", "A"}, {"nothing.example.com", "A"}, {"www.unknownalg.lab", "A"}, {"www.all-lame.lab", "A"}, {"example.com", "MX"}} {
		t.Run(strings.Join(q, " "), func(t *testing.T) {
			var theirs, ours map[string]any
			kdig := runTool(t, "kdig", append([]string{"@" + host, "-p", port, "+json", "+edns"}, q...)...)
			if err := json.Unmarshal([]byte(kdig), &theirs); err != nil {
				t.Fatalf("kdig: %v\n%s", err, kdig)
			}
			out, _ := runCommand(t, append([]string{"resolve", "--sandbox", "--json"}, q...)...)
			if err := json.Unmarshal([]byte(out), &ours); err != nil {
				t.Fatalf("ours: %v\n%s", err, out)
			}
			for _, d := range jsonDiff("", theirs, ours, skip) {
				t.Error(d)
			}
			if t.Failed() {
				t.Logf("kdig:\n%s\nours:\n%s", kdig, out)
			}
		})
	}
}

// jsonDiff lists the members of theirs that ours lacks or gives another
// value, by path; arrays are compared element by element.
func jsonDiff(path string, theirs, ours any, skip map[string]bool) []string {
	switch v := theirs.(type) {
	case map[string]any:
		o, ok := ours.(map[string]any)
		if !ok {
			return []string{path + ": not an object in ours"}
		}
		if v["TYPEname"] == "RRSIG" {
			return nil
		}
		var out []string
		for k, tv := range v {
			if skip[k] {
				continue
			}
			ov, ok := o[k]
			if !ok {
				out = append(out, path+"."+k+": missing in ours")
				continue
			}
			out = append(out, jsonDiff(path+"."+k, tv, ov, skip)...)
		}
		return out
	case []any:
		o, ok := ours.([]any)
		if !ok || len(o) != len(v) {
			return []string{fmt.Sprintf("%s: %d elements, ours %v", path, len(v), ours)}
		}
		var out []string
		for i := range v {
			out = append(out, jsonDiff(fmt.Sprintf("%s[%d]", path, i), v[i], o[i], skip)...)
		}
		return out
	}
	if theirs != ours {
		return []string{fmt.Sprintf("%s: kdig %v, ours %v", path, theirs, ours)}
	}
	return nil
}
