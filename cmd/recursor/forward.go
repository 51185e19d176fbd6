package main

// Forward and stub zones on the command line and in the config file:
// --forward, --forward-tls, --forward-tls-ca and --stub-zone, and the
// [[forward-zone]] and [[stub-zone]] tables, which become those flags'
// values (Unbound's forward-zone and stub-zone clauses).

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/miekg/dns"
	"github.com/spf13/pflag"

	"github.com/recursor-dns/recursor/resolver"
)

// forwardFlags are the engine's forward and stub zone flags.
type forwardFlags struct {
	forward    []string
	forwardTLS []string
	first      []string // zones of --forward and --forward-tls to iterate when their forwarders fail
	tlsCA      string
	stubZones  []string
}

func (f *forwardFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.forward, "forward", nil, "forward the questions for names in ZONE to these recursive resolvers, with RD set: ZONE=ADDR[:PORT],... or ADDR@PORT as Unbound writes it; port 53 by default; '.' forwards every name (repeatable)")
	fs.StringArrayVar(&f.forwardTLS, "forward-tls", nil, "as --forward, over DNS over TLS: ZONE=ADDR[@PORT][#NAME],...; the certificate must be valid for NAME, or for ADDR when no NAME is given; port 853 by default (repeatable)")
	fs.StringArrayVar(&f.first, "forward-first", nil, "a zone of --forward or --forward-tls whose questions are iterated as if not forwarded when every forwarder fails (Unbound's forward-first) (repeatable)")
	fs.StringVar(&f.tlsCA, "forward-tls-ca", "", "PEM file of the CA certificates that --forward-tls servers' certificates must chain to (default: the system's roots)")
	fs.StringArrayVar(&f.stubZones, "stub-zone", nil, "send the questions for names in ZONE straight to these authoritative servers: ZONE=ADDR[:PORT],...; port --upstream-port by default (repeatable)")
}

// apply adds the forward and stub zones to cfg. With loopbackOnly every
// address must be a loopback one.
func (f *forwardFlags) apply(cfg *resolver.Config, loopbackOnly bool) error {
	first := map[string]bool{}
	for _, z := range f.first {
		if _, ok := dns.IsDomainName(z); !ok || z == "" {
			return fmt.Errorf("--forward-first %q: not a domain name", z)
		}
		first[dns.CanonicalName(z)] = true
	}
	for _, v := range []struct {
		flag  string
		specs []string
		tls   bool
	}{{"--forward", f.forward, false}, {"--forward-tls", f.forwardTLS, true}} {
		for _, spec := range v.specs {
			zone, servers, err := parseZoneServers(spec, v.tls)
			if err != nil {
				return fmt.Errorf("%s %q: %w", v.flag, spec, err)
			}
			fz := resolver.ForwardZone{Zone: zone, TLS: v.tls, First: first[dns.CanonicalName(zone)]}
			delete(first, dns.CanonicalName(zone))
			for _, s := range servers {
				fz.Servers = append(fz.Servers, resolver.Forwarder{Addr: s.addr, TLSName: s.name})
			}
			cfg.ForwardZones = append(cfg.ForwardZones, fz)
		}
	}
	for z := range first {
		return fmt.Errorf("--forward-first %s: no --forward or --forward-tls zone of that name", z)
	}
	for _, spec := range f.stubZones {
		zone, servers, err := parseZoneServers(spec, false)
		if err != nil {
			return fmt.Errorf("--stub-zone %q: %w", spec, err)
		}
		st := resolver.StubZone{Zone: zone}
		for _, s := range servers {
			st.Servers = append(st.Servers, s.addr)
		}
		cfg.StubZones = append(cfg.StubZones, st)
	}
	if loopbackOnly {
		if err := onlyLoopback(cfg); err != nil {
			return err
		}
	}
	if f.tlsCA != "" {
		pem, err := os.ReadFile(f.tlsCA)
		if err != nil {
			return fmt.Errorf("--forward-tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--forward-tls-ca %s: no PEM certificate in it", f.tlsCA)
		}
		cfg.ForwardTLS = &tls.Config{RootCAs: pool}
	}
	return nil
}

// onlyLoopback refuses configured servers off loopback, as
// --upstream-loopback-only refuses every other query.
func onlyLoopback(cfg *resolver.Config) error {
	for _, fz := range cfg.ForwardZones {
		for _, s := range fz.Servers {
			if !s.Addr.Addr().Unmap().IsLoopback() {
				return fmt.Errorf("forward zone %s: %s is not a loopback address, and queries stay on loopback", fz.Zone, s.Addr)
			}
		}
	}
	for _, st := range cfg.StubZones {
		for _, s := range st.Servers {
			if !s.Addr().Unmap().IsLoopback() {
				return fmt.Errorf("stub zone %s: %s is not a loopback address, and queries stay on loopback", st.Zone, s)
			}
		}
	}
	return nil
}

// zoneServer is one server of a --forward, --forward-tls or --stub-zone.
type zoneServer struct {
	addr netip.AddrPort // port 0: the default
	name string         // the TLS certificate's name
}

// parseZoneServers reads ZONE=SERVER,SERVER...
func parseZoneServers(spec string, tls bool) (string, []zoneServer, error) {
	zone, list, ok := strings.Cut(spec, "=")
	zone = strings.TrimSpace(zone)
	if !ok || zone == "" || strings.TrimSpace(list) == "" {
		return "", nil, fmt.Errorf("want ZONE=ADDR,ADDR...")
	}
	if _, ok := dns.IsDomainName(zone); !ok {
		return "", nil, fmt.Errorf("%q is not a domain name", zone)
	}
	var out []zoneServer
	for item := range strings.SplitSeq(list, ",") {
		s, err := parseZoneServer(strings.TrimSpace(item), tls)
		if err != nil {
			return "", nil, err
		}
		out = append(out, s)
	}
	return dns.Fqdn(zone), out, nil
}

// parseZoneServer reads ADDR, ADDR:PORT, [V6]:PORT or ADDR@PORT (as
// Unbound), then with TLS an optional #NAME.
func parseZoneServer(s string, tls bool) (zoneServer, error) {
	var zs zoneServer
	if host, name, ok := strings.Cut(s, "#"); ok {
		if !tls {
			return zs, fmt.Errorf("%q: #NAME is for servers over TLS", s)
		}
		if _, ok := dns.IsDomainName(name); !ok || name == "" {
			return zs, fmt.Errorf("%q: %q is not a name to check a certificate against", s, name)
		}
		s, zs.name = host, strings.TrimSuffix(name, ".")
	}
	if host, port, ok := strings.Cut(s, "@"); ok {
		a, err := netip.ParseAddr(host)
		if err != nil {
			return zs, fmt.Errorf("%q: not an address", host)
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil || p == 0 {
			return zs, fmt.Errorf("%q: port %q: want 1 to 65535", s, port)
		}
		zs.addr = netip.AddrPortFrom(a, uint16(p))
		return zs, nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Port() == 0 {
			return zs, fmt.Errorf("%q: port 0: want 1 to 65535", s)
		}
		zs.addr = ap
		return zs, nil
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return zs, fmt.Errorf("%q: not an address, ADDR:PORT or ADDR@PORT", s)
	}
	zs.addr = netip.AddrPortFrom(a, 0)
	return zs, nil
}

// The config file's tables of zones: [[forward-zone]] (name, addrs,
// tls, tls-name, first) and [[stub-zone]] (name, addrs).
var zoneTables = map[string]bool{"forward-zone": true, "stub-zone": true}

// zoneSettings turns the entries of a [[forward-zone]] or [[stub-zone]]
// table array into settings of --forward, --forward-tls or --stub-zone.
// Errors name the line of the key at fault, or of the entry's header.
func zoneSettings(table string, entries []map[string]any, data string) ([]setting, error) {
	lines := entryLines(table, data, len(entries))
	var out []setting
	for i, e := range entries {
		at := func(key string) int { return keyLine(data, lines, i, key) }
		s, first, err := zoneSetting(table, e)
		if err != nil {
			if line := at(err.key); line > 0 {
				return nil, fmt.Errorf("%d: %s.%s: %w", line, table, err.key, err.err)
			}
			// Inline tables: no header to count; the entry's number.
			return nil, fmt.Errorf(" %s[%d].%s: %w", table, i+1, err.key, err.err)
		}
		// The flags are [resolver]'s.
		s.key = fmt.Sprintf("resolver.%s[%d]", table, i+1)
		out = append(out, s)
		if first {
			out = append(out, setting{key: s.key, flag: "forward-first", values: []string{e["name"].(string)}})
		}
	}
	return out, nil
}

// keyError is a bad value of one key of a zone table entry.
type keyError struct {
	key string
	err error
}

func (e *keyError) Error() string { return e.key + ": " + e.err.Error() }

// zoneSetting is one table entry as a flag's setting, and whether it
// is a forward-first zone.
func zoneSetting(table string, e map[string]any) (setting, bool, *keyError) {
	s, err := zoneFlagSetting(table, e)
	if err != nil {
		return setting{}, false, err
	}
	first, ok := e["first"].(bool)
	if _, given := e["first"]; given && !ok {
		return setting{}, false, &keyError{"first", fmt.Errorf("want true or false")}
	}
	return s, first, nil
}

// zoneFlagSetting is one table entry as a setting of --forward,
// --forward-tls or --stub-zone.
func zoneFlagSetting(table string, e map[string]any) (setting, *keyError) {
	allowed := map[string]bool{"name": true, "addrs": true}
	if table == "forward-zone" {
		allowed["tls"], allowed["tls-name"], allowed["first"] = true, true, true
	}
	for k := range e {
		if !allowed[k] {
			return setting{}, &keyError{k, fmt.Errorf("unknown key in [[%s]]", table)}
		}
	}
	name, ok := e["name"].(string)
	if !ok || name == "" {
		return setting{}, &keyError{"name", fmt.Errorf("want the zone's name, a string like \"example.com.\"")}
	}
	if _, ok := dns.IsDomainName(name); !ok {
		return setting{}, &keyError{"name", fmt.Errorf("%q is not a domain name", name)}
	}
	tls, ok := e["tls"].(bool)
	if _, given := e["tls"]; given && !ok {
		return setting{}, &keyError{"tls", fmt.Errorf("want true or false")}
	}
	tlsName, ok := e["tls-name"].(string)
	if _, given := e["tls-name"]; given && (!ok || !tls) {
		return setting{}, &keyError{"tls-name", fmt.Errorf("want a string, with tls = true")}
	}
	list, _ := e["addrs"].([]any)
	if len(list) == 0 {
		return setting{}, &keyError{"addrs", fmt.Errorf("want a list of addresses, like [\"192.0.2.53\", \"192.0.2.54@5353\"]")}
	}
	var addrs []string
	for _, v := range list {
		a, ok := v.(string)
		if !ok {
			return setting{}, &keyError{"addrs", fmt.Errorf("want strings, found %v (%T)", v, v)}
		}
		if tls && tlsName != "" && !strings.Contains(a, "#") {
			a += "#" + tlsName
		}
		if _, err := parseZoneServer(a, tls); err != nil {
			return setting{}, &keyError{"addrs", err}
		}
		addrs = append(addrs, a)
	}
	s := setting{flag: "stub-zone", values: []string{name + "=" + strings.Join(addrs, ",")}}
	if table == "forward-zone" {
		s.flag = "forward"
		if tls {
			s.flag = "forward-tls"
		}
	}
	return s, nil
}

// entryLines finds the header lines ([[table]]) of the n entries of
// table in data, in order; nil when they cannot be told apart (inline
// tables).
func entryLines(table, data string, n int) []int {
	header := regexp.MustCompile(`^\s*\[\[\s*"?` + regexp.QuoteMeta(table) + `"?\s*\]\]`)
	var out []int
	for i, l := range strings.Split(data, "\n") {
		if header.MatchString(l) {
			out = append(out, i+1)
		}
	}
	if len(out) != n {
		return nil
	}
	return out
}

// keyLine is the line of key in entry i, else of the entry's header,
// else 0.
func keyLine(data string, headers []int, i int, key string) int {
	if headers == nil {
		return 0
	}
	lines := strings.Split(data, "\n")
	end := len(lines)
	if i+1 < len(headers) {
		end = headers[i+1] - 1
	}
	keyRE := regexp.MustCompile(`^\s*"?` + regexp.QuoteMeta(key) + `"?\s*=`)
	for l := headers[i]; l < end && !strings.HasPrefix(strings.TrimSpace(lines[l]), "["); l++ {
		if keyRE.MatchString(lines[l]) {
			return l + 1
		}
	}
	return headers[i]
}
