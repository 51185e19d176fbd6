package testnet

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const sandboxDir = "../testdata/sandbox"

// replyTimeout is how long a test waits for a loopback reply; only the
// dead-server checks ever wait it out.
const replyTimeout = 300 * time.Millisecond

// ask sends one question to addr:port and returns the reply.
type ask struct {
	tcp   bool
	edns  uint16 // 0: no OPT record
	ednsV uint8
}

func (o ask) exchange(ctx context.Context, addr netip.Addr, port uint16, qname string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype)
	m.RecursionDesired = false
	if o.edns > 0 {
		m.SetEdns0(o.edns, false)
		m.IsEdns0().SetVersion(o.ednsV)
	}
	c := &dns.Client{Net: "udp", Timeout: replyTimeout, UDPSize: max(o.edns, dns.MinMsgSize)}
	if o.tcp {
		c.Net = "tcp"
	}
	resp, _, err := c.ExchangeContext(ctx, m, netip.AddrPortFrom(addr, port).String())
	return resp, err
}

// query asks and fails the test when no reply comes.
func query(tb testing.TB, o ask, addr netip.Addr, port uint16, qname string, qtype uint16) *dns.Msg {
	tb.Helper()
	resp, err := o.exchange(tb.Context(), addr, port, qname, qtype)
	if err != nil {
		tb.Fatalf("%s %s @%s: %v", qname, dns.TypeToString[qtype], addr, err)
	}
	return resp
}

// serverAddr finds a server's address by name.
func serverAddr(tb testing.TB, servers []Server, name string) netip.Addr {
	tb.Helper()
	for _, s := range servers {
		if s.Name == name {
			return s.Addr
		}
	}
	tb.Fatalf("no server %s in %s", name, ConfFile)
	return netip.Addr{}
}

// rrStrings renders records without their class, sorted, for comparison.
func rrStrings(rrs []dns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		out = append(out, rrString(rr))
	}
	slices.Sort(out)
	return out
}

func rrString(rr dns.RR) string {
	h := rr.Header()
	data := strings.TrimPrefix(rr.String(), h.String())
	return strings.Join([]string{strings.ToLower(h.Name), strconv.FormatUint(uint64(h.Ttl), 10), dns.TypeToString[h.Rrtype], data}, " ")
}

// isTimeout says whether err is a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// tbRecorder is a testing.TB that records Errorf calls instead of failing.
type tbRecorder struct {
	testing.TB
	errors []string
}

func (r *tbRecorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, format)
}

func (r *tbRecorder) Helper() {}

// readCases parses the table of CASES.md.
type sandboxCase struct {
	name     string
	qname    string
	qtype    uint16
	rcode    int
	answer   []string // "owner ttl TYPE data", data "" for <...>
	negative string   // "zone ttl" or ""
}

func readCases(tb testing.TB) []sandboxCase {
	tb.Helper()
	data, err := os.ReadFile(sandboxDir + "/CASES.md")
	if err != nil {
		tb.Fatal(err)
	}
	var cases []sandboxCase
	inTable := false
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "| case |") {
			inTable = true
			continue
		}
		if !inTable || strings.HasPrefix(line, "|---") {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			if len(cases) > 0 {
				break
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if len(cells) != 7 {
			tb.Fatalf("CASES.md: %q: %d cells, want 7", line, len(cells))
		}
		c := sandboxCase{name: cells[0], qname: cells[1]}
		var ok bool
		if c.qtype, ok = dns.StringToType[cells[2]]; !ok {
			tb.Fatalf("CASES.md %s: qtype %q", c.name, cells[2])
		}
		if c.rcode, ok = dns.StringToRcode[cells[3]]; !ok {
			tb.Fatalf("CASES.md %s: rcode %q", c.name, cells[3])
		}
		if cells[4] != "-" {
			for _, text := range strings.Split(cells[4], " ; ") {
				c.answer = append(c.answer, caseRR(tb, c.name, text))
			}
		}
		if cells[5] != "-" {
			c.negative = cells[5]
		}
		cases = append(cases, c)
	}
	if len(cases) == 0 {
		tb.Fatal("CASES.md: no cases found")
	}
	return cases
}

// caseRR normalises one answer record of CASES.md to rrString's form.
func caseRR(tb testing.TB, name, text string) string {
	tb.Helper()
	if before, _, elided := strings.Cut(text, " <"); elided {
		return before + " "
	}
	f := strings.Fields(text)
	if len(f) < 4 {
		tb.Fatalf("CASES.md %s: record %q", name, text)
	}
	rr, err := dns.NewRR(f[0] + " " + f[1] + " IN " + strings.Join(f[2:], " "))
	if err != nil {
		tb.Fatalf("CASES.md %s: record %q: %v", name, text, err)
	}
	return rrString(rr)
}

// matchAnswer compares an answer section with a case's records, in any order;
// an elided record matches on owner, TTL and type.
func matchAnswer(got []dns.RR, want []string) bool {
	gotS := rrStrings(got)
	if len(gotS) != len(want) {
		return false
	}
	used := make([]bool, len(gotS))
next:
	for _, w := range want {
		for i, g := range gotS {
			if used[i] {
				continue
			}
			if g == w || strings.HasSuffix(w, " ") && strings.HasPrefix(g, w) {
				used[i] = true
				continue next
			}
		}
		return false
	}
	return true
}
