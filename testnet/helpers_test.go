package testnet

import (
	"cmp"
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const (
	sandboxDir = "../testdata/sandbox"
	hostileDir = "../testdata/hostile"
)

// testing.TB has every method of TB, so tests hand t to the helpers.
var _ TB = testing.TB(nil)

// replyTimeout is how long a test waits for a loopback reply: generous, as
// the machine may be busy. silenceTimeout is how long a check that expects
// no reply listens (a dead server, an ignored packet).
const (
	replyTimeout   = 3 * time.Second
	silenceTimeout = 300 * time.Millisecond
)

// ask sends one question to addr:port and returns the reply.
type ask struct {
	tcp     bool
	edns    uint16 // 0: no OPT record
	ednsV   uint8
	timeout time.Duration // 0: replyTimeout
}

func (o ask) exchange(ctx context.Context, addr netip.Addr, port uint16, qname string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype)
	m.RecursionDesired = false
	if o.edns > 0 {
		m.SetEdns0(o.edns, false)
		m.IsEdns0().SetVersion(o.ednsV)
	}
	c := &dns.Client{Net: "udp", Timeout: cmp.Or(o.timeout, replyTimeout), UDPSize: max(o.edns, dns.MinMsgSize)}
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
		out = append(out, Summarise(rr, false))
	}
	slices.Sort(out)
	return out
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

// readCases loads the sandbox's CASES.md.
func readCases(tb testing.TB) []Case {
	tb.Helper()
	cases, err := ReadCases(sandboxDir)
	if err != nil {
		tb.Fatal(err)
	}
	return cases
}

// matchAnswer compares an answer section with a case's records, in any
// order; an elided record matches on owner, TTL and type.
func matchAnswer(got []dns.RR, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	used := make([]bool, len(got))
next:
	for _, w := range want {
		elided := strings.HasSuffix(w, " <...>")
		for i, rr := range got {
			if !used[i] && Summarise(rr, elided) == w {
				used[i] = true
				continue next
			}
		}
		return false
	}
	return true
}

func summaries(rrs []dns.RR) []string {
	out := make([]string, len(rrs))
	for i, rr := range rrs {
		out[i] = Summarise(rr, false)
	}
	return out
}
