package localdata

import (
	"fmt"
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkLookup prices a question against a blocklist-sized table:
// 100 000 always_nxdomain zones and 10 000 names of local data.
func BenchmarkLookup(b *testing.B) {
	var zones []Zone
	for i := range 100_000 {
		zones = append(zones, Zone{Name: fmt.Sprintf("ads%d.example.", i), Type: AlwaysNXDomain})
	}
	var data []dns.RR
	for i := range 10_000 {
		rr, err := ParseData(fmt.Sprintf("host%d.lan. A 192.0.2.%d", i, i%250))
		if err != nil {
			b.Fatal(err)
		}
		data = append(data, rr)
	}
	tab, err := New(zones, data)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, qname string }{
		{"miss", "www.deep.name.example.com."},
		{"blocked", "tracker.ads4242.example."},
		{"data", "host4242.lan."},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tab.Lookup(bc.qname, dns.TypeA)
			}
		})
	}
}
