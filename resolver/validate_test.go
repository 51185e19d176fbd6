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
