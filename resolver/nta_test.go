package resolver_test

import (
	"testing"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/testnet"
)

// TestNegativeTrustAnchorAddedWhileServing: a bogus name fails, is
// answered once its zone gets a negative trust anchor at run time (the
// cached bogus verdict flushed with it), and fails again once it is gone.
func TestNegativeTrustAnchorAddedWhileServing(t *testing.T) {
	n := testnet.StartTB(t, sandboxDir)
	r := newValidatingResolver(t, n, nil)
	const name = "www.badsig.lab."
	if v := ask(t, r, name, dns.TypeA); v.rcode != dns.RcodeServerFailure {
		t.Fatalf("before: %v; want SERVFAIL (a bad signature)", v)
	}
	if err := r.AddNegativeTrustAnchor("badsig.lab"); err != nil {
		t.Fatal(err)
	}
	if v := ask(t, r, name, dns.TypeA); v.rcode != dns.RcodeSuccess || v.ad {
		t.Fatalf("under the negative trust anchor: %v; want NOERROR without AD", v)
	}
	if ok, err := r.RemoveNegativeTrustAnchor("badsig.lab."); !ok || err != nil {
		t.Fatalf("RemoveNegativeTrustAnchor = %v, %v", ok, err)
	}
	if v := ask(t, r, name, dns.TypeA); v.rcode != dns.RcodeServerFailure {
		t.Errorf("after removal: %v; want SERVFAIL again", v)
	}
}
