package peertest

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/testnet"
)

const sandboxDir = "../testdata/sandbox"

// peerAnswer is what a resolver said, in a form two resolvers can be
// compared by: rcode and answer records without TTLs.
type peerAnswer struct {
	rcode  string
	answer []string
}

func (a peerAnswer) String() string {
	return a.rcode + " [" + strings.Join(a.answer, "; ") + "]"
}

// exchangeStub puts a question to a resolver as a stub would: RD, EDNS
// with a 1232-byte buffer (DO as asked), and again over TCP when the
// answer is truncated.
func exchangeStub(addr, qname string, qtype uint16, do bool) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(qname, qtype)
	q.SetEdns0(1232, do)
	c := &dns.Client{Timeout: 5 * time.Second}
	resp, _, err := c.Exchange(q, addr)
	if err == nil && resp.Truncated {
		c.Net = "tcp"
		resp, _, err = c.Exchange(q, addr)
	}
	return resp, err
}

// ask puts a question to a resolver as a stub without DNSSEC would.
func ask(addr, qname string, qtype uint16) peerAnswer {
	resp, err := exchangeStub(addr, qname, qtype, false)
	if err != nil {
		return peerAnswer{rcode: "no answer"}
	}
	return peerAnswer{rcode: dns.RcodeToString[resp.Rcode], answer: answerLines(resp.Answer)}
}

// answerLines is a comparable form of an answer section: one line per
// record, owner lower-cased, TTL left out, sorted, duplicates dropped.
func answerLines(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		h := rr.Header()
		data := strings.TrimPrefix(rr.String(), h.String())
		out = append(out, strings.ToLower(h.Name)+" "+dns.TypeToString[h.Rrtype]+" "+strings.Join(strings.Fields(data), " "))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// readDifferences reads the documented differences: "case  reason" lines.
func readDifferences(tb testing.TB, path string) map[string]string {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	known := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, reason, ok := strings.Cut(line, " ")
		if !ok || strings.TrimSpace(reason) == "" {
			tb.Fatalf("%s: %q: want a case name and a reason", path, line)
		}
		known[name] = strings.TrimSpace(reason)
	}
	return known
}

// TestDifferentialUnbound resolves every sandbox case through Unbound and
// through `recursor serve`, both iterating over the same testnet, and
// compares rcode and answer (TTLs aside). A difference fails the test
// unless testdata/unbound-differences.txt documents it; a documented
// difference that no longer occurs fails it too, so the list stays true.
func TestDifferentialUnbound(t *testing.T) {
	// Unbound asks authoritative servers on port 53 only, so the testnet
	// listens on 127.53.x.y:53, in a network namespace of its own.
	if InOwnNetwork(t) {
		return
	}
	if _, ok := LookPath("unbound"); !ok {
		t.Skip("unbound is not installed (apt-get install unbound; .ci/run does)")
	}
	network, err := testnet.Start(testnet.Config{Dir: sandboxDir, Port: 53})
	if err != nil {
		t.Fatalf("testnet on port 53: %v", err)
	}
	t.Cleanup(func() { network.Close() })
	hints := WriteHints(t, t.TempDir(), network.RootHints())
	unbound := StartUnbound(t, hints)
	ours := StartRecursor(t, "--root-hints", hints, "--upstream-port", "53", "--dont-query", "none")

	cases, err := testnet.ReadCases(sandboxDir)
	if err != nil {
		t.Fatal(err)
	}
	known := readDifferences(t, "testdata/unbound-differences.txt")
	var report strings.Builder
	differences := 0
	for _, c := range cases {
		theirs, mine := ask(unbound, c.Qname, c.Qtype), ask(ours, c.Qname, c.Qtype)
		same := theirs.String() == mine.String()
		reason, listed := known[c.Name]
		switch {
		case !same && !listed:
			t.Errorf("%s (%s %s): unbound %s, recursor %s", c.Name, c.Qname, dns.TypeToString[c.Qtype], theirs, mine)
		case same && listed:
			t.Errorf("%s: listed as a difference (%s) but both answer %s: remove it from the list", c.Name, reason, mine)
		case !same:
			differences++
			fmt.Fprintf(&report, "  %s: unbound %s, recursor %s (%s)\n", c.Name, theirs, mine, reason)
		}
		delete(known, c.Name)
	}
	for name := range known {
		t.Errorf("unbound-differences.txt lists %q, which is not a case in CASES.md", name)
	}
	t.Logf("compared %d sandbox cases with Unbound: %d documented differences\n%s", len(cases), differences, report.String())
}
