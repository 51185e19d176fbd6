package cache

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/miekg/dns"
)

// rrsig is an RRSIG record in presentation form; the cache never checks
// signatures, so the signature is any bytes, here varied by tag.
func rrsig(owner string, ttl uint32, covered string, tag uint16) string {
	return fmt.Sprintf("%s %d IN RRSIG %s 13 2 %d 20260201000000 20251201000000 %d example.com. %s",
		owner, ttl, covered, ttl, tag, strings.Repeat("QUJD", 16))
}

// wire packs rr with its TTL set to ttl: what goes out to a client.
func wire(tb testing.TB, rr dns.RR, ttl uint32) string {
	tb.Helper()
	cp := dns.Copy(rr)
	cp.Header().Ttl = ttl
	buf := make([]byte, dns.Len(cp))
	n, err := dns.PackRR(cp, buf, 0, nil, false)
	if err != nil {
		tb.Fatalf("PackRR(%s): %v", rr, err)
	}
	return string(buf[:n])
}

// sameRRs checks that got are want on the wire, owner case included, with
// every TTL ttl.
func sameRRs(tb testing.TB, what string, got, want []dns.RR, ttl uint32) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("%s: %d records, want %d: %v", what, len(got), len(want), got)
	}
	for i := range got {
		if got[i].Header().Ttl != ttl || wire(tb, got[i], ttl) != wire(tb, want[i], ttl) {
			tb.Errorf("%s %d:\n got %s\nwant %s (TTL %d)", what, i, got[i], want[i], ttl)
		}
	}
}

func TestSignedRoundTrip(t *testing.T) {
	clk := newClock()
	c := New(Config{Now: clk.Now})
	rrs := mustRRs(t, "WWW.Example.COM. 300 IN A 192.0.2.1", "WWW.Example.COM. 300 IN A 192.0.2.2")
	sigs := mustRRs(t, rrsig("WWW.Example.COM.", 300, "A", 1), rrsig("WWW.Example.COM.", 250, "A", 2))
	if !c.PutSet(Set{RRs: rrs, Sigs: sigs, Rank: RankAuthAnswer, Security: Secure}) {
		t.Fatal("PutSet refused a signed RRset")
	}
	clk.Advance(100 * time.Second)
	e, ok := c.Get("www.example.com.", dns.TypeA, dns.ClassINET)
	if !ok || e.Security != Secure || e.EDE != 0 || e.Rank != RankAuthAnswer || e.TTL != 150 || e.Proof != nil {
		t.Fatalf("Get = %+v, %v; want Secure, TTL 250-100 (the least, a signature's)", e, ok)
	}
	sameRRs(t, "RRs", e.RRs, rrs, 150)
	sameRRs(t, "Sigs", e.Sigs, sigs, 150)
	if got := e.RRs[0].Header().Name + " " + e.Sigs[1].Header().Name; got != "WWW.Example.COM. WWW.Example.COM." {
		t.Errorf("owners %q, want the case learned", got)
	}

	// A wildcard answer keeps the proof that no closer name exists.
	wild := mustRRs(t, "a.wild.example.com. 600 IN TXT \"x\"")
	wsig := mustRRs(t, rrsig("a.wild.example.com.", 600, "TXT", 3))
	proof := mustRRs(t, "*.wild.example.com. 120 IN NSEC z.wild.example.com. TXT RRSIG NSEC", rrsig("*.wild.example.com.", 120, "NSEC", 3))
	if !c.PutSet(Set{RRs: wild, Sigs: wsig, Proof: proof, Rank: RankAnswer, Security: Insecure, EDE: 1}) {
		t.Fatal("PutSet refused a wildcard answer")
	}
	e, _ = c.Get("a.wild.example.com.", dns.TypeTXT, dns.ClassINET)
	if e.Security != Insecure || e.EDE != 1 || e.TTL != 120 {
		t.Errorf("Get = %+v; want Insecure, EDE 1, TTL 120 (the proof's)", e)
	}
	sameRRs(t, "wildcard RRs", e.RRs, wild, 120)
	sameRRs(t, "wildcard Sigs", e.Sigs, wsig, 120)
	sameRRs(t, "wildcard Proof", e.Proof, proof, 120)
}

// TestSignedNegativeRoundTrip: a negative entry keeps its SOA's RRSIGs and
// its proof in order, all counted down, and its TTL is the least of all.
func TestSignedNegativeRoundTrip(t *testing.T) {
	nsec := mustRRs(t,
		"Example.com. 3600 IN NSEC a.example.com. SOA NS RRSIG NSEC DNSKEY",
		rrsig("Example.com.", 3600, "NSEC", 1),
		"m.example.com. 200 IN NSEC z.example.com. A RRSIG NSEC",
		rrsig("m.example.com.", 3600, "NSEC", 1))
	nsec3 := mustRRs(t,
		"2vptu5timamqttgl4luu9kg21e0aor3s.example.com. 3600 IN NSEC3 1 1 0 - 2vptu5timamqttgl4luu9kg21e0aor3t A RRSIG",
		rrsig("2vptu5timamqttgl4luu9kg21e0aor3s.example.com.", 3600, "NSEC3", 1))
	soaRR := mustRRs(t, "Example.COM. 3600 IN SOA ns1.example.com. h.example.com. 1 7200 3600 1209600 900")[0].(*dns.SOA)
	soaSigs := mustRRs(t, rrsig("Example.COM.", 3600, "SOA", 7))
	tests := []struct {
		name string
		n    NegativeSet
		ttl  uint32 // after 50 s
	}{
		{"NXDOMAIN with NSEC, the least TTL a proof's",
			NegativeSet{Name: "b.example.com.", Kind: NXDomain, SOA: soaRR, Sigs: soaSigs, Proof: nsec, Security: Secure}, 150},
		{"NODATA with NSEC3, the SOA's MINIMUM",
			NegativeSet{Name: "www.example.com.", Qtype: dns.TypeAAAA, Kind: NoData, SOA: soaRR, Sigs: soaSigs, Proof: nsec3, Security: Secure}, 850},
		{"the caller's cap",
			NegativeSet{Name: "www.example.com.", Qtype: dns.TypeAAAA, Kind: NoData, SOA: soaRR, Sigs: soaSigs, Proof: nsec3, Security: Secure, TTL: 60}, 10},
		{"a cap above the SOA rule does not raise it",
			NegativeSet{Name: "www.example.com.", Qtype: dns.TypeAAAA, Kind: NoData, SOA: soaRR, Proof: nsec3, Security: Bogus, EDE: 6, TTL: 86400}, 850},
		{"proof without SOA",
			NegativeSet{Name: "www.example.com.", Qtype: dns.TypeAAAA, Kind: NoData, Proof: nsec3, Security: Indeterminate}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			c := New(Config{Now: clk.Now})
			tc.n.Qclass, tc.n.Rank = dns.ClassINET, RankAuthAuthority
			if !c.PutNegativeSet(tc.n) {
				t.Fatal("PutNegativeSet refused")
			}
			if tc.ttl == 0 { // NoSOANegativeTTL: nothing left after 50 s
				clk.Advance(NoSOANegativeTTL - time.Second)
				tc.ttl = 1
			} else {
				clk.Advance(50 * time.Second)
			}
			e, ok := c.Get(tc.n.Name, dns.TypeAAAA, dns.ClassINET)
			if !ok || e.Negative != tc.n.Kind || e.Security != tc.n.Security || e.EDE != tc.n.EDE || e.TTL != tc.ttl {
				t.Fatalf("Get = %+v, %v; want %v %v EDE %d TTL %d", e, ok, tc.n.Kind, tc.n.Security, tc.n.EDE, tc.ttl)
			}
			if tc.n.SOA != nil {
				if e.SOA == nil {
					t.Fatal("SOA lost")
				}
				sameRRs(t, "SOA", []dns.RR{e.SOA}, []dns.RR{tc.n.SOA}, tc.ttl)
			}
			sameRRs(t, "Sigs", e.Sigs, tc.n.Sigs, tc.ttl)
			sameRRs(t, "Proof", e.Proof, tc.n.Proof, tc.ttl)
		})
	}
}

func TestSecurityReplacement(t *testing.T) {
	type put struct {
		rank Rank
		sec  Security
	}
	tests := []struct {
		name          string
		first, second put
		replaced      bool
	}{
		{"secure yields to secure", put{RankAnswer, Secure}, put{RankAnswer, Secure}, true},
		{"secure not to insecure", put{RankAnswer, Secure}, put{RankAuthAnswer, Insecure}, false},
		{"secure not to unchecked", put{RankAnswer, Secure}, put{RankAuthAnswer, Unchecked}, false},
		{"secure not to indeterminate", put{RankAnswer, Secure}, put{RankAnswer, Indeterminate}, false},
		{"secure not to bogus", put{RankAnswer, Secure}, put{RankAuthAnswer, Bogus}, false},
		{"secure not to secure of lower rank", put{RankAuthAnswer, Secure}, put{RankAnswer, Secure}, false},
		{"bogus not over insecure", put{RankAnswer, Insecure}, put{RankAuthAnswer, Bogus}, false},
		{"bogus not over glue", put{RankGlue, Unchecked}, put{RankAuthAnswer, Bogus}, false},
		{"bogus over bogus", put{RankAnswer, Bogus}, put{RankAnswer, Bogus}, true},
		{"bogus over bogus of higher rank: no", put{RankAuthAnswer, Bogus}, put{RankAnswer, Bogus}, false},
		{"secure over bogus", put{RankAuthAnswer, Bogus}, put{RankAnswer, Secure}, true},
		{"insecure over bogus of same rank", put{RankAnswer, Bogus}, put{RankAnswer, Insecure}, true},
		{"insecure not over bogus of higher rank", put{RankAuthAnswer, Bogus}, put{RankAnswer, Insecure}, false},
		{"secure over unchecked of higher rank", put{RankAuthAnswer, Unchecked}, put{RankAnswer, Secure}, true},
		{"unchecked over insecure", put{RankAnswer, Insecure}, put{RankAnswer, Unchecked}, true},
		{"ranks between unvalidated", put{RankAuthAnswer, Insecure}, put{RankAnswer, Indeterminate}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := New(Config{Now: newClock().Now})
			c.PutSet(Set{RRs: mustRRs(t, "ns1.example.com. 300 IN A 192.0.2.1"), Rank: tc.first.rank, Security: tc.first.sec})
			got := c.PutSet(Set{RRs: mustRRs(t, "ns1.example.com. 300 IN A 203.0.113.66"), Rank: tc.second.rank, Security: tc.second.sec})
			e, _ := c.Get("ns1.example.com.", dns.TypeA, dns.ClassINET)
			want := tc.first
			if tc.replaced {
				want = tc.second
			}
			addr := e.RRs[0].(*dns.A).A.String()
			if got != tc.replaced || (addr == "203.0.113.66") != tc.replaced || e.Security != want.sec || e.Rank != want.rank {
				t.Errorf("PutSet = %v, cached %s %v %v; want replaced=%v", got, addr, e.Security, e.Rank, tc.replaced)
			}
		})
	}
}

// TestSecurityReplacementAcrossKinds: a negative entry and an RRset of the
// same key follow the same rules, and data at a name clears its NXDOMAIN
// only when it could have replaced it; expired entries yield to anything.
func TestSecurityReplacementAcrossKinds(t *testing.T) {
	clk := newClock()
	c := New(Config{Now: clk.Now})
	neg := func(kind Negative, sec Security) NegativeSet {
		return NegativeSet{Name: "x.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET, Kind: kind, SOA: soa(t, 300, 300), Rank: RankAuthAuthority, Security: sec}
	}
	set := func(sec Security) Set {
		return Set{RRs: mustRRs(t, "x.example.com. 300 IN A 192.0.2.1"), Rank: RankAuthAnswer, Security: sec}
	}
	if !c.PutNegativeSet(neg(NoData, Secure)) || c.PutSet(set(Bogus)) || c.PutSet(set(Insecure)) {
		t.Fatal("a secure NODATA was replaced by bogus or insecure data")
	}
	if !c.PutSet(set(Secure)) || c.PutNegativeSet(neg(NoData, Bogus)) {
		t.Fatal("a secure RRset did not replace the secure NODATA, or bogus NODATA replaced it")
	}

	c = New(Config{Now: clk.Now})
	c.PutNegativeSet(neg(NXDomain, Secure))
	for _, sec := range []Security{Bogus, Unchecked, Insecure} {
		c.PutSet(Set{RRs: mustRRs(t, "x.example.com. 300 IN TXT \"t\""), Rank: RankAuthAnswer, Security: sec})
		if e, ok := c.Get("x.example.com.", dns.TypeA, dns.ClassINET); !ok || e.Negative != NXDomain {
			t.Errorf("%v data at the name cleared a secure NXDOMAIN", sec)
		}
	}
	c.PutSet(Set{RRs: mustRRs(t, "x.example.com. 300 IN TXT \"t\""), Rank: RankAuthAnswer, Security: Secure})
	if e, ok := c.Get("x.example.com.", dns.TypeA, dns.ClassINET); ok {
		t.Errorf("secure data at the name left the NXDOMAIN: %+v", e)
	}

	c.PutSet(set(Secure))
	clk.Advance(301 * time.Second)
	if !c.PutSet(set(Bogus)) {
		t.Error("bogus data refused after the secure entry expired")
	}
}

func TestRefusesWrongSigsAndProof(t *testing.T) {
	a := mustRRs(t, "www.example.com. 300 IN A 192.0.2.1")
	nsec := mustRRs(t, "www.example.com. 300 IN NSEC z.example.com. A RRSIG NSEC")
	many := make([]dns.RR, MaxRRsetRecords+1)
	for i := range many {
		many[i] = mustRRs(t, rrsig("www.example.com.", 300, "A", uint16(i)))[0]
	}
	for name, s := range map[string]Set{
		"sig of another type":  {RRs: a, Sigs: mustRRs(t, rrsig("www.example.com.", 300, "AAAA", 1))},
		"sig of another owner": {RRs: a, Sigs: mustRRs(t, rrsig("ftp.example.com.", 300, "A", 1))},
		"sig of another class": {RRs: a, Sigs: mustRRs(t, strings.Replace(rrsig("www.example.com.", 300, "A", 1), " IN ", " CH ", 1))},
		"not an RRSIG":         {RRs: a, Sigs: a},
		"too many sigs":        {RRs: a, Sigs: many},
		"A in proof":           {RRs: a, Proof: a},
		"proof RRSIG of A":     {RRs: a, Proof: mustRRs(t, rrsig("www.example.com.", 300, "A", 1))},
		"zero-TTL sig":         {RRs: a, Sigs: mustRRs(t, rrsig("www.example.com.", 0, "A", 1))},
		"NSEC in sigs":         {RRs: a, Sigs: nsec},
		"unknown security":     {RRs: a, Security: Indeterminate + 1},
	} {
		c := New(Config{})
		s.Rank = RankAuthAnswer
		if c.PutSet(s) || c.Len() != 0 {
			t.Errorf("%s: PutSet accepted", name)
		}
	}
	sig := func(owner, covered string) []dns.RR { return mustRRs(t, rrsig(owner, 300, covered, 1)) }
	for name, n := range map[string]NegativeSet{
		"sigs without SOA":    {Kind: NXDomain, Sigs: sig("example.com.", "SOA")},
		"sig of another type": {Kind: NXDomain, SOA: soa(t, 300, 300), Sigs: sig("example.com.", "NSEC")},
		"sig of the qname":    {Kind: NoData, SOA: soa(t, 300, 300), Sigs: sig("x.example.com.", "SOA")},
		"SOA in proof":        {Kind: NoData, SOA: soa(t, 300, 300), Proof: []dns.RR{soa(t, 300, 300)}},
		"positive kind":       {Kind: Positive, SOA: soa(t, 300, 300)},
	} {
		c := New(Config{})
		n.Name, n.Qtype, n.Qclass, n.Rank = "x.example.com.", dns.TypeA, dns.ClassINET, RankAuthAuthority
		if c.PutNegativeSet(n) || c.Len() != 0 {
			t.Errorf("%s: PutNegativeSet accepted", name)
		}
	}
}

// TestSignedByteBound: MaxRRsetBytes counts the RRSIGs and the proof.
func TestSignedByteBound(t *testing.T) {
	var txt []string
	for i := range 60 {
		txt = append(txt, fmt.Sprintf("t.example.com. 300 IN TXT \"%03d%s\"", i, strings.Repeat("x", 240)))
	}
	rrs := mustRRs(t, txt...) // about 15.5 KB
	c := New(Config{})
	if !c.Put(rrs, RankAuthAnswer) {
		t.Fatal("an RRset under the bound refused")
	}
	var sigs []string
	for i := range 8 {
		sigs = append(sigs, rrsig("t.example.com.", 300, "TXT", uint16(i)))
	}
	if c.PutSet(Set{RRs: rrs, Sigs: mustRRs(t, sigs...), Rank: RankAuthAnswer, Security: Secure}) {
		t.Error("an RRset whose signatures take it over MaxRRsetBytes was cached")
	}
	var proof []string
	for i := range 100 {
		long := strings.Repeat("x", 60)
		proof = append(proof, fmt.Sprintf("n%03d.%s.%s.example.com. 300 IN NSEC n%03d.example.com. A RRSIG NSEC", i, long, long, i+1))
	}
	n := NegativeSet{Name: "x.example.com.", Qclass: dns.ClassINET, Kind: NXDomain, SOA: soa(t, 300, 300), Proof: mustRRs(t, proof...), Rank: RankAuthAuthority}
	if c.PutNegativeSet(n) {
		t.Error("a negative entry of a proof over MaxRRsetBytes was cached")
	}
	n.Proof = n.Proof[:50]
	if !c.PutNegativeSet(n) {
		t.Error("a negative entry of a proof under MaxRRsetBytes was refused")
	}
	checkCache(t, c)
}

// TestUnsignedEntryCost: the DNSSEC fields live in the slot's former
// padding and signed records only in a tail of the data, so an unsigned
// entry costs what it did: the 56-byte slot, and data of its name and
// each record's RDATA after its length.
func TestUnsignedEntryCost(t *testing.T) {
	if n := unsafe.Sizeof(slot{}); n != 56 {
		t.Errorf("slot is %d bytes, want 56", n)
	}
	c := New(Config{})
	c.PutSet(Set{RRs: mustRRs(t, "www.example.com. 300 IN A 192.0.2.1"), Rank: RankAuthAnswer, Security: Insecure, EDE: 1})
	if got, want := c.Bytes(), int64(entryOverhead+len("www.example.com.")+2+4); got != want {
		t.Errorf("an unsigned A record costs %d bytes, want %d", got, want)
	}
	c.PutNegative("nx.example.com.", dns.TypeA, dns.ClassINET, NXDomain, nil, RankAuthAuthority)
	if got, want := c.Bytes(), int64(2*entryOverhead+len("www.example.com.")+2+4+len("nx.example.com.")); got != want {
		t.Errorf("with an NXDOMAIN without SOA: %d bytes, want %d", got, want)
	}
}
