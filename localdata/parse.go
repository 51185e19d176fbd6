package localdata

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/internal/dnsname"
)

// ZoneType is what a local zone answers when its local data does not
// match the question, as Unbound's local-zone types define it.
type ZoneType uint8

const (
	// Transparent answers local data, NODATA for another type at a name
	// that has data, and leaves every other name to resolution.
	Transparent ZoneType = iota
	// TypeTransparent answers local data and leaves everything else,
	// other types at a name with data included, to resolution.
	TypeTransparent
	// Static answers local data, else NXDOMAIN, or NODATA for a name
	// that exists, with the zone's SOA when its apex has one.
	Static
	// Redirect answers every name at or below the zone with the apex's
	// data, else NODATA.
	Redirect
	// Refuse answers local data, else REFUSED.
	Refuse
	// Deny answers local data, else drops the query.
	Deny
	// AlwaysTransparent resolves every name, ignoring local data.
	AlwaysTransparent
	// AlwaysRefuse refuses every name, ignoring local data.
	AlwaysRefuse
	// AlwaysNXDomain answers NXDOMAIN for every name, ignoring local data.
	AlwaysNXDomain
	// AlwaysNodata answers NODATA for every name, ignoring local data.
	AlwaysNodata
	// AlwaysDeny drops every query, ignoring local data.
	AlwaysDeny
	// AlwaysNull answers 0.0.0.0 and :: to A and AAAA questions for
	// every name, NODATA to other types, ignoring local data.
	AlwaysNull
	// NoDefault only turns off the built-in zone of the same name.
	NoDefault
)

var zoneTypeNames = [...]string{
	Transparent: "transparent", TypeTransparent: "typetransparent", Static: "static",
	Redirect: "redirect", Refuse: "refuse", Deny: "deny",
	AlwaysTransparent: "always_transparent", AlwaysRefuse: "always_refuse",
	AlwaysNXDomain: "always_nxdomain", AlwaysNodata: "always_nodata",
	AlwaysDeny: "always_deny", AlwaysNull: "always_null", NoDefault: "nodefault",
}

func (t ZoneType) String() string {
	if int(t) < len(zoneTypeNames) {
		return zoneTypeNames[t]
	}
	return "ZoneType(" + strconv.Itoa(int(t)) + ")"
}

// ParseZoneType reads a zone type by its Unbound name.
func ParseZoneType(s string) (ZoneType, error) {
	for t, name := range zoneTypeNames {
		if strings.EqualFold(s, name) {
			return ZoneType(t), nil
		}
	}
	return 0, fmt.Errorf("unknown local-zone type %q (want one of %s)", s, strings.Join(zoneTypeNames[:], ", "))
}

// Zone is one local zone: a name and what it answers.
type Zone struct {
	Name string // canonical
	Type ZoneType
}

// ErrEntry is the class of every error about one configuration entry.
var ErrEntry = errors.New("bad local data entry")

// entryError names the entry a parse error is about.
func entryError(kind, entry string, err error) error {
	return fmt.Errorf("%w: %s %q: %w", ErrEntry, kind, entry, err)
}

// unquote strips one pair of quotes around the whole of s, as Unbound's
// configuration file writes its strings: `"example.com. static"`.
func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return strings.TrimSpace(s[1 : len(s)-1])
	}
	return s
}

// ParseZone reads a local-zone entry, "NAME TYPE", as Unbound's
// `local-zone: "example.com." static` (the quotes may be left out or
// cover the whole entry).
func ParseZone(entry string) (Zone, error) {
	fields := strings.Fields(strings.ReplaceAll(unquote(entry), `"`, " "))
	if len(fields) != 2 {
		return Zone{}, entryError("local-zone", entry, errors.New(`want "NAME TYPE"`))
	}
	name, err := dnsname.Canonical(fields[0])
	if err != nil {
		return Zone{}, entryError("local-zone", entry, fmt.Errorf("bad name %q", fields[0]))
	}
	t, err := ParseZoneType(fields[1])
	if err != nil {
		return Zone{}, entryError("local-zone", entry, err)
	}
	return Zone{Name: name, Type: t}, nil
}

// ParseData reads a local-data entry: one record in zone file form, as
// Unbound's `local-data: "www.example.com. 3600 IN A 192.0.2.1"`. A name
// without the final dot is taken from the root, the TTL defaults to 3600
// and the class to IN; other classes are refused.
func ParseData(entry string) (dns.RR, error) {
	s := unquote(entry)
	if strings.HasPrefix(s, "$") {
		return nil, entryError("local-data", entry, errors.New("zone file directives are not records"))
	}
	rr, err := dns.NewRR(s)
	if err != nil {
		return nil, entryError("local-data", entry, err)
	}
	if rr == nil {
		return nil, entryError("local-data", entry, errors.New("no record"))
	}
	h := rr.Header()
	if h.Class != dns.ClassINET {
		return nil, entryError("local-data", entry, fmt.Errorf("class %s: only IN is served", dns.ClassToString[h.Class]))
	}
	switch h.Rrtype {
	case dns.TypeOPT, dns.TypeTSIG, dns.TypeTKEY, dns.TypeANY, dns.TypeAXFR, dns.TypeIXFR, dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNSEC3:
		return nil, entryError("local-data", entry, fmt.Errorf("type %s cannot be local data", dns.TypeToString[h.Rrtype]))
	}
	name, err := dnsname.Canonical(h.Name)
	if err != nil {
		return nil, entryError("local-data", entry, fmt.Errorf("bad name %q", h.Name))
	}
	h.Name = name
	return rr, nil
}

// ParsePTR reads a local-data-ptr entry, "ADDR [TTL] NAME", as Unbound's
// `local-data-ptr: "192.0.2.1 www.example.com"`: the PTR record of the
// address's reverse name.
func ParsePTR(entry string) (dns.RR, error) {
	fields := strings.Fields(unquote(entry))
	ttl := uint32(DefaultTTL)
	switch len(fields) {
	case 2:
	case 3:
		n, err := strconv.ParseUint(fields[1], 10, 31)
		if err != nil {
			return nil, entryError("local-data-ptr", entry, fmt.Errorf("bad TTL %q", fields[1]))
		}
		ttl = uint32(n)
		fields = []string{fields[0], fields[2]}
	default:
		return nil, entryError("local-data-ptr", entry, errors.New(`want "ADDR [TTL] NAME"`))
	}
	addr, err := netip.ParseAddr(fields[0])
	if err != nil || addr.Zone() != "" {
		return nil, entryError("local-data-ptr", entry, fmt.Errorf("bad address %q", fields[0]))
	}
	target, err := dnsname.Canonical(fields[1])
	if err != nil {
		return nil, entryError("local-data-ptr", entry, fmt.Errorf("bad name %q", fields[1]))
	}
	return ptrRecord(addr, target, ttl), nil
}

// ptrRecord is the PTR record from addr's reverse name to target.
func ptrRecord(addr netip.Addr, target string, ttl uint32) *dns.PTR {
	rev, _ := dns.ReverseAddr(addr.Unmap().String()) // a valid address always has one
	return &dns.PTR{Hdr: dns.RR_Header{Name: dnsname.Lower(rev), Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: ttl}, Ptr: target}
}
