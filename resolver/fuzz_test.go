package resolver

import (
	"testing"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
)

// FuzzReply sends arbitrary upstream replies through classification and
// caching. Nothing may panic, and nothing outside the zone the server was
// asked about may enter the cache, whatever the reply's shape.
func FuzzReply(f *testing.F) {
	seed := func(m *dns.Msg) {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []msgSpec{
		{aa: true, qname: "www.example.com.", qtype: dns.TypeA, answer: []string{"www.example.com. 300 IN A 192.0.2.1", "victim.net. 300 IN A 203.0.113.66"}},
		{aa: true, qname: "a.example.com.", qtype: dns.TypeA, answer: []string{"a.example.com. 300 IN CNAME b.example.com.", "b.example.com. 300 IN A 192.0.2.2"}},
		{aa: true, qname: "x.old.example.com.", qtype: dns.TypeA, answer: []string{"old.example.com. 300 IN DNAME new.example.org."}},
		{aa: true, rcode: dns.RcodeNameError, qname: "nope.example.com.", qtype: dns.TypeA, ns: []string{"example.com. 300 IN SOA ns1.example.com. h.example.com. 1 2 3 4 300"}},
		{qname: "www.sub.example.com.", qtype: dns.TypeA, ns: []string{"sub.example.com. 300 IN NS ns.sub.example.com."}, extra: []string{"ns.sub.example.com. 300 IN A 127.0.0.1", "ns.victim.net. 300 IN A 203.0.113.66"}},
	} {
		seed(buildReply(f, s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		resp := new(dns.Msg)
		if resp.Unpack(raw) != nil || len(resp.Question) != 1 {
			return
		}
		qname := cache.Canonical(resp.Question[0].Name)
		if _, ok := dns.IsDomainName(qname); !ok {
			return
		}
		zone := parentZone(qname)
		r, err := New(Config{DontQuery: nil})
		if err != nil {
			t.Fatal(err)
		}
		rep := classify(resp, zone, qname, resp.Question[0].Qtype, DefaultMaxCNAMEs)
		r.store(zone, qname, resp.Question[0].Qtype, &rep)
		for _, k := range r.cache.Keys() {
			if !inZone(k.Name, zone) {
				t.Fatalf("cached %s %s outside zone %s (reply kind %v)", k.Name, dns.TypeToString[k.Type], zone, rep.kind)
			}
		}
	})
}
