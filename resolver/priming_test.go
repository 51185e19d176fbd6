package resolver

import (
	"context"
	"log/slog"
	"strings"
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

// TestPrimingFailureSaysWhatWasAsked: the warning of a failed priming
// names its question (it once printed "resolve  None").
func TestPrimingFailureSaysWhatWasAsked(t *testing.T) {
	n := newFakeNet(t)
	n.handle("127.53.0.1", func(q *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeRefused)
		return m
	})
	var logged strings.Builder
	r := newTestResolver(t, n, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logged, nil)) })
	if _, err := r.Resolve(context.Background(), "www.example.com.", dns.TypeA); err == nil {
		t.Fatal("resolved with a refusing root")
	}
	out := logged.String()
	if !strings.Contains(out, "root priming failed") || !strings.Contains(out, `question=". NS"`) || strings.Contains(out, "None") {
		t.Errorf("priming warning: %q", out)
	}
}
