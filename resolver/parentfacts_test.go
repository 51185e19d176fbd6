package resolver

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func glueOf(g glueMap, name string) []netip.Addr {
	var got []netip.Addr
	g.each(name, func(a netip.Addr) { got = append(got, a) })
	return got
}

// TestParentGlueGroupsByName: a referral's glue is kept per server name,
// case aside, with both families, whether grouped inline or through a map
// (more than glueInline records), and a later referral's glue replaces it.
func TestParentGlueGroupsByName(t *testing.T) {
	for _, extra := range []int{0, glueInline} {
		t.Run(fmt.Sprintf("%d_more", extra), func(t *testing.T) {
			r := &Resolver{parentGlue: newGlueMap(100)}
			glue := []dns.RR{
				oneRR(t, "NS1.example.net. 300 IN A 127.53.7.1"),
				oneRR(t, "ns2.example.net. 300 IN A 127.53.7.2"),
				oneRR(t, "ns1.example.net. 300 IN AAAA ::1"),
				oneRR(t, "ns1.Example.net. 300 IN A 127.53.7.3"),
			}
			for i := range extra {
				glue = append(glue, oneRR(t, fmt.Sprintf("ns%d.other.net. 300 IN A 127.53.8.%d", i, i)))
			}
			r.rememberParentGlue(glue)
			want1 := []netip.Addr{netip.MustParseAddr("127.53.7.1"), netip.MustParseAddr("::1"), netip.MustParseAddr("127.53.7.3")}
			if got := glueOf(r.parentGlue, "ns1.example.net."); !slices.Equal(got, want1) {
				t.Errorf("ns1: %v, want %v", got, want1)
			}
			if got := glueOf(r.parentGlue, "ns2.example.net."); !slices.Equal(got, []netip.Addr{netip.MustParseAddr("127.53.7.2")}) {
				t.Errorf("ns2: %v", got)
			}
			if extra > 0 {
				if got := glueOf(r.parentGlue, fmt.Sprintf("ns%d.other.net.", extra-1)); len(got) != 1 {
					t.Errorf("last extra server: %v", got)
				}
			}
			r.rememberParentGlue([]dns.RR{oneRR(t, "ns1.example.net. 300 IN A 127.53.9.9")})
			if got := glueOf(r.parentGlue, "ns1.example.net."); !slices.Equal(got, []netip.Addr{netip.MustParseAddr("127.53.9.9")}) {
				t.Errorf("after a second referral, ns1: %v", got)
			}
			if got := glueOf(r.parentGlue, "nothing.example.net."); got != nil {
				t.Errorf("a name no referral gave: %v", got)
			}
		})
	}
}

func TestDelegationDeadlines(t *testing.T) {
	d := newDeadlineMap(10)
	end := time.Date(2026, 12, 4, 20, 0, 0, 123, time.UTC)
	d.add("example.com.", end)
	for _, f := range []func(string) (time.Time, bool){d.get, d.peek} {
		if got, ok := f("example.com."); !ok || !got.Equal(end) {
			t.Errorf("got %v %v, want %v", got, ok, end)
		}
		if _, ok := f("example.net."); ok {
			t.Error("a zone never added has a deadline")
		}
	}
}

func oneRR(tb testing.TB, s string) dns.RR { return mustRR(tb, s)[0] }
