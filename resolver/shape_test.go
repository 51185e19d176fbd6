package resolver

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/dnssec"
)

// shapeTree is a signed root and a signed example. with a wildcard A, a
// wildcard CNAME and plain data, served at 127.53.1.1.
type shapeTree struct {
	root, example *treeZone
	anchor        []dns.RR
}

func newShapeTree(tb testing.TB) *shapeTree {
	tb.Helper()
	root, example, anchor := rootAndExample(tb, 1, 2,
		"www.example. 300 IN A 192.0.2.1",
		"*.wild.example. 300 IN A 192.0.2.9",
		"*.wc.example. 300 IN CNAME www.example.",
	)
	return &shapeTree{root: root, example: example, anchor: anchor}
}

// net serves the tree; with withSections, example.'s answers to A
// questions come without AA and carry its NS set in authority (with its
// RRSIGs when signedNS) and the server's signed address in additional,
// as the servers of Unbound's val_positive and val_spurious_ns files do.
func (st *shapeTree) net(withSections, signedNS bool) *treeNet {
	n := newTreeNet()
	n.serve("127.53.0.1", st.root)
	n.serve("127.53.1.1", st.example)
	if !withSections {
		return n
	}
	ex := st.example
	exAddr := netip.MustParseAddr("127.53.1.1")
	n.mutate = func(q *dns.Msg, server netip.Addr, wire []byte) []byte {
		m := new(dns.Msg)
		if server != exAddr || q.Question[0].Qtype != dns.TypeA || m.Unpack(wire) != nil || len(m.Answer) == 0 {
			return wire
		}
		m.Authoritative = false
		nsKey, glueKey := rrKey{"example.", dns.TypeNS}, rrKey{"ns.example.", dns.TypeA}
		m.Ns = append(m.Ns, ex.rrsets[nsKey]...)
		if signedNS {
			m.Ns = append(m.Ns, ex.sigs[nsKey]...)
		}
		m.Extra = append(m.Extra, ex.rrsets[glueKey]...)
		m.Extra = append(m.Extra, ex.sigs[glueKey]...)
		out, err := m.Pack()
		if err != nil {
			return wire
		}
		return out
	}
	return n
}

func (st *shapeTree) resolver(tb testing.TB, n *treeNet, nonMinimal bool) *Resolver {
	tb.Helper()
	return st.resolverWith(tb, n, nonMinimal, st.anchor)
}

func (st *shapeTree) resolverWith(tb testing.TB, n *treeNet, nonMinimal bool, anchor []dns.RR) *Resolver {
	tb.Helper()
	r, err := New(Config{
		RootHints:           treeHints(),
		Transport:           n,
		DontQuery:           []netip.Prefix{},
		DisableIPv6:         true,
		Now:                 treeClock,
		NonMinimalResponses: nonMinimal,
		AcceptAuthorityNS:   nonMinimal,
		DNSSEC:              DNSSECConfig{TrustAnchors: anchor},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func countType(rrs []dns.RR, t uint16, covered uint16) int {
	k := 0
	for _, rr := range rrs {
		if rr.Header().Rrtype != t {
			continue
		}
		if sig, ok := rr.(*dns.RRSIG); ok && covered != 0 && sig.TypeCovered != covered {
			continue
		}
		k++
	}
	return k
}

// TestWildcardProofsInChain: a DO client gets, with an answer whose CNAME
// was expanded from a wildcard, the NSEC that proves the CNAME's owner
// does not exist (RFC 4035 section 3.1.3.3), fresh and from the cache;
// a client without DO gets no NSEC.
func TestWildcardProofsInChain(t *testing.T) {
	st := newShapeTree(t)
	for _, tc := range []struct {
		name  string
		qname string
	}{
		{"wildcard A", "x.wild.example."},
		{"wildcard CNAME", "x.wc.example."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := st.resolver(t, st.net(false, false), false)
			for _, round := range []string{"cold", "cached"} {
				a, err := r.Query(t.Context(), tc.qname, dns.TypeA, Options{DNSSECOK: true})
				if err != nil {
					t.Fatalf("%s: %v", round, err)
				}
				if a.Security != dnssec.Secure || countType(a.Msg.Answer, dns.TypeA, 0) != 1 {
					t.Fatalf("%s: %v, answer %v; want a secure A", round, a.Security, a.Msg.Answer)
				}
				if countType(a.Msg.Ns, dns.TypeNSEC, 0) == 0 || countType(a.Msg.Ns, dns.TypeRRSIG, dns.TypeNSEC) == 0 {
					t.Errorf("%s with DO: authority %v; want the signed NSEC of the wildcard proof", round, a.Msg.Ns)
				}
				plain, err := r.Query(t.Context(), tc.qname, dns.TypeA, Options{})
				if err != nil {
					t.Fatal(err)
				}
				if len(plain.Msg.Ns) != 0 {
					t.Errorf("%s without DO: authority %v; want none", round, plain.Msg.Ns)
				}
			}
		})
	}
}

// TestNonMinimalSignedSections: with non-minimal responses, a secure
// answer to a DO client carries the zone's NS set and its server's
// address with their RRSIGs (verified, and so kept over the parent's
// unsigned referral data); an unsigned NS set beside a signed answer is
// not passed on (as Unbound drops it), and the answer stays secure. Under
// no trust anchor the NS set is passed on with the RRSIGs it came with,
// in place of the parent's unsigned referral records.
func TestNonMinimalSignedSections(t *testing.T) {
	st := newShapeTree(t)
	elsewhere := []dns.RR{newTreeKey("elsewhere.", 9, 257).ds()}
	for _, tc := range []struct {
		name     string
		signedNS bool
		anchor   []dns.RR
		want     dnssec.Status
		wantNS   int
	}{
		{"signed NS set", true, st.anchor, dnssec.Secure, 1},
		{"unsigned NS set", false, st.anchor, dnssec.Secure, 0},
		{"no trust anchor", true, elsewhere, dnssec.Indeterminate, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := st.resolverWith(t, st.net(true, tc.signedNS), true, tc.anchor)
			for _, round := range []string{"cold", "cached"} {
				a, err := r.Query(t.Context(), "www.example.", dns.TypeA, Options{DNSSECOK: true})
				if err != nil {
					t.Fatalf("%s: %v", round, err)
				}
				if a.Security != tc.want || a.Msg.AuthenticatedData != (tc.want == dnssec.Secure) {
					t.Fatalf("%s: %v AD=%v; want %v", round, a.Security, a.Msg.AuthenticatedData, tc.want)
				}
				ns, nsSigs := countType(a.Msg.Ns, dns.TypeNS, 0), countType(a.Msg.Ns, dns.TypeRRSIG, dns.TypeNS)
				if ns != tc.wantNS || nsSigs != tc.wantNS {
					t.Errorf("%s: authority %v; want %d NS with as many RRSIGs", round, a.Msg.Ns, tc.wantNS)
				}
				if countType(a.Msg.Extra, dns.TypeA, 0) != 1 || countType(a.Msg.Extra, dns.TypeRRSIG, dns.TypeA) != 1 {
					t.Errorf("%s: additional %v; want the server's A with its RRSIG", round, a.Msg.Extra)
				}
				plain, err := r.Query(t.Context(), "www.example.", dns.TypeA, Options{})
				if err != nil {
					t.Fatal(err)
				}
				if slices.ContainsFunc(slices.Concat(plain.Msg.Ns, plain.Msg.Extra), func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeRRSIG }) {
					t.Errorf("%s without DO: %v %v; want no RRSIG", round, plain.Msg.Ns, plain.Msg.Extra)
				}
			}
		})
	}
}

// TestSecureDNAMESynthesisFromCache: a name below a cached secure DNAME
// is redirected from the cache, with the DNAME, its RRSIG and the
// synthesised CNAME, and no question for the name itself; an unchecked
// DNAME redirects nothing (as Unbound, which uses validated DNAMEs only).
func TestSecureDNAMESynthesisFromCache(t *testing.T) {
	st := newShapeTree(t)
	exKey := newTreeKey("example.", 2, 257)
	dname := rrs(t, "y.example. 300 IN DNAME z.example.")
	target := rrs(t, "other.z.example. 300 IN A 192.0.2.7")
	for _, tc := range []struct {
		name     string
		security cache.Security
		cached   bool
	}{
		{"secure DNAME", cache.Secure, true},
		{"unchecked DNAME", cache.Unchecked, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := st.resolver(t, st.net(false, false), false)
			r.cache.PutSet(cache.Set{RRs: dname, Sigs: []dns.RR{exKey.sign(t, dname)}, Rank: cache.RankAuthAnswer, Security: tc.security})
			r.cache.PutSet(cache.Set{RRs: target, Sigs: []dns.RR{exKey.sign(t, target)}, Rank: cache.RankAuthAnswer, Security: cache.Secure})
			a, ok := r.QueryCached("other.y.example.", dns.TypeA, Options{DNSSECOK: true})
			if ok != tc.cached {
				t.Fatalf("answered from the cache: %v, want %v (%v)", ok, tc.cached, a.Msg)
			}
			if !ok {
				return
			}
			want := []uint16{dns.TypeDNAME, dns.TypeRRSIG, dns.TypeCNAME, dns.TypeA, dns.TypeRRSIG}
			var got []uint16
			for _, rr := range a.Msg.Answer {
				got = append(got, rr.Header().Rrtype)
			}
			if !slices.Equal(got, want) || a.Security != dnssec.Secure {
				t.Errorf("answer %v (%v); want DNAME, RRSIG, CNAME, A, RRSIG, secure", a.Msg.Answer, a.Security)
			}
			if c, ok := a.Msg.Answer[2].(*dns.CNAME); !ok || c.Hdr.Name != "other.y.example." || c.Target != "other.z.example." {
				t.Errorf("synthesised %v; want other.y.example. CNAME other.z.example.", a.Msg.Answer[2])
			}
			// A question for the CNAME itself: the DNAME and the CNAME.
			a, ok = r.QueryCached("other.y.example.", dns.TypeCNAME, Options{DNSSECOK: true})
			if !ok || !slices.Equal(types(a.Msg.Answer), []uint16{dns.TypeDNAME, dns.TypeRRSIG, dns.TypeCNAME}) {
				t.Errorf("CNAME question: cached %v, answer %v; want DNAME, RRSIG, CNAME", ok, a.Msg)
			}
		})
	}
}

// TestCachedDNAMEKeepsItsRRSIG: a CNAME answered from the cache comes
// after the DNAME that synthesised it, and a DO client gets the DNAME's
// RRSIG with it.
func TestCachedDNAMEKeepsItsRRSIG(t *testing.T) {
	st := newShapeTree(t)
	exKey := newTreeKey("example.", 2, 257)
	r := st.resolver(t, st.net(false, false), false)
	for _, set := range [][]dns.RR{
		rrs(t, "y.example. 300 IN DNAME z.example."),
		rrs(t, "other.z.example. 300 IN A 192.0.2.7"),
	} {
		r.cache.PutSet(cache.Set{RRs: set, Sigs: []dns.RR{exKey.sign(t, set)}, Rank: cache.RankAuthAnswer, Security: cache.Secure})
	}
	r.cache.PutSet(cache.Set{RRs: rrs(t, "other.y.example. 300 IN CNAME other.z.example."), Rank: cache.RankAuthAnswer, Security: cache.Secure})
	a, ok := r.QueryCached("other.y.example.", dns.TypeA, Options{DNSSECOK: true})
	if !ok {
		t.Fatal("not answered from the cache")
	}
	var got []uint16
	for _, rr := range a.Msg.Answer {
		got = append(got, rr.Header().Rrtype)
	}
	if want := []uint16{dns.TypeDNAME, dns.TypeRRSIG, dns.TypeCNAME, dns.TypeA, dns.TypeRRSIG}; !slices.Equal(got, want) {
		t.Errorf("answer %v; want DNAME, RRSIG, CNAME, A, RRSIG", a.Msg.Answer)
	}
	a, ok = r.QueryCached("other.y.example.", dns.TypeCNAME, Options{DNSSECOK: true})
	if !ok || !slices.Equal(types(a.Msg.Answer), []uint16{dns.TypeDNAME, dns.TypeRRSIG, dns.TypeCNAME}) {
		t.Errorf("CNAME question: cached %v, answer %v; want DNAME, RRSIG, CNAME", ok, a.Msg)
	}
}

func types(rrs []dns.RR) []uint16 {
	var out []uint16
	for _, rr := range rrs {
		out = append(out, rr.Header().Rrtype)
	}
	return out
}
