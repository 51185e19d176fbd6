package testnet

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/roothints"
)

// walker is a minimal iterative resolver that checks CASES.md against a
// running sandbox: it follows referrals from the root hints, looks up
// glueless name servers, skips servers that fail, and restarts at CNAME
// targets. It is a yardstick for the data, not a model for the engine.
type walker struct {
	hints *roothints.Hints
	port  uint16
	dead  map[netip.Addr]bool
}

// walkResult is a resolver's answer: rcode, answer section and, for a
// negative answer, the SOA that came with it.
type walkResult struct {
	rcode  int
	answer []dns.RR
	soa    *dns.SOA
}

const (
	walkMaxRestarts  = 8
	walkMaxReferrals = 16
	walkMaxDepth     = 4
)

var servfail = walkResult{rcode: dns.RcodeServerFailure}

func (w *walker) resolve(ctx context.Context, qname string, qtype uint16, depth int) walkResult {
	var answer []dns.RR
	name := qname
	for range walkMaxRestarts {
		res, next := w.walkFromRoot(ctx, name, qtype, depth)
		answer = append(answer, res.answer...)
		if next == "" || res.rcode != dns.RcodeSuccess {
			res.answer = answer
			return res
		}
		name = next
	}
	return servfail
}

// walkFromRoot resolves name from the root down; next is a CNAME target the
// reply left for the caller to follow.
func (w *walker) walkFromRoot(ctx context.Context, name string, qtype uint16, depth int) (res walkResult, next string) {
	if depth > walkMaxDepth {
		return servfail, ""
	}
	var servers []netip.Addr
	for _, s := range w.hints.Servers {
		servers = append(servers, s.Addrs...)
	}
	zone := "."
	for range walkMaxReferrals {
		resp := w.askAny(ctx, servers, name, qtype)
		if resp == nil {
			return servfail, ""
		}
		if cut, nsset := referral(resp, zone, name); cut != "" {
			zone = cut
			servers = w.nsAddrs(ctx, resp, nsset, depth)
			continue
		}
		res = walkResult{rcode: resp.Rcode, answer: resp.Answer}
		for _, rr := range resp.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				res.soa = soa
			}
		}
		if resp.Rcode == dns.RcodeSuccess {
			next = chainEnd(resp.Answer, name, qtype)
		}
		return res, next
	}
	return servfail, ""
}

// referral returns the cut and NS set of a reply that delegates name to a
// zone below zone.
func referral(resp *dns.Msg, zone, name string) (string, []*dns.NS) {
	if resp.Authoritative || resp.Rcode != dns.RcodeSuccess || len(resp.Answer) > 0 {
		return "", nil
	}
	var nsset []*dns.NS
	cut := ""
	for _, rr := range resp.Ns {
		if ns, ok := rr.(*dns.NS); ok {
			cut = canonical(ns.Hdr.Name)
			nsset = append(nsset, ns)
		}
	}
	if cut == "" || cut == zone || !dns.IsSubDomain(zone, cut) || !dns.IsSubDomain(cut, canonical(name)) {
		return "", nil
	}
	return cut, nsset
}

// nsAddrs returns the glue of a referral, looking up names that have none.
func (w *walker) nsAddrs(ctx context.Context, resp *dns.Msg, nsset []*dns.NS, depth int) []netip.Addr {
	var addrs []netip.Addr
	for _, ns := range nsset {
		found := false
		for _, rr := range resp.Extra {
			if a, ok := rr.(*dns.A); ok && strings.EqualFold(a.Hdr.Name, ns.Ns) {
				addr, _ := netip.AddrFromSlice(a.A.To4())
				addrs = append(addrs, addr)
				found = true
			}
		}
		if found {
			continue
		}
		sub := w.resolve(ctx, ns.Ns, dns.TypeA, depth+1)
		for _, rr := range sub.answer {
			if a, ok := rr.(*dns.A); ok {
				addr, _ := netip.AddrFromSlice(a.A.To4())
				addrs = append(addrs, addr)
			}
		}
	}
	return addrs
}

// askAny asks each server in turn until one gives NOERROR or NXDOMAIN,
// over UDP with EDNS and again over TCP when truncated. The dead server is
// given up on after silenceTimeout, the others get replyTimeout.
func (w *walker) askAny(ctx context.Context, servers []netip.Addr, name string, qtype uint16) *dns.Msg {
	for _, addr := range servers {
		timeout := replyTimeout
		if w.dead[addr] {
			timeout = silenceTimeout
		}
		resp, err := ask{edns: EDNSBufferSize, timeout: timeout}.exchange(ctx, addr, w.port, name, qtype)
		if err == nil && resp.Truncated {
			resp, err = ask{tcp: true, edns: EDNSBufferSize}.exchange(ctx, addr, w.port, name, qtype)
		}
		if err == nil && (resp.Rcode == dns.RcodeSuccess || resp.Rcode == dns.RcodeNameError) {
			return resp
		}
	}
	return nil
}

// chainEnd follows the CNAMEs of an answer from name and returns the last
// target when the answer holds no qtype data for it.
func chainEnd(answer []dns.RR, name string, qtype uint16) string {
	if qtype == dns.TypeCNAME {
		return ""
	}
	cur := canonical(name)
	for range len(answer) {
		moved := false
		for _, rr := range answer {
			if c, ok := rr.(*dns.CNAME); ok && canonical(c.Hdr.Name) == cur {
				cur, moved = canonical(c.Target), true
				break
			}
		}
		if !moved {
			break
		}
	}
	if cur == canonical(name) {
		return ""
	}
	for _, rr := range answer {
		if canonical(rr.Header().Name) == cur && rr.Header().Rrtype == qtype {
			return ""
		}
	}
	return cur
}

// sandboxNet is what TestCases needs of either network.
type sandboxNet interface {
	Port() uint16
	RootHints() *roothints.Hints
	Servers() []Server
}

func checkCases(t *testing.T, n sandboxNet) {
	w := &walker{hints: n.RootHints(), port: n.Port(), dead: map[netip.Addr]bool{}}
	for _, s := range n.Servers() {
		w.dead[s.Addr] = s.Mode == ModeDead
	}
	for _, c := range readCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			got := w.resolve(t.Context(), c.Qname, c.Qtype, 0)
			if got.rcode != c.Rcode {
				t.Errorf("%s %s: rcode %s, want %s", c.Qname, dns.TypeToString[c.Qtype],
					dns.RcodeToString[got.rcode], dns.RcodeToString[c.Rcode])
			}
			if !matchAnswer(got.answer, c.Answer) {
				t.Errorf("%s %s: answer\n  %s\nwant\n  %s", c.Qname, dns.TypeToString[c.Qtype],
					strings.Join(summaries(got.answer), "\n  "), strings.Join(c.Answer, "\n  "))
			}
			var negative string
			if got.soa != nil && len(got.answer) == 0 || got.rcode == dns.RcodeNameError {
				if got.soa != nil {
					negative = fmt.Sprintf("%s %d", canonical(got.soa.Hdr.Name), got.soa.Hdr.Ttl)
				}
			}
			if negative != c.Negative {
				t.Errorf("%s %s: negative SOA %q, want %q", c.Qname, dns.TypeToString[c.Qtype], negative, c.Negative)
			}
		})
	}
}

func TestCasesInProcess(t *testing.T) {
	checkCases(t, StartTB(t, sandboxDir))
}
