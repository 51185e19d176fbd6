package cache

import (
	"bytes"
	"testing"

	"github.com/miekg/dns"
)

// MayHold is false for a type until an entry of it is stored, by any of
// the ways in, and stays true once it was.
func TestMayHold(t *testing.T) {
	soaRR := mustRRs(t, "example.com. 3600 IN SOA ns1.example.com. h.example.com. 1 7200 3600 1209600 900")[0].(*dns.SOA)
	dname := mustRRs(t, "old.example.com. 300 IN DNAME new.example.net.")
	for _, tc := range []struct {
		name string
		put  func(c *Cache) bool
	}{
		{"Put", func(c *Cache) bool { return c.Put(dname, RankAnswer) }},
		{"PutSet", func(c *Cache) bool { return c.PutSet(Set{RRs: dname, Rank: RankAnswer}) }},
		{"PutNegative", func(c *Cache) bool {
			return c.PutNegative("old.example.com.", dns.TypeDNAME, dns.ClassINET, NoData, soaRR, RankAnswer)
		}},
		{"PutNegativeSet", func(c *Cache) bool {
			return c.PutNegativeSet(NegativeSet{Name: "old.example.com.", Qtype: dns.TypeDNAME, Qclass: dns.ClassINET, Kind: NoData, SOA: soaRR, Rank: RankAnswer})
		}},
		{"Load", func(c *Cache) bool {
			src := New(Config{})
			src.Put(dname, RankAnswer)
			var buf bytes.Buffer
			if err := src.Dump(&buf); err != nil {
				t.Fatal(err)
			}
			n, err := c.Load(&buf)
			return err == nil && n == 1
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(Config{})
			c.Put(mustRRs(t, "www.example.com. 300 IN A 192.0.2.1"), RankAnswer)
			if c.MayHold(dns.TypeDNAME) {
				t.Fatal("MayHold(DNAME) before any DNAME was stored")
			}
			if !c.MayHold(dns.TypeA) || !c.MayHold(65280) {
				t.Fatal("MayHold false for a type stored, or for a type above 255")
			}
			if !tc.put(c) {
				t.Fatal("the DNAME entry was refused")
			}
			if !c.MayHold(dns.TypeDNAME) {
				t.Fatal("MayHold(DNAME) false with a DNAME entry stored")
			}
		})
	}
}
