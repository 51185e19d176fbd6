package resolver

import (
	"testing"

	"github.com/miekg/dns"
)

// TestVerifiedKey: the verified-set memory's key ignores what varies
// between copies of one RRset (TTLs, record order, the owner's case) and
// tells apart any change to the data or the signatures.
func TestVerifiedKey(t *testing.T) {
	rr := func(s string) dns.RR {
		t.Helper()
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	sig := func(s string) *dns.RRSIG { return rr(s).(*dns.RRSIG) }
	const sigText = "www.example. 300 IN RRSIG A 13 2 300 20300101000000 20200101000000 12345 example. "
	a1, a2 := "www.example. 300 IN A 192.0.2.1", "www.example. 300 IN A 192.0.2.2"
	base, ok := verifiedKey([]dns.RR{rr(a1), rr(a2)}, []*dns.RRSIG{sig(sigText + "AAAA")})
	if !ok {
		t.Fatal("base set: no key")
	}
	tests := []struct {
		name string
		set  []dns.RR
		sigs []*dns.RRSIG
		same bool
	}{
		{"TTLs counted down", []dns.RR{rr("www.example. 17 IN A 192.0.2.1"), rr("www.example. 17 IN A 192.0.2.2")},
			[]*dns.RRSIG{sig("www.example. 17" + sigText[len("www.example. 300"):] + "AAAA")}, true},
		{"records in another order", []dns.RR{rr(a2), rr(a1)}, []*dns.RRSIG{sig(sigText + "AAAA")}, true},
		{"owner in upper case", []dns.RR{rr("WWW.Example. 300 IN A 192.0.2.1"), rr(a2)}, []*dns.RRSIG{sig(sigText + "AAAA")}, true},
		{"other data", []dns.RR{rr(a1), rr("www.example. 300 IN A 192.0.2.3")}, []*dns.RRSIG{sig(sigText + "AAAA")}, false},
		{"a record fewer", []dns.RR{rr(a1)}, []*dns.RRSIG{sig(sigText + "AAAA")}, false},
		{"other signature", []dns.RR{rr(a1), rr(a2)}, []*dns.RRSIG{sig(sigText + "AAAB")}, false},
		{"another signature added", []dns.RR{rr(a1), rr(a2)}, []*dns.RRSIG{sig(sigText + "AAAA"), sig(sigText + "AAAB")}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, ok := verifiedKey(tc.set, tc.sigs)
			if !ok {
				t.Fatal("no key")
			}
			if (key == base) != tc.same {
				t.Errorf("same key as the base set: %v, want %v", key == base, tc.same)
			}
		})
	}
}

// BenchmarkVerifiedKey is the memory's key of a DNSKEY set as a cold
// resolution meets it: two P-256 keys and the RRSIG of one.
func BenchmarkVerifiedKey(b *testing.B) {
	var set []dns.RR
	for _, s := range []string{
		"example. 3600 IN DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==",
		"example. 3600 IN DNSKEY 256 3 13 oJMRESz5E4gYzS/q6XDrvU1qMPYIjCWzJaOau8XNEZeqCYKD5ar0IRd8KqXXFJkqmVfRvMGPmM1x8fGAa2XhSA==",
	} {
		rr, err := dns.NewRR(s)
		if err != nil {
			b.Fatal(err)
		}
		set = append(set, rr)
	}
	sig, err := dns.NewRR("example. 3600 IN RRSIG DNSKEY 13 1 3600 20300101000000 20200101000000 31589 example. " +
		"cDAQdTx7e1SNS0XWDf7HudREOq8Qn/EsBk4S+QAhUyf1Ta6Wtwwa2xe0i2OgEhl7BEHyvBHX1dPwfv4n9i7ryQ==")
	if err != nil {
		b.Fatal(err)
	}
	sigs := []*dns.RRSIG{sig.(*dns.RRSIG)}
	b.ReportAllocs()
	for b.Loop() {
		verifiedKey(set, sigs)
	}
}
