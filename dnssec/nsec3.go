package dnssec

import (
	"bytes"
	"encoding/base32"
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

var b32 = base32.HexEncoding.WithPadding(base32.NoPadding)

// nsec3Rec is one NSEC3 record with its hashes decoded.
type nsec3Rec struct {
	rr          *dns.NSEC3
	owner, next []byte
}

func (r *nsec3Rec) optOut() bool { return r.rr.Flags&1 != 0 }

// nsec3Chain is the NSEC3 records of one zone in a reply that share the
// first usable record's parameters, at most MaxNSEC3PerReply of them, and
// the hashes computed for one proof (each counted in the budget).
type nsec3Chain struct {
	zone      string
	first     *dns.NSEC3
	recs      []nsec3Rec
	b         *Budget
	hashes    map[string][]byte
	exhausted bool
}

// nsec3sOf gathers the chain, or returns the verdict that ends the proof
// early: no usable NSEC3 (Bogus 12) or iterations over the limit (Insecure 27).
func nsec3sOf(zone string, rrs []dns.RR, b *Budget) (*nsec3Chain, *Verdict) {
	c := &nsec3Chain{zone: zone, b: b, hashes: map[string][]byte{}}
	zoneLabels := dns.CountLabel(zone)
	for _, rr := range rrs {
		n, ok := rr.(*dns.NSEC3)
		// RFC 5155 8.1, 8.2: unknown hash algorithms and flags are ignored.
		if !ok || n.Hash != dns.SHA1 || n.Flags > 1 {
			continue
		}
		owner := dns.CanonicalName(n.Hdr.Name)
		if dns.CountLabel(owner) != zoneLabels+1 || !dns.IsSubDomain(zone, owner) {
			continue
		}
		if c.first != nil && (n.Iterations != c.first.Iterations || !strings.EqualFold(n.Salt, c.first.Salt)) {
			continue
		}
		oh, err1 := b32.DecodeString(strings.ToUpper(dns.SplitDomainName(owner)[0]))
		nh, err2 := b32.DecodeString(strings.ToUpper(n.NextDomain))
		if err1 != nil || err2 != nil || len(oh) != 20 || len(nh) != 20 {
			continue
		}
		if c.first == nil {
			c.first = n
		}
		c.recs = append(c.recs, nsec3Rec{rr: n, owner: oh, next: nh})
		if len(c.recs) == b.limits.MaxNSEC3PerReply {
			break
		}
	}
	if c.first == nil {
		v := noProof("no usable NSEC3 of " + zone)
		return nil, &v
	}
	if int(c.first.Iterations) > b.limits.MaxNSEC3Iterations {
		v := Verdict{Status: Insecure, EDE: dns.ExtendedErrorCodeUnsupportedNSEC3IterValue,
			Why: fmt.Sprintf("NSEC3 of %s has %d iterations, over the limit of %d", zone, c.first.Iterations, b.limits.MaxNSEC3Iterations)}
		return nil, &v
	}
	return c, nil
}

// hash returns H(name) with the chain's parameters, nil when the budget is
// spent (c.exhausted is then set) or name cannot be hashed.
func (c *nsec3Chain) hash(name string) []byte {
	if h, ok := c.hashes[name]; ok {
		return h
	}
	if !c.b.takeHash() {
		c.exhausted = true
		return nil
	}
	h, err := b32.DecodeString(dns.HashName(name, c.first.Hash, c.first.Iterations, c.first.Salt))
	if err != nil || len(h) == 0 {
		h = nil
	}
	c.hashes[name] = h
	return h
}

func (c *nsec3Chain) match(name string) *nsec3Rec {
	h := c.hash(name)
	if h == nil {
		return nil
	}
	for i := range c.recs {
		if bytes.Equal(c.recs[i].owner, h) {
			return &c.recs[i]
		}
	}
	return nil
}

// cover returns the record whose hash interval holds H(name) strictly
// between owner and next, the last record wrapping to the first. dns.NSEC3's
// Cover is not used: it hashes on every call, outside the budget.
func (c *nsec3Chain) cover(name string) *nsec3Rec {
	h := c.hash(name)
	if h == nil {
		return nil
	}
	for i := range c.recs {
		r := &c.recs[i]
		if hashCovers(r.owner, r.next, h) {
			return r
		}
	}
	return nil
}

func hashCovers(owner, next, h []byte) bool {
	afterOwner := bytes.Compare(owner, h) < 0
	beforeNext := bytes.Compare(h, next) < 0
	if bytes.Compare(owner, next) < 0 {
		return afterOwner && beforeNext
	}
	// The last record of the chain, or the only one (owner == next).
	return (afterOwner || beforeNext) && !bytes.Equal(owner, h)
}

// fail is the verdict for a proof that did not hold.
func (c *nsec3Chain) fail(why string) Verdict {
	if c.exhausted {
		v := bogus(dns.ExtendedErrorCodeDNSBogus, fmt.Sprintf("NSEC3 hash limit of %d reached: %s", c.b.limits.MaxHashesPerQuery, why))
		v.Exhausted = true
		return v
	}
	return noProof(why)
}

// encloser is a closest encloser proof (RFC 5155 7.2.1, 8.3).
type encloser struct {
	ce, nextCloser string
	cover          *nsec3Rec // covers nextCloser
}

// closestEncloser finds the deepest ancestor of name (name excluded) with
// a matching NSEC3 and a record covering the next closer name.
func (c *nsec3Chain) closestEncloser(name string) (encloser, bool) {
	labels, zoneLabels := dns.CountLabel(name), dns.CountLabel(c.zone)
	for n := labels - 1; n >= zoneLabels && !c.exhausted; n-- {
		ce := ancestor(name, n)
		m := c.match(ce)
		if m == nil {
			continue
		}
		if delegationLike(m.rr.TypeBitMap) {
			return encloser{}, false // nothing below a zone cut or DNAME is denied by it
		}
		nc := ancestor(name, n+1)
		cov := c.cover(nc)
		if cov == nil {
			return encloser{}, false
		}
		return encloser{ce: ce, nextCloser: nc, cover: cov}, true
	}
	return encloser{}, false
}

// optOutOr is Insecure when the next closer name lies in an opt-out span
// (an unsigned delegation may be hidden there), else Secure.
func optOutOr(e encloser, why string) Verdict {
	if e.cover.optOut() {
		return Verdict{Status: Insecure, Why: why + ", through an NSEC3 opt-out span over " + e.nextCloser}
	}
	return Verdict{Status: Secure, Why: why}
}

func (c *nsec3Chain) nxdomain(qname string) Verdict {
	if c.match(qname) != nil {
		return noProof("NSEC3 shows " + qname + " exists")
	}
	e, ok := c.closestEncloser(qname)
	if !ok {
		return c.fail("no NSEC3 closest encloser proof for " + qname)
	}
	wc := wildcardAt(e.ce)
	if c.cover(wc) == nil {
		return c.fail("no NSEC3 covers the wildcard " + wc)
	}
	return optOutOr(e, "NSEC3 proves "+qname+" and "+wc+" do not exist")
}

func (c *nsec3Chain) nodata(qname string, qtype uint16) Verdict {
	if m := c.match(qname); m != nil {
		if why := nodataBitmap(m.rr.TypeBitMap, qname, qtype, c.zone); why != "" {
			return noProof("NSEC3 at " + why)
		}
		return Verdict{Status: Secure, Why: "NSEC3 at " + qname + " proves no " + dns.TypeToString[qtype]}
	}
	e, ok := c.closestEncloser(qname)
	if !ok {
		return c.fail("no NSEC3 matches " + qname + " nor proves its closest encloser")
	}
	wc := wildcardAt(e.ce)
	if w := c.match(wc); w != nil {
		t := w.rr.TypeBitMap
		if hasType(t, qtype) || hasType(t, dns.TypeCNAME) {
			return noProof("NSEC3 at " + wc + " has " + dns.TypeToString[qtype] + " or CNAME")
		}
		return optOutOr(e, "NSEC3 proves no "+dns.TypeToString[qtype]+" at the wildcard "+wc)
	}
	if e.cover.optOut() {
		// The next closer name lies in an opt-out span: an unsigned
		// delegation may be hidden there, whose data no proof can deny,
		// so the NODATA stands unsigned (RFC 5155 8.6, 9.2; for every
		// qtype, as Unbound: the reply may come from below such a cut).
		return optOutOr(e, "NSEC3 proves no signed name at "+e.nextCloser+" above "+qname)
	}
	return c.fail("NSEC3 proves neither " + qname + " nor " + wc)
}

func (c *nsec3Chain) wildcardAnswer(qname, wildcard string) Verdict {
	ce := strings.TrimPrefix(wildcard, "*.")
	if ce == "" || ce == wildcard {
		ce = "."
	}
	if !below(qname, ce) || !dns.IsSubDomain(c.zone, ce) {
		return noProof(qname + " is not under the wildcard " + wildcard)
	}
	nc := ancestor(qname, dns.CountLabel(ce)+1)
	cov := c.cover(nc)
	if cov == nil {
		return c.fail("no NSEC3 covers " + nc + ", the next closer name of " + qname)
	}
	return optOutOr(encloser{ce: ce, nextCloser: nc, cover: cov}, "NSEC3 proves "+nc+" does not exist, "+wildcard+" applies")
}

func (c *nsec3Chain) noDS(child string) Verdict {
	if m := c.match(child); m != nil {
		t := m.rr.TypeBitMap
		if !hasType(t, dns.TypeNS) || hasType(t, dns.TypeDS) || hasType(t, dns.TypeSOA) || hasType(t, dns.TypeCNAME) {
			return noProof("NSEC3 at " + child + " is not an unsigned delegation")
		}
		return Verdict{Status: Secure, Why: "NSEC3 proves " + child + " has no DS"}
	}
	e, ok := c.closestEncloser(child)
	if !ok || !e.cover.optOut() {
		return c.fail("no NSEC3 at " + child + " nor an opt-out span over it")
	}
	return optOutOr(e, "NSEC3 proves no signed delegation at "+child)
}

// HashNSEC3 returns name's NSEC3 owner label under the parameters of
// params (base32hex, lower case), counting one hash in b. It returns ""
// when b is spent, or when params are not ones a proof would use (an
// unknown hash or flags, iterations over the limit).
func HashNSEC3(name string, params *dns.NSEC3, b *Budget) string {
	b = b.orDefault()
	if params.Hash != dns.SHA1 || params.Flags > 1 || int(params.Iterations) > b.limits.MaxNSEC3Iterations {
		return ""
	}
	if !b.takeHash() {
		return ""
	}
	return strings.ToLower(dns.HashName(name, params.Hash, params.Iterations, params.Salt))
}
