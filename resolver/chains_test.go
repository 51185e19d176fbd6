package resolver

// CNAME and DNAME chains under validation, over an in-memory signed tree:
// loops, and DNAMEs answered from the cache.

import (
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/dnssec"
)

// chainTree is a signed root and a signed example. holding a CNAME to
// itself, a DNAME into itself and a DNAME to t.example.; asked records
// the questions its servers were asked ("name TYPE"). *.w.example. is a
// DNAME, which its server expands.
type chainTree struct {
	net    *treeNet
	anchor []dns.RR
	mu     sync.Mutex
	asked  []string
	// bare: questions ("name TYPE") whose replies carry the zone's NS
	// set in authority instead of the SOA and the proof.
	bare map[string]bool
}

func newChainTree(tb testing.TB) *chainTree {
	tb.Helper()
	root, example, anchor := rootAndExample(tb, 11, 12,
		"self.example. 300 IN CNAME self.example.",
		"loop.example. 300 IN DNAME loop.example.",
		"d.example. 300 IN DNAME t.example.",
		"a.t.example. 300 IN A 192.0.2.7",
		"b.t.example. 300 IN A 192.0.2.8",
		`w.example. 300 IN TXT "a wildcard DNAME's parent"`,
		"*.w.example. 300 IN DNAME t.example.",
	)
	c := &chainTree{net: newTreeNet(), anchor: anchor}
	c.net.serve("127.53.0.1", root)
	c.net.serve("127.53.1.1", example)
	c.net.mutate = func(q *dns.Msg, _ netip.Addr, wire []byte) []byte {
		c.mu.Lock()
		defer c.mu.Unlock()
		question := dns.CanonicalName(q.Question[0].Name) + " " + dns.TypeToString[q.Question[0].Qtype]
		c.asked = append(c.asked, question)
		if !c.bare[question] {
			return wire
		}
		m := new(dns.Msg)
		if err := m.Unpack(wire); err != nil {
			return wire
		}
		// The zone's NS set in place of the SOA and the proof, as
		// the servers in val_ds_cname send.
		m.Ns = rrs(tb, "example. 3600 IN NS ns.example.")
		if out, err := m.Pack(); err == nil {
			return out
		}
		return wire
	}
	return c
}

func (c *chainTree) resolver(tb testing.TB) *Resolver {
	tb.Helper()
	r, err := New(Config{
		RootHints:   treeHints(),
		Transport:   c.net,
		DontQuery:   []netip.Prefix{},
		DisableIPv6: true,
		Disable0x20: true,
		Now:         treeClock,
		DNSSEC:      DNSSECConfig{TrustAnchors: c.anchor},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func (c *chainTree) wasAsked(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Contains(c.asked, name)
}

// hasRR reports whether rrs hold a record of type t owned by name (an
// RRSIG: one covering t).
func hasRR(rrs []dns.RR, name string, t uint16, sig bool) bool {
	return slices.ContainsFunc(rrs, func(rr dns.RR) bool {
		h := rr.Header()
		if !sameName(h.Name, name) {
			return false
		}
		if s, ok := rr.(*dns.RRSIG); ok {
			return sig && s.TypeCovered == t
		}
		return !sig && h.Rrtype == t
	})
}

// TestChainLoops: a signed CNAME to itself is a resolution loop, not a
// secure answer (Unbound and Knot answer SERVFAIL: val_cname_loop1); a
// signed DNAME into its own subtree is answered as it stands, never with
// AD, however well its records verify (it was, with AD).
func TestChainLoops(t *testing.T) {
	c := newChainTree(t)
	r := c.resolver(t)
	opts := Options{DNSSECOK: true}

	a, err := r.Query(t.Context(), "self.example.", dns.TypeA, opts)
	if !errors.Is(err, ErrLoop) {
		t.Errorf("self.example. A: err %v, answer %v; want ErrLoop", err, a.Msg)
	}

	a, err = r.Query(t.Context(), "q.loop.example.", dns.TypeA, opts)
	if err != nil {
		t.Fatalf("q.loop.example. A: %v", err)
	}
	if a.Msg.Rcode != dns.RcodeSuccess || !hasRR(a.Msg.Answer, "loop.example.", dns.TypeDNAME, false) {
		t.Errorf("q.loop.example. A: want NOERROR with the DNAME, got %v", a.Msg)
	}
	if a.Msg.AuthenticatedData {
		t.Errorf("q.loop.example. A: AD on a DNAME loop (security %v)", a.Security)
	}
}

// TestDNAMEFromCache: an answer that a cached DNAME takes part in carries
// the DNAME and its RRSIGs, whether the question is the CNAME or the data
// beyond it (the RRSIG was missing after a first answer: val_dnametopos,
// val_dname_twice; the DNAME itself for a CNAME question: deckard
// val_dname); and a name below the validated DNAME is answered by the
// CNAME synthesised from it, with no query for that name (iter_dname_ttl).
func TestDNAMEFromCache(t *testing.T) {
	c := newChainTree(t)
	r := c.resolver(t)
	opts := Options{DNSSECOK: true}
	check := func(qname string, qtype uint16, want ...uint16) {
		t.Helper()
		a, err := r.Query(t.Context(), qname, qtype, opts)
		if err != nil {
			t.Fatalf("%s %s: %v", qname, dns.TypeToString[qtype], err)
		}
		if !a.Msg.AuthenticatedData || a.Security != dnssec.Secure {
			t.Errorf("%s %s: AD %v security %v, want secure", qname, dns.TypeToString[qtype], a.Msg.AuthenticatedData, a.Security)
		}
		if !hasRR(a.Msg.Answer, "d.example.", dns.TypeDNAME, false) || !hasRR(a.Msg.Answer, "d.example.", dns.TypeDNAME, true) {
			t.Errorf("%s %s: the answer lacks the DNAME or its RRSIG:\n%v", qname, dns.TypeToString[qtype], a.Msg)
		}
		if n := len(a.Msg.Answer); n != len(want) {
			t.Errorf("%s %s: %d answer records, want %d:\n%v", qname, dns.TypeToString[qtype], n, len(want), a.Msg)
		}
	}
	// DNAME, its RRSIG, the synthesised CNAME, the A and its RRSIG.
	check("a.d.example.", dns.TypeA, dns.TypeDNAME, dns.TypeRRSIG, dns.TypeCNAME, dns.TypeA, dns.TypeRRSIG)
	check("a.d.example.", dns.TypeA, dns.TypeDNAME, dns.TypeRRSIG, dns.TypeCNAME, dns.TypeA, dns.TypeRRSIG)
	check("a.d.example.", dns.TypeCNAME, dns.TypeDNAME, dns.TypeRRSIG, dns.TypeCNAME)
	check("b.d.example.", dns.TypeA, dns.TypeDNAME, dns.TypeRRSIG, dns.TypeCNAME, dns.TypeA, dns.TypeRRSIG)
	if c.wasAsked("b.d.example. A") {
		t.Errorf("b.d.example. was asked upstream; the cached DNAME answers it")
	}
	if !c.wasAsked("b.t.example. A") {
		t.Errorf("b.t.example. was not asked: %v", c.asked)
	}
}

// TestDNAMEQuestionTypes: CNAME and DNAME questions for a name below a
// signed DNAME are answered by the DNAME and the CNAME synthesised from
// it, secure through the DNAME's signature; the server's unsigned CNAME
// is neither taken nor validated (it was, and its missing signature made
// the engine probe for a zone cut at the DNAME's owner: val_dnameqtype,
// val_cnameqtype_qmin).
func TestDNAMEQuestionTypes(t *testing.T) {
	for _, qtype := range []uint16{dns.TypeCNAME, dns.TypeDNAME} {
		t.Run(dns.TypeToString[qtype], func(t *testing.T) {
			c := newChainTree(t)
			r := c.resolver(t)
			a, err := r.Query(t.Context(), "a.d.example.", qtype, Options{DNSSECOK: true})
			if err != nil {
				t.Fatal(err)
			}
			if !a.Msg.AuthenticatedData {
				t.Errorf("no AD (security %v, %s)", a.Security, a.Why)
			}
			if !hasRR(a.Msg.Answer, "d.example.", dns.TypeDNAME, true) || !hasRR(a.Msg.Answer, "a.d.example.", dns.TypeCNAME, false) {
				t.Errorf("want the DNAME, its RRSIG and the CNAME:\n%v", a.Msg)
			}
			if c.wasAsked("d.example. DS") {
				t.Errorf("d.example. DS was asked: %v", c.asked)
			}
		})
	}
}

// TestWildcardDNAME: a DNAME expanded from a wildcard is bogus, however
// well its signature and the proof verify (RFC 4592 section 4.4; Unbound
// agrees: val_dnamewc). It was secure, with AD.
func TestWildcardDNAME(t *testing.T) {
	c := newChainTree(t)
	r := c.resolver(t)
	a, err := r.Query(t.Context(), "a.sub.w.example.", dns.TypeA, Options{DNSSECOK: true})
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.EDE != dns.ExtendedErrorCodeDNSBogus {
		t.Fatalf("a.sub.w.example. A: err %v, answer %v; want bogus, EDE 6", err, a.Msg)
	}
	if !c.wasAsked("a.sub.w.example. A") {
		t.Errorf("the wildcard was not asked about: %v", c.asked)
	}
}

// TestBareNegativeAnswer: a NODATA from a signed zone with neither SOA
// nor proof is bogus with EDE 6 (it said 10, RRSIGs missing, naming the
// signature of an SOA that was not there; Unbound says 6), and the
// verdict is cached: a client without RD gets SERVFAIL from the cache,
// not REFUSED (val_ds_cname, val_nodata_failsig).
func TestBareNegativeAnswer(t *testing.T) {
	c := newChainTree(t)
	c.bare = map[string]bool{"a.t.example. TXT": true}
	r := c.resolver(t)
	_, err := r.Query(t.Context(), "a.t.example.", dns.TypeTXT, Options{DNSSECOK: true})
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.EDE != dns.ExtendedErrorCodeDNSBogus {
		t.Fatalf("a.t.example. TXT: err %v, want bogus with EDE 6", err)
	}
	a, ok := r.QueryCached("a.t.example.", dns.TypeTXT, Options{DNSSECOK: true})
	if !ok || a.Security != dnssec.Bogus || a.EDE != dns.ExtendedErrorCodeDNSBogus {
		t.Errorf("from the cache: ok %v, security %v, EDE %d; want the bogus verdict, EDE 6", ok, a.Security, a.EDE)
	}
}
