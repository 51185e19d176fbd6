package metrics

import (
	"testing"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/dnssec"
	"github.com/recursor-dns/recursor/resolver"
)

// TestLabelIndexes: every counted qtype, rcode and EDE has its own slot
// and label, and everything else falls into "other".
func TestLabelIndexes(t *testing.T) {
	if len(qtypes)+1 != numQtypes {
		t.Fatalf("numQtypes %d, want %d", numQtypes, len(qtypes)+1)
	}
	seen := map[int]bool{}
	for _, qt := range qtypes {
		i := qtypeIndex(qt)
		if seen[i] || qtypeLabel(i) != dns.TypeToString[qt] {
			t.Errorf("qtype %s: slot %d, label %q", dns.TypeToString[qt], i, qtypeLabel(i))
		}
		seen[i] = true
	}
	for _, qt := range []uint16{0, dns.TypeNSEC, dns.TypeURI, 4000, 65535} {
		if i := qtypeIndex(qt); qtypeLabel(i) != "other" {
			t.Errorf("qtype %d: label %q, want other", qt, qtypeLabel(i))
		}
	}
	for rc := range dns.RcodeNotZone + 1 {
		if got := rcodeLabel(rcodeIndex(rc)); got != dns.RcodeToString[rc] {
			t.Errorf("rcode %d: label %q", rc, got)
		}
	}
	for rc, want := range map[int]string{dns.RcodeBadVers: "BADVERS", 12: "other", 4095: "other", -1: "other"} {
		if got := rcodeLabel(rcodeIndex(rc)); got != want {
			t.Errorf("rcode %d: label %q, want %q", rc, got, want)
		}
	}
	for ede, want := range map[int]string{-1: "none", 0: "0", 7: "7", 29: "29", 30: "other", 500: "other"} {
		if got := edeLabel(edeIndex(ede)); got != want {
			t.Errorf("EDE %d: label %q, want %q", ede, got, want)
		}
	}
	if outcomeLabels[resolver.OutcomeMalformed] == "" || statusLabels[dnssec.Bogus] == "" {
		t.Error("an outcome or a status has no label")
	}
}
