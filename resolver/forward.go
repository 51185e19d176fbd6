package resolver

// Configured zones: forward zones, whose questions go to recursive
// resolvers with RD set (plain or over DNS over TLS, tls.go), and the
// servers of stub zones, each address with its own port. Both become
// delegations with a zoneConf; server selection, failover by SRTT and
// the infra cache treat their servers as any others.
//
// What a forwarder may say is bounded as an authoritative server's is:
// classify scrubs its reply to the forward zone, so a forwarder is
// trusted for every name in its zone and none outside; a CNAME that
// leaves the zone is followed by the resolver itself, as Unbound does.
// Its answers carry no AA, so they are cached at RankAnswer, which
// clients get but which never replaces authoritative data.

import (
	"crypto/tls"
	"fmt"
	"net/netip"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/internal/dnsname"
)

// DefaultDoTPort is the port of DNS over TLS (RFC 7858).
const DefaultDoTPort = 853

// DefaultForwardPort is a plain forwarder's port when none is given.
const DefaultForwardPort = 53

// ForwardZone is a zone whose questions go to recursive resolvers, with
// RD set, instead of being iterated (Unbound's forward-zone). The
// deepest configured zone holding a name wins, stub or forward; "."
// forwards every name. DNSSEC validation applies to forwarded answers as
// to iterated ones: the queries carry DO, and the DS and DNSKEY records
// of the chain of trust are fetched through the forwarders too when
// their names lie in the zone.
type ForwardZone struct {
	Zone    string
	Servers []Forwarder
	// TLS reaches the servers over DNS over TLS (RFC 7858), checking
	// their certificates (Unbound's forward-tls-upstream).
	TLS bool
	// First iterates a question as if the zone were not forwarded when
	// every forwarder failed (Unbound's forward-first): no reply, or
	// SERVFAIL and REFUSED from all of them.
	First bool
}

// Forwarder is one recursive resolver of a forward zone.
type Forwarder struct {
	// Addr is the server's address; port 0 means DefaultForwardPort, or
	// DefaultDoTPort with TLS.
	Addr netip.AddrPort
	// TLSName is the name the server's certificate must be valid for
	// (Unbound's ADDR#NAME); empty, the certificate must be valid for
	// the address itself. Only with TLS.
	TLSName string
}

// zoneConf is what a configured zone adds to its delegation.
type zoneConf struct {
	forward bool
	// ports of the addresses whose port is not Config.UpstreamPort
	ports map[netip.Addr]uint16
	// dot reaches a TLS forward zone's servers; nil without TLS
	dot *dotTransport
	// first: iterate when the forwarders fail (ForwardZone.First)
	first bool
}

// forwards reports whether d is a forward zone's.
func (d delegation) forwards() bool { return d.conf != nil && d.conf.forward }

// overTLS reports whether d's servers are reached over TLS, where a
// spoofed reply cannot get in: 0x20 protects nothing there.
func (d delegation) overTLS() bool { return d.conf != nil && d.conf.dot != nil }

// portOf is the port of a's server in d, 0 for the resolver's own.
func (d delegation) portOf(a netip.Addr) uint16 {
	if d.conf == nil {
		return 0
	}
	return d.conf.ports[a]
}

// validationZone is the zone the signatures of d's replies about qname
// may come from. A forwarder answers for names of any zone below the
// forward zone, and the forward zone need not be a zone cut: any signer
// that the chain of trust reaches from the trust anchors will do. But a
// name under a negative trust anchor is judged from that anchor, whose
// zone is insecure by configuration: otherwise a private zone that the
// public tree does not delegate would be proven bogus (the root's proof
// that it does not exist).
func (r *Resolver) validationZone(d delegation, qname string) string {
	if !d.forwards() {
		return d.zone
	}
	if r.val != nil {
		for _, nta := range *r.val.anchors.insecure.Load() {
			if inZone(qname, nta) {
				return nta
			}
		}
	}
	return "."
}

// mayAsk reports whether queries may go to a, a server address of d.
// The addresses of configured zones are the operator's own choice,
// often private or loopback ones: dont-query does not apply to them.
func (r *Resolver) mayAsk(d delegation, a netip.Addr) bool {
	if d.conf == nil {
		return r.allowed(a)
	}
	return a.IsValid() && !a.IsUnspecified() && !a.IsMulticast() && !(r.noIPv6 && a.Is6())
}

// mayAskOne reports whether queries may go to one of addrs, of d.
func (r *Resolver) mayAskOne(d delegation, addrs []netip.Addr) bool {
	for _, a := range addrs {
		if r.mayAsk(d, a) {
			return true
		}
	}
	return false
}

// forwardFor returns the forward zone that holds qname, when the deepest
// configured zone holding it is one: the forwarders answer for every
// name below, whatever delegations the cache knows inside the zone.
func (r *Resolver) forwardFor(qname string) (delegation, bool) {
	if len(r.stubs) == 0 {
		return delegation{}, false
	}
	for z := qname; ; z = parentZone(z) {
		if d, ok := r.stubs[z]; ok {
			return d, d.forwards()
		}
		if z == "." {
			return delegation{}, false
		}
	}
}

// fromForwarder is a forwarder's classified reply to qname and qtype,
// about zone, as the walk takes it. A referral says the server did not
// recurse for us, which makes it lame: the walk must not iterate from
// it. A CNAME chain is taken whole while it stays in the zone, as
// Unbound takes it, where classify keeps only its first link (RFC 2181
// section 5.4.1: the rest may come from an authoritative server's
// cache); a forwarder's answer all comes from its cache, and it is
// trusted for the whole zone, so restarting at each link would only ask
// it again for what it said.
func fromForwarder(rep reply, resp *dns.Msg, zone, qname string, qtype uint16, maxChain int) reply {
	switch rep.kind {
	case kindReferral:
		return reply{kind: kindLame, why: "referral to " + rep.child + " from a forwarder: it does not recurse", rcode: rep.rcode, target: rep.target}
	case kindCNAME:
		if qtype == dns.TypeCNAME || resp.Rcode != dns.RcodeSuccess {
			return rep
		}
		chain, target, set, looped := followAnswer(scrub(resp.Answer, zone), zone, qname, qtype, maxChain)
		if looped || len(set) == 0 {
			return rep
		}
		rep.kind, rep.chain, rep.target, rep.answer = kindAnswer, chain, target, set
	}
	return rep
}

// validateConfiguredZones checks the forward zones and the stub zones'
// servers with ports.
func (cfg *Config) validateConfiguredZones() error {
	seen := map[string]string{}
	for _, st := range cfg.StubZones {
		zone, err := dnsname.Canonical(st.Zone)
		if err != nil {
			continue // validate reports it
		}
		seen[zone] = "stub"
		if err := checkServerAddrs(st.Addrs, st.Servers); err != nil {
			return fmt.Errorf("resolver: stub zone %s: %w", zone, err)
		}
	}
	for _, fz := range cfg.ForwardZones {
		zone, err := dnsname.Canonical(fz.Zone)
		if err != nil || len(fz.Servers) == 0 {
			return fmt.Errorf("resolver: forward zone %q: want a domain name and at least one server", fz.Zone)
		}
		if kind, dup := seen[zone]; dup {
			return fmt.Errorf("resolver: forward zone %s: configured already as a %s zone", zone, kind)
		}
		seen[zone] = "forward"
		var addrs []netip.AddrPort
		for _, s := range fz.Servers {
			if s.TLSName != "" && !fz.TLS {
				return fmt.Errorf("resolver: forward zone %s: server %s has a TLS name but the zone has no TLS", zone, s.Addr)
			}
			addrs = append(addrs, s.Addr)
		}
		if err := checkServerAddrs(nil, addrs); err != nil {
			return fmt.Errorf("resolver: forward zone %s: %w", zone, err)
		}
	}
	return nil
}

// checkServerAddrs checks a configured zone's addresses: valid, and each
// address once (server selection knows a server by its address).
func checkServerAddrs(addrs []netip.Addr, servers []netip.AddrPort) error {
	seen := map[netip.Addr]bool{}
	for _, a := range addrs {
		seen[a.Unmap()] = true
	}
	for _, s := range servers {
		a := s.Addr().Unmap()
		if !a.IsValid() {
			return fmt.Errorf("server %s: not an address", s)
		}
		if seen[a] {
			return fmt.Errorf("address %s given twice: one port per address", a)
		}
		seen[a] = true
	}
	return nil
}

// setUpConfiguredZones builds the delegations of the configured zones:
// stub zones (replacing New's, to add their servers with ports) and
// forward zones. validate has checked cfg.
func (r *Resolver) setUpConfiguredZones(cfg Config) {
	for _, st := range cfg.StubZones {
		zone, _ := dnsname.Canonical(st.Zone)
		conf := &zoneConf{ports: map[netip.Addr]uint16{}}
		addrs := append([]netip.Addr(nil), st.Addrs...)
		for _, s := range st.Servers {
			a := s.Addr().Unmap()
			addrs = append(addrs, a)
			if s.Port() != 0 {
				conf.ports[a] = s.Port()
			}
		}
		if r.stubs == nil {
			r.stubs = map[string]delegation{}
		}
		r.stubs[zone] = delegation{zone: zone, servers: []nameServer{{name: zone, addrs: addrs}}, conf: conf}
	}
	for _, fz := range cfg.ForwardZones {
		zone, _ := dnsname.Canonical(fz.Zone)
		conf := &zoneConf{forward: true, first: fz.First, ports: map[netip.Addr]uint16{}}
		d := delegation{zone: zone, conf: conf}
		names := map[netip.AddrPort]string{}
		for _, s := range fz.Servers {
			a, port := s.Addr.Addr().Unmap(), s.Addr.Port()
			if port == 0 {
				port = DefaultForwardPort
				if fz.TLS {
					port = DefaultDoTPort
				}
			}
			conf.ports[a] = port
			name := zone
			if fz.TLS {
				names[netip.AddrPortFrom(a, port)] = s.TLSName
				if s.TLSName != "" {
					name = dnsname.Lower(s.TLSName)
				}
			}
			d.servers = append(d.servers, nameServer{name: name, addrs: []netip.Addr{a}})
		}
		if fz.TLS {
			conf.dot = newDoTTransport(cfg.ForwardTLS, names)
		}
		if r.stubs == nil {
			r.stubs = map[string]delegation{}
		}
		r.stubs[zone] = d
	}
}

// transportFor is the transport to d's servers.
func (r *Resolver) transportFor(d delegation) Transport {
	if d.overTLS() {
		return d.conf.dot
	}
	return r.transport
}

// forwardTLS is the base TLS configuration of DoT forwarders.
func forwardTLS(base *tls.Config) *tls.Config {
	if base == nil {
		return &tls.Config{MinVersion: tls.VersionTLS12}
	}
	cfg := base.Clone()
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	return cfg
}
