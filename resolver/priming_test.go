package resolver

import (
	"context"
	"testing"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/dnssec"
)

// TestRootNSAfterPrimingIsValidated: the priming reply is not validated
// (the root's keys come from the servers it names). A client asking for
// the root's NS set after priming must get it validated, with AD, not
// the primed copy as it came.
func TestRootNSAfterPrimingIsValidated(t *testing.T) {
	tree := buildFuzzTree()
	r := tree.resolver(t, tree.net())
	ctx := context.Background()
	if _, err := r.Resolve(ctx, "www.example.", dns.TypeA); err != nil {
		t.Fatal(err) // primes the root
	}
	a, err := r.Query(ctx, ".", dns.TypeNS, Options{DNSSECOK: true})
	if err != nil {
		t.Fatal(err)
	}
	if a.Security != dnssec.Secure || !a.Msg.AuthenticatedData {
		t.Errorf(". NS: %v, AD=%v; want secure with AD\n%v", a.Security, a.Msg.AuthenticatedData, a.Msg)
	}
}
