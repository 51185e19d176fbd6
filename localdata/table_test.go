package localdata

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// load builds a table from configuration entries or fails the test.
func load(t testing.TB, cfg Config) *Table {
	t.Helper()
	tab, err := Load(cfg)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return tab
}

// outcome is a verdict in a form tables of tests can spell: the action,
// the rcode, the answer records' text and whether an SOA came along.
type outcome struct {
	action Action
	rcode  int
	answer string // records joined by "; ", TTLs included
	soa    bool
	zone   string
}

func outcomeOf(v Verdict) outcome {
	var rrs []string
	for _, rr := range v.Answer {
		rrs = append(rrs, strings.Join(strings.Fields(rr.String()), " "))
	}
	return outcome{action: v.Action, rcode: v.Rcode, answer: strings.Join(rrs, "; "), soa: len(v.Ns) == 1 && v.Ns[0].Header().Rrtype == dns.TypeSOA, zone: v.Zone}
}

func TestZoneTypes(t *testing.T) {
	tab := load(t, Config{
		Zones: []string{
			`"static.example." static`,
			"nosoa.example. static",
			"transparent.example. transparent",
			"tt.example. typetransparent",
			"refuse.example. refuse",
			"deny.example. deny",
			"redirect.example. redirect",
			"at.example. always_transparent",
			"ar.example. always_refuse",
			"anx.example. always_nxdomain",
			"and.example. always_nodata",
			"ad.example. always_deny",
			"anull.example. always_null",
		},
		Data: []string{
			"static.example. 600 IN SOA ns.static.example. host.static.example. 1 2 3 4 300",
			"www.static.example. 600 IN A 192.0.2.1",
			"a.b.static.example. A 192.0.2.2",
			"www.nosoa.example. A 192.0.2.3",
			"www.transparent.example. A 192.0.2.4",
			"www.tt.example. A 192.0.2.5",
			"www.refuse.example. A 192.0.2.6",
			"www.deny.example. A 192.0.2.7",
			"redirect.example. 60 A 192.0.2.8",
			"www.at.example. A 192.0.2.9",
			"www.ar.example. A 192.0.2.10",
			"www.anx.example. A 192.0.2.11",
		},
	})
	pass := func(zone string) outcome { return outcome{zone: zone} }
	tests := []struct {
		qname string
		qtype uint16
		want  outcome
	}{
		{"www.static.example.", dns.TypeA, outcome{action: Answer, answer: "www.static.example. 600 IN A 192.0.2.1", zone: "static.example."}},
		{"www.static.example.", dns.TypeAAAA, outcome{action: Answer, soa: true, zone: "static.example."}},
		{"b.static.example.", dns.TypeA, outcome{action: Answer, soa: true, zone: "static.example."}}, // empty non-terminal: NODATA
		{"nope.static.example.", dns.TypeA, outcome{action: Answer, rcode: dns.RcodeNameError, soa: true, zone: "static.example."}},
		{"static.example.", dns.TypeSOA, outcome{action: Answer, answer: "static.example. 600 IN SOA ns.static.example. host.static.example. 1 2 3 4 300", zone: "static.example."}},
		{"nope.nosoa.example.", dns.TypeA, outcome{action: Answer, rcode: dns.RcodeNameError, zone: "nosoa.example."}},
		{"www.transparent.example.", dns.TypeA, outcome{action: Answer, answer: "www.transparent.example. 3600 IN A 192.0.2.4", zone: "transparent.example."}},
		{"www.transparent.example.", dns.TypeAAAA, outcome{action: Answer, zone: "transparent.example."}},
		{"other.transparent.example.", dns.TypeA, pass("transparent.example.")},
		{"transparent.example.", dns.TypeA, pass("transparent.example.")},
		{"www.tt.example.", dns.TypeA, outcome{action: Answer, answer: "www.tt.example. 3600 IN A 192.0.2.5", zone: "tt.example."}},
		{"www.tt.example.", dns.TypeAAAA, pass("tt.example.")},
		{"www.refuse.example.", dns.TypeA, outcome{action: Answer, answer: "www.refuse.example. 3600 IN A 192.0.2.6", zone: "refuse.example."}},
		{"other.refuse.example.", dns.TypeA, outcome{action: Answer, rcode: dns.RcodeRefused, zone: "refuse.example."}},
		{"www.deny.example.", dns.TypeA, outcome{action: Answer, answer: "www.deny.example. 3600 IN A 192.0.2.7", zone: "deny.example."}},
		{"other.deny.example.", dns.TypeA, outcome{action: Drop, zone: "deny.example."}},
		{"redirect.example.", dns.TypeA, outcome{action: Answer, answer: "redirect.example. 60 IN A 192.0.2.8", zone: "redirect.example."}},
		{"a.b.redirect.example.", dns.TypeA, outcome{action: Answer, answer: "a.b.redirect.example. 60 IN A 192.0.2.8", zone: "redirect.example."}},
		{"a.b.redirect.example.", dns.TypeMX, outcome{action: Answer, zone: "redirect.example."}},
		{"www.at.example.", dns.TypeA, pass("at.example.")},
		{"www.ar.example.", dns.TypeA, outcome{action: Answer, rcode: dns.RcodeRefused, zone: "ar.example."}},
		{"www.anx.example.", dns.TypeA, outcome{action: Answer, rcode: dns.RcodeNameError, zone: "anx.example."}},
		{"x.and.example.", dns.TypeA, outcome{action: Answer, zone: "and.example."}},
		{"x.ad.example.", dns.TypeA, outcome{action: Drop, zone: "ad.example."}},
		{"x.anull.example.", dns.TypeA, outcome{action: Answer, answer: "x.anull.example. 3600 IN A 0.0.0.0", zone: "anull.example."}},
		{"x.anull.example.", dns.TypeAAAA, outcome{action: Answer, answer: "x.anull.example. 3600 IN AAAA ::", zone: "anull.example."}},
		{"x.anull.example.", dns.TypeTXT, outcome{action: Answer, zone: "anull.example."}},
		{"example.", dns.TypeA, pass("")},
		{"unrelated.org.", dns.TypeA, pass("")},
	}
	for _, tt := range tests {
		t.Run(tt.qname+"/"+dns.TypeToString[tt.qtype], func(t *testing.T) {
			if got := outcomeOf(tab.Lookup(tt.qname, tt.qtype)); got != tt.want {
				t.Errorf("Lookup = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestImplicitTransparentZone(t *testing.T) {
	tab := load(t, Config{Data: []string{"host.lan. A 192.0.2.1", "alias.lan. CNAME host.lan."}})
	tests := []struct {
		qname string
		qtype uint16
		want  outcome
	}{
		{"host.lan.", dns.TypeA, outcome{action: Answer, answer: "host.lan. 3600 IN A 192.0.2.1"}},
		{"host.lan.", dns.TypeAAAA, outcome{action: Answer}}, // a name with data: NODATA, as transparent
		// A local CNAME is answered as it stands, for every type.
		{"alias.lan.", dns.TypeA, outcome{action: Answer, answer: "alias.lan. 3600 IN CNAME host.lan."}},
		{"other.lan.", dns.TypeA, outcome{}},
		{"below.host.lan.", dns.TypeA, outcome{}},
		{"lan.", dns.TypeA, outcome{}},
	}
	for _, tt := range tests {
		if got := outcomeOf(tab.Lookup(tt.qname, tt.qtype)); got != tt.want {
			t.Errorf("Lookup(%s, %s) = %+v, want %+v", tt.qname, dns.TypeToString[tt.qtype], got, tt.want)
		}
	}
	if z := tab.Zones(); len(z) != 0 {
		t.Errorf("Zones() = %v, want the implicit zones left out", z)
	}
	if tab.Has("host.lan.") {
		t.Error("Has(host.lan.) for an implicit zone")
	}
}

func TestNoDefaultZoneIsPassedOver(t *testing.T) {
	tab := load(t, Config{Zones: []string{"10.in-addr.arpa. nodefault", "in-addr.arpa. refuse"}})
	if !tab.Has("10.in-addr.arpa.") {
		t.Error("Has(10.in-addr.arpa.) = false for a nodefault zone")
	}
	got := outcomeOf(tab.Lookup("1.0.0.10.in-addr.arpa.", dns.TypePTR))
	if want := (outcome{action: Answer, rcode: dns.RcodeRefused, zone: "in-addr.arpa."}); got != want {
		t.Errorf("Lookup = %+v, want %+v (the zone above the nodefault one)", got, want)
	}
}

func TestNilTablePasses(t *testing.T) {
	var tab *Table
	if v := tab.Lookup("www.example.", dns.TypeA); v.Action != Pass {
		t.Errorf("nil table: %+v", v)
	}
	if tab.Has("example.") {
		t.Error("nil table has a zone")
	}
}

func TestRRsetTakesOneTTLAndDropsDuplicates(t *testing.T) {
	tab := load(t, Config{Data: []string{"h.lan. 60 A 192.0.2.1", "h.lan. 120 A 192.0.2.2", "h.lan. 60 A 192.0.2.1"}})
	got := outcomeOf(tab.Lookup("h.lan.", dns.TypeA)).answer
	if want := "h.lan. 60 IN A 192.0.2.1; h.lan. 60 IN A 192.0.2.2"; got != want {
		t.Errorf("answer %q, want %q", got, want)
	}
}

func TestLocalDataPTR(t *testing.T) {
	tab := load(t, Config{PTRs: []string{"192.0.2.1 www.example.com", "2001:db8::1 7200 v6.example.com."}})
	tests := []struct{ qname, want string }{
		{"1.2.0.192.in-addr.arpa.", "1.2.0.192.in-addr.arpa. 3600 IN PTR www.example.com."},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 7200 IN PTR v6.example.com."},
	}
	for _, tt := range tests {
		if got := outcomeOf(tab.Lookup(tt.qname, dns.TypePTR)).answer; got != tt.want {
			t.Errorf("Lookup(%s) = %q, want %q", tt.qname, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // in the error, beside the entry's own text
	}{
		{"zone one field", Config{Zones: []string{"example.com."}}, `want "NAME TYPE"`},
		{"zone three fields", Config{Zones: []string{"example.com. static extra"}}, `want "NAME TYPE"`},
		{"zone type", Config{Zones: []string{"example.com. opaque"}}, `unknown local-zone type "opaque"`},
		{"zone name", Config{Zones: []string{"exa..mple. static"}}, `bad name`},
		{"zone twice", Config{Zones: []string{"example.com. static", "example.com. refuse"}}, "configured as both static and refuse"},
		{"data syntax", Config{Data: []string{"www.example.com. A 300.1.1.1"}}, "bad A"},
		{"data empty", Config{Data: []string{"  "}}, "no record"},
		{"data comment", Config{Data: []string{"; nothing"}}, "no record"},
		{"data directive", Config{Data: []string{"$INCLUDE /etc/passwd"}}, "directives"},
		{"data class", Config{Data: []string{"id.server. CH TXT x"}}, "class CH"},
		{"data type", Config{Data: []string{"www.example.com. RRSIG A 8 3 300 20300101000000 20000101000000 1 example.com. AAAA"}}, "cannot be local data"},
		{"data cname and a", Config{Data: []string{"w.example. A 192.0.2.1", "w.example. CNAME x.example."}}, "a CNAME and other data"},
		{"data two soas", Config{Zones: []string{"example. static"}, Data: []string{"example. SOA a. b. 1 2 3 4 5", "example. SOA a. b. 2 2 3 4 5"}}, "second SOA"},
		{"data below redirect", Config{Zones: []string{"r.example. redirect"}, Data: []string{"www.r.example. A 192.0.2.1"}}, "below the apex of redirect zone"},
		{"ptr fields", Config{PTRs: []string{"192.0.2.1"}}, `want "ADDR [TTL] NAME"`},
		{"ptr address", Config{PTRs: []string{"192.0.2 www.example."}}, "bad address"},
		{"ptr ttl", Config{PTRs: []string{"192.0.2.1 -5 www.example."}}, "bad TTL"},
		{"ptr name", Config{PTRs: []string{"192.0.2.1 a..b"}}, "bad name"},
		{"hosts missing", Config{Hosts: []string{"testdata/no-such-file"}}, "no such file"},
		{"hosts bad address", Config{Hosts: []string{"testdata/bad-address.hosts"}}, `testdata/bad-address.hosts:2": bad address "192.0.2.300"`},
		{"hosts no name", Config{Hosts: []string{"testdata/no-name.hosts"}}, `testdata/no-name.hosts:1": address "192.0.2.1" without a name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := Load(tt.cfg)
			if err == nil {
				t.Fatalf("Load = %v, nil; want an error", tab)
			}
			if !errors.Is(err, ErrEntry) {
				t.Errorf("error %v is not ErrEntry", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			for _, e := range slices.Concat(tt.cfg.Zones, tt.cfg.Data, tt.cfg.PTRs) {
				if len(tt.cfg.Zones)+len(tt.cfg.Data)+len(tt.cfg.PTRs) == 1 && !strings.Contains(err.Error(), e) {
					t.Errorf("error %q does not name the entry %q", err, e)
				}
			}
		})
	}
}

func TestLoadReportsEveryBadEntry(t *testing.T) {
	_, err := Load(Config{Zones: []string{"a. nope"}, Data: []string{"b. A x"}, PTRs: []string{"c"}})
	for _, want := range []string{`"a. nope"`, `"b. A x"`, `"c"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

func TestParseZoneQuoting(t *testing.T) {
	for _, entry := range []string{`"Example.COM." static`, `"example.com. static"`, `example.com static`, ` 'example.com.  STATIC' `} {
		z, err := ParseZone(entry)
		if err != nil || z != (Zone{Name: "example.com.", Type: Static}) {
			t.Errorf("ParseZone(%q) = %+v, %v", entry, z, err)
		}
	}
}

// A negative answer's SOA has the lesser of the SOA's TTL and MINIMUM as
// TTL, as Unbound gives it (RFC 2308 section 3).
func TestNegativeSOATTL(t *testing.T) {
	tab := load(t, Config{Zones: []string{"corp. static"}, Data: []string{"corp. 600 SOA ns.corp. h.corp. 1 2 3 4 5", "www.corp. A 192.0.2.1"}})
	v := tab.Lookup("nope.corp.", dns.TypeA)
	if len(v.Ns) != 1 || v.Ns[0].Header().Ttl != 5 {
		t.Errorf("authority %v, want the SOA with TTL 5", v.Ns)
	}
	if v := tab.Lookup("corp.", dns.TypeSOA); len(v.Answer) != 1 || v.Answer[0].Header().Ttl != 600 {
		t.Errorf("SOA answer %v, want its own TTL 600", v.Answer)
	}
}

// A CNAME at a redirect zone's apex makes an alias for every other type;
// a CNAME anywhere else is answered as it stands, without one.
func TestRedirectCNAMEIsAnAlias(t *testing.T) {
	tab := load(t, Config{
		Zones: []string{"safe.example. redirect", "lan. static"},
		Data:  []string{"safe.example. CNAME Forced.Example.", "c.lan. CNAME www.lan."},
	})
	tests := []struct {
		qname  string
		qtype  uint16
		answer string
		alias  string
	}{
		{"www.safe.example.", dns.TypeA, "www.safe.example. 3600 IN CNAME Forced.Example.", "forced.example."},
		{"safe.example.", dns.TypeAAAA, "safe.example. 3600 IN CNAME Forced.Example.", "forced.example."},
		{"www.safe.example.", dns.TypeCNAME, "www.safe.example. 3600 IN CNAME Forced.Example.", ""},
		{"c.lan.", dns.TypeA, "c.lan. 3600 IN CNAME www.lan.", ""},
	}
	for _, tt := range tests {
		v := tab.Lookup(tt.qname, tt.qtype)
		if got := outcomeOf(v).answer; got != tt.answer || v.Alias != tt.alias {
			t.Errorf("Lookup(%s, %s) = %q alias %q, want %q alias %q", tt.qname, dns.TypeToString[tt.qtype], got, v.Alias, tt.answer, tt.alias)
		}
	}
}
