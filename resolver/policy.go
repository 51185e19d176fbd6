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

// policyQuery answers qname with the policy applied: to qname first, then
// to the names its answer's CNAMEs lead to and the addresses it holds.
// With cachedOnly nothing is resolved (QueryCached): ok is false when the
// cache cannot answer, and nothing was reported to the policy (Query will
// do it again). Without cachedOnly ok is always true.
func (r *Resolver) policyQuery(ctx context.Context, qname, name string, qtype uint16, opts Options, cachedOnly bool, depth int) (Answer, error, bool) {
	plain := func(opts Options) (Answer, error, bool) {
		if cachedOnly {
			a, ok := r.queryCached(qname, name, qtype, opts)
			return a, nil, ok
		}
		a, err := r.query(ctx, qname, name, qtype, opts)
		return a, err, true
	}
	if r.localZoneOf(qname) != "" {
		return plain(opts)
	}
	if act, ok := r.policy.MatchName(qname); ok {
		return r.policyApply(ctx, act, nil, nil, qname, name, qtype, opts, cachedOnly, depth)
	}
	a, err, ok := plain(opts)
	if err != nil || !ok || a.Msg == nil {
		return a, err, ok
	}
	return r.policyAfter(ctx, a, qname, name, qtype, opts, cachedOnly, depth)
}

// policyAfter applies the policy to what a's answer leads to: the CNAME
// targets of its chain, in order, then its addresses.
func (r *Resolver) policyAfter(ctx context.Context, a Answer, qname, name string, qtype uint16, opts Options, cachedOnly bool, depth int) (Answer, error, bool) {
	at := qname
	for i, rr := range a.Msg.Answer {
		c, ok := rr.(*dns.CNAME)
		if !ok || !sameName(c.Hdr.Name, at) {
			continue
		}
		at = strings.ToLower(dns.Fqdn(c.Target))
		if act, ok := r.policy.MatchName(at); ok {
			return r.policyApply(ctx, act, &a, a.Msg.Answer[:i+1], at, name, qtype, opts, cachedOnly, depth)
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
		if act, ok := r.policy.MatchAddr(addr); ok {
			// A response-IP trigger rewrites the whole answer.
			return r.policyApply(ctx, act, &a, nil, qname, name, qtype, opts, cachedOnly, depth)
		}
	}
	return a, nil, true
}

// policyApply answers with act at the name at, after the CNAMEs in chain
// that led there from the question. resolved is the answer as resolved,
// when it is known.
func (r *Resolver) policyApply(ctx context.Context, act PolicyAction, resolved *Answer, chain []dns.RR, at, name string, qtype uint16, opts Options, cachedOnly bool, depth int) (Answer, error, bool) {
	qname := strings.ToLower(dns.Fqdn(name))
	report := func() { r.policy.Applied(act, qname, qtype, opts.Client) }
	m := policyMsg(name, qtype, chain)
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
		report()
		a = Answer{Policy: act.Policy, Drop: true}
		if cachedOnly {
			return a, nil, true
		}
		return a, &Error{Qname: name, Qtype: qtype, Err: ErrPolicyDrop}, true
	case PolicyTCPOnly:
		if opts.TCP {
			return r.policyPass(ctx, act, resolved, qname, name, qtype, opts, cachedOnly)
		}
		m.Truncated = true
		m.Answer, a.EDE, a.Why = nil, 0, ""
	case PolicyPassthru:
		return r.policyPass(ctx, act, resolved, qname, name, qtype, opts, cachedOnly)
	case PolicyData:
		return r.policyData(ctx, act, chain, at, name, qtype, opts, cachedOnly, depth)
	default:
		return Answer{}, nil, false
	}
	report()
	return a, nil, true
}

func policyMsg(name string, qtype uint16, chain []dns.RR) *dns.Msg {
	m := new(dns.Msg)
	m.Question = []dns.Question{{Name: dns.Fqdn(name), Qtype: qtype, Qclass: dns.ClassINET}}
	m.Response, m.RecursionAvailable = true, true
	m.Answer = slices.Clone(chain)
	return m
}

// policyPass answers as resolved, with no more policy.
func (r *Resolver) policyPass(ctx context.Context, act PolicyAction, resolved *Answer, qname, name string, qtype uint16, opts Options, cachedOnly bool) (Answer, error, bool) {
	report := func() { r.policy.Applied(act, qname, qtype, opts.Client) }
	if resolved != nil {
		report()
		return *resolved, nil, true
	}
	if cachedOnly {
		a, ok := r.queryCached(qname, name, qtype, opts)
		if ok {
			report()
		}
		return a, nil, ok
	}
	report()
	a, err := r.query(ctx, qname, name, qtype, opts)
	return a, err, true
}

// policyData answers with the local data of act at the name at: the
// records of qtype, else a CNAME that is resolved on (a CNAME rewrite),
// else NODATA.
func (r *Resolver) policyData(ctx context.Context, act PolicyAction, chain []dns.RR, at, name string, qtype uint16, opts Options, cachedOnly bool, depth int) (Answer, error, bool) {
	m := policyMsg(name, qtype, chain)
	a := Answer{Msg: m, Policy: act.Policy, EDE: dns.ExtendedErrorCodeForgedAnswer, Why: "rewritten by policy " + act.Policy}
	var cname *dns.CNAME
	for _, rr := range act.Data {
		t := rr.Header().Rrtype
		if t != qtype && (t != dns.TypeCNAME || qtype == dns.TypeCNAME) {
			continue
		}
		rr = dns.Copy(rr)
		rr.Header().Name = at
		if c, ok := rr.(*dns.CNAME); ok {
			if strings.HasPrefix(c.Target, "*.") && c.Target != "*." {
				// RPZ's wildcard target: the name asked, prepended.
				c.Target = at + c.Target[2:]
			}
			if t != qtype {
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
			return Answer{}, &Error{Qname: name, Qtype: qtype, Err: ErrLoop}, true
		}
		target := strings.ToLower(dns.Fqdn(cname.Target))
		next, err, ok := r.policyQuery(ctx, target, target, qtype, opts, cachedOnly, depth+1)
		if !ok || err != nil || next.Drop {
			return next, err, ok
		}
		m.Rcode, m.Ns = next.Msg.Rcode, next.Msg.Ns
		m.Answer = append(m.Answer, next.Msg.Answer...)
	}
	r.policy.Applied(act, strings.ToLower(dns.Fqdn(name)), qtype, opts.Client)
	return a, nil, true
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
