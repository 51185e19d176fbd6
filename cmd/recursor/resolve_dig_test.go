package main

import (
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
			dig := runTool(t, "dig", append([]string{"@" + host, "-p", port}, q...)...)
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
