package resolver

import (
	"errors"
	"net/netip"
	"slices"
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
	r.learnDenial(&rep, "example.com.")
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

// TestBogusNoDataWithoutSOAIsCached: a NODATA without SOA and without AA
// whose NSEC signature fails (Unbound's val_nodata_failsig) is bogus, and
// that verdict is kept for the bogus TTL like any other: a client without
// RD then gets SERVFAIL from the cache, not "not in cache".
func TestBogusNoDataWithoutSOAIsCached(t *testing.T) {
	tree := buildFuzzTree()
	n := tree.net()
	n.mutate = func(q *dns.Msg, _ netip.Addr, wire []byte) []byte {
		if q.Question[0].Name != "www.example." || q.Question[0].Qtype != dns.TypeTXT {
			return wire
		}
		m := new(dns.Msg)
		if err := m.Unpack(wire); err != nil {
			t.Error(err)
			return wire
		}
		m.Authoritative = false
		var ns []dns.RR
		for _, rr := range m.Ns {
			if sig, ok := rr.(*dns.RRSIG); ok && sig.TypeCovered == dns.TypeNSEC {
				sig.Signature = "AAAA" + sig.Signature[4:]
			}
			if rr.Header().Rrtype == dns.TypeSOA || rr.Header().Rrtype == dns.TypeRRSIG && rr.(*dns.RRSIG).TypeCovered == dns.TypeSOA {
				continue
			}
			ns = append(ns, rr)
		}
		m.Ns = ns
		out, err := m.Pack()
		if err != nil {
			t.Error(err)
			return wire
		}
		return out
	}
	r := tree.resolver(t, n)
	_, err := r.Query(t.Context(), "www.example.", dns.TypeTXT, Options{DNSSECOK: true})
	if !errors.Is(err, ErrBogus) {
		t.Fatalf("NODATA with a failing NSEC signature: err %v, want ErrBogus", err)
	}
	a, ok := r.QueryCached("www.example.", dns.TypeTXT, Options{DNSSECOK: true})
	if !ok || a.Security != dnssec.Bogus {
		t.Errorf("cached: %v, %v; want the bogus verdict", ok, a.Security)
	}
}

// TestReferralNoDSProofAnswersDS: the NSEC by which a referral proves
// plain.example. unsigned answers a later DS question for it with no
// upstream query, once a negative answer has given the zone's SOA
// (Unbound's val_negcache_dssoa).
func TestReferralNoDSProofAnswersDS(t *testing.T) {
	tree := buildFuzzTree()
	n := tree.net()
	r := tree.resolver(t, n)
	ctx := t.Context()
	if a, err := r.Query(ctx, "www.plain.example.", dns.TypeA, Options{}); err != nil || a.Security != dnssec.Insecure {
		t.Fatalf("www.plain.example. A: %v, err %v", a.Security, err)
	}
	if a, err := r.Query(ctx, "nothing.example.", dns.TypeA, Options{}); err != nil || a.Msg.Rcode != dns.RcodeNameError {
		t.Fatalf("nothing.example. A: %v, err %v", a.Msg, err)
	}
	before := n.sent.Load()
	a, err := r.Query(ctx, "plain.example.", dns.TypeDS, Options{DNSSECOK: true})
	if err != nil || a.Security != dnssec.Secure || a.Msg.Rcode != dns.RcodeSuccess || len(a.Msg.Answer) != 0 {
		t.Fatalf("plain.example. DS: %v %v, err %v; want a secure NODATA", a.Security, a.Msg, err)
	}
	if sent := n.sent.Load() - before; sent != 0 {
		t.Errorf("%d upstream queries for a DS the referral's NSEC already denied, want 0", sent)
	}
}

// TestDSLookupFailureEDE: when the parent's servers fail the DS question
// of a zone whose keys are needed, the bogus verdict carries the failure's
// own code (22, no reachable authority), not 9 (DNSKEY missing): no DS was
// seen (Unbound's val_failure_dnskey, which has 23 there).
func TestDSLookupFailureEDE(t *testing.T) {
	tree := buildFuzzTree()
	n := tree.net()
	n.mutate = func(q *dns.Msg, server netip.Addr, wire []byte) []byte {
		if server != netip.MustParseAddr("127.53.0.1") || !dns.IsSubDomain("example.", q.Question[0].Name) {
			return wire
		}
		m := new(dns.Msg)
		if err := m.Unpack(wire); err != nil {
			t.Error(err)
			return wire
		}
		if q.Question[0].Qtype == dns.TypeDS {
			m.Rcode, m.Answer, m.Ns, m.Authoritative = dns.RcodeServerFailure, nil, nil, false
		}
		m.Ns = slices.DeleteFunc(m.Ns, func(rr dns.RR) bool {
			sig, ok := rr.(*dns.RRSIG)
			return rr.Header().Rrtype == dns.TypeDS || ok && sig.TypeCovered == dns.TypeDS
		})
		out, err := m.Pack()
		if err != nil {
			t.Error(err)
			return wire
		}
		return out
	}
	r := tree.resolver(t, n)
	_, err := r.Query(t.Context(), "www.example.", dns.TypeA, Options{})
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.EDE != dns.ExtendedErrorCodeNoReachableAuthority {
		t.Errorf("DS lookup failed: err %v, want a ValidationError with EDE 22", err)
	}
}
