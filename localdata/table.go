// Package localdata owns the names a resolver answers from its own
// configuration, as Unbound's local-zone, local-data and local-data-ptr
// do, and hosts files: parsing the entries, checking them, and deciding
// for a question whether local data answers it (authoritatively), drops
// it, or leaves it to resolution.
//
// A Table is immutable and safe for concurrent use; a reload builds a new
// one (Load) and swaps it in whole.
package localdata

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/internal/dnsname"
)

// DefaultTTL is the TTL of local data given without one, of local-data-ptr
// entries without one and of hosts file records (Unbound's local-data
// default, and CoreDNS's hosts plugin's).
const DefaultTTL = 3600

// Config lists the entries of a table in their configuration forms.
type Config struct {
	Zones []string // local-zone: "NAME TYPE"
	Data  []string // local-data: one record in zone file form
	PTRs  []string // local-data-ptr: "ADDR [TTL] NAME"
	Hosts []string // paths of hosts files
}

// Table is a set of local zones and their data.
type Table struct {
	zones map[string]*zone
	// nodes: every name with data, and the empty non-terminals between
	// such a name and its zone's apex (names that exist without data).
	nodes map[string]*node
}

type zone struct {
	name     string
	typ      ZoneType
	implicit bool // made for local data no configured zone covers
	// negSOA: the SOA at the apex, if local data has one, as negative
	// answers carry it: with the lesser of its TTL and its MINIMUM as
	// TTL (RFC 2308 section 3, as Unbound gives it)
	negSOA dns.RR
}

type node struct {
	rrsets map[uint16][]dns.RR // nil for an empty non-terminal
}

// Load parses cfg's entries, reads its hosts files and builds the table.
// The error lists every bad entry, each by its text or file and line.
func Load(cfg Config) (*Table, error) {
	var errs []error
	var zones []Zone
	for _, e := range cfg.Zones {
		z, err := ParseZone(e)
		errs = append(errs, err)
		zones = append(zones, z)
	}
	var data []dns.RR
	for _, e := range cfg.Data {
		rr, err := ParseData(e)
		errs = append(errs, err)
		if rr != nil {
			data = append(data, rr)
		}
	}
	for _, e := range cfg.PTRs {
		rr, err := ParsePTR(e)
		errs = append(errs, err)
		if rr != nil {
			data = append(data, rr)
		}
	}
	for _, path := range cfg.Hosts {
		rrs, err := readHosts(path)
		errs = append(errs, err)
		data = append(data, rrs...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return New(zones, data)
}

func readHosts(path string) ([]dns.RR, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, entryError("hosts", path, err)
	}
	defer f.Close()
	return ParseHosts(f, path)
}

// New builds a table from parsed zones and records (canonical names, as
// the Parse functions give them). A record that no zone covers gets a
// transparent zone of its own name, as Unbound makes one.
func New(zones []Zone, data []dns.RR) (*Table, error) {
	t := &Table{zones: map[string]*zone{}, nodes: map[string]*node{}}
	var errs []error
	for _, z := range zones {
		if old, ok := t.zones[z.Name]; ok && old.typ != z.Type {
			errs = append(errs, fmt.Errorf("%w: local-zone %s configured as both %s and %s", ErrEntry, z.Name, old.typ, z.Type))
			continue
		}
		t.zones[z.Name] = &zone{name: z.Name, typ: z.Type}
	}
	for _, rr := range data {
		name := rr.Header().Name
		z := t.zoneOf(name)
		if z == nil {
			z = &zone{name: name, typ: Transparent, implicit: true}
			t.zones[name] = z
		}
		if err := t.add(z, rr); err != nil {
			errs = append(errs, fmt.Errorf("%w: local-data %q: %w", ErrEntry, rr.String(), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

// add enters rr, whose closest zone is z.
func (t *Table) add(z *zone, rr dns.RR) error {
	name, rtype := rr.Header().Name, rr.Header().Rrtype
	if z.typ == Redirect && name != z.name {
		return fmt.Errorf("below the apex of redirect zone %s, where it is never answered", z.name)
	}
	n := t.nodes[name]
	if n == nil || n.rrsets == nil {
		n = &node{rrsets: map[uint16][]dns.RR{}}
		t.nodes[name] = n
	}
	rrset := n.rrsets[rtype]
	switch {
	case slices.ContainsFunc(rrset, func(o dns.RR) bool { return dns.IsDuplicate(o, rr) }):
		return nil
	case rtype == dns.TypeCNAME && len(n.rrsets) > 0 || rtype != dns.TypeCNAME && n.rrsets[dns.TypeCNAME] != nil:
		return errors.New("a CNAME and other data at one name (RFC 1034 section 3.6.2)")
	case rtype == dns.TypeSOA && len(rrset) > 0:
		return errors.New("a second SOA at one name")
	}
	if len(rrset) > 0 {
		rr.Header().Ttl = rrset[0].Header().Ttl // one TTL per RRset (RFC 2181 section 5.2)
	}
	n.rrsets[rtype] = append(rrset, rr)
	if rtype == dns.TypeSOA && name == z.name {
		z.negSOA = dns.Copy(rr)
		z.negSOA.Header().Ttl = min(rr.Header().Ttl, rr.(*dns.SOA).Minttl)
	}
	// The names between rr's and the apex exist, without data.
	for parent := parentOf(name); parent != "" && parent != z.name && inZone(parent, z.name); parent = parentOf(parent) {
		if t.nodes[parent] == nil {
			t.nodes[parent] = &node{}
		}
	}
	if t.nodes[z.name] == nil && name != z.name {
		t.nodes[z.name] = &node{}
	}
	return nil
}

// Zones returns the configured zones (implicit ones left out), for
// callers that give way to them: a configured zone replaces a built-in
// one of the same name.
func (t *Table) Zones() []Zone {
	var out []Zone
	for _, z := range t.zones {
		if !z.implicit {
			out = append(out, Zone{Name: z.name, Type: z.typ})
		}
	}
	slices.SortFunc(out, func(a, b Zone) int { return compareNames(a.Name, b.Name) })
	return out
}

// Has reports whether zone is a configured local zone (of any type,
// nodefault included).
func (t *Table) Has(zone string) bool {
	if t == nil {
		return false
	}
	z, ok := t.zones[zone]
	return ok && !z.implicit
}

// zoneOf returns the closest zone at or above name, nodefault zones
// passed over, or nil.
func (t *Table) zoneOf(name string) *zone {
	for n := name; n != ""; n = parentOf(n) {
		if z, ok := t.zones[n]; ok && z.typ != NoDefault {
			return z
		}
	}
	return nil
}

// Action is what a Verdict tells the resolver to do.
type Action uint8

const (
	// Pass: local data does not answer; resolve on.
	Pass Action = iota
	// Answer with Rcode, Answer and Ns, authoritatively (AA).
	Answer
	// Drop the query: send nothing.
	Drop
)

// Verdict is the table's decision on one question.
type Verdict struct {
	Action Action
	Rcode  int
	Answer []dns.RR // shared with the table: never modify
	Ns     []dns.RR // the zone's SOA of a negative answer, if it has one
	// Alias, for an Answer that is a CNAME at a redirect zone's apex
	// given to another type's question, is the CNAME's target: the
	// resolver resolves it and appends its answer, as Unbound does
	// (its local alias). Other local CNAMEs are answered as they stand.
	Alias string
	// Zone is the configured zone that decided, or for Pass the closest
	// configured zone around the name ("" when none, or when only a zone
	// made for local data covers it): a built-in zone at or above it
	// gives way.
	Zone string
}

// Lookup decides qname (canonical: lower case, fully qualified) and qtype.
// A nil table passes everything.
func (t *Table) Lookup(qname string, qtype uint16) Verdict {
	if t == nil || len(t.zones) == 0 {
		return Verdict{}
	}
	z := t.zoneOf(qname)
	if z == nil {
		return Verdict{}
	}
	if v, ok := z.ignoringData(qname, qtype); ok {
		return v
	}
	if z.typ == Redirect {
		return t.redirect(z, qname, qtype)
	}
	n := t.nodes[qname]
	if n != nil {
		if rrs := n.rrsets[qtype]; rrs != nil {
			return z.answer(rrs)
		}
		if c := n.rrsets[dns.TypeCNAME]; c != nil {
			return z.answer(c)
		}
	}
	switch z.typ {
	case Deny:
		return z.drop()
	case Refuse:
		return z.refuse()
	case Static:
		if n != nil {
			return z.negative(dns.RcodeSuccess)
		}
		return z.negative(dns.RcodeNameError)
	case Transparent:
		if n != nil && n.rrsets != nil {
			return z.negative(dns.RcodeSuccess)
		}
	}
	return z.pass()
}

// ignoringData decides for the zone types that never look at local data.
func (z *zone) ignoringData(qname string, qtype uint16) (Verdict, bool) {
	switch z.typ {
	case AlwaysTransparent:
		return z.pass(), true
	case AlwaysRefuse:
		return z.refuse(), true
	case AlwaysNXDomain:
		return z.negative(dns.RcodeNameError), true
	case AlwaysNodata:
		return z.negative(dns.RcodeSuccess), true
	case AlwaysDeny:
		return z.drop(), true
	case AlwaysNull:
		hdr := dns.RR_Header{Name: qname, Rrtype: qtype, Class: dns.ClassINET, Ttl: DefaultTTL}
		switch qtype {
		case dns.TypeA:
			return z.answer([]dns.RR{&dns.A{Hdr: hdr, A: net.IPv4zero.To4()}}), true
		case dns.TypeAAAA:
			return z.answer([]dns.RR{&dns.AAAA{Hdr: hdr, AAAA: net.IPv6zero}}), true
		}
		return z.negative(dns.RcodeSuccess), true
	}
	return Verdict{}, false
}

// redirect answers qname with the apex's data, under qname's name.
func (t *Table) redirect(z *zone, qname string, qtype uint16) Verdict {
	var rrs []dns.RR
	if n := t.nodes[z.name]; n != nil {
		if rrs = n.rrsets[qtype]; rrs == nil {
			rrs = n.rrsets[dns.TypeCNAME]
		}
	}
	if rrs == nil {
		return z.negative(dns.RcodeSuccess)
	}
	if qname != z.name {
		out := make([]dns.RR, len(rrs))
		for i, rr := range rrs {
			out[i] = dns.Copy(rr)
			out[i].Header().Name = qname
		}
		rrs = out
	}
	v := z.answer(rrs)
	if c, ok := rrs[0].(*dns.CNAME); ok && qtype != dns.TypeCNAME {
		v.Alias = dnsname.Lower(c.Target)
	}
	return v
}

func (z *zone) visible() string {
	if z.implicit {
		return ""
	}
	return z.name
}

func (z *zone) pass() Verdict { return Verdict{Zone: z.visible()} }
func (z *zone) drop() Verdict { return Verdict{Action: Drop, Zone: z.visible()} }

func (z *zone) refuse() Verdict {
	return Verdict{Action: Answer, Rcode: dns.RcodeRefused, Zone: z.visible()}
}

func (z *zone) answer(rrs []dns.RR) Verdict {
	return Verdict{Action: Answer, Answer: slices.Clip(rrs), Zone: z.visible()}
}

func (z *zone) negative(rcode int) Verdict {
	v := Verdict{Action: Answer, Rcode: rcode, Zone: z.visible()}
	if z.negSOA != nil {
		v.Ns = []dns.RR{z.negSOA}
	}
	return v
}
