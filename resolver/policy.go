package resolver

// The response policy stage (Config.Policy; package rpz is one): asked
// about the qname before the cache and before iteration, then about the
// names the answer's CNAMEs lead to and the addresses it holds. A policy
// answer is built here, never cached, and carries an Extended DNS Error.

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// ErrPolicyDrop means the policy says to give no answer at all (RPZ's
// DROP): a server sends nothing back.
var ErrPolicyDrop = errors.New("dropped by response policy")

// Policy rewrites answers (response policy zones, as package rpz loads
// them). Matches are looked up on every client query: they must be cheap
// and safe for concurrent use.
type Policy interface {
	// MatchName returns the action for name (canonical: lowercase,
	// fully qualified), the qname or a name its CNAMEs lead to.
	MatchName(name string) (PolicyAction, bool)
	// MatchAddr returns the action for an answer that holds addr in an
	// A or AAAA record (RPZ's response-IP triggers).
	MatchAddr(addr netip.Addr) (PolicyAction, bool)
	// Applied is told each action that shaped a client's answer, with
	// the question and the client (zero when unknown): hits are counted
	// and logged there, once per answer.
	Applied(a PolicyAction, qname string, qtype uint16, client netip.Addr)
}

// PolicyKind is what a policy does with a question.
type PolicyKind uint8

const (
	PolicyNXDOMAIN PolicyKind = iota + 1 // the name does not exist
	PolicyNODATA                         // the name exists, without data
	PolicyPassthru                       // answer as resolved; no later policy applies
	PolicyDrop                           // no answer at all
	PolicyTCPOnly                        // over UDP an empty truncated answer, over TCP as resolved
	PolicyData                           // answer with Data (a CNAME in Data is resolved on)
)

func (k PolicyKind) String() string {
	names := [...]string{"", "nxdomain", "nodata", "passthru", "drop", "tcp-only", "local-data"}
	if int(k) < len(names) && k != 0 {
		return names[k]
	}
	return "unknown"
}

// PolicyAction is a policy's answer to a match.
type PolicyAction struct {
	Kind PolicyKind
	// Data are the records of PolicyData; the resolver gives them the
	// name matched as owner (wildcard triggers).
	Data []dns.RR
	// SOA is the authority of NXDOMAIN and NODATA answers (the policy
	// zone's, so that clients cache them no longer than its minimum).
	SOA *dns.SOA
	// Policy names the policy that matched; Trigger what matched in it
	// ("*.example.com.", "192.0.2.0/24").
	Policy  string
	Trigger string
}

// policyDepth bounds policy rewrites within one answer: a CNAME rewrite
// whose target is rewritten again, and so on.
const policyDepth = 8

// policyRun is one client question on its way through the policy. With
// cachedOnly nothing is resolved (QueryCached).
type policyRun struct {
	r          *Resolver
	ctx        context.Context
	qtype      uint16
	opts       Options
	cachedOnly bool
}

// query answers qname (name as asked) with the policy applied: to qname
// first, then to the names its answer's CNAMEs lead to and the addresses
// it holds. With cachedOnly, ok is false when the cache cannot answer,
// and nothing was reported to the policy (Query will do it again);
// otherwise ok is always true.
func (p *policyRun) query(qname, name string, depth int) (Answer, bool, error) {
	if _, ok := p.r.fromLocal(qname, p.qtype); ok {
		return p.plain(qname, name) // local data comes first, as in Unbound
	}
	if act, ok := p.r.policy.MatchName(qname); ok {
		return p.apply(act, nil, nil, qname, name, depth)
	}
	a, ok, err := p.plain(qname, name)
	if err != nil || !ok || a.Msg == nil {
		return a, ok, err
	}
	return p.after(a, qname, name, depth)
}

// plain answers qname without the policy.
func (p *policyRun) plain(qname, name string) (Answer, bool, error) {
	if p.cachedOnly {
		a, ok := p.r.queryCached(qname, name, p.qtype, p.opts)
		return a, ok, nil
	}
	a, err := p.r.query(p.ctx, qname, name, p.qtype, p.opts)
	return a, true, err
}

// after applies the policy to what a's answer leads to: the CNAME
// targets of its chain, in order, then its addresses.
func (p *policyRun) after(a Answer, qname, name string, depth int) (Answer, bool, error) {
	at := qname
	for i, rr := range a.Msg.Answer {
		c, ok := rr.(*dns.CNAME)
		if !ok || !sameName(c.Hdr.Name, at) {
			continue
		}
		at = strings.ToLower(dns.Fqdn(c.Target))
		if act, ok := p.r.policy.MatchName(at); ok {
			return p.apply(act, &a, a.Msg.Answer[:i+1], at, name, depth)
		}
	}
	for _, rr := range a.Msg.Answer {
		var addr netip.Addr
		switch v := rr.(type) {
		case *dns.A:
			addr, _ = netip.AddrFromSlice(v.A.To4())
		case *dns.AAAA:
			addr, _ = netip.AddrFromSlice(v.AAAA)
		default:
			continue
		}
		if act, ok := p.r.policy.MatchAddr(addr); ok {
			// A response-IP trigger rewrites the whole answer.
			return p.apply(act, &a, nil, qname, name, depth)
		}
	}
	return a, true, nil
}

// report tells the policy that act made the answer to name.
func (p *policyRun) report(act PolicyAction, name string) {
	p.r.policy.Applied(act, strings.ToLower(dns.Fqdn(name)), p.qtype, p.opts.Client)
}

// apply answers name with act at the name at, after the CNAMEs in chain
// that led there from the question. resolved is the answer as resolved,
// when it is known.
func (p *policyRun) apply(act PolicyAction, resolved *Answer, chain []dns.RR, at, name string, depth int) (Answer, bool, error) {
	m := policyMsg(name, p.qtype, chain)
	a := Answer{Msg: m, Policy: act.Policy, EDE: dns.ExtendedErrorCodeBlocked, Why: "blocked by policy " + act.Policy}
	switch act.Kind {
	case PolicyNXDOMAIN, PolicyNODATA:
		if act.Kind == PolicyNXDOMAIN {
			m.Rcode = dns.RcodeNameError
		}
		if act.SOA != nil {
			m.Ns = []dns.RR{act.SOA}
		}
	case PolicyDrop:
		p.report(act, name)
		a = Answer{Policy: act.Policy, Drop: true}
		if p.cachedOnly {
			return a, true, nil
		}
		return a, true, &Error{Qname: name, Qtype: p.qtype, Err: ErrPolicyDrop}
	case PolicyTCPOnly:
		if p.opts.TCP {
			return p.pass(act, resolved, name)
		}
		m.Truncated = true
		m.Answer, a.EDE, a.Why = nil, 0, ""
	case PolicyPassthru:
		return p.pass(act, resolved, name)
	case PolicyData:
		return p.data(act, chain, at, name, depth)
	default:
		return Answer{}, false, nil
	}
	p.report(act, name)
	return a, true, nil
}

func policyMsg(name string, qtype uint16, chain []dns.RR) *dns.Msg {
	m := new(dns.Msg)
	m.Question = []dns.Question{{Name: dns.Fqdn(name), Qtype: qtype, Qclass: dns.ClassINET}}
	m.Response, m.RecursionAvailable = true, true
	m.Answer = slices.Clone(chain)
	return m
}

// pass answers name as resolved, with no more policy. A TCP-only answer
// over TCP is still the policy's: a cache of answers that UDP clients
// also read must not keep it.
func (p *policyRun) pass(act PolicyAction, resolved *Answer, name string) (Answer, bool, error) {
	var a Answer
	ok, err := true, error(nil)
	if resolved != nil {
		a = *resolved
	} else {
		a, ok, err = p.plain(strings.ToLower(dns.Fqdn(name)), name)
	}
	if ok {
		p.report(act, name)
	}
	if act.Kind == PolicyTCPOnly && a.Msg != nil {
		a.Policy = act.Policy
	}
	return a, ok, err
}

// data answers name with the local data of act at the name at: the
// records of qtype, else a CNAME that is resolved on (a CNAME rewrite),
// else NODATA.
func (p *policyRun) data(act PolicyAction, chain []dns.RR, at, name string, depth int) (Answer, bool, error) {
	m := policyMsg(name, p.qtype, chain)
	a := Answer{Msg: m, Policy: act.Policy, EDE: dns.ExtendedErrorCodeForgedAnswer, Why: "rewritten by policy " + act.Policy}
	var cname *dns.CNAME
	for _, rr := range act.Data {
		t := rr.Header().Rrtype
		if t != p.qtype && (t != dns.TypeCNAME || p.qtype == dns.TypeCNAME) {
			continue
		}
		rr = dns.Copy(rr)
		rr.Header().Name = at
		if c, ok := rr.(*dns.CNAME); ok {
			if strings.HasPrefix(c.Target, "*.") && c.Target != "*." {
				// RPZ's wildcard target: the name asked, prepended.
				c.Target = at + c.Target[2:]
			}
			if t != p.qtype {
				cname = c
			}
		}
		m.Answer = append(m.Answer, rr)
	}
	if len(m.Answer) == len(chain) && act.SOA != nil {
		m.Ns = []dns.RR{act.SOA} // NODATA: no records of qtype here
	}
	if cname != nil {
		if depth >= policyDepth {
			return Answer{}, true, &Error{Qname: name, Qtype: p.qtype, Err: ErrLoop}
		}
		target := strings.ToLower(dns.Fqdn(cname.Target))
		next, ok, err := p.query(target, target, depth+1)
		if !ok || err != nil || next.Msg == nil { // not cached, failed, dropped or bogus
			return next, ok, err
		}
		m.Rcode, m.Ns = next.Msg.Rcode, next.Msg.Ns
		m.Answer = append(m.Answer, next.Msg.Answer...)
	}
	p.report(act, name)
	return a, true, nil
}

// Policy returns Config.Policy (nil when none).
func (r *Resolver) Policy() Policy { return r.policy }

// runPolicy runs the policy's background work, if it has any, on wg until
// ctx ends.
func (r *Resolver) runPolicy(ctx context.Context, wg *sync.WaitGroup) {
	if p, ok := r.policy.(interface{ Run(context.Context) error }); ok {
		wg.Go(func() { _ = p.Run(ctx) })
	}
}
