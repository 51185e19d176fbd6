package resolver

// One upstream exchange: the query built (0x20 case, EDNS), sent through
// the Transport, the reply classified and its outcome told to server
// selection (infra.report), the EDNS and 0x20 fallbacks, the dont-query
// rule, and the step reported to traces and debug logs.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/miekg/dns"
)

// errNoEDNS: a server answered an EDNS query FORMERR or NOTIMP without an
// OPT record: it does not speak EDNS, and is asked again without.
var errNoEDNS = errors.New("EDNS not understood")

// exchange asks c, a server of d, about qname and qtype and classifies
// the reply. The outcome has been told to server selection. The error is
// a *ServerError when the server gave no usable reply, or wraps ErrLimit
// when the budget ran out.
func (r *Resolver) exchange(ctx context.Context, q *query, d delegation, c *candidate, qname string, qtype uint16) (*reply, Outcome, error) {
	rep, o, err := r.exchangeOnce(ctx, q, d, c, qname, qtype, caseByServer)
	switch {
	case errors.Is(err, errNoEDNS):
		// A server that does not speak EDNS: it is remembered
		// (exchangeOnce), and asked again plainly.
		return r.exchangeOnce(ctx, q, d, c, qname, qtype, caseByServer)
	case o == OutcomeCaseMismatch:
		return r.afterCaseMismatch(ctx, q, d, c, qname, qtype)
	}
	return rep, o, err
}

// afterCaseMismatch follows a reply that did not echo the question's 0x20
// case. It may be a spoof that guessed ID and port but not the case, or a
// server that does not keep case; one such reply must not switch the
// protection off. The server is asked again with a fresh case, ID and
// port: a reply that echoes it settles the question. Another mismatch
// counts against the address (CaseMismatchesToMark of them and it is
// asked plainly until its infra entry expires), and the question goes out
// twice more without 0x20, each with a fresh ID and port; the reply is
// used only when both agree.
func (r *Resolver) afterCaseMismatch(ctx context.Context, q *query, d delegation, c *candidate, qname string, qtype uint16) (*reply, Outcome, error) {
	rep, o, err := r.exchangeOnce(ctx, q, d, c, qname, qtype, caseRandom)
	if o != OutcomeCaseMismatch {
		return rep, o, err
	}
	r.infra.caseMismatch(c.addr, r.now())
	// err too: a budget that ran out comes with no outcome of its own.
	first, o, err := r.exchangeOnce(ctx, q, d, c, qname, qtype, casePlain)
	if o != OutcomeAnswered || err != nil {
		return first, o, err
	}
	second, o, err := r.exchangeOnce(ctx, q, d, c, qname, qtype, casePlain)
	if o != OutcomeAnswered || err != nil {
		return second, o, err
	}
	if !agree(first, second) {
		r.infra.report(c.addr, d.zone, OutcomeMalformed, 0, r.now())
		return nil, OutcomeCaseMismatch, &ServerError{Outcome: OutcomeCaseMismatch, Server: r.serverOf(c), NSName: c.ns,
			Err: errors.New("the case was not echoed and two replies without 0x20 disagree")}
	}
	return first, OutcomeAnswered, nil
}

// agree reports whether two classified replies say the same thing.
func agree(a, b *reply) bool {
	sameSet := func(x, y []dns.RR) bool {
		return len(x) == len(y) && !slices.ContainsFunc(x, func(rr dns.RR) bool {
			return !slices.ContainsFunc(y, func(o dns.RR) bool { return dns.IsDuplicate(rr, o) })
		})
	}
	return a.kind == b.kind && a.rcode == b.rcode && sameName(a.target, b.target) && sameName(a.child, b.child) &&
		sameSet(a.answer, b.answer) && sameSet(a.chain, b.chain) && sameSet(a.ns, b.ns)
}

func (r *Resolver) serverOf(c *candidate) netip.AddrPort {
	if c.port != 0 {
		return netip.AddrPortFrom(c.addr, c.port)
	}
	return netip.AddrPortFrom(c.addr, r.port)
}

// caseRule says whether a query's name goes out in random case (0x20).
type caseRule uint8

const (
	caseByServer caseRule = iota // unless 0x20 is off, over TLS, or the server does not echo case
	caseRandom
	casePlain
)

// exchangeOnce sends one query to c, with or without 0x20 as rule says,
// and classifies and reports what came of it.
func (r *Resolver) exchangeOnce(ctx context.Context, q *query, d delegation, c *candidate, qname string, qtype uint16, rule caseRule) (*reply, Outcome, error) {
	b := q.budget
	if int(b.sent.Add(1)) > b.limits.MaxUpstreamQueries {
		return nil, 0, fmt.Errorf("%w: more than %d upstream queries", ErrLimit, b.limits.MaxUpstreamQueries)
	}
	if !b.spendOn(qname) {
		return nil, 0, fmt.Errorf("%w: more than %d upstream queries about %s", ErrLimit, b.limits.MaxQueriesPerName, qname)
	}
	now := r.now()
	server := r.serverOf(c)
	quirks, timeout := r.infra.forQuery(c.addr, now)
	use0x20 := rule == caseRandom || rule == caseByServer && !r.no0x20 && !d.overTLS() && quirks&quirkNo0x20 == 0
	sendName := qname
	if use0x20 {
		sendName = randomizeCase(qname)
	}
	// After two silent tries, the last one goes without EDNS: some
	// middleboxes and old servers drop what they do not understand.
	edns := quirks&quirkNoEDNS == 0 && c.timeouts < 2
	uq := newUpstreamQuery(sendName, qtype, d.forwards(), edns, r.val != nil) // DO when validating
	m := &uq.msg
	if left := c.deadline.Sub(now); !c.deadline.IsZero() && left < timeout {
		timeout = max(left, MinServerTimeout)
	}
	trace := traceFrom(ctx)
	reporting := r.reporting(ctx, trace)
	sendCtx, note := noting(ctx, reporting)
	resp, rtt, tcp, err := r.exchangeCookies(sendCtx, r.transportFor(d), uq, server, timeout, now)
	if r.tap != nil {
		// Before restoreCase: the reply as it came.
		r.tap.Upstream(server, tcp, m, resp, time.Now().Add(-rtt), rtt)
	}
	var rep *reply // nil unless the reply was classified
	var o Outcome
	switch {
	case err != nil:
		o = transportOutcome(err)
		if o == OutcomeTimeout {
			c.timeouts++
		}
	case edns && (resp.Rcode == dns.RcodeFormatError || resp.Rcode == dns.RcodeNotImplemented) && resp.IsEdns0() == nil:
		r.infra.addQuirk(c.addr, quirkNoEDNS, now)
		o, err = OutcomeEDNS, fmt.Errorf("%w: rcode %s", errNoEDNS, dns.RcodeToString[resp.Rcode])
	default:
		restoreCase(resp, sendName, qname)
		classified := classify(resp, d.zone, qname, qtype, b.limits.MaxCNAMEs)
		if d.forwards() {
			classified = fromForwarder(classified, resp, d.zone, qname, qtype, b.limits.MaxCNAMEs)
		}
		rep = &classified
		if o = outcomeOf(rep); o != OutcomeAnswered {
			err = errors.New(rep.why)
		} else if !edns && quirks&quirkNoEDNS == 0 {
			r.infra.addQuirk(c.addr, quirkNoEDNS, now) // silent with EDNS, answers without
		}
	}
	if ctx.Err() == nil && o != OutcomeCaseMismatch {
		// A mismatch is counted once confirmed (afterCaseMismatch).
		r.infra.report(c.addr, d.zone, o, rtt, r.now())
	}
	r.metrics.Upstream(o, tcp, rtt)
	if err != nil {
		err = &ServerError{Outcome: o, Server: server, NSName: c.ns, Err: err}
	}
	if reporting {
		r.report(ctx, trace, Step{Depth: q.depth, Qname: sendName, Qtype: qtype, Zone: d.zone, NSName: c.ns, Server: server,
			TCP: tcp || note.reason() != "", TCPFallback: note.reason(), // a wrapper without ExchangeTimed cannot tell tcp
			Referral: referralOf(rep, resp), RTT: rtt, Outcome: o, Detail: describe(rep, o, err), Err: err})
	}
	return rep, o, err
}

// upstreamQuery is a query to send upstream and what it points to, in one
// allocation where there were five: the message, its question, its OPT
// record and the COOKIE option that exchangeCookies puts in it.
type upstreamQuery struct {
	msg      dns.Msg
	question [1]dns.Question
	extra    [1]dns.RR
	opt      dns.OPT
	cookie   cookieOption
}

// newUpstreamQuery is the query for name and qtype, with RD when rd, and
// with EDNS (our buffer size, and DO when do) when edns, as SetEdns0 would
// add it.
func newUpstreamQuery(name string, qtype uint16, rd, edns, do bool) *upstreamQuery {
	uq := new(upstreamQuery)
	m := &uq.msg
	m.Id = dns.Id()
	m.RecursionDesired = rd
	uq.question[0] = dns.Question{Name: name, Qtype: qtype, Qclass: dns.ClassINET}
	m.Question = uq.question[:]
	if edns {
		uq.opt.Hdr = dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}
		uq.opt.SetUDPSize(EDNSBufferSize)
		if do {
			uq.opt.SetDo()
		}
		uq.extra[0] = &uq.opt
		m.Extra = uq.extra[:]
	}
	return uq
}

// transportOutcome is the outcome of an exchange the transport failed.
func transportOutcome(err error) Outcome {
	switch {
	case errors.Is(err, errCaseMismatch):
		return OutcomeCaseMismatch
	case errors.Is(err, context.DeadlineExceeded):
		return OutcomeTimeout
	case errors.Is(err, errMalformed), errors.Is(err, errMismatch):
		return OutcomeMalformed
	}
	return OutcomeNetError
}

// outcomeOf is the outcome of a classified reply.
func outcomeOf(rep *reply) Outcome {
	switch rep.kind {
	case kindLame:
		return OutcomeLame
	case kindBad:
		switch rep.rcode {
		case dns.RcodeRefused:
			return OutcomeRefused
		case dns.RcodeNotAuth:
			return OutcomeLame
		case dns.RcodeFormatError, dns.RcodeNotImplemented, dns.RcodeBadVers:
			return OutcomeEDNS
		case dns.RcodeSuccess, dns.RcodeNameError:
			return OutcomeMalformed // the wrong question
		}
		return OutcomeServfail
	}
	return OutcomeAnswered
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
		"server", s.Server.String(), "ns", s.NSName, "rtt", s.RTT, "tcp", s.TCP, "tcp_fallback", s.TCPFallback, "outcome", s.Outcome.String(), "detail", s.Detail)
	if trace != nil {
		trace(s)
	}
}

// describe says what an exchange came to, for traces and logs.
func describe(rep *reply, o Outcome, err error) string {
	if o != OutcomeAnswered {
		var se *ServerError
		if errors.As(err, &se) {
			err = se.Err
		}
		return fmt.Sprintf("%s: %v", o, err)
	}
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
