package resolver

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/dnssec"
)

// TestRRSIGQuestionLeavesTheChainValidated: an RRSIG question's answer is
// not validated (RRSIGs are unsigned), but the referrals on its way are:
// the DS set they bring must not be cached unchecked and then leave the
// zone's later answers indeterminate (Deckard's iter_validate).
func TestRRSIGQuestionLeavesTheChainValidated(t *testing.T) {
	tree := buildFuzzTree()
	n := tree.net()
	// The tree's servers know no RRSIG question: example.'s answers it
	// with the RRSIGs at the name, as real servers do.
	n.mutate = func(q *dns.Msg, _ netip.Addr, wire []byte) []byte {
		if q.Question[0].Qtype != dns.TypeRRSIG || q.Question[0].Name != "www.example." {
			return wire
		}
		m := new(dns.Msg)
		if err := m.Unpack(wire); err != nil || !m.Authoritative {
			return wire
		}
		m.Ns = nil
		for k, sigs := range tree.zones[1].sigs {
			if k.name == "www.example." {
				m.Answer = append(m.Answer, sigs...)
			}
		}
		out, err := m.Pack()
		if err != nil {
			t.Error(err)
			return wire
		}
		return out
	}
	r := tree.resolver(t, n)
	ctx := t.Context()
	a, err := r.Query(ctx, "www.example.", dns.TypeRRSIG, Options{DNSSECOK: true})
	if err != nil || len(a.Msg.Answer) == 0 || a.Msg.AuthenticatedData {
		t.Fatalf("www.example. RRSIG: %v, err %v; want the RRSIGs without AD", a.Msg, err)
	}
	a, err = r.Query(ctx, "www.example.", dns.TypeA, Options{DNSSECOK: true})
	if err != nil || a.Security != dnssec.Secure || !a.Msg.AuthenticatedData {
		t.Errorf("www.example. A after its RRSIGs: %v, err %v; want secure", a.Security, err)
	}
}

// TestReferralNSIsNoClientAnswer: the NS set of a referral (authority data
// of a non-authoritative reply) is not returned as an answer (RFC 2181
// section 5.4.1): a client asking for it gets the child's own NS set.
func TestReferralNSIsNoClientAnswer(t *testing.T) {
	tree := buildFuzzTree()
	n := tree.net()
	r := tree.resolver(t, n)
	if _, err := r.Query(t.Context(), "www.example.", dns.TypeA, Options{}); err != nil {
		t.Fatal(err)
	}
	if a, ok := r.QueryCached("example.", dns.TypeNS, Options{}); ok {
		t.Errorf("example. NS answered from the root's referral: %v", a.Msg)
	}
	before := n.sent.Load()
	a, err := r.Query(t.Context(), "example.", dns.TypeNS, Options{})
	if err != nil || !a.Msg.AuthenticatedData || n.sent.Load() == before {
		t.Errorf("example. NS: %v, err %v, %d queries; want the child's signed set, asked", a.Msg, err, n.sent.Load()-before)
	}
}

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
