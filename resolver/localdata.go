package resolver

// Local data (Config.LocalData): the operator's own local zones, asked
// before the built-in special-use zones, the cache and iteration, as
// Unbound consults its local-zone and local-data first. Their answers are
// built per question and never enter the cache.

import (
	"context"
	"fmt"
	"slices"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/dnssec"
	"github.com/recursor-dns/recursor/internal/dnsname"
	"github.com/recursor-dns/recursor/localdata"
)

// SetLocalData replaces the local data (nil: none) for the questions
// that follow; questions under way keep the table they started with.
// Answer caches in front of the resolver must drop what they kept from
// the old table, as a reload does with server.FlushAnswers.
func (r *Resolver) SetLocalData(t *localdata.Table) { r.localData.Store(t) }

// LocalData returns the local data in use, nil when none.
func (r *Resolver) LocalData() *localdata.Table { return r.localData.Load() }

// Local reports whether name and qtype are answered from local data or a
// built-in local zone (an answer, a negative answer, a refusal or a
// drop) rather than by the cache and iteration: what a server's
// access control lets through to clients allowed local data only.
func (r *Resolver) Local(name string, qtype uint16) bool {
	_, ok := r.fromLocal(dns.CanonicalName(name), qtype)
	return ok
}

// fromLocal answers qname and qtype from the local data, else from the
// built-in local zones that no configured zone overrides. A built-in zone
// gives way to a configured zone of the same name (any type, nodefault
// included), and to one closer to qname: as in Unbound, the closest zone
// decides, and a transparent one then sends the question on to be
// resolved.
func (r *Resolver) fromLocal(qname string, qtype uint16) (result, bool) {
	t := r.localData.Load()
	v := t.Lookup(qname, qtype)
	switch v.Action {
	case localdata.Answer:
		return result{rcode: v.Rcode, answer: v.Answer, ns: v.Ns, local: true, alias: v.Alias}, true
	case localdata.Drop:
		return result{rcode: dns.RcodeRefused, local: true, drop: true}, true
	}
	z := r.localZoneOf(qname)
	if z == "" || t.Has(z) || len(z) <= len(v.Zone) {
		// Both zones hold qname: the longer name is the closer zone.
		return result{}, false
	}
	return localAnswer(z, qname, qtype), true
}

// A redirect zone whose apex holds a CNAME is an alias (Unbound's local
// alias): its questions get the CNAME, then the answer for its target,
// resolved as a client's question would be (local data included). Such
// an answer is not authoritative unless its target is local too, and never
// has AD: the CNAME is unsigned local data.

// aliasChain follows res's alias through the aliases of local data. It
// returns the CNAMEs and the name to resolve.
func (r *Resolver) aliasChain(res result, qtype uint16) (chain []dns.RR, target string, err error) {
	chain, target = slices.Clip(res.answer), res.alias
	for range r.limits.MaxCNAMEs {
		if target, err = dnsname.Canonical(target); err != nil {
			return nil, "", fmt.Errorf("%w: local alias to %q", ErrBadName, res.alias)
		}
		next, ok := r.fromLocal(target, qtype)
		if !ok || next.alias == "" {
			return chain, target, nil
		}
		chain, target = slices.Concat(chain, next.answer), next.alias
	}
	return nil, "", fmt.Errorf("%w: local aliases past %d CNAMEs", ErrLoop, r.limits.MaxCNAMEs)
}

// followAlias is Query's answer for a local alias.
func (r *Resolver) followAlias(ctx context.Context, res result, name string, qtype uint16, opts Options) (Answer, error) {
	chain, target, err := r.aliasChain(res, qtype)
	if err != nil {
		return Answer{}, &Error{Qname: name, Qtype: qtype, Err: err}
	}
	a, err := r.Query(ctx, target, qtype, opts)
	if err != nil {
		return a, err
	}
	return withAlias(a, chain, name, qtype), nil
}

// followAliasCached is QueryCached's answer for a local alias.
func (r *Resolver) followAliasCached(res result, name string, qtype uint16, opts Options) (Answer, bool) {
	chain, target, err := r.aliasChain(res, qtype)
	if err != nil {
		return Answer{}, false
	}
	a, ok := r.QueryCached(target, qtype, opts)
	if !ok || a.Msg == nil { // nothing cached, or a bogus verdict without message
		return a, ok
	}
	return withAlias(a, chain, name, qtype), true
}

// withAlias puts the alias chain before the target's answer a, whose
// message was made for this question alone.
func withAlias(a Answer, chain []dns.RR, name string, qtype uint16) Answer {
	m := a.Msg
	m.Question = []dns.Question{{Name: dns.Fqdn(name), Qtype: qtype, Qclass: dns.ClassINET}}
	m.Answer = slices.Concat(chain, m.Answer)
	m.AuthenticatedData = false
	if a.Security == dnssec.Secure {
		a.Security = dnssec.Indeterminate
	}
	return a
}
