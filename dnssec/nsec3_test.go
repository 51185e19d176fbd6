package dnssec

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// rfc5155Chain is the NSEC3 chain of RFC 5155 Appendix A's example zone
// (SHA-1, 12 iterations, salt aabbccdd), owner hash -> (name, next hash,
// types). The RFC sets the opt-out flag on every record.
var rfc5155Chain = []struct{ hash, name, next, types string }{
	{"0p9mhaveqvm6t7vbl5lop2u3t2rp3tom", "example.", "2t7b4g4vsa5smi47k61mv5bv1a22bojr", "MX DNSKEY NS SOA NSEC3PARAM RRSIG"},
	{"2t7b4g4vsa5smi47k61mv5bv1a22bojr", "ns1.example.", "2vptu5timamqttgl4luu9kg21e0aor3s", "A RRSIG"},
	{"2vptu5timamqttgl4luu9kg21e0aor3s", "x.y.w.example.", "35mthgpgcu1qg68fab165klnsnk3dpvl", "MX RRSIG"},
	{"35mthgpgcu1qg68fab165klnsnk3dpvl", "a.example.", "b4um86eghhds6nea196smvmlo4ors995", "NS DS RRSIG"},
	{"b4um86eghhds6nea196smvmlo4ors995", "x.w.example.", "gjeqe526plbf1g8mklp59enfd789njgi", "MX RRSIG"},
	{"gjeqe526plbf1g8mklp59enfd789njgi", "ai.example.", "ji6neoaepv8b5o6k4ev33abha8ht9fgc", "A HINFO AAAA RRSIG"},
	{"ji6neoaepv8b5o6k4ev33abha8ht9fgc", "y.w.example.", "k8udemvp1j2f7eg6jebps17vp3n8i58h", ""},
	{"k8udemvp1j2f7eg6jebps17vp3n8i58h", "w.example.", "kohar7mbb8dc2ce8a9qvl8hon4k53uhi", ""},
	{"kohar7mbb8dc2ce8a9qvl8hon4k53uhi", "2t7b4g4vsa5smi47k61mv5bv1a22bojr.example.", "q04jkcevqvmu85r014c7dkba38o0ji5r", "A RRSIG"},
	{"q04jkcevqvmu85r014c7dkba38o0ji5r", "ns2.example.", "r53bq7cc2uvmubfu5ocmm6pers9tk9en", "A RRSIG"},
	{"r53bq7cc2uvmubfu5ocmm6pers9tk9en", "*.w.example.", "t644ebqk9bibcna874givr6joj62mlhv", "MX RRSIG"},
	{"t644ebqk9bibcna874givr6joj62mlhv", "xx.example.", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom", "A HINFO AAAA RRSIG"},
}

// nsec3Of returns the chain's records for the named owners (by the name
// hashed), with the given flags and iterations.
func nsec3Of(t testing.TB, flags uint8, iterations int, names ...string) []dns.RR {
	t.Helper()
	var out []dns.RR
	for _, n := range names {
		found := false
		for _, r := range rfc5155Chain {
			if r.name == n {
				out = append(out, rrs(t, fmt.Sprintf("%s.example. 3600 IN NSEC3 1 %d %d aabbccdd %s %s", r.hash, flags, iterations, r.next, r.types))...)
				found = true
			}
		}
		if !found {
			t.Fatalf("no NSEC3 for %s", n)
		}
	}
	return out
}

func TestNSEC3HashVectors(t *testing.T) {
	extra := map[string]string{ // hashes the RFC's Appendix B quotes
		"c.x.w.example.": "0va5bpr2ou0vk0lbqeeljri88laipsfh",
		"*.x.w.example.": "92pqneegtaue7pjatc3l3qnk738c6v5m",
		"c.example.":     "4g6p9u5gvfshp30pqecj98b3maqbn1ck",
	}
	for _, r := range rfc5155Chain {
		extra[r.name] = r.hash
	}
	c, v := nsec3sOf("example.", nsec3Of(t, 1, 12, "example."), NewBudget(DefaultLimits))
	if v != nil {
		t.Fatal(v.Why)
	}
	for name, want := range extra {
		if got := strings.ToLower(b32.EncodeToString(c.hash(name))); got != want {
			t.Errorf("H(%s) = %s, want %s", name, got, want)
		}
	}
}

// TestNSEC3Proofs runs RFC 5155 Appendix B's responses, as the RFC has them
// (opt-out set: Insecure where the proof rests on the span over the next
// closer name) and with opt-out clear.
func TestNSEC3Proofs(t *testing.T) {
	type result struct{ optOut, plain Status }
	tests := []struct {
		name   string
		prove  func(nsecs []dns.RR, b *Budget) Verdict
		owners []string
		want   result
	}{
		{"B.1 name error", func(n []dns.RR, b *Budget) Verdict { return ProveNXDomain("a.c.x.w.example.", "example.", n, b) },
			[]string{"x.w.example.", "example.", "a.example."}, result{Insecure, Secure}},
		{"B.1 without the wildcard's cover", func(n []dns.RR, b *Budget) Verdict { return ProveNXDomain("a.c.x.w.example.", "example.", n, b) },
			[]string{"x.w.example.", "example."}, result{Bogus, Bogus}},
		{"B.1 without the closest encloser", func(n []dns.RR, b *Budget) Verdict { return ProveNXDomain("a.c.x.w.example.", "example.", n, b) },
			[]string{"example.", "a.example."}, result{Bogus, Bogus}},
		{"name error for a name that exists", func(n []dns.RR, b *Budget) Verdict { return ProveNXDomain("ns1.example.", "example.", n, b) },
			[]string{"ns1.example.", "example."}, result{Bogus, Bogus}},
		{"name error below a delegation", func(n []dns.RR, b *Budget) Verdict { return ProveNXDomain("x.a.example.", "example.", n, b) },
			[]string{"a.example.", "example.", "x.y.w.example."}, result{Bogus, Bogus}},
		{"B.2 no data", func(n []dns.RR, b *Budget) Verdict { return ProveNoData("ns1.example.", dns.TypeMX, "example.", n, b) },
			[]string{"ns1.example."}, result{Secure, Secure}},
		{"B.2 type present", func(n []dns.RR, b *Budget) Verdict { return ProveNoData("ns1.example.", dns.TypeA, "example.", n, b) },
			[]string{"ns1.example."}, result{Bogus, Bogus}},
		{"B.2.1 empty non-terminal", func(n []dns.RR, b *Budget) Verdict { return ProveNoData("y.w.example.", dns.TypeA, "example.", n, b) },
			[]string{"y.w.example."}, result{Secure, Secure}},
		{"DS at a signed delegation", func(n []dns.RR, b *Budget) Verdict { return ProveNoData("a.example.", dns.TypeDS, "example.", n, b) },
			[]string{"a.example."}, result{Bogus, Bogus}},
		{"A at the parent side of a delegation", func(n []dns.RR, b *Budget) Verdict { return ProveNoData("a.example.", dns.TypeA, "example.", n, b) },
			[]string{"a.example."}, result{Bogus, Bogus}},
		{"B.3 DS NODATA in an opt-out span", func(n []dns.RR, b *Budget) Verdict { return ProveNoData("c.example.", dns.TypeDS, "example.", n, b) },
			[]string{"example.", "a.example."}, result{Insecure, Bogus}},
		{"MX NODATA in an opt-out span (val_nsec3_optout_ad)", func(n []dns.RR, b *Budget) Verdict { return ProveNoData("c.example.", dns.TypeMX, "example.", n, b) },
			[]string{"example.", "a.example."}, result{Insecure, Bogus}},
		{"B.3 no DS: opt-out", func(n []dns.RR, b *Budget) Verdict { return ProveNoDS("c.example.", "example.", n, b) },
			[]string{"example.", "a.example."}, result{Insecure, Bogus}},
		{"no DS at a signed delegation", func(n []dns.RR, b *Budget) Verdict { return ProveNoDS("a.example.", "example.", n, b) },
			[]string{"a.example."}, result{Bogus, Bogus}},
		{"B.4 wildcard expansion", func(n []dns.RR, b *Budget) Verdict {
			return ProveWildcardAnswer("a.z.w.example.", "*.w.example.", "example.", n, b)
		}, []string{"ns2.example."}, result{Insecure, Secure}},
		{"B.4 wildcard expansion, next closer not covered", func(n []dns.RR, b *Budget) Verdict {
			return ProveWildcardAnswer("a.z.w.example.", "*.w.example.", "example.", n, b)
		}, []string{"*.w.example."}, result{Bogus, Bogus}},
		{"B.5 wildcard no data", func(n []dns.RR, b *Budget) Verdict {
			return ProveNoData("a.z.w.example.", dns.TypeAAAA, "example.", n, b)
		},
			[]string{"w.example.", "ns2.example.", "*.w.example."}, result{Insecure, Secure}},
		{"B.5 without the wildcard's record (val_nsec3_b5_wcnodata_nowc)", func(n []dns.RR, b *Budget) Verdict {
			return ProveNoData("a.z.w.example.", dns.TypeAAAA, "example.", n, b)
		},
			[]string{"w.example.", "ns2.example."}, result{Insecure, Bogus}},
		{"B.5 wildcard has the type", func(n []dns.RR, b *Budget) Verdict {
			return ProveNoData("a.z.w.example.", dns.TypeMX, "example.", n, b)
		},
			[]string{"w.example.", "ns2.example.", "*.w.example."}, result{Bogus, Bogus}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for flags, want := range []Status{tt.want.plain, tt.want.optOut} {
				v := tt.prove(nsec3Of(t, uint8(flags), 12, tt.owners...), nil)
				if v.Status != want {
					t.Errorf("flags %d: %s (%s), want %s", flags, v.Status, v.Why, want)
				}
				if v.Status == Bogus && v.EDE != dns.ExtendedErrorCodeNSECMissing {
					t.Errorf("flags %d: bogus with EDE %d", flags, v.EDE)
				}
			}
		})
	}
}

func TestNSEC3Limits(t *testing.T) {
	b1 := []string{"x.w.example.", "example.", "a.example."}
	nx := func(nsecs []dns.RR, b *Budget) Verdict {
		return ProveNXDomain("a.c.x.w.example.", "example.", nsecs, b)
	}

	checkVerdict(t, nx(nsec3Of(t, 0, 51, b1...), nil), Insecure, dns.ExtendedErrorCodeUnsupportedNSEC3IterValue)
	if v := nx(nsec3Of(t, 0, 50, b1...), nil); v.EDE == dns.ExtendedErrorCodeUnsupportedNSEC3IterValue {
		t.Errorf("50 iterations refused: %s", v.Why)
	}
	checkVerdict(t, nx(nsec3Of(t, 0, 5, b1...), NewBudget(Limits{MaxNSEC3Iterations: 4})), Insecure, dns.ExtendedErrorCodeUnsupportedNSEC3IterValue)

	// Only the first MaxNSEC3PerReply records are considered.
	var others []string
	for _, r := range rfc5155Chain {
		if r.name != "x.w.example." && r.name != "example." && r.name != "a.example." {
			others = append(others, r.name)
		}
	}
	checkVerdict(t, nx(nsec3Of(t, 0, 12, append(b1, others...)...), nil), Secure, 0)
	checkVerdict(t, nx(nsec3Of(t, 0, 12, append(others, b1...)...), nil), Bogus, noNSEC)

	// Records of other parameters than the first, of unknown hash or flags, or of another zone are ignored.
	odd := rrs(t,
		"0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example. 3600 IN NSEC3 1 0 12 ff 2t7b4g4vsa5smi47k61mv5bv1a22bojr A",
		"0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example. 3600 IN NSEC3 2 0 12 aabbccdd 2t7b4g4vsa5smi47k61mv5bv1a22bojr A",
		"0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example. 3600 IN NSEC3 1 2 12 aabbccdd 2t7b4g4vsa5smi47k61mv5bv1a22bojr A",
		"0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.x.example. 3600 IN NSEC3 1 0 12 aabbccdd 2t7b4g4vsa5smi47k61mv5bv1a22bojr A",
	)
	checkVerdict(t, nx(append(odd[:1:1], nsec3Of(t, 0, 12, b1...)...), nil), Bogus, noNSEC)
	checkVerdict(t, nx(append(odd[1:], nsec3Of(t, 0, 12, b1...)...), nil), Secure, 0)
	checkVerdict(t, nx(odd[1:], nil), Bogus, noNSEC)
}

// TestNSEC3HashBudget: every name hashed counts against the query's budget,
// and a proof that needs more hashes than are left is Bogus, Exhausted.
func TestNSEC3HashBudget(t *testing.T) {
	nsecs := nsec3Of(t, 0, 12, "x.w.example.", "example.", "a.example.")
	// a.c.x.w, c.x.w, x.w, *.x.w: four hashes.
	b := NewBudget(Limits{MaxHashesPerQuery: 3})
	v := ProveNXDomain("a.c.x.w.example.", "example.", nsecs, b)
	if v.Status != Bogus || !v.Exhausted || v.EDE != dns.ExtendedErrorCodeDNSBogus || b.Hashes() != 3 || !b.Exhausted() {
		t.Errorf("%+v after %d hashes", v, b.Hashes())
	}
	b = NewBudget(DefaultLimits)
	proofs := 0
	for ProveNXDomain("a.c.x.w.example.", "example.", nsecs, b).Status == Secure {
		proofs++
	}
	if proofs != 150 || b.Hashes() != 600 {
		t.Errorf("%d proofs, %d hashes before the budget ran out; want 150, 600", proofs, b.Hashes())
	}
	// A deep name with no closest encloser costs one hash per label, capped.
	deep := strings.Repeat("a.", 120) + "example."
	b = NewBudget(Limits{MaxHashesPerQuery: 50})
	if v := ProveNXDomain(deep, "example.", nsec3Of(t, 0, 12, "ns1.example."), b); !v.Exhausted || b.Hashes() != 50 {
		t.Errorf("deep name: %+v after %d hashes", v, b.Hashes())
	}
}

// TestNSEC3CoverAgreesWithMiekg compares hashCovers with dns.NSEC3.Cover over
// the RFC chain (its last record wraps to the first) for random names, and
// for a one-record chain covering everything but its owner. Two edges of
// Cover (miekg/dns v1.1.73) are left out: it counts a record's own owner as
// covered, and it compares the next hash as stored, so a record parsed from
// text with a lowercase next hash covers names it does not; the records go
// through the wire (uppercase) first. TestNSEC3CoverEdges pins both here.
func TestNSEC3CoverAgreesWithMiekg(t *testing.T) {
	all := make([]string, 0, len(rfc5155Chain))
	for _, r := range rfc5155Chain {
		all = append(all, r.name)
	}
	recs := viaWire(t, nsec3Of(t, 0, 12, all...))
	single := viaWire(t, rrs(t, "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example. 3600 IN NSEC3 1 0 12 aabbccdd 0p9mhaveqvm6t7vbl5lop2u3t2rp3tom A"))
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 300 {
		name := fmt.Sprintf("n%d-%d.example.", i, r.IntN(1e6))
		if i < len(all) {
			name = all[i]
		}
		for _, set := range [][]dns.RR{recs, single} {
			c, _ := nsec3sOf("example.", set, NewBudget(Limits{MaxNSEC3PerReply: 20}))
			h := c.hash(name)
			for _, rec := range c.recs {
				if bytes.Equal(rec.owner, h) {
					continue
				}
				if got, want := hashCovers(rec.owner, rec.next, h), rec.rr.Cover(name); got != want {
					t.Fatalf("%s by %s: hashCovers %v, miekg Cover %v", name, rec.rr.Hdr.Name, got, want)
				}
			}
		}
	}
}

func viaWire(t testing.TB, in []dns.RR) []dns.RR {
	t.Helper()
	m := new(dns.Msg)
	m.Answer = in
	for _, rr := range in {
		if n, ok := rr.(*dns.NSEC3); ok {
			slices.Sort(n.TypeBitMap)
		}
	}
	wire, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Unpack(wire); err != nil {
		t.Fatal(err)
	}
	return m.Answer
}

func TestNSEC3CoverEdges(t *testing.T) {
	lower := "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example. 3600 IN NSEC3 1 0 12 aabbccdd 2t7b4g4vsa5smi47k61mv5bv1a22bojr A"
	tests := []struct {
		name, record, qname string
		covered             bool
	}{
		{"own owner", lower, "example.", false},
		{"after next, next in lowercase", lower, "n453.example.", false}, // H = 2ukt...
		{"between", lower, "c.x.w.example.", true},                       // H = 0va5...
		{"single record, its owner", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example. 3600 IN NSEC3 1 0 12 aabbccdd 0p9mhaveqvm6t7vbl5lop2u3t2rp3tom A", "example.", false},
		{"single record, another name", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example. 3600 IN NSEC3 1 0 12 aabbccdd 0p9mhaveqvm6t7vbl5lop2u3t2rp3tom A", "a.example.", true},
		{"last record, after it", "t644ebqk9bibcna874givr6joj62mlhv.example. 3600 IN NSEC3 1 0 12 aabbccdd 0p9mhaveqvm6t7vbl5lop2u3t2rp3tom A", "n453.example.", false},
		{"last record, before the first", "t644ebqk9bibcna874givr6joj62mlhv.example. 3600 IN NSEC3 1 0 12 aabbccdd 0p9mhaveqvm6t7vbl5lop2u3t2rp3tom A", "a.c.x.w.example.", true}, // H = 06pj...
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, v := nsec3sOf("example.", rrs(t, tt.record), NewBudget(DefaultLimits))
			if v != nil {
				t.Fatal(v.Why)
			}
			if got := c.cover(tt.qname) != nil; got != tt.covered {
				t.Errorf("covered %v, want %v", got, tt.covered)
			}
		})
	}
}
