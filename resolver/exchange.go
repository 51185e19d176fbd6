package resolver

// One upstream exchange: the query built (0x20 case, EDNS), sent through
// the Transport, its EDNS and case fallbacks, the dont-query rule, and the
// step reported to traces and debug logs.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// exchange sends one query to c and classifies the reply. A non-nil error
// means the server could not be heard (timeout, network error, unusable
// packet) or the budget ran out.
func (r *Resolver) exchange(ctx context.Context, b *budget, depth int, d delegation, c *candidate, qname string, qtype uint16) (reply, error) {
	if int(b.sent.Add(1)) > b.limits.MaxUpstreamQueries {
		return reply{}, fmt.Errorf("%w: more than %d upstream queries", ErrLimit, b.limits.MaxUpstreamQueries)
	}
	if !b.spendOn(qname) {
		return reply{}, fmt.Errorf("%w: more than %d upstream queries about %s", ErrLimit, DefaultMaxQueriesPerName, qname)
	}
	server := netip.AddrPortFrom(c.addr, r.port)
	quirks := r.infra.quirks(c.addr)
	sendName := qname
	if !r.no0x20 && quirks&quirkNo0x20 == 0 {
		sendName = randomizeCase(qname)
	}
	m := new(dns.Msg)
	m.Id = dns.Id()
	m.Question = []dns.Question{{Name: sendName, Qtype: qtype, Qclass: dns.ClassINET}}
	// After two silent tries, the last one goes without EDNS: some
	// middleboxes and old servers drop what they do not understand.
	edns := quirks&quirkNoEDNS == 0 && c.timeouts < 2
	if edns {
		m.SetEdns0(EDNSBufferSize, false)
	}
	var (
		resp *dns.Msg
		rtt  time.Duration
		err  error
	)
	if nt, ok := r.transport.(*NetTransport); ok {
		resp, rtt, err = nt.exchangeWithin(ctx, m, server, r.infra.timeout(c.addr))
	} else {
		tctx, cancel := context.WithTimeout(ctx, r.infra.timeout(c.addr))
		resp, rtt, err = r.transport.Exchange(tctx, m, server)
		cancel()
	}
	step := Step{Depth: depth, Qname: sendName, Qtype: qtype, Zone: d.zone, NSName: c.ns, Server: server, RTT: rtt, Err: err}
	trace := traceFrom(ctx)
	if errors.Is(err, errCaseMismatch) && sendName != qname {
		// The server does not echo 0x20 case: remember, ask plainly.
		r.infra.addQuirk(c.addr, quirkNo0x20)
		step.Outcome = "case not echoed, retrying without 0x20"
		r.report(ctx, trace, step)
		return r.exchange(ctx, b, depth, d, c, qname, qtype)
	}
	if err != nil {
		timedOut := errors.Is(err, context.DeadlineExceeded)
		if ctx.Err() == nil {
			r.infra.failure(c.addr, timedOut, r.now())
		}
		if timedOut {
			c.timeouts++
		}
		step.Outcome = "error"
		if timedOut {
			step.Outcome = "timeout"
		}
		r.report(ctx, trace, step)
		return reply{}, fmt.Errorf("%s from %s (%s): %w", step.Outcome, server, c.ns, err)
	}
	if edns && (resp.Rcode == dns.RcodeFormatError || resp.Rcode == dns.RcodeNotImplemented) && resp.IsEdns0() == nil {
		// A server that does not speak EDNS: remember, ask again plainly.
		r.infra.addQuirk(c.addr, quirkNoEDNS)
		step.Outcome = "no EDNS, retrying without"
		r.report(ctx, trace, step)
		return r.exchange(ctx, b, depth, d, c, qname, qtype)
	}
	restoreCase(resp, sendName, qname)
	if !edns && quirks&quirkNoEDNS == 0 {
		r.infra.addQuirk(c.addr, quirkNoEDNS) // silent with EDNS, answers without
	}
	rep := classify(resp, d.zone, qname, qtype)
	if rep.kind == kindBad || rep.kind == kindLame {
		r.infra.failure(c.addr, false, r.now())
	} else {
		r.infra.success(c.addr, rtt, r.now())
	}
	if r.reporting(ctx, trace) {
		step.Outcome = describe(rep)
		r.report(ctx, trace, step)
	}
	return rep, nil
}

// reporting says whether anyone takes the steps: a trace, or debug logs.
// Building and logging them cost a tenth of a cold resolution's
// allocations otherwise.
func (r *Resolver) reporting(ctx context.Context, trace func(Step)) bool {
	return trace != nil || r.log.Enabled(ctx, slog.LevelDebug)
}

func (r *Resolver) report(ctx context.Context, trace func(Step), s Step) {
	if !r.reporting(ctx, trace) {
		return
	}
	r.log.Debug("exchange", "qname", s.Qname, "qtype", dns.TypeToString[s.Qtype], "zone", s.Zone,
		"server", s.Server.String(), "ns", s.NSName, "rtt", s.RTT, "outcome", s.Outcome)
	if trace != nil {
		trace(s)
	}
}

func describe(rep reply) string {
	switch rep.kind {
	case kindReferral:
		return "referral to " + rep.child
	case kindCNAME:
		return "cname to " + rep.target
	case kindAnswer:
		if len(rep.chain) > 0 {
			return fmt.Sprintf("answer (%d records, after %d CNAME/DNAME)", len(rep.answer), len(rep.chain))
		}
		return fmt.Sprintf("answer (%d records)", len(rep.answer))
	case kindBad, kindLame:
		return rep.kind.String() + ": " + rep.why
	}
	return rep.kind.String()
}

// allowed reports whether queries may be sent to a.
func (r *Resolver) allowed(a netip.Addr) bool {
	if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || r.noIPv6 && a.Is6() {
		return false
	}
	for _, p := range r.dontQuery {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// DefaultDontQuery lists the networks never queried upstream unless
// Config.DontQuery says otherwise: loopback, private, shared, link-local,
// documentation and other special-purpose ranges (as PowerDNS's
// dont-query), where no public authoritative server lives.
func DefaultDontQuery() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
		"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "255.255.255.255/32",
		"::/128", "::1/128", "100::/64", "2001:db8::/32", "fc00::/7", "fe80::/10",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// randomizeCase flips the letter case of name at random (draft-vixie-dnsext-
// dns0x20): a spoofed reply must guess the case as well as ID and port.
func randomizeCase(name string) string {
	b := []byte(name)
	bits := rand.Uint64()
	for i, c := range b {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			if bits&1 == 1 {
				b[i] = c ^ 0x20
			} else {
				b[i] = c | 0x20
			}
			bits >>= 1
			if bits == 0 {
				bits = rand.Uint64()
			}
		}
	}
	return string(b)
}

// restoreCase gives the names that repeat the randomised question the
// case of qname again, so the cache and clients see names as asked.
func restoreCase(resp *dns.Msg, sent, qname string) {
	if sent == qname {
		return
	}
	for i := range resp.Question {
		resp.Question[i].Name = qname
	}
	for _, sec := range [][]dns.RR{resp.Answer, resp.Ns, resp.Extra} {
		for _, rr := range sec {
			if h := rr.Header(); h.Name == sent {
				h.Name = qname
			}
		}
	}
}
