package metrics

import (
	"strings"
	"testing"

	"github.com/recursor-dns/recursor/resolver"
)

// TestPolicyHits: hits are counted by policy and action, and a second
// PolicyHits (a reload's) counts on the same counter.
func TestPolicyHits(t *testing.T) {
	r := New()
	hit := r.PolicyHits()
	hit("rpz.test.", resolver.PolicyNXDOMAIN)
	r.PolicyHits()("rpz.test.", resolver.PolicyNXDOMAIN)
	hit("other.", resolver.PolicyDrop)
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`recursor_rpz_hits_total{action="nxdomain",policy="rpz.test."} 2`,
		`recursor_rpz_hits_total{action="drop",policy="other."} 1`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %s in:\n%s", want, b.String())
		}
	}
}
