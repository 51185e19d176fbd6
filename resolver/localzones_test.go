package resolver

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// Special-use names are answered without a packet upstream.
func TestLocalZones(t *testing.T) {
	n := standardNet(t)
	r := newTestResolver(t, n, nil)
	for _, tc := range []struct {
		name   string
		qtype  uint16
		rcode  int
		answer string // the first answer record's data, "" for none
	}{
		{"localhost.", dns.TypeA, dns.RcodeSuccess, "127.0.0.1"},
		{"LocalHost.", dns.TypeAAAA, dns.RcodeSuccess, "::1"},
		{"db.localhost.", dns.TypeA, dns.RcodeSuccess, "127.0.0.1"},
		{"localhost.", dns.TypeMX, dns.RcodeSuccess, ""},
		{"localhost.", dns.TypeSOA, dns.RcodeSuccess, "localhost. nobody.invalid. 1 3600 1200 604800 3600"},
		{"www.example.invalid.", dns.TypeA, dns.RcodeNameError, ""},
		{"host.test.", dns.TypeAAAA, dns.RcodeNameError, ""},
		{"test.", dns.TypeNS, dns.RcodeSuccess, "localhost."},
		{"abc.onion.", dns.TypeA, dns.RcodeNameError, ""},
		{"router.home.arpa.", dns.TypeA, dns.RcodeNameError, ""},
		{"1.0.0.127.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, "localhost."},
		{"2.0.0.127.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, ""},
		{"1.1.168.192.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, ""},
		{"4.3.2.10.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, ""},
		{"1.0.20.172.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, ""},
		{"1.0.64.100.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, ""},
		{ip6Loopback, dns.TypePTR, dns.RcodeSuccess, "localhost."},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f.ip6.arpa.", dns.TypePTR, dns.RcodeNameError, ""},
	} {
		m, err := r.Resolve(t.Context(), tc.name, tc.qtype)
		if err != nil {
			t.Errorf("%s %s: %v", tc.name, dns.TypeToString[tc.qtype], err)
			continue
		}
		got := ""
		if len(m.Answer) > 0 {
			f := strings.SplitN(m.Answer[0].String(), "\t", 5)
			got = f[len(f)-1]
		}
		if m.Rcode != tc.rcode || got != tc.answer {
			t.Errorf("%s %s: %s %q, want %s %q", tc.name, dns.TypeToString[tc.qtype],
				dns.RcodeToString[m.Rcode], got, dns.RcodeToString[tc.rcode], tc.answer)
		}
		if len(m.Answer) == 0 && (len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != dns.TypeSOA) {
			t.Errorf("%s %s: authority %v, want the local zone's SOA", tc.name, dns.TypeToString[tc.qtype], m.Ns)
		}
		if m.Question[0].Name != tc.name {
			t.Errorf("%s: question echoed as %s", tc.name, m.Question[0].Name)
		}
	}
	if q := n.queries(); len(q) != 0 {
		t.Errorf("special-use names went upstream: %v", q)
	}
	// Just outside the zones: 11.in-addr.arpa. and 172.32/12 are public.
	for _, name := range []string{"1.0.0.11.in-addr.arpa.", "1.0.32.172.in-addr.arpa.", "www.example.com."} {
		if z := r.localZoneOf(name); z != "" {
			t.Errorf("%s is taken for the local zone %s", name, z)
		}
	}
}

// A stub zone at or inside a local zone wins (an intranet's reverse
// zone), and the switches turn local zones off.
func TestLocalZonesGiveWay(t *testing.T) {
	stub := []StubZone{{Zone: "10.in-addr.arpa.", Addrs: []netip.Addr{netip.MustParseAddr("127.53.9.9")}}}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"stub zone", func(c *Config) { c.StubZones = stub }},
		{"DisableLocalZones", func(c *Config) { c.DisableLocalZones = true }},
		{"NoDefaultZones", func(c *Config) { c.NoDefaultZones = []string{"10.IN-ADDR.ARPA"} }},
	} {
		r := newTestResolver(t, standardNet(t), tc.mod)
		if z := r.localZoneOf("4.3.2.10.in-addr.arpa."); z != "" {
			t.Errorf("%s: 4.3.2.10.in-addr.arpa. still answered locally by %s", tc.name, z)
		}
		if z := r.localZoneOf("1.1.168.192.in-addr.arpa."); (z == "") != (tc.name == "DisableLocalZones") {
			t.Errorf("%s: 1.1.168.192.in-addr.arpa. in local zone %q", tc.name, z)
		}
	}
	if _, err := New(Config{NoDefaultZones: []string{"example.com."}}); err == nil {
		t.Error("NoDefaultZones accepted a zone that is not a local zone")
	}
}
