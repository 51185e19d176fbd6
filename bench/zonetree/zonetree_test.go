package zonetree

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func parseZone(tb testing.TB, origin, text string) []dns.RR {
	tb.Helper()
	zp := dns.NewZoneParser(strings.NewReader(text), origin, "")
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		tb.Fatalf("zone %s does not parse: %v\n%s", origin, err, text)
	}
	return rrs
}

func plan(tb testing.TB, domains int) *Tree {
	tb.Helper()
	tr, err := Plan(Spec{Domains: domains, Port: 15353})
	if err != nil {
		tb.Fatal(err)
	}
	return tr
}

func TestPlanRejectsBadSpecs(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec Spec
	}{
		{"no domains", Spec{Domains: 0, Port: 1}},
		{"too many domains", Spec{Domains: 1000000, Port: 1}},
		{"no port", Spec{Domains: 1}},
		{"one domain server", Spec{Domains: 1, Port: 1, DomainServers: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Plan(tc.spec); err == nil {
				t.Errorf("Plan(%+v) succeeded, want an error", tc.spec)
			}
		})
	}
}

func TestAddressesAreLoopback(t *testing.T) {
	tr := plan(t, 10)
	for _, a := range tr.Addrs() {
		if !a.IsLoopback() {
			t.Errorf("server address %v is not loopback", a)
		}
	}
	for i := range 300 {
		if a := HostA(i); !a.IsLoopback() {
			t.Errorf("HostA(%d) = %v, not loopback", i, a)
		}
	}
}

// Every zone must parse, sit at its apex, and hold only records at or
// below it; every delegation must carry in-bailiwick glue for its servers.
func TestZonesAreWellFormed(t *testing.T) {
	tr := plan(t, 7)
	for _, l := range tr.Layers() {
		for _, z := range l.Zones {
			t.Run(z, func(t *testing.T) {
				rrs := parseZone(t, z, tr.Zone(z))
				if len(rrs) == 0 || rrs[0].Header().Rrtype != dns.TypeSOA || rrs[0].Header().Name != z {
					t.Fatalf("zone %s does not start with its SOA: %v", z, rrs)
				}
				addrs := map[string]bool{}
				for _, rr := range rrs {
					if !dns.IsSubDomain(z, rr.Header().Name) {
						t.Errorf("record out of zone: %v", rr)
					}
					if a, ok := rr.(*dns.A); ok {
						addrs[a.Hdr.Name] = true
					}
				}
				for _, rr := range rrs {
					ns, ok := rr.(*dns.NS)
					if !ok || !dns.IsSubDomain(z, ns.Ns) {
						continue
					}
					if !addrs[ns.Ns] {
						t.Errorf("no address for in-zone name server %s", ns.Ns)
					}
				}
			})
		}
	}
}

func TestDomainsAreDelegatedByTheirTLD(t *testing.T) {
	tr := plan(t, 10)
	delegated := map[string]bool{}
	for _, tld := range TLDs {
		for _, rr := range parseZone(t, tld, tr.Zone(tld)) {
			if rr.Header().Rrtype == dns.TypeNS && rr.Header().Name != tld {
				delegated[rr.Header().Name] = true
			}
		}
	}
	for _, d := range tr.Domains {
		if !delegated[d] {
			t.Errorf("domain %s is not delegated", d)
		}
		if !strings.Contains(tr.Zone(d), "www."+d) {
			t.Errorf("domain %s has no www", d)
		}
	}
	if got := tr.Zone("d000099.com."); got != "" {
		t.Errorf("zone of a domain outside the tree = %q, want empty", got)
	}
}

func TestRootHintsMatchTheRootZone(t *testing.T) {
	tr := plan(t, 1)
	hints := parseZone(t, ".", tr.RootHints())
	root := map[string]bool{}
	for _, rr := range parseZone(t, ".", tr.Zone(".")) {
		root[rr.String()] = true
	}
	if len(hints) != 2*len(tr.Root.Servers) {
		t.Fatalf("hints have %d records, want %d", len(hints), 2*len(tr.Root.Servers))
	}
	for _, rr := range hints {
		rr.Header().Ttl = tr.Spec.TTL
		if !root[rr.String()] {
			t.Errorf("hint %v is not in the root zone", rr)
		}
	}
}

func TestWriteLaysOutEveryLayer(t *testing.T) {
	tr := plan(t, 4)
	dir := t.TempDir()
	if err := tr.Write(dir); err != nil {
		t.Fatal(err)
	}
	for _, l := range tr.Layers() {
		conf, err := os.ReadFile(filepath.Join(dir, l.Name, "nsd.conf"))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"rrl-ratelimit: 0", `username: ""`, `chroot: ""`, "@15353"} {
			if !strings.Contains(string(conf), want) {
				t.Errorf("%s/nsd.conf lacks %q", l.Name, want)
			}
		}
		for _, z := range l.Zones {
			if _, err := os.Stat(filepath.Join(dir, l.Name, "zones", zoneFileName(z))); err != nil {
				t.Errorf("zone file of %s: %v", z, err)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "named.root")); err != nil {
		t.Error(err)
	}
}
