package rpz

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/resolver"
)

func loadTestZone(t testing.TB) *Zone {
	t.Helper()
	f, err := os.Open("testdata/policy.rpz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := ParseFile(f, "rpz.local", "testdata/policy.rpz")
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func TestMatchName(t *testing.T) {
	z := loadTestZone(t)
	for _, tc := range []struct {
		name    string
		kind    resolver.PolicyKind // 0: no match
		trigger string
	}{
		{"blocked.example.", resolver.PolicyNXDOMAIN, "blocked.example."},
		{"a.b.blocked.example.", resolver.PolicyNXDOMAIN, "*.blocked.example."},
		{"allowed.blocked.example.", resolver.PolicyPassthru, "allowed.blocked.example."},
		{"x.allowed.blocked.example.", resolver.PolicyNXDOMAIN, "*.blocked.example."},
		{"empty.example.", resolver.PolicyNODATA, "empty.example."},
		{"old-style.example.", resolver.PolicyPassthru, "old-style.example."}, // a CNAME to itself
		{"dropped.example.", resolver.PolicyDrop, "dropped.example."},
		{"tcp.example.", resolver.PolicyTCPOnly, "tcp.example."},
		{"walled.example.", resolver.PolicyData, "walled.example."},
		{"www.walled.example.", resolver.PolicyData, "*.walled.example."},
		{"local.example.", resolver.PolicyData, "local.example."},
		{"host.wild.example.", resolver.PolicyData, "*.wild.example."},
		{"wild.example.", 0, ""}, // a wildcard covers the names below only
		{"example.", 0, ""},
		{"notblocked.example.", 0, ""},
		{"ns.example.", 0, ""}, // an NSDNAME trigger is skipped, not a QNAME one
		{"ns.example.rpz-nsdname.", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, ok := z.MatchName(tc.name)
			if ok != (tc.kind != 0) || a.Kind != tc.kind || a.Trigger != tc.trigger {
				t.Fatalf("MatchName = %v %q, %v; want %v %q", a.Kind, a.Trigger, ok, tc.kind, tc.trigger)
			}
			if ok && a.Policy != "rpz.local." {
				t.Errorf("Policy = %q", a.Policy)
			}
		})
	}
	if z.Skipped != 1 {
		t.Errorf("Skipped = %d, want 1 (the NSDNAME trigger)", z.Skipped)
	}
}

func TestMatchNameData(t *testing.T) {
	z := loadTestZone(t)
	a, _ := z.MatchName("local.example.")
	if len(a.Data) != 3 {
		t.Fatalf("local.example. data: %v", a.Data)
	}
	a, _ = z.MatchName("www.walled.example.")
	if c, ok := a.Data[0].(*dns.CNAME); !ok || c.Target != "*.garden.example.net." {
		t.Fatalf("rewrite data: %v", a.Data)
	}
	if a.SOA == nil || a.SOA.Hdr.Ttl != 60 {
		t.Fatalf("negative SOA %v, want the zone's with the TTL its minimum (60)", a.SOA)
	}
}

func TestMatchAddr(t *testing.T) {
	z := loadTestZone(t)
	for _, tc := range []struct {
		addr    string
		kind    resolver.PolicyKind
		trigger string
	}{
		{"192.0.2.1", resolver.PolicyNXDOMAIN, "192.0.2.1/32"},
		{"192.0.2.2", 0, ""},
		{"198.51.100.7", resolver.PolicyNODATA, "198.51.100.0/24"},
		{"::ffff:198.51.100.7", resolver.PolicyNODATA, "198.51.100.0/24"},
		{"2001:db8:0:1::1", resolver.PolicyDrop, "2001:db8::/48"},
		{"2001:db8:1::1", 0, ""},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			a, ok := z.MatchAddr(netip.MustParseAddr(tc.addr))
			if ok != (tc.kind != 0) || a.Kind != tc.kind || a.Trigger != tc.trigger {
				t.Fatalf("MatchAddr = %v %q, %v; want %v %q", a.Kind, a.Trigger, ok, tc.kind, tc.trigger)
			}
		})
	}
}

func TestParseIPTrigger(t *testing.T) {
	for _, tc := range []struct {
		labels string
		want   string // "" for an error
	}{
		{"32.1.2.0.192", "192.0.2.1/32"},
		{"24.0.2.0.192", "192.0.2.0/24"},
		{"128.1.zz.db8.2001", "2001:db8::1/128"},
		{"128.zz.1", "1::/128"},
		{"64.zz.1.0.db8.2001", "2001:db8:0:1::/64"},
		{"24.1.2.0.192", ""}, // bits beyond the prefix
		{"33.1.2.0.192", ""},
		{"x.1.2.0.192", ""},
		{"32.1.2.192", ""},
		{"128.1.zz.ffff.zz", ""}, // IPv4-mapped
		{"0.0.0.0.0", ""},
	} {
		t.Run(tc.labels, func(t *testing.T) {
			p, err := parseIPTrigger(strings.Split(tc.labels, "."))
			if tc.want == "" {
				if err == nil {
					t.Fatalf("got %v, want an error", p)
				}
				return
			}
			if err != nil || p.String() != tc.want {
				t.Fatalf("got %v, %v; want %s", p, err, tc.want)
			}
		})
	}
}

func TestParseErrorsNameTheRecord(t *testing.T) {
	const soa = "$TTL 300\n@ SOA ns. h. 1 3600 600 86400 60\n"
	for _, tc := range []struct {
		name, zone, want string
	}{
		{"two CNAMEs", soa + "a CNAME .\na CNAME *.\n", "a.rpz.local."},
		{"CNAME and data", soa + "b A 192.0.2.1\nb CNAME .\n", "b.rpz.local."},
		{"NS below the apex", soa + "c NS ns.example.\n", "c.rpz.local."},
		{"bad IP trigger", soa + "24.1.2.0.192.rpz-ip CNAME .\n", "24.1.2.0.192.rpz-ip.rpz.local."},
		{"inner wildcard", soa + "a.*.example CNAME .\n", "a.*.example.rpz.local."},
		{"outside the zone", soa + "x.other. CNAME .\n", "x.other."},
		{"no SOA", "$TTL 300\na CNAME .\n", "no SOA"},
		{"syntax", soa + "a A 192.0.2\n", "policy.rpz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFile(strings.NewReader(tc.zone), "rpz.local.", "policy.rpz")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestParseSource(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want Source
	}{
		{"rpz.local=file:/etc/rpz.zone", Source{Name: "rpz.local.", File: "/etc/rpz.zone"}},
		{"rpz.local.=axfr:127.0.0.1:5300", Source{Name: "rpz.local.", Primary: netip.MustParseAddrPort("127.0.0.1:5300")}},
		{"rpz.local=axfr:127.0.0.1", Source{Name: "rpz.local.", Primary: netip.MustParseAddrPort("127.0.0.1:53")}},
		{"rpz.local=axfr:[::1]:5300", Source{Name: "rpz.local.", Primary: netip.MustParseAddrPort("[::1]:5300")}},
		{"rpz.local=axfr:::1", Source{Name: "rpz.local.", Primary: netip.MustParseAddrPort("[::1]:53")}},
		{"rpz.local", Source{}},
		{"rpz.local=file:", Source{}},
		{"rpz.local=http:x", Source{}},
		{"rpz.local=axfr:host.example", Source{}},
		{"=file:x", Source{}},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := ParseSource(tc.spec)
			if (err != nil) != (tc.want == Source{}) || got != tc.want {
				t.Fatalf("ParseSource = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestApplyIXFR(t *testing.T) {
	rr := func(s string) dns.RR {
		t.Helper()
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	soa := func(serial string) dns.RR {
		return rr("rpz.local. 300 SOA ns. h. " + serial + " 3600 600 86400 60")
	}
	held := []dns.RR{soa("1"), rr("a.rpz.local. 300 CNAME ."), rr("b.rpz.local. 300 CNAME .")}
	answer := []dns.RR{
		soa("3"),
		soa("1"), rr("A.rpz.local. 60 CNAME ."), soa("2"), rr("c.rpz.local. 300 CNAME *."),
		soa("2"), rr("b.rpz.local. 300 CNAME ."), soa("3"), rr("d.rpz.local. 300 CNAME rpz-drop."),
		soa("3"),
	}
	got, err := applyIXFR(held, answer)
	if err != nil {
		t.Fatal(err)
	}
	z, err := FromRecords("rpz.local.", got)
	if err != nil {
		t.Fatal(err)
	}
	if z.Serial() != 3 {
		t.Errorf("serial %d, want 3", z.Serial())
	}
	for name, want := range map[string]bool{"a.": false, "b.": false, "c.": true, "d.": true} {
		if _, ok := z.MatchName(name); ok != want {
			t.Errorf("%s matched %v, want %v", name, ok, want)
		}
	}
	if _, err := applyIXFR(held, answer[:len(answer)-1]); err == nil {
		t.Error("an IXFR answer without its closing SOA was applied")
	}
}
