package testnet

import (
	"github.com/miekg/dns"
)

// The functions here read the DNSSEC records a signed zone file brings
// (DNSKEY, RRSIG, NSEC, NSEC3, NSEC3PARAM); the zone loader files them like
// any other record.

// nsec3Only reports whether n holds NSEC3 records and nothing else but
// their signatures: such a name is an NSEC3 owner, which does not exist as
// a name of the zone (RFC 5155 section 7.2.9).
func nsec3Only(n *node) bool {
	if n == nil || !n.has(dns.TypeNSEC3) {
		return false
	}
	for t, rrs := range n.rrsets {
		switch t {
		case dns.TypeNSEC3:
		case dns.TypeRRSIG:
			for _, rr := range rrs {
				if rr.(*dns.RRSIG).TypeCovered != dns.TypeNSEC3 {
					return false
				}
			}
		default:
			return false
		}
	}
	return true
}

// exists reports whether name (lower case, in the zone) is a name of the
// zone: it owns records or is an empty non-terminal, and is no NSEC3 owner.
func (z *zone) exists(name string) bool {
	n := z.nodes[name]
	return n != nil && !nsec3Only(n)
}

// lookupVisible is lookup with the owner names of NSEC3 records hidden, so
// that a question for a hashed name gets the NXDOMAIN (or the wildcard) its
// NSEC3 chain proves, as NSD gives.
func (z *zone) lookupVisible(qname string, qtype uint16) lookupResult {
	res := z.lookup(qname, qtype)
	if res.kind == kindReferral || res.kind == kindDNAME {
		return res // decided above any hashed name
	}
	hidden := z.hiddenOwner(qname)
	if hidden == "" {
		return res
	}
	encloser := ancestors(hidden, z.origin)[0]
	if wild := z.nodes["*."+trimRoot(encloser)]; wild != nil {
		return nodeResult(wild, qtype, true)
	}
	return lookupResult{kind: kindNXDomain}
}

// hiddenOwner returns the NSEC3 owner at or above qname, or "".
func (z *zone) hiddenOwner(qname string) string {
	for _, name := range descendants(qname, z.origin)[1:] {
		n := z.nodes[name]
		switch {
		case n == nil:
			return ""
		case nsec3Only(n):
			return name
		}
	}
	return ""
}

// closestEncloser returns the nearest ancestor of qname (lower case, below
// the apex) that exists in the zone: at worst the apex.
func (z *zone) closestEncloser(qname string) string {
	for _, up := range ancestors(qname, z.origin) {
		if z.exists(up) {
			return up
		}
	}
	return z.origin
}

// sigsOf returns copies of the RRSIGs at name that cover type t, with owner
// as their owner name (the name asked, or a wildcard's expansion).
func (z *zone) sigsOf(name string, t uint16, owner string) []dns.RR {
	n := z.nodes[name]
	if n == nil {
		return nil
	}
	var out []dns.RR
	for _, rr := range n.rrsets[dns.TypeRRSIG] {
		if rr.(*dns.RRSIG).TypeCovered == t {
			sig := dns.Copy(rr)
			sig.Header().Name = owner
			out = append(out, sig)
		}
	}
	return out
}

// withSigs returns a copy of the RRset of type t at name followed by its
// RRSIGs, owner names as in the zone; nil when name has no such RRset.
func (z *zone) withSigs(name string, t uint16) []dns.RR {
	n := z.nodes[name]
	if n == nil || !n.has(t) {
		return nil
	}
	rrs := copyRRs(n.rrsets[t])
	return append(rrs, z.sigsOf(name, t, rrs[0].Header().Name)...)
}
