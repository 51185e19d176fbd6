package resolver

import (
	"testing"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/dnssec"
)

// TestLearnDenialSkipsOverreachingNSEC: an NSEC of example.com whose next
// name runs into foo.com (Unbound's val_nx_overreach) is not kept for
// aggressive use, while its in-zone neighbour is.
func TestLearnDenialSkipsOverreachingNSEC(t *testing.T) {
	r, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	rrOf := func(s string) dns.RR {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return rr
	}
	sig := func(owner string, labels uint8) *dns.RRSIG {
		return &dns.RRSIG{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: 3600},
			TypeCovered: dns.TypeNSEC, Algorithm: dns.RSASHA256, Labels: labels, OrigTtl: 3600, KeyTag: 1, SignerName: "example.com."}
	}
	rep := reply{
		sec: check{Verdict: dnssec.Verdict{Status: dnssec.Secure}},
		soa: rrOf("example.com. 3600 IN SOA ns.example.com. h.example.com. 1 3600 600 86400 3600").(*dns.SOA),
		denial: []dns.RR{
			rrOf("example.com. 3600 IN NSEC abc.example.com. SOA NS RRSIG NSEC DNSKEY"),
			rrOf("wab.example.com. 3600 IN NSEC wzz.foo.com. A RRSIG NSEC"),
		},
		sigs: []*dns.RRSIG{sig("example.com.", 2), sig("wab.example.com.", 3)},
	}
	r.learnDenial(rep, "example.com.")
	z, ok := r.val.nsecs.zones.Get("example.com.")
	if !ok {
		t.Fatal("nothing kept for example.com.")
	}
	var kept []string
	for _, e := range z.nsec.entries {
		kept = append(kept, e.key)
	}
	if len(kept) != 1 || kept[0] != "example.com." {
		t.Errorf("kept NSECs at %v, want only example.com. (not the one running into foo.com.)", kept)
	}
}
