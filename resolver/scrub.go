package resolver

// Scrubbing, pure but for configuration: records a classified reply may
// not keep (out of bailiwick, private addresses, long NS sets, sibling glue,
// authority NS sets).

import (
	"net"
	"net/netip"
	"slices"

	"github.com/miekg/dns"
)

// scrub removes from rep, a reply to a question of type qtype, what
// configuration keeps out: the authority NS set, NS records past the
// limit, private addresses in public names, sibling glue.
func (r *Resolver) scrub(rep *reply, qtype uint16) {
	r.withoutAuthorityNS(rep, qtype)
	r.trimNS(rep, qtype)
	r.withoutPrivate(rep)
	r.withoutSiblingGlue(rep)
}

// withoutPrivate removes from an answer the addresses in the private
// networks (and SVCB and HTTPS records hinting at them), unless the owner
// lies in a private domain: a public name must not point into the local
// network (DNS rebinding).
func (r *Resolver) withoutPrivate(rep *reply) {
	if len(r.private) == 0 || rep.kind != kindAnswer {
		return
	}
	var kept []dns.RR
	for _, rr := range rep.answer {
		if slices.ContainsFunc(addrsIn(rr), r.isPrivate) && !r.inPrivateDomain(rr.Header().Name) {
			continue
		}
		kept = append(kept, rr)
	}
	rep.answer = kept
}

// trimNS keeps the first Limits.MaxNSRecords records of each NS set in
// rep, and the addresses of those servers alone.
func (r *Resolver) trimNS(rep *reply, qtype uint16) {
	max := r.limits.MaxNSRecords
	if len(rep.ns) <= max && len(rep.authNS) <= max && (qtype != dns.TypeNS || len(rep.answer) <= max) {
		return
	}
	rep.ns = rep.ns[:min(len(rep.ns), max)]
	rep.authNS = rep.authNS[:min(len(rep.authNS), max)]
	var servers []dns.RR
	servers = append(servers, rep.ns...)
	servers = append(servers, rep.authNS...)
	if qtype == dns.TypeNS && rep.kind == kindAnswer {
		rep.answer = rep.answer[:min(len(rep.answer), max)]
		servers = append(servers, rep.answer...)
	}
	rep.glue = glueFor(rep.glue, servers)
}

// withoutSiblingGlue sets aside, with Config.VerifySiblingGlue, the glue
// of a referral for servers outside the delegated zone: the addresses are
// looked up, and the glue is kept only as the parent-side fallback.
func (r *Resolver) withoutSiblingGlue(rep *reply) {
	if !r.verifyGlue || rep.kind != kindReferral {
		return
	}
	var inside, sibling []dns.RR
	for _, g := range rep.glue {
		if inZone(g.Header().Name, rep.child) {
			inside = append(inside, g)
		} else {
			sibling = append(sibling, g)
		}
	}
	r.rememberParentGlue(sibling)
	rep.glue = inside
}

// withoutAuthorityNS drops the NS set an answer carried in its authority
// section, and the addresses given for it, unless Config.AcceptAuthorityNS
// keeps them.
func (r *Resolver) withoutAuthorityNS(rep *reply, qtype uint16) {
	if r.authNS || rep.authNS == nil {
		return
	}
	rep.authNS = nil
	var keep []dns.RR
	if qtype == dns.TypeNS && rep.kind == kindAnswer {
		keep = glueFor(rep.glue, rep.answer) // the answer's own servers
	}
	rep.glue = keep
}

// addrsIn returns the addresses a record gives: an A or AAAA record's,
// or an SVCB or HTTPS record's address hints (RFC 9460 section 7.3).
func addrsIn(rr dns.RR) []netip.Addr {
	var svcb *dns.SVCB
	switch rr := rr.(type) {
	case *dns.SVCB:
		svcb = rr
	case *dns.HTTPS:
		svcb = &rr.SVCB
	default:
		return appendAddr(nil, rr)
	}
	var out []netip.Addr
	for _, kv := range svcb.Value {
		var hints []net.IP
		switch kv := kv.(type) {
		case *dns.SVCBIPv4Hint:
			hints = kv.Hint
		case *dns.SVCBIPv6Hint:
			hints = kv.Hint
		}
		for _, ip := range hints {
			if a, ok := netip.AddrFromSlice(ip); ok {
				out = append(out, a.Unmap())
			}
		}
	}
	return out
}

func (r *Resolver) isPrivate(a netip.Addr) bool {
	for _, p := range r.private {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (r *Resolver) inPrivateDomain(name string) bool {
	for _, d := range r.privateOK {
		if inZone(name, d) {
			return true
		}
	}
	return false
}

// scrub keeps the records owned by names at or below zone. Its callers
// only read what it returns: when the records kept come first, before
// any dropped (the common case, with at most an OPT record after them),
// that is rrs itself, cut short, and nothing is copied.
func scrub(rrs []dns.RR, zone string) []dns.RR {
	keep := func(rr dns.RR) bool {
		h := rr.Header()
		return h.Class == dns.ClassINET && h.Rrtype != dns.TypeOPT && inZone(h.Name, zone)
	}
	n := 0
	for n < len(rrs) && keep(rrs[n]) {
		n++
	}
	if !slices.ContainsFunc(rrs[n:], keep) {
		return rrs[:n:n]
	}
	out := slices.Clone(rrs[:n])
	for _, rr := range rrs[n:] {
		if keep(rr) {
			out = append(out, rr)
		}
	}
	return out
}
