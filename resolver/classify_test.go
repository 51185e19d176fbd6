package resolver

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func rrs(tb testing.TB, lines ...string) []dns.RR {
	tb.Helper()
	var out []dns.RR
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			tb.Fatalf("NewRR(%q): %v", l, err)
		}
		out = append(out, rr)
	}
	return out
}

type msgSpec struct {
	rcode         int
	aa, ra        bool
	qname         string
	qtype         uint16
	answer, ns    []string
	extra         []string
	noQuestion    bool
	questionOther string
}

func buildReply(tb testing.TB, s msgSpec) *dns.Msg {
	tb.Helper()
	m := new(dns.Msg)
	q := s.qname
	if s.questionOther != "" {
		q = s.questionOther
	}
	if !s.noQuestion {
		m.SetQuestion(q, s.qtype)
	}
	m.Response, m.Authoritative, m.RecursionAvailable, m.Rcode = true, s.aa, s.ra, s.rcode
	m.Answer, m.Ns, m.Extra = rrs(tb, s.answer...), rrs(tb, s.ns...), rrs(tb, s.extra...)
	return m
}

func TestClassify(t *testing.T) {
	soa := "example.com. 300 IN SOA ns1.example.com. host.example.com. 1 7200 3600 1209600 300"
	tests := []struct {
		name       string
		zone       string
		spec       msgSpec
		want       kind
		wantTarget string
		wantAnswer int
		wantChain  int
		wantChild  string
		wantGlue   int
	}{
		{
			name: "authoritative answer", zone: "example.com.",
			spec: msgSpec{aa: true, qname: "www.example.com.", qtype: dns.TypeA, answer: []string{"www.example.com. 300 IN A 192.0.2.1", "www.example.com. 300 IN A 192.0.2.2"}},
			want: kindAnswer, wantTarget: "www.example.com.", wantAnswer: 2,
		},
		{
			name: "out-of-zone answer records are dropped", zone: "example.com.",
			spec: msgSpec{aa: true, qname: "www.example.com.", qtype: dns.TypeA, answer: []string{"www.example.com. 300 IN A 192.0.2.1", "victim.net. 300 IN A 203.0.113.66"}},
			want: kindAnswer, wantTarget: "www.example.com.", wantAnswer: 1,
		},
		{
			// Only the first CNAME is surely the server's own data (RFC
			// 2181 section 5.4.1): the rest is asked for again.
			name: "cname chain within the zone restarts at the first target", zone: "example.com.",
			spec: msgSpec{aa: true, qname: "a.example.com.", qtype: dns.TypeA, answer: []string{"a.example.com. 300 IN CNAME b.example.com.", "b.example.com. 300 IN CNAME c.example.com.", "c.example.com. 300 IN A 192.0.2.3"}},
			want: kindCNAME, wantTarget: "b.example.com.", wantChain: 1,
		},
		{
			name: "dname to the root", zone: "x.",
			spec: msgSpec{qname: "shortloop.x.x.", qtype: dns.TypeTXT, answer: []string{"x. 300 IN DNAME .", "shortloop.x.x. 300 IN CNAME shortloop.x."}},
			want: kindCNAME, wantTarget: "shortloop.x.", wantChain: 2,
		},
		{
			name: "dname restarts at the synthesised target", zone: "example.com.",
			spec: msgSpec{aa: true, qname: "x.old.example.com.", qtype: dns.TypeA, answer: []string{"old.example.com. 300 IN DNAME new.example.com.", "x.old.example.com. 300 IN CNAME x.new.example.com.", "x.new.example.com. 300 IN A 192.0.2.3"}},
			want: kindCNAME, wantTarget: "x.new.example.com.", wantChain: 2,
		},
		{
			name: "cname leaving the zone restarts, the target's data is ignored", zone: "example.com.",
			spec: msgSpec{aa: true, qname: "a.example.com.", qtype: dns.TypeA, answer: []string{"a.example.com. 300 IN CNAME www.example.net.", "www.example.net. 300 IN A 203.0.113.66"}},
			want: kindCNAME, wantTarget: "www.example.net.", wantChain: 1,
		},
		{
			// The DNAME applies below its owner to every type, DNAME
			// questions too: the server's CNAME is replaced by ours
			// (it was taken as a lone, unsigned CNAME: val_dnameqtype).
			name: "dname question below a dname", zone: "example.com.",
			spec: msgSpec{aa: true, qname: "x.old.example.com.", qtype: dns.TypeDNAME, answer: []string{"old.example.com. 300 IN DNAME new.example.org.", "x.old.example.com. 300 IN CNAME forged.example.org."}},
			want: kindCNAME, wantTarget: "x.new.example.org.", wantChain: 2,
		},
		{
			name: "cname question below a dname", zone: "example.com.",
			spec: msgSpec{aa: true, qname: "x.old.example.com.", qtype: dns.TypeCNAME, answer: []string{"old.example.com. 300 IN DNAME new.example.org.", "x.old.example.com. 300 IN CNAME forged.example.org."}},
			want: kindAnswer, wantTarget: "x.old.example.com.", wantChain: 1, wantAnswer: 1,
		},
		{
			name: "a DNAME into its own subtree is a loop answered as it stands", zone: "example.com.",
			spec: msgSpec{aa: true, qname: "x.example.com.", qtype: dns.TypeA, answer: []string{"example.com. 300 IN DNAME example.com.", "x.example.com. 300 IN CNAME x.example.com."}},
			want: kindAnswer, wantTarget: "x.example.com.", wantChain: 2,
		},
		{
			name: "a CNAME loop in one reply is followed a hop at a time", zone: "example.com.",
			spec: msgSpec{aa: true, qname: "a.example.com.", qtype: dns.TypeA, answer: []string{"a.example.com. 300 IN CNAME b.example.com.", "b.example.com. 300 IN CNAME a.example.com."}},
			want: kindCNAME, wantTarget: "b.example.com.", wantChain: 1,
		},
		{
			name: "dname synthesises a cname", zone: "example.com.",
			spec: msgSpec{aa: true, qname: "x.old.example.com.", qtype: dns.TypeA, answer: []string{"old.example.com. 300 IN DNAME new.example.org."}},
			want: kindCNAME, wantTarget: "x.new.example.org.", wantChain: 2,
		},
		{
			name: "nxdomain with soa", zone: "example.com.",
			spec: msgSpec{aa: true, rcode: dns.RcodeNameError, qname: "nope.example.com.", qtype: dns.TypeA, ns: []string{soa}},
			want: kindNXDomain, wantTarget: "nope.example.com.",
		},
		{
			name: "nodata with soa", zone: "example.com.",
			spec: msgSpec{aa: true, qname: "www.example.com.", qtype: dns.TypeAAAA, ns: []string{soa}},
			want: kindNoData, wantTarget: "www.example.com.",
		},
		{
			name: "referral with in-bailiwick glue", zone: "com.",
			spec: msgSpec{qname: "www.example.com.", qtype: dns.TypeA,
				ns:    []string{"example.com. 86400 IN NS ns1.example.com.", "example.com. 86400 IN NS ns.other.net."},
				extra: []string{"ns1.example.com. 86400 IN A 127.53.1.1", "ns.other.net. 86400 IN A 203.0.113.66"}},
			want: kindReferral, wantTarget: "www.example.com.", wantChild: "example.com.", wantGlue: 1,
		},
		{
			name: "upward referral is lame", zone: "example.com.",
			spec: msgSpec{qname: "www.example.com.", qtype: dns.TypeA, ns: []string{". 86400 IN NS a.root-servers.net."}},
			want: kindLame,
		},
		{
			name: "authoritative empty reply with an upward referral is lame", zone: "example.com.",
			spec: msgSpec{aa: true, qname: "example.com.", qtype: dns.TypeAAAA, ns: []string{". 3600 IN NS a.root-servers.net."}},
			want: kindLame,
		},
		{
			name: "referral to the same zone is lame", zone: "example.com.",
			spec: msgSpec{qname: "www.example.com.", qtype: dns.TypeA, ns: []string{"example.com. 86400 IN NS ns1.example.com."}},
			want: kindLame,
		},
		{
			name: "non-authoritative answer is used", zone: "example.com.",
			spec: msgSpec{ra: true, qname: "www.example.com.", qtype: dns.TypeA, answer: []string{"www.example.com. 300 IN A 192.0.2.1"}},
			want: kindAnswer, wantTarget: "www.example.com.", wantAnswer: 1,
		},
		{
			name: "empty non-authoritative reply is lame", zone: "example.com.",
			spec: msgSpec{qname: "www.example.com.", qtype: dns.TypeA},
			want: kindLame,
		},
		{
			name: "servfail is bad", zone: "example.com.",
			spec: msgSpec{rcode: dns.RcodeServerFailure, qname: "www.example.com.", qtype: dns.TypeA},
			want: kindBad,
		},
		{
			name: "refused is bad", zone: "example.com.",
			spec: msgSpec{rcode: dns.RcodeRefused, qname: "www.example.com.", qtype: dns.TypeA},
			want: kindBad,
		},
		{
			name: "wrong question is bad", zone: "example.com.",
			spec: msgSpec{aa: true, qname: "www.example.com.", qtype: dns.TypeA, questionOther: "evil.example.com.", answer: []string{"evil.example.com. 300 IN A 192.0.2.1"}},
			want: kindBad,
		},
		{
			name: "soa of another zone does not make nodata", zone: "example.com.",
			spec: msgSpec{qname: "www.example.com.", qtype: dns.TypeA, ns: []string{"example.net. 300 IN SOA ns.example.net. h.example.net. 1 2 3 4 5"}},
			want: kindLame,
		},
		{
			name: "ns priming answer carries glue", zone: ".",
			spec: msgSpec{aa: true, qname: ".", qtype: dns.TypeNS, answer: []string{". 518400 IN NS a.root-servers.net."}, extra: []string{"a.root-servers.net. 518400 IN A 127.53.0.1"}},
			want: kindAnswer, wantTarget: ".", wantAnswer: 1, wantGlue: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := classify(buildReply(t, tc.spec), tc.zone, tc.spec.qname, tc.spec.qtype, DefaultMaxCNAMEs)
			if got.kind != tc.want {
				t.Fatalf("kind = %v (%s), want %v", got.kind, got.why, tc.want)
			}
			if tc.wantTarget != "" && !strings.EqualFold(got.target, tc.wantTarget) {
				t.Errorf("target = %q, want %q", got.target, tc.wantTarget)
			}
			if len(got.answer) != tc.wantAnswer {
				t.Errorf("answer = %v, want %d records", got.answer, tc.wantAnswer)
			}
			if len(got.chain) != tc.wantChain {
				t.Errorf("chain = %v, want %d records", got.chain, tc.wantChain)
			}
			if got.child != tc.wantChild {
				t.Errorf("child = %q, want %q", got.child, tc.wantChild)
			}
			if len(got.glue) != tc.wantGlue {
				t.Errorf("glue = %v, want %d records", got.glue, tc.wantGlue)
			}
		})
	}
}

func TestParentZone(t *testing.T) {
	for in, want := range map[string]string{"www.example.com.": "example.com.", "com.": ".", ".": "."} {
		if got := parentZone(in); got != want {
			t.Errorf("parentZone(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestInZone(t *testing.T) {
	for _, tc := range []struct {
		name, zone string
		want       bool
	}{
		{"www.example.com.", "example.com.", true},
		{"example.com.", "example.com.", true},
		{"WWW.Example.COM.", "example.com.", true},
		{"www.example.com.", ".", true},
		{".", ".", true},
		{"notexample.com.", "example.com.", false},
		{"com.", "example.com.", false},
		{"example.com.", "www.example.com.", false},
		{`a\.example.com.`, "example.com.", false}, // the label "a.example", then com
		{`a\.example.com.`, "com.", true},
		{`www.a\.example.com.`, `a\.example.com.`, true},
		{`wwwa\.example.com.`, `a\.example.com.`, false},
		{`x\\.example.com.`, "example.com.", true}, // a label `x\`, then example
		{`x\.example.com.`, `example.com.`, false},
		{`example\.com.`, "com.", false}, // one label "example.com" under the root
		{`example\.com.`, "example.com.", false},
	} {
		if got := inZone(tc.name, tc.zone); got != tc.want {
			t.Errorf("inZone(%q, %q) = %v, want %v", tc.name, tc.zone, got, tc.want)
		}
	}
}

// inZone must agree with dns.IsSubDomain on every pair of valid names.
func FuzzInZone(f *testing.F) {
	for _, s := range [][2]string{
		{"www.example.com.", "example.com."}, {`a\.b.c.`, `b.c.`}, {`a\\.b.c.`, `b.c.`},
		{`x\046y.com.`, `y.com.`}, {"A.B.", "b."}, {".", "."},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, name, zone string) {
		for _, n := range []string{name, zone} {
			if _, ok := dns.IsDomainName(n); !ok || !dns.IsFqdn(n) {
				return
			}
		}
		if got, want := inZone(name, zone), dns.IsSubDomain(zone, name); got != want {
			t.Fatalf("inZone(%q, %q) = %v, dns.IsSubDomain says %v", name, zone, got, want)
		}
	})
}

func TestSplitRRsets(t *testing.T) {
	tests := []struct {
		name string
		rrs  []string
		want [][]int // indexes into rrs, per set
	}{
		{"none", nil, nil},
		{"runs", []string{"a.example. 1 IN A 192.0.2.1", "A.example. 1 IN A 192.0.2.2", "b.example. 1 IN A 192.0.2.3", "b.example. 1 IN AAAA 2001:db8::1"}, [][]int{{0, 1}, {2}, {3}}},
		{"split set", []string{"a.example. 1 IN A 192.0.2.1", "b.example. 1 IN A 192.0.2.3", "a.example. 1 IN A 192.0.2.2"}, [][]int{{0, 2}, {1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := rrs(t, tc.rrs...)
			got := splitRRsets(nil, in)
			if len(got) != len(tc.want) {
				t.Fatalf("%d sets %v, want %d", len(got), got, len(tc.want))
			}
			for i, set := range got {
				if len(set) != len(tc.want[i]) || cap(set) != len(set) {
					t.Fatalf("set %d: %v (cap %d), want %v", i, set, cap(set), tc.want[i])
				}
				for j, k := range tc.want[i] {
					if set[j] != in[k] {
						t.Errorf("set %d record %d: %v, want %v", i, j, set[j], in[k])
					}
				}
			}
		})
	}
}

func TestScrub(t *testing.T) {
	opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	tests := []struct {
		name string
		rrs  []dns.RR
		want []int // indexes into rrs
	}{
		{"none", nil, nil},
		{"all kept", rrs(t, "a.example. 1 IN A 192.0.2.1", "b.example. 1 IN A 192.0.2.2"), []int{0, 1}},
		{"OPT last", append(rrs(t, "ns1.example. 1 IN A 192.0.2.1", "ns2.example. 1 IN A 192.0.2.2"), opt), []int{0, 1}},
		{"outside first", rrs(t, "a.other. 1 IN A 192.0.2.1", "b.example. 1 IN A 192.0.2.2"), []int{1}},
		{"outside between", rrs(t, "a.example. 1 IN A 192.0.2.1", "a.other. 1 IN A 192.0.2.2", "c.example. 1 IN A 192.0.2.3"), []int{0, 2}},
		{"other class", rrs(t, "a.example. 1 CH A 192.0.2.1", "b.example. 1 IN A 192.0.2.2"), []int{1}},
		{"nothing kept", rrs(t, "a.other. 1 IN A 192.0.2.1"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := scrub(tc.rrs, "example.")
			if len(got) != len(tc.want) {
				t.Fatalf("scrub kept %v, want records %v", got, tc.want)
			}
			for i, k := range tc.want {
				if got[i] != tc.rrs[k] {
					t.Errorf("record %d: %v, want %v", i, got[i], tc.rrs[k])
				}
			}
		})
	}
}

func TestChildOf(t *testing.T) {
	tests := []struct{ qname, zone, want string }{
		{"www.example.com.", ".", "com."},
		{"www.example.com.", "com.", "example.com."},
		{"www.example.com.", "example.com.", "www.example.com."},
		{"example.com.", "example.com.", "example.com."},
		{"com.", ".", "com."},
		{".", ".", "."},
		{`a\.b.example.com.`, "example.com.", `a\.b.example.com.`},
		{`x.a\.b.example.com.`, "example.com.", `a\.b.example.com.`},
		{`x.a\\.b.example.com.`, "example.com.", `b.example.com.`},
	}
	for _, tc := range tests {
		if got := childOf(tc.qname, tc.zone); got != tc.want {
			t.Errorf("childOf(%q, %q) = %q, want %q", tc.qname, tc.zone, got, tc.want)
		}
	}
}
