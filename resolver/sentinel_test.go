package resolver

import (
	"errors"
	"fmt"
	"testing"

	"github.com/miekg/dns"
)

func TestSentinelLabel(t *testing.T) {
	tests := []struct {
		name     string
		tag      uint16
		isTA, ok bool
	}{
		{"root-key-sentinel-is-ta-20326.example.", 20326, true, true},
		{"ROOT-KEY-SENTINEL-NOT-TA-00042.", 42, false, true},
		{"root-key-sentinel-is-ta-2032.example.", 0, false, false},  // four digits
		{"root-key-sentinel-is-ta-99999.example.", 0, false, false}, // over 65535
		{"root-key-sentinel-is-ta-2032a.example.", 0, false, false}, // not a number
		{"www.root-key-sentinel-is-ta-20326.", 0, false, false},     // not the first label
		{"root-key-sentinel-maybe-20326.example.", 0, false, false},
	}
	for _, tt := range tests {
		tag, isTA, ok := sentinelLabel(tt.name)
		if tag != tt.tag || isTA != tt.isTA || ok != tt.ok {
			t.Errorf("%s: %d %v %v, want %d %v %v", tt.name, tag, isTA, ok, tt.tag, tt.isTA, tt.ok)
		}
	}
}

// TestRootKeySentinel: a secure answer at a sentinel name is SERVFAIL (EDE
// 6) when is-ta names a key that is not a root trust anchor, or not-ta one
// that is (RFC 8509); otherwise it stands. A client without RD asking
// again gets the same, from the cache (Unbound's root_key_sentinel).
func TestRootKeySentinel(t *testing.T) {
	tree := buildFuzzTree()
	r := tree.resolver(t, tree.net())
	anchor := tree.anchor[0].(*dns.DS).KeyTag
	other := anchor + 1
	tests := []struct {
		label string
		tag   uint16
		fail  bool
	}{
		{"is-ta", anchor, false},
		{"not-ta", anchor, true},
		{"is-ta", other, true},
		{"not-ta", other, false},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("root-key-sentinel-%s-%05d.", tt.label, tt.tag)
		a, err := r.Query(t.Context(), name, dns.TypeA, Options{})
		var ve *ValidationError
		switch {
		case tt.fail && (!errors.As(err, &ve) || ve.EDE != dns.ExtendedErrorCodeDNSBogus):
			t.Errorf("%s: err %v, want a ValidationError with EDE 6", name, err)
		case !tt.fail && (err != nil || a.Msg.Rcode != dns.RcodeNameError || !a.Msg.AuthenticatedData):
			t.Errorf("%s: %v, err %v; want the secure NXDOMAIN", name, a.Msg, err)
		}
		cached, ok := r.QueryCached(name, dns.TypeA, Options{})
		if !ok || (cached.Msg == nil) != tt.fail {
			t.Errorf("%s from the cache: %v %v; want it answered, failing %v", name, ok, cached.Msg, tt.fail)
		}
	}
}
