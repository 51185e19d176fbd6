// Package rpz owns response policy zones (RPZ, draft-vixie-dnsop-dns-rpz,
// the format BIND, Unbound, Knot Resolver and PowerDNS share): parsing a
// policy zone into triggers and actions, loading it from a zone file or by
// zone transfer from a primary (AXFR, then IXFR on the SOA refresh), and a
// Set of policies in order that the resolver consults (resolver.Policy).
//
// Triggers: QNAME (an exact name, or "*.example.com" for the names below
// example.com) and response IP ("32.1.2.0.192.rpz-ip" for 192.0.2.1/32,
// "48.zz.db8.2001.rpz-ip" for 2001:db8::/48). Actions, as the CNAME at a
// trigger says: "." NXDOMAIN, "*." NODATA, "rpz-passthru." PASSTHRU,
// "rpz-drop." DROP, "rpz-tcp-only." TCP-only; any other CNAME is a
// rewrite to its target, and other records are local data answered at
// the name asked. NSDNAME, NSIP and client-IP triggers are skipped.
package rpz

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/resolver"
)

// Zone is one policy zone, parsed: immutable, safe for concurrent use.
type Zone struct {
	name    string // the zone's origin, canonical
	soa     *dns.SOA
	exact   map[string]*resolver.PolicyAction // by trigger name
	wild    map[string]*resolver.PolicyAction // "*.example.com." as "example.com."
	ips     map[netip.Prefix]*resolver.PolicyAction
	ipLens  []int    // prefix lengths in ips, longest first
	rrs     []dns.RR // the zone's records as loaded (for IXFR)
	Skipped int      // records of triggers not supported (NSDNAME, NSIP, client IP)
}

// Name is the zone's origin, the policy's name in logs and metrics.
func (z *Zone) Name() string { return z.name }

// Serial is the SOA serial of the zone.
func (z *Zone) Serial() uint32 { return z.soa.Serial }

// SOA returns the zone's SOA record.
func (z *Zone) SOA() *dns.SOA { return z.soa }

// Len is the number of triggers.
func (z *Zone) Len() int { return len(z.exact) + len(z.wild) + len(z.ips) }

// ParseFile reads a policy zone in zone-file format whose origin is
// origin; file names it in errors and $INCLUDE is not allowed.
func ParseFile(r io.Reader, origin, file string) (*Zone, error) {
	origin = canonical(origin)
	zp := dns.NewZoneParser(r, origin, file)
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("rpz: %w", err)
	}
	z, err := FromRecords(origin, rrs)
	if err != nil && file != "" {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return z, err
}

// FromRecords builds a policy zone from its records (a zone file's or a
// transfer's). It needs exactly one SOA, at origin.
func FromRecords(origin string, rrs []dns.RR) (*Zone, error) {
	origin = canonical(origin)
	z := &Zone{name: origin, exact: map[string]*resolver.PolicyAction{}, wild: map[string]*resolver.PolicyAction{}, ips: map[netip.Prefix]*resolver.PolicyAction{}}
	byTrigger := map[string][]dns.RR{}
	var order []string
	for _, rr := range rrs {
		h := rr.Header()
		owner := canonical(h.Name)
		if h.Class != dns.ClassINET {
			return nil, fmt.Errorf("rpz: %s: class %s, want IN", rr, dns.ClassToString[h.Class])
		}
		if owner == origin {
			if soa, ok := rr.(*dns.SOA); ok {
				if z.soa != nil {
					return nil, fmt.Errorf("rpz: %s: a second SOA", rr)
				}
				z.soa = soa
			}
			continue // the apex: SOA and NS, no trigger
		}
		if !dns.IsSubDomain(origin, owner) {
			return nil, fmt.Errorf("rpz: %s: owner outside the policy zone %s", rr, origin)
		}
		if _, ok := byTrigger[owner]; !ok {
			order = append(order, owner)
		}
		byTrigger[owner] = append(byTrigger[owner], rr)
	}
	if z.soa == nil {
		return nil, fmt.Errorf("rpz: zone %s has no SOA at its apex", origin)
	}
	for _, owner := range order {
		if err := z.add(strings.TrimSuffix(owner, origin), byTrigger[owner]); err != nil {
			return nil, err
		}
	}
	for _, l := range slices.Backward(sortedLens(z.ips)) {
		z.ipLens = append(z.ipLens, l)
	}
	z.rrs = rrs
	return z, nil
}

// add files the records at one trigger; rel is the owner without the
// origin, ending in a dot ("*.example.com.", "32.1.2.0.192.rpz-ip.").
func (z *Zone) add(rel string, rrs []dns.RR) error {
	act, err := z.actionOf(rrs)
	if err != nil {
		return err
	}
	labels := dns.SplitDomainName(rel)
	last := labels[len(labels)-1]
	switch last {
	case "rpz-ip":
		p, err := parseIPTrigger(labels[:len(labels)-1])
		if err != nil {
			return fmt.Errorf("rpz: %s: %w", rrs[0], err)
		}
		act.Trigger = p.String()
		z.ips[p] = act
		return nil
	case "rpz-nsdname", "rpz-nsip", "rpz-client-ip":
		z.Skipped += len(rrs)
		return nil
	}
	if slices.Contains(labels[1:], "*") {
		return fmt.Errorf("rpz: %s: a wildcard label other than the first", rrs[0])
	}
	act.Trigger = rel
	if len(act.Data) == 1 {
		if c, ok := act.Data[0].(*dns.CNAME); ok && canonical(c.Target) == rel {
			// The old form of PASSTHRU: a CNAME to the trigger's own name.
			act.Kind, act.Data = resolver.PolicyPassthru, nil
		}
	}
	if labels[0] == "*" {
		if len(labels) == 1 {
			return fmt.Errorf("rpz: %s: a wildcard of the whole name space, \"*\" alone", rrs[0])
		}
		z.wild[strings.Join(labels[1:], ".")+"."] = act
		return nil
	}
	z.exact[rel] = act
	return nil
}

// actionOf reads the action the records at one trigger say.
func (z *Zone) actionOf(rrs []dns.RR) (*resolver.PolicyAction, error) {
	act := &resolver.PolicyAction{Policy: z.name, SOA: z.negativeSOA()}
	var cname *dns.CNAME
	for _, rr := range rrs {
		if c, ok := rr.(*dns.CNAME); ok {
			if cname != nil {
				return nil, fmt.Errorf("rpz: %s: a second CNAME at the trigger", rr)
			}
			cname = c
		}
		switch rr.Header().Rrtype {
		case dns.TypeSOA, dns.TypeNS, dns.TypeDNAME, dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNSEC3, dns.TypeDS:
			return nil, fmt.Errorf("rpz: %s: type %s is not policy data", rr, dns.TypeToString[rr.Header().Rrtype])
		}
	}
	if cname != nil && cname.Target == "" {
		return nil, fmt.Errorf("rpz: %s: a CNAME without target", cname)
	}
	if cname != nil && len(rrs) > 1 {
		return nil, fmt.Errorf("rpz: %s: a CNAME beside other records", cname)
	}
	if cname == nil {
		act.Kind, act.Data = resolver.PolicyData, rrs
		return act, nil
	}
	switch strings.ToLower(cname.Target) {
	case ".":
		act.Kind = resolver.PolicyNXDOMAIN
	case "*.":
		act.Kind = resolver.PolicyNODATA
	case "rpz-passthru.":
		act.Kind = resolver.PolicyPassthru
	case "rpz-drop.":
		act.Kind = resolver.PolicyDrop
	case "rpz-tcp-only.":
		act.Kind = resolver.PolicyTCPOnly
	default:
		act.Kind, act.Data = resolver.PolicyData, rrs
	}
	return act, nil
}

// negativeSOA is the SOA that NXDOMAIN and NODATA answers carry: owned
// by the policy zone, with the TTL its minimum says (RFC 2308).
func (z *Zone) negativeSOA() *dns.SOA {
	if z.soa == nil {
		return nil
	}
	s := *z.soa
	s.Hdr.Ttl = min(s.Hdr.Ttl, s.Minttl)
	return &s
}

// parseIPTrigger reads the labels of a response-IP trigger: the prefix
// length, then the address with its parts reversed (IPv4 octets, or IPv6
// 16-bit words in hexadecimal with "zz" once for the longest run of zeros).
func parseIPTrigger(labels []string) (netip.Prefix, error) {
	if len(labels) < 2 {
		return netip.Prefix{}, fmt.Errorf("response-IP trigger without address")
	}
	bits, err := strconv.Atoi(labels[0])
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("response-IP trigger: prefix length %q", labels[0])
	}
	parts := slices.Clone(labels[1:])
	slices.Reverse(parts)
	var addr netip.Addr
	if len(parts) == 4 && !slices.Contains(parts, "zz") {
		addr, err = netip.ParseAddr(strings.Join(parts, "."))
	} else {
		for i, p := range parts {
			if p == "zz" {
				parts[i] = ""
			}
		}
		s := strings.Join(parts, ":")
		switch {
		case strings.HasPrefix(s, ":"):
			s = ":" + s
		case strings.HasSuffix(s, ":"):
			s += ":"
		}
		addr, err = netip.ParseAddr(s)
		if err == nil && addr.Is4In6() {
			err = fmt.Errorf("an IPv4-mapped address")
		}
	}
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("response-IP trigger address: %v", err)
	}
	p, err := addr.Prefix(bits)
	if err != nil || bits == 0 {
		return netip.Prefix{}, fmt.Errorf("response-IP trigger: prefix length %d for %s", bits, addr)
	}
	if p.Addr() != addr {
		return netip.Prefix{}, fmt.Errorf("response-IP trigger: %s has bits beyond /%d", addr, bits)
	}
	return p, nil
}

func sortedLens(ips map[netip.Prefix]*resolver.PolicyAction) []int {
	var lens []int
	for p := range ips {
		if !slices.Contains(lens, p.Bits()) {
			lens = append(lens, p.Bits())
		}
	}
	slices.Sort(lens)
	return lens
}

// MatchName returns the action for name: an exact trigger, else the
// wildcard trigger of the closest enclosing name.
func (z *Zone) MatchName(name string) (resolver.PolicyAction, bool) {
	if a, ok := z.exact[name]; ok {
		return *a, true
	}
	if len(z.wild) == 0 {
		return resolver.PolicyAction{}, false
	}
	// "*.example.com." covers the names below example.com., not itself:
	// the search starts at the parent.
	for off, end := dns.NextLabel(name, 0); !end; off, end = dns.NextLabel(name, off) {
		if a, ok := z.wild[name[off:]]; ok {
			return *a, true
		}
	}
	return resolver.PolicyAction{}, false
}

// MatchAddr returns the action of the longest response-IP trigger that
// holds addr.
func (z *Zone) MatchAddr(addr netip.Addr) (resolver.PolicyAction, bool) {
	addr = addr.Unmap()
	for _, l := range z.ipLens {
		if l > addr.BitLen() {
			continue
		}
		p, _ := addr.Prefix(l)
		if a, ok := z.ips[p]; ok && p.Addr().Is4() == addr.Is4() {
			return *a, true
		}
	}
	return resolver.PolicyAction{}, false
}

func canonical(name string) string {
	return strings.ToLower(dns.Fqdn(name))
}
