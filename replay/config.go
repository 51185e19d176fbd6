package replay

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/resolver"
	"github.com/recursor-dns/recursor/roothints"
	"github.com/recursor-dns/recursor/server"
)

// defaultStart is the clock's start when a file names no date: a fixed
// moment, so runs repeat.
var defaultStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// rootHintsTTL is the TTL given to the root NS set built from stub-addr.
const rootHintsTTL = 3600000

// setup is what a file's config section asks for, in our terms.
type setup struct {
	start      time.Time
	rootName   string // Deckard stub-name
	rootAddrs  []netip.Addr
	noIPv6     bool
	qmin       *bool // nil: the file does not say
	no0x20     bool
	nonMinimal bool // minimal-responses: no
	authNS     bool // iter-scrub-promiscuous: no
	verifyGlue bool // harden-unverified-glue
	stubs      []resolver.StubZone
	private    []netip.Prefix // private-address
	privateOK  []string       // private-domain
	noDefault  []string       // local-zone: name nodefault, for our local zones
	dontQuery  []netip.Prefix // never nil: loopback unless do-not-query-localhost: no
	cache      cache.Config
	limits     resolver.Limits
	dnssec     resolver.DNSSECConfig
	stale      resolver.StaleConfig // Disable unless serve-expired: yes (Unbound's default)
	prefetch   bool
	// access: the access-control lines; none means the server's default
	// for Unbound's files (loopback allowed, RD=0 refused) and
	// allow_snoop for Knot Resolver's, which answers RD=0 from its cache.
	access []server.AccessRule
	// unsupported lists what the file asks for and the engine cannot do,
	// in file order.
	unsupported []*UnsupportedError
}

// UnsupportedError says a file asks for something the engine cannot do;
// the file fails with it rather than pass by accident.
type UnsupportedError struct {
	Line   int
	Key    string
	Value  string
	Reason string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("unsupported config %s: %s (line %d): %s", e.Key, e.Value, e.Line, e.Reason)
}

// ignoredKeys change nothing our engine does (see the scenarios README).
var ignoredKeys = map[string]bool{
	"target-fetch-policy": true, "trust-anchor-signaling": true, "fake-sha1": true,
	"rrset-roundrobin": true, "log-servfail": true, "verbosity": true, "val-log-level": true,
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "yes", "on", "true", "1":
		return true, nil
	case "no", "off", "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean: %q", s)
}

// addStub adds addr to the stub zone named zone.
func (s *setup) addStub(zone string, addr netip.Addr) {
	for i := range s.stubs {
		if s.stubs[i].Zone == zone {
			s.stubs[i].Addrs = append(s.stubs[i].Addrs, addr)
			return
		}
	}
	s.stubs = append(s.stubs, resolver.StubZone{Zone: zone, Addrs: []netip.Addr{addr}})
}

// configure maps a scenario's config section onto the engine. Keys it
// cannot honour are listed in setup.unsupported; an error means the
// section itself is broken.
func configure(sc *Scenario) (*setup, error) {
	s := &setup{
		stale:    resolver.StaleConfig{Disable: true},
		start:    defaultStart,
		rootName: "k.root-servers.net.",
		// Unbound refuses loopback servers unless do-not-query-localhost
		// is off; Knot Resolver, which Deckard files are written for,
		// queries them (its scenarios put root servers on 127.0.0.x).
		dontQuery: []netip.Prefix{},
		// Unbound does not randomise the query name's case unless told
		// (use-caps-for-id), and its canned answers do not echo it.
		no0x20: sc.Dialect == Unbound,
	}
	if sc.Dialect == Unbound {
		s.dontQuery = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	} else {
		s.access = []server.AccessRule{{Prefix: netip.MustParsePrefix("127.0.0.0/8"), Action: server.ActionAllowSnoop}, {Prefix: netip.MustParsePrefix("::1/128"), Action: server.ActionAllowSnoop}}
		// Knot Resolver resolves test. like any name (Deckard's files
		// delegate and sign it), where Unbound's files say "local-zone:
		// test. nodefault" to get the same.
		s.noDefault = append(s.noDefault, "test.")
	}
	var stubZone string
	noIPv4 := false
	for _, c := range sc.Config {
		unsupported := func(reason string) *UnsupportedError {
			return &UnsupportedError{Line: c.Line, Key: c.Key, Value: c.Value, Reason: reason}
		}
		bad := func(err error) error {
			return fmt.Errorf("%s:%d: config %s: %v", sc.Name, c.Line, c.Key, err)
		}
		if ignoredKeys[c.Key] {
			continue
		}
		switch {
		case c.Clause == "stub-zone":
			switch c.Key {
			case "name":
				stubZone = dns.CanonicalName(c.Value)
			case "stub-addr":
				a, err := parseStubAddr(c.Value)
				if err != nil {
					return nil, bad(err)
				}
				if stubZone != "." {
					s.addStub(stubZone, a)
					continue
				}
				s.rootAddrs = append(s.rootAddrs, a)
			case "stub-prime":
				// Priming is what the engine does with root hints anyway.
			default:
				s.unsupported = append(s.unsupported, unsupported("stub-zone option not mapped"))
			}
			continue
		case c.Clause != "" && c.Clause != "server":
			s.unsupported = append(s.unsupported, unsupported("clause "+c.Clause+" not mapped"))
			continue
		}
		var err error
		switch c.Key {
		case "stub-addr": // Deckard
			var a netip.Addr
			if a, err = parseStubAddr(c.Value); err == nil {
				s.rootAddrs = append(s.rootAddrs, a)
			}
		case "stub-name":
			s.rootName = dns.CanonicalName(c.Value)
		case "do-ip6":
			var on bool
			on, err = parseBool(c.Value)
			s.noIPv6 = !on
		case "do-ip4":
			var on bool
			if on, err = parseBool(c.Value); err == nil && !on {
				noIPv4 = true
			}
		case "query-minimization", "qname-minimisation":
			var on bool
			if on, err = parseBool(c.Value); err == nil {
				s.qmin = &on
			}
		case "qname-minimisation-strict":
			var on bool
			if on, err = parseBool(c.Value); err == nil && on {
				err = unsupported("strict QNAME minimisation is not mapped")
			}
		case "use-caps-for-id":
			var on bool
			if on, err = parseBool(c.Value); err == nil {
				s.no0x20 = !on
			}
		case "harden-glue":
			var on bool
			if on, err = parseBool(c.Value); err == nil && !on {
				err = unsupported("the engine always drops out-of-bailiwick glue")
			}
		case "do-not-query-localhost":
			var on bool
			if on, err = parseBool(c.Value); err == nil && !on {
				s.dontQuery = []netip.Prefix{}
			}
		case "val-override-date":
			s.start, err = time.Parse("20060102150405", c.Value)
		case "val-override-timestamp":
			var sec int64
			if sec, err = strconv.ParseInt(c.Value, 10, 64); err == nil {
				s.start = time.Unix(sec, 0).UTC()
			}
		case "features": // Deckard: Knot options, "k = v; k = v"
			err = s.features(c.Value, func(r string) error { return unsupported(r) })
		case "cache-max-ttl":
			s.cache.MaxTTL, err = seconds(c.Value)
		case "cache-min-ttl":
			s.cache.MinTTL, err = seconds(c.Value)
		case "cache-max-negative-ttl":
			s.cache.MaxNegativeTTL, err = seconds(c.Value)
		case "cache-min-negative-ttl":
			s.cache.MinNegativeTTL, err = seconds(c.Value)
		case "harden-unverified-glue":
			s.verifyGlue, err = parseBool(c.Value)
		case "iter-scrub-ns":
			s.limits.MaxNSRecords, err = strconv.Atoi(c.Value)
		case "max-query-restarts":
			s.limits.MaxCNAMEs, err = strconv.Atoi(c.Value)
		case "max-global-quota":
			s.limits.MaxUpstreamQueries, err = strconv.Atoi(c.Value)
		case "access-control":
			f := strings.Fields(c.Value)
			if len(f) != 2 {
				return nil, bad(fmt.Errorf("want netblock action"))
			}
			var rule server.AccessRule
			if rule, err = server.ParseAccessRule(c.Value); err == nil {
				s.access = append(s.access, rule)
			}
		case "module-config":
			switch strings.Join(strings.Fields(c.Value), " ") {
			case "iterator":
				s.dnssec.Disable = true
			case "validator iterator":
			default:
				err = unsupported("only the modules validator and iterator exist")
			}
		case "aggressive-nsec":
			var on bool
			if on, err = parseBool(c.Value); err == nil {
				s.dnssec.DisableAggressiveNSEC = !on
			}
		case "trust-anchor":
			var rr dns.RR
			if rr, err = parseAnchor(c.Value); err == nil {
				s.dnssec.TrustAnchors = append(s.dnssec.TrustAnchors, rr)
			}
		case "domain-insecure":
			s.dnssec.InsecureDomains = append(s.dnssec.InsecureDomains, dns.CanonicalName(c.Value))
		case "trust-anchor-file", "auto-trust-anchor-file":
			err = unsupported("anchors in files outside the scenario are not read; trust-anchor lines are")
		case "harden-algo-downgrade":
			// "no" is RFC 6840 section 5.11 and what the validator does:
			// one DS algorithm whose key signs is enough.
			var on bool
			if on, err = parseBool(c.Value); err == nil && on {
				err = unsupported("the validator accepts a chain signed with any one of the DS set's algorithms; it does not require all of them")
			}
		case "harden-unknown-additional":
			// The engine takes only A and AAAA glue from the additional
			// section: records of unknown types there are never used.
			_, err = parseBool(c.Value)
		case "harden-below-nxdomain":
			// "yes" (Unbound's default) is what the engine does: names
			// below a cached, secure NXDOMAIN are answered from the
			// cache (RFC 8020); it has no switch to turn that off.
			var on bool
			if on, err = parseBool(c.Value); err == nil && !on {
				err = unsupported("the engine always answers names below a cached, secure NXDOMAIN from the cache (RFC 8020)")
			}
		case "serve-expired":
			var on bool
			if on, err = parseBool(c.Value); err == nil {
				s.stale.Disable = !on
			}
		case "serve-expired-ttl":
			// Unbound's 0 is no limit.
			if s.stale.MaxAge, err = seconds(c.Value); err == nil && s.stale.MaxAge == 0 {
				s.stale.MaxAge = math.MaxInt64
			}
		case "serve-expired-reply-ttl":
			s.stale.ReplyTTL, err = seconds(c.Value)
		case "serve-expired-client-timeout":
			// Milliseconds; Unbound's 0 answers stale at once.
			var ms uint64
			if ms, err = strconv.ParseUint(c.Value, 10, 32); err == nil {
				s.stale.ClientTimeout = time.Duration(ms) * time.Millisecond
				if ms == 0 {
					s.stale.ClientTimeout = -1
				}
			}
		case "serve-expired-ttl-reset":
			var on bool
			if on, err = parseBool(c.Value); err == nil && on {
				err = unsupported("a failed refresh does not extend the stale window (RFC 8767 keeps it from the expiry)")
			}
		case "prefetch":
			s.prefetch, err = parseBool(c.Value)
		case "ede-serve-expired":
			// The front end gives stale answers EDE 3 (19 for NXDOMAIN).
			var on bool
			if on, err = parseBool(c.Value); err == nil && !on {
				err = unsupported("stale answers always carry their Extended DNS Error")
			}
		case "harden-referral-path":
			// Options whose "no" is what the engine does.
			var on bool
			if on, err = parseBool(c.Value); err == nil && on {
				err = unsupported("not implemented")
			}
		case "iter-scrub-promiscuous":
			// "yes" (Unbound's default) drops the NS set of an answer's
			// authority section and its addresses, as the engine does
			// unless AcceptAuthorityNS keeps them.
			var on bool
			if on, err = parseBool(c.Value); err == nil {
				s.authNS = !on
			}
		case "minimal-responses":
			var on bool
			if on, err = parseBool(c.Value); err == nil {
				s.nonMinimal = !on
			}
		case "ede":
			// The front end always attaches Extended DNS Errors.
			var on bool
			if on, err = parseBool(c.Value); err == nil && !on {
				err = unsupported("Extended DNS Errors cannot be turned off")
			}
		case "private-address":
			var p netip.Prefix
			if p, err = netip.ParsePrefix(strings.Trim(c.Value, `"`)); err == nil {
				s.private = append(s.private, p)
			}
		case "private-domain":
			s.privateOK = append(s.privateOK, strings.Trim(c.Value, `"`))
		case "local-zone":
			// "name nodefault" lifts a built-in special-use zone; zones of
			// Unbound's that the engine does not have need nothing.
			f := strings.Fields(strings.ReplaceAll(c.Value, `"`, ""))
			if len(f) != 2 || f[1] != "nodefault" {
				err = unsupported("local zones other than the built-in ones are not implemented")
				break
			}
			if z := dns.CanonicalName(f[0]); slices.Contains(resolver.DefaultLocalZones(), z) {
				s.noDefault = append(s.noDefault, z)
			}
		default:
			err = unsupported("not mapped")
		}
		var ue *UnsupportedError
		if errors.As(err, &ue) {
			s.unsupported = append(s.unsupported, ue)
		} else if err != nil {
			return nil, bad(err)
		}
	}
	if noIPv4 {
		// The engine has no IPv4 switch; never sending to an IPv4
		// address (mapped ones too) is the same.
		s.dontQuery = append(s.dontQuery, netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::ffff:0:0/96"))
	}
	if len(s.rootAddrs) == 0 {
		// Files that never reach upstream (refuse_xfr.rpl) name no root;
		// Deckard's default stands in.
		s.rootAddrs = []netip.Addr{netip.MustParseAddr("193.0.14.129")}
	}
	return s, nil
}

// features reads Deckard's Knot options; only the TTL clamps are mapped.
func (s *setup) features(v string, unsupported func(string) error) error {
	for _, item := range strings.Split(v, ";") {
		key, value, _ := strings.Cut(item, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		var err error
		switch key {
		case "":
		case "min_ttl":
			s.cache.MinTTL, err = seconds(value)
		case "max_ttl":
			s.cache.MaxTTL, err = seconds(value)
		default:
			return unsupported("feature " + key + " not mapped")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// parseAnchor reads a trust-anchor value: a DS or DNSKEY record in
// presentation form (TTL and class optional).
func parseAnchor(v string) (dns.RR, error) {
	rr, err := dns.NewRR(v)
	if err != nil {
		return nil, err
	}
	switch rr.(type) {
	case *dns.DS, *dns.DNSKEY:
		return rr, nil
	case nil:
		return nil, errors.New("empty trust anchor")
	}
	return nil, fmt.Errorf("trust anchor %q: want a DS or DNSKEY record", v)
}

func seconds(v string) (time.Duration, error) {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, err
	}
	return time.Duration(n) * time.Second, nil
}

// parseStubAddr reads "ip" or Unbound's "ip@port"; only port 53 exists on
// the fake network.
func parseStubAddr(v string) (netip.Addr, error) {
	host, port, found := strings.Cut(v, "@")
	if found && port != "53" {
		return netip.Addr{}, fmt.Errorf("stub-addr %q: only port 53 is served", v)
	}
	return netip.ParseAddr(host)
}

func (s *setup) hints() *roothints.Hints {
	return &roothints.Hints{
		Servers: []roothints.Server{{Name: s.rootName, Addrs: s.rootAddrs}},
		TTL:     rootHintsTTL,
	}
}
