package testnet

import (
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/internal/dnsname"
)

// maxZoneFileBytes bounds what one zone file may cost to load.
const maxZoneFileBytes = 16 << 20

// zone is one loaded zone: its records by lower-case owner name. Every
// ancestor of an owner, up to the apex, has a node too (possibly empty: an
// empty non-terminal exists, so it answers NODATA rather than NXDOMAIN).
type zone struct {
	origin string // fully qualified, lower case
	soa    *dns.SOA
	nodes  map[string]*node
}

// node holds the RRsets of one owner name.
type node struct {
	rrsets map[uint16][]dns.RR
}

func (n *node) has(qtype uint16) bool { return len(n.rrsets[qtype]) > 0 }

// zoneFileName is where a zone's master file lives inside the zones directory.
func zoneFileName(origin string) string {
	if origin == "." {
		return "root.zone"
	}
	return strings.TrimSuffix(origin, ".") + ".zone"
}

// loadZone reads the master file of origin from path in fsys.
func loadZone(fsys fs.FS, origin, path string) (*zone, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return nil, fmt.Errorf("zone %s: %w", origin, err)
	}
	defer f.Close()
	return parseZone(origin, path, io.LimitReader(f, maxZoneFileBytes))
}

// parseZone reads a zone in RFC 1035 master format and checks that it is
// one zone: IN records at or below origin, one SOA at the apex, NS at the apex.
func parseZone(origin, file string, r io.Reader) (*zone, error) {
	origin = canonical(origin)
	z := &zone{origin: origin, nodes: map[string]*node{origin: {rrsets: map[uint16][]dns.RR{}}}}
	zp := dns.NewZoneParser(r, origin, file)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		h := rr.Header()
		owner := canonical(h.Name)
		if h.Class != dns.ClassINET {
			return nil, fmt.Errorf("zone %s: %s: class %s, want IN", origin, owner, dns.ClassToString[h.Class])
		}
		if !dns.IsSubDomain(origin, owner) {
			return nil, fmt.Errorf("zone %s: %s is outside the zone", origin, owner)
		}
		if soa, isSOA := rr.(*dns.SOA); isSOA {
			if owner != origin {
				return nil, fmt.Errorf("zone %s: SOA at %s, want the apex", origin, owner)
			}
			if z.soa != nil {
				return nil, fmt.Errorf("zone %s: more than one SOA", origin)
			}
			z.soa = soa
		}
		z.add(owner, rr)
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("zone %s: %w", origin, err)
	}
	if z.soa == nil {
		return nil, fmt.Errorf("zone %s: no SOA at the apex", origin)
	}
	if !z.nodes[origin].has(dns.TypeNS) {
		return nil, fmt.Errorf("zone %s: no NS at the apex", origin)
	}
	return z, nil
}

// add files rr under owner and creates the empty non-terminals above it.
func (z *zone) add(owner string, rr dns.RR) {
	n := z.nodes[owner]
	if n == nil {
		n = &node{rrsets: map[uint16][]dns.RR{}}
		z.nodes[owner] = n
	}
	t := rr.Header().Rrtype
	for _, have := range n.rrsets[t] {
		if dns.IsDuplicate(have, rr) {
			return
		}
	}
	n.rrsets[t] = append(n.rrsets[t], rr)
	for _, up := range ancestors(owner, z.origin) {
		if z.nodes[up] == nil {
			z.nodes[up] = &node{rrsets: map[uint16][]dns.RR{}}
		}
	}
}

// negativeSOA is the SOA record for the authority section of a negative
// answer: its TTL is the lesser of the SOA's own TTL and MINIMUM (RFC 2308).
func (z *zone) negativeSOA() dns.RR {
	soa := dns.Copy(z.soa).(*dns.SOA)
	soa.Hdr.Ttl = min(soa.Hdr.Ttl, soa.Minttl)
	return soa
}

// lookupKind says what a zone holds for a question.
type lookupKind int

const (
	kindAnswer   lookupKind = iota // records of the type asked (or all, for ANY)
	kindCNAME                      // a CNAME at the name
	kindDNAME                      // a DNAME above the name
	kindReferral                   // a zone cut at or above the name
	kindNoData                     // the name exists, without the type
	kindNXDomain                   // the name does not exist
)

// lookupResult is what a zone says about (qname, qtype).
type lookupResult struct {
	kind     lookupKind
	rrs      []dns.RR // answer records, the CNAME, the DNAME or the cut's NS set
	cut      string   // for kindReferral: the delegated name
	wildcard bool     // the records come from a wildcard and need qname as owner
}

// lookup follows RFC 1034 section 4.3.2 step 3 inside one zone; qname is
// lower case and at or below the apex. A DS question at a cut is answered
// here, the parent side, and not referred.
func (z *zone) lookup(qname string, qtype uint16) lookupResult {
	encloser := z.origin
	for _, name := range descendants(qname, z.origin) {
		n := z.nodes[name]
		if n == nil {
			break
		}
		if name != z.origin && n.has(dns.TypeNS) && !(name == qname && qtype == dns.TypeDS) {
			return lookupResult{kind: kindReferral, rrs: n.rrsets[dns.TypeNS], cut: name}
		}
		if name != qname && n.has(dns.TypeDNAME) {
			return lookupResult{kind: kindDNAME, rrs: n.rrsets[dns.TypeDNAME]}
		}
		encloser = name
	}
	if encloser == qname {
		return nodeResult(z.nodes[qname], qtype, false)
	}
	// RFC 4592: the closest encloser's wildcard child stands in for the name.
	if wild := z.nodes["*."+trimRoot(encloser)]; wild != nil {
		return nodeResult(wild, qtype, true)
	}
	return lookupResult{kind: kindNXDomain}
}

func nodeResult(n *node, qtype uint16, wildcard bool) lookupResult {
	if qtype == dns.TypeANY {
		var all []dns.RR
		for _, t := range sortedTypes(n) {
			all = append(all, n.rrsets[t]...)
		}
		if len(all) == 0 {
			return lookupResult{kind: kindNoData, wildcard: wildcard}
		}
		return lookupResult{kind: kindAnswer, rrs: all, wildcard: wildcard}
	}
	if n.has(qtype) {
		return lookupResult{kind: kindAnswer, rrs: n.rrsets[qtype], wildcard: wildcard}
	}
	if n.has(dns.TypeCNAME) {
		return lookupResult{kind: kindCNAME, rrs: n.rrsets[dns.TypeCNAME], wildcard: wildcard}
	}
	return lookupResult{kind: kindNoData, wildcard: wildcard}
}

// addresses returns the zone's A and AAAA records of name (glue included).
func (z *zone) addresses(name string) []dns.RR {
	n := z.nodes[canonical(name)]
	if n == nil {
		return nil
	}
	return append(append([]dns.RR(nil), n.rrsets[dns.TypeA]...), n.rrsets[dns.TypeAAAA]...)
}

// sortedTypes lists a node's types in numeric order, so ANY answers are stable.
func sortedTypes(n *node) []uint16 {
	return slices.Sorted(maps.Keys(n.rrsets))
}

// canonical returns name fully qualified and in lower case.
func canonical(name string) string { return dnsname.Lower(dns.Fqdn(name)) }

func trimRoot(name string) string {
	if name == "." {
		return ""
	}
	return name
}

// ancestors lists the names strictly between name and top (top included,
// name excluded), nearest first. name must be at or below top.
func ancestors(name, top string) []string {
	if name == top {
		return nil
	}
	var out []string
	labels := dns.Split(name)
	for i := 1; i < len(labels); i++ {
		up := name[labels[i]:]
		out = append(out, up)
		if up == top {
			return out
		}
	}
	if top == "." {
		out = append(out, ".")
	}
	return out
}

// descendants lists the names from top down to name, both included.
func descendants(name, top string) []string {
	up := ancestors(name, top)
	out := make([]string, 0, len(up)+1)
	for i := len(up) - 1; i >= 0; i-- {
		out = append(out, up[i])
	}
	return append(out, name)
}
