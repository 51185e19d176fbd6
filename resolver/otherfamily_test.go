package resolver

import (
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// A DS that comes back bogus from the only address known for the parent's
// server is asked again at the server's address of the other family,
// looked up for it (Unbound's ds_wildcard_cname): example.'s server is
// known by its IPv4 glue, whose DS replies for sub.example. are forged;
// its IPv6 address, in example. alone, answers truly.
func TestBogusDSAskedAtOtherFamily(t *testing.T) {
	rootKey, exKey, subKey := newTreeKey(".", 41, 257), newTreeKey("example.", 42, 257), newTreeKey("sub.example.", 43, 257)
	subKey.rr.Hdr.Ttl = 300 // keys and DS expire before the delegation
	subDS := subKey.ds()
	root := newTreeZone(t, ".", rootKey, nil, []string{
		". 86400 IN SOA rootns. h.rootns. 1 1800 900 604800 86400",
		". 518400 IN NS rootns.",
		"rootns. 518400 IN A 127.53.0.1",
		"example. 172800 IN NS ns.example.",
		"ns.example. 172800 IN A 127.53.1.1",
	}, exKey.ds())
	example := newTreeZone(t, "example.", exKey, nil, []string{
		"example. 3600 IN SOA ns.example. h.example. 1 7200 3600 1209600 300",
		"example. 3600 IN NS ns.example.",
		"ns.example. 3600 IN A 127.53.1.1",
		"ns.example. 3600 IN AAAA ::1",
		"sub.example. 3600 IN NS ns.sub.example.",
		"ns.sub.example. 3600 IN A 127.53.2.1",
	}, subDS)
	sub := newTreeZone(t, "sub.example.", subKey, nil, []string{
		"sub.example. 300 IN SOA ns.sub.example. h.sub.example. 1 7200 3600 1209600 300",
		"sub.example. 3600 IN NS ns.sub.example.",
		"ns.sub.example. 3600 IN A 127.53.2.1",
		"a.sub.example. 300 IN A 192.0.2.1",
		"b.sub.example. 300 IN A 192.0.2.2",
	})
	n := newTreeNet()
	n.serve("127.53.0.1", root)
	n.serve("127.53.1.1", example)
	n.serve("::1", example)
	n.serve("127.53.2.1", sub)
	var mu sync.Mutex
	var asked []string
	forged := netip.MustParseAddr("127.53.1.1")
	n.mutate = func(q *dns.Msg, server netip.Addr, wire []byte) []byte {
		qq := q.Question[0]
		mu.Lock()
		asked = append(asked, dns.CanonicalName(qq.Name)+" "+dns.TypeToString[qq.Qtype]+" @"+server.String())
		mu.Unlock()
		if server != forged || qq.Qtype != dns.TypeDS {
			return wire
		}
		m := new(dns.Msg)
		if err := m.Unpack(wire); err != nil {
			return wire
		}
		for _, rr := range m.Answer {
			if sig, ok := rr.(*dns.RRSIG); ok {
				sig.Signature = "AAAA" + sig.Signature[4:] // no longer verifies
			}
		}
		if out, err := m.Pack(); err == nil {
			return out
		}
		return wire
	}
	now := treeNow
	var clockMu sync.Mutex
	r, err := New(Config{
		RootHints:   treeHints(),
		Transport:   n,
		DontQuery:   []netip.Prefix{},
		Disable0x20: true,
		Now: func() time.Time {
			clockMu.Lock()
			defer clockMu.Unlock()
			return now
		},
		DNSSEC: DNSSECConfig{TrustAnchors: []dns.RR{rootKey.ds()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The referral's DS, good, is taken on the way down.
	if got, err := r.Resolve(t.Context(), "a.sub.example.", dns.TypeA); err != nil || !got.AuthenticatedData {
		t.Fatalf("a.sub.example. A: %v, %v; want a secure answer", got, err)
	}
	// DS and keys expire; the delegation to sub.example. does not, so
	// the DS is asked of example.'s server.
	clockMu.Lock()
	now = now.Add(400 * time.Second)
	clockMu.Unlock()
	got, err := r.Resolve(t.Context(), "b.sub.example.", dns.TypeA)
	if err != nil || !got.AuthenticatedData || len(got.Answer) == 0 {
		mu.Lock()
		t.Fatalf("b.sub.example. A: %v, %v; want a secure answer; asked: %q", got, err, asked)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(asked, "ns.example. AAAA @127.53.1.1") || !slices.Contains(asked, "sub.example. DS @::1") {
		t.Errorf("asked %q; want ns.example. AAAA looked up and the DS asked at ::1", asked)
	}
}
