package dnssec

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/miekg/dns"
)

// nsecChain is the NSEC records of one zone in a reply (RFC 4035 5.4).
type nsecChain struct {
	zone string
	recs []*dns.NSEC
	// overreach is an NSEC of the zone whose next name leaves it, left
	// out of recs: it makes a failed proof bogus rather than missing.
	overreach *dns.NSEC
}

func nsecsOf(zone string, rrs []dns.RR) nsecChain {
	c := nsecChain{zone: zone}
	for _, rr := range rrs {
		n, ok := rr.(*dns.NSEC)
		if !ok || !dns.IsSubDomain(zone, dns.CanonicalName(n.Hdr.Name)) {
			continue
		}
		// The next name must lie in the zone too: an NSEC that runs out
		// of its zone would deny names of another (RFC 4034 4.1.1).
		if !dns.IsSubDomain(zone, dns.CanonicalName(n.NextDomain)) {
			c.overreach = cmp.Or(c.overreach, n)
			continue
		}
		c.recs = append(c.recs, n)
	}
	return c
}

// overreached is v, or when v failed and the reply held an NSEC that
// leaves its zone, a Bogus verdict naming that record (EDE 6, DNSSEC
// Bogus: the zone's signed data is broken; no NSEC is missing).
func (c nsecChain) overreached(v Verdict) Verdict {
	if v.Status == Secure || c.overreach == nil {
		return v
	}
	return bogus(dns.ExtendedErrorCodeDNSBogus, fmt.Sprintf("NSEC at %s runs out of zone %s to %s (%s)",
		dns.CanonicalName(c.overreach.Hdr.Name), c.zone, dns.CanonicalName(c.overreach.NextDomain), v.Why))
}

func hasType(types []uint16, t uint16) bool { return slices.Contains(types, t) }

// delegationLike reports an NSEC or NSEC3 bitmap of a zone cut seen from the
// parent (NS without SOA) or of a DNAME: such a record says nothing about
// names below its owner (RFC 6840 4.1).
func delegationLike(types []uint16) bool {
	return hasType(types, dns.TypeDNAME) || (hasType(types, dns.TypeNS) && !hasType(types, dns.TypeSOA))
}

// match returns the NSEC owned by name.
func (c nsecChain) match(name string) *dns.NSEC {
	for _, n := range c.recs {
		if CompareNames(n.Hdr.Name, name) == 0 {
			return n
		}
	}
	return nil
}

// covering returns an NSEC that proves name does not exist: name lies
// strictly between its owner and next name (the last NSEC wrapping to the
// apex), and its owner is not a zone cut or DNAME above name.
func (c nsecChain) covering(name string) *dns.NSEC {
	for _, n := range c.recs {
		owner := dns.CanonicalName(n.Hdr.Name)
		if below(name, owner) && delegationLike(n.TypeBitMap) {
			continue
		}
		if nsecCovers(owner, dns.CanonicalName(n.NextDomain), name) {
			return n
		}
	}
	return nil
}

func nsecCovers(owner, next, name string) bool {
	afterOwner := CompareNames(owner, name) < 0
	beforeNext := CompareNames(name, next) < 0
	if CompareNames(owner, next) < 0 {
		return afterOwner && beforeNext
	}
	return afterOwner || beforeNext // the last NSEC of the zone
}

// closestEncloser is the deepest existing ancestor of name that NSEC n, which
// covers name, implies: the longer of name's common ancestors with n's owner
// and next name (RFC 4592 section 3.3.1).
func (c nsecChain) closestEncloser(name string, n *dns.NSEC) string {
	common := max(commonLabels(name, dns.CanonicalName(n.Hdr.Name)), commonLabels(name, dns.CanonicalName(n.NextDomain)))
	return ancestor(name, max(common, dns.CountLabel(c.zone)))
}

func wildcardAt(ce string) string {
	if ce == "." {
		return "*."
	}
	return "*." + ce
}

func (c nsecChain) nxdomain(qname string) Verdict {
	n := c.covering(qname)
	if n == nil {
		return noProof("no NSEC covers " + qname)
	}
	if below(dns.CanonicalName(n.NextDomain), qname) {
		// The next name lies below qname: qname is an empty
		// non-terminal, it exists (RFC 4035 5.4).
		return noProof("NSEC shows " + qname + " is an empty non-terminal, not missing")
	}
	wc := wildcardAt(c.closestEncloser(qname, n))
	if c.covering(wc) == nil {
		return noProof("no NSEC covers the wildcard " + wc)
	}
	return Verdict{Status: Secure, Why: "NSEC proves " + qname + " and " + wc + " do not exist"}
}

func (c nsecChain) nodata(qname string, qtype uint16) Verdict {
	if m := c.match(qname); m != nil {
		if why := nodataBitmap(m.TypeBitMap, qname, qtype, c.zone); why != "" {
			return noProof("NSEC at " + why)
		}
		return Verdict{Status: Secure, Why: "NSEC at " + qname + " proves no " + dns.TypeToString[qtype]}
	}
	n := c.covering(qname)
	if n == nil {
		return noProof("no NSEC matches or covers " + qname)
	}
	if below(dns.CanonicalName(n.NextDomain), qname) {
		return Verdict{Status: Secure, Why: "NSEC proves " + qname + " an empty non-terminal"}
	}
	wc := wildcardAt(c.closestEncloser(qname, n))
	w := c.match(wc)
	if w == nil {
		return noProof("NSEC covers " + qname + " but nothing proves " + wc)
	}
	if hasType(w.TypeBitMap, qtype) || hasType(w.TypeBitMap, dns.TypeCNAME) {
		return noProof("NSEC at " + wc + " has " + dns.TypeToString[qtype] + " or CNAME")
	}
	return Verdict{Status: Secure, Why: "NSEC proves no " + dns.TypeToString[qtype] + " at the wildcard " + wc}
}

// nodataBitmap is why the bitmap of the NSEC or NSEC3 at qname does not
// prove qtype absent, or "" when it does (RFC 4035 5.4, RFC 6840 4.3, 4.4):
// qtype or CNAME present; for DS, the child's apex record (SOA, or qname is
// the signer); for other types, the parent side of a zone cut.
func nodataBitmap(types []uint16, qname string, qtype uint16, zone string) string {
	switch {
	case hasType(types, qtype):
		return qname + " has " + dns.TypeToString[qtype]
	case hasType(types, dns.TypeCNAME):
		return qname + " has a CNAME"
	case qtype == dns.TypeDS && (hasType(types, dns.TypeSOA) || qname == zone):
		return qname + " is the child's apex, it cannot deny a DS"
	case qtype != dns.TypeDS && hasType(types, dns.TypeNS) && !hasType(types, dns.TypeSOA):
		return qname + " is a delegation, the parent cannot deny " + dns.TypeToString[qtype]
	}
	return ""
}

func (c nsecChain) wildcardAnswer(qname, wildcard string) Verdict {
	n := c.covering(qname)
	if n == nil {
		return noProof("no NSEC covers " + qname + " (expanded from " + wildcard + ")")
	}
	if wc := wildcardAt(c.closestEncloser(qname, n)); wc != wildcard {
		return noProof("NSEC implies the wildcard " + wc + ", the answer came from " + wildcard)
	}
	return Verdict{Status: Secure, Why: "NSEC proves " + qname + " does not exist, " + wildcard + " applies"}
}

func (c nsecChain) noDS(child string) Verdict {
	m := c.match(child)
	if m == nil {
		return noProof("no NSEC at " + child)
	}
	t := m.TypeBitMap
	if !hasType(t, dns.TypeNS) || hasType(t, dns.TypeDS) || hasType(t, dns.TypeSOA) || hasType(t, dns.TypeCNAME) {
		return noProof("NSEC at " + child + " is not an unsigned delegation")
	}
	return Verdict{Status: Secure, Why: "NSEC proves " + child + " has no DS"}
}

func noProof(why string) Verdict {
	return bogus(dns.ExtendedErrorCodeNSECMissing, why)
}
