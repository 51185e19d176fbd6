package localdata

import (
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/internal/dnsname"
)

// FuzzLoad feeds one entry of each kind, and a hosts file, to the parser:
// whatever they hold, Load returns a table or an error, and a table
// answers a question about every name it was given without panicking.
func FuzzLoad(f *testing.F) {
	f.Add("example.com. static", "www.example.com. 3600 IN A 192.0.2.1", "192.0.2.1 www.example.com", "192.0.2.1 host alias\n")
	f.Add("r.example. redirect", "r.example. CNAME t.example.", "2001:db8::1 60 v6.example.", "# only a comment\n::1 localhost")
	f.Add(`"x." always_null`, `'x. TXT "a b"'`, "1.2.3.4 5 x.", "fe80::1%lo scoped\n")
	f.Add("a. nodefault", "$TTL 5", "bad", "1.2.3.4")
	f.Fuzz(func(t *testing.T, zone, data, ptr, hosts string) {
		tab, err := loadWithHosts(zone, data, ptr, hosts)
		if err != nil {
			return
		}
		for _, name := range []string{strings.Fields(zone + " x.")[0], ".", "www.example.com.", "1.2.0.192.in-addr.arpa."} {
			if c, err := dnsname.Canonical(name); err == nil {
				for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeCNAME, dns.TypePTR, dns.TypeSOA, dns.TypeTXT} {
					v := tab.Lookup(c, qtype)
					if v.Action > Drop {
						t.Fatalf("action %d", v.Action)
					}
				}
			}
		}
	})
}

func loadWithHosts(zone, data, ptr, hosts string) (*Table, error) {
	rrs, err := ParseHosts(strings.NewReader(hosts), "fuzz")
	if err != nil {
		return nil, err
	}
	tab, err := Load(Config{Zones: []string{zone}, Data: []string{data}, PTRs: []string{ptr}})
	if err != nil {
		return nil, err
	}
	zones := tab.Zones()
	for _, n := range tab.nodes {
		for _, rrset := range n.rrsets {
			rrs = append(rrs, rrset...)
		}
	}
	return New(zones, rrs)
}
