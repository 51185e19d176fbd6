package resolver

import (
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Special-use names are answered by the resolver itself, never asked of
// the Internet: a query for them leaks what a host does to the root and
// AS112 servers, and no public server can answer it truthfully. The set is
// RFC 6761 (localhost., invalid., test.), RFC 7686 (onion.) and RFC 6303's
// locally served reverse zones for private, loopback, link-local and
// documentation addresses, as Unbound and Knot Resolver serve by default.
// A stub zone at or below one of them wins, so that an intranet can still
// serve its own 10.in-addr.arpa.; Config.NoDefaultZones turns single zones
// off and Config.DisableLocalZones all of them.

// localZoneTTL is the TTL of local answers and the negative TTL of their SOA.
const localZoneTTL = 3600

// ip6Loopback is the reverse name of ::1.
const ip6Loopback = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa."

// localZones are the canonical zone names, localhost. first.
var localZones = func() []string {
	zones := []string{
		"localhost.", "invalid.", "test.", "onion.",
		"home.arpa.", "resolver.arpa.", // RFC 8375, RFC 9462
		// IPv4 (RFC 6303 section 4, RFC 6598, RFC 5737)
		"0.in-addr.arpa.", "127.in-addr.arpa.", "10.in-addr.arpa.", "254.169.in-addr.arpa.",
		"168.192.in-addr.arpa.", "2.0.192.in-addr.arpa.", "100.51.198.in-addr.arpa.",
		"113.0.203.in-addr.arpa.", "255.255.255.255.in-addr.arpa.",
		// IPv6: ::, ::1, ULA fd00::/8, link-local fe80::/10,
		// documentation 2001:db8::/32
		"0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
		ip6Loopback,
		"d.f.ip6.arpa.", "8.e.f.ip6.arpa.", "9.e.f.ip6.arpa.", "a.e.f.ip6.arpa.", "b.e.f.ip6.arpa.",
		"8.b.d.0.1.0.0.2.ip6.arpa.",
	}
	for i := 16; i <= 31; i++ { // 172.16.0.0/12
		zones = append(zones, strconv.Itoa(i)+".172.in-addr.arpa.")
	}
	for i := 64; i <= 127; i++ { // 100.64.0.0/10, shared address space
		zones = append(zones, strconv.Itoa(i)+".100.in-addr.arpa.")
	}
	return zones
}()

// DefaultLocalZones returns the zones the resolver answers itself unless
// told otherwise, in canonical form.
func DefaultLocalZones() []string { return slices.Clone(localZones) }

// localZoneOf returns the local zone that holds qname, or "".
func (r *Resolver) localZoneOf(qname string) string {
	if len(r.localZones) == 0 || !underLocalTLD(qname) {
		return ""
	}
	for _, z := range r.localZones {
		if !inZone(qname, z) {
			continue
		}
		for stub := range r.stubs {
			if inZone(stub, z) && inZone(qname, stub) {
				return "" // the operator serves it
			}
		}
		return z
	}
	return ""
}

// localAnswer answers qname and qtype in the local zone z:
//   - localhost. and every name below it have the loopback addresses
//     (RFC 6761 section 6.3);
//   - 1.0.0.127.in-addr.arpa. and the ::1 reverse name point at localhost.;
//   - each zone's apex has an SOA and an NS record, as a zone would;
//   - every other name does not exist (NXDOMAIN), and other types at a
//     name that exists are NODATA, both with the zone's SOA.
func localAnswer(z, qname string, qtype uint16) result {
	hdr := func(name string, t uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: localZoneTTL}
	}
	soa := &dns.SOA{Hdr: hdr(z, dns.TypeSOA), Ns: "localhost.", Mbox: "nobody.invalid.",
		Serial: 1, Refresh: 3600, Retry: 1200, Expire: 604800, Minttl: localZoneTTL}
	var data []dns.RR
	switch {
	case z == "localhost.":
		data = []dns.RR{
			&dns.A{Hdr: hdr(qname, dns.TypeA), A: net.IPv4(127, 0, 0, 1)},
			&dns.AAAA{Hdr: hdr(qname, dns.TypeAAAA), AAAA: net.IPv6loopback},
		}
	case qname == "1.0.0.127.in-addr.arpa." || qname == ip6Loopback:
		data = []dns.RR{&dns.PTR{Hdr: hdr(qname, dns.TypePTR), Ptr: "localhost."}}
	}
	if qname == z {
		data = append(data, soa, &dns.NS{Hdr: hdr(z, dns.TypeNS), Ns: "localhost."})
	}
	if len(data) == 0 {
		return result{rcode: dns.RcodeNameError, ns: []dns.RR{soa}}
	}
	var answer []dns.RR
	for _, rr := range data {
		if rr.Header().Rrtype == qtype {
			answer = append(answer, rr)
		}
	}
	if len(answer) == 0 {
		return result{ns: []dns.RR{soa}}
	}
	return result{answer: answer}
}

// underLocalTLD reports whether name's top-level label is one that local
// zones live under, so that other names cost one comparison, not a scan of
// the zones.
func underLocalTLD(name string) bool {
	name = strings.TrimSuffix(name, ".")
	tld := name[strings.LastIndexByte(name, '.')+1:]
	switch tld {
	case "localhost", "invalid", "test", "onion", "arpa":
		return true
	}
	return false
}
