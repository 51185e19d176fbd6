package cache

import (
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// clock is a settable time source for tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func mustRRs(tb testing.TB, lines ...string) []dns.RR {
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

func soa(tb testing.TB, ttl, minimum uint32) *dns.SOA {
	tb.Helper()
	return mustRRs(tb, fmt.Sprintf("example.com. %d IN SOA ns1.example.com. h.example.com. 1 7200 3600 1209600 %d", ttl, minimum))[0].(*dns.SOA)
}

func TestTTLCountsDownAndExpires(t *testing.T) {
	clk := newClock()
	c := New(Config{Now: clk.Now})
	if !c.Put(mustRRs(t, "www.example.com. 300 IN A 192.0.2.1", "www.example.com. 200 IN A 192.0.2.2"), RankAuthAnswer) {
		t.Fatal("Put refused a valid RRset")
	}
	e, ok := c.Get("WWW.Example.COM", dns.TypeA, dns.ClassINET)
	if !ok || len(e.RRs) != 2 || e.TTL != 200 {
		t.Fatalf("Get = %+v, %v; want 2 records with the set's lowest TTL 200", e, ok)
	}
	clk.Advance(150 * time.Second)
	e, _ = c.Get("www.example.com.", dns.TypeA, dns.ClassINET)
	for _, rr := range e.RRs {
		if rr.Header().Ttl != 50 {
			t.Errorf("after 150 s TTL = %d, want 50", rr.Header().Ttl)
		}
	}
	clk.Advance(50 * time.Second)
	if _, ok := c.Get("www.example.com.", dns.TypeA, dns.ClassINET); ok {
		t.Error("entry still served at its expiry")
	}
}

func TestGetReturnsCopies(t *testing.T) {
	c := New(Config{})
	c.Put(mustRRs(t, "www.example.com. 300 IN A 192.0.2.1"), RankAuthAnswer)
	e, _ := c.Get("www.example.com.", dns.TypeA, dns.ClassINET)
	e.RRs[0].(*dns.A).A[3] = 99
	e2, _ := c.Get("www.example.com.", dns.TypeA, dns.ClassINET)
	if got := e2.RRs[0].(*dns.A).A.String(); got != "192.0.2.1" {
		t.Errorf("a caller's change reached the cache: %s", got)
	}
}

func TestRanking(t *testing.T) {
	tests := []struct {
		name     string
		first    Rank
		second   Rank
		replaced bool
	}{
		{"glue does not replace an authoritative answer", RankAuthAnswer, RankGlue, false},
		{"referral does not replace the child's own answer", RankAuthAnswer, RankReferral, false},
		{"authoritative answer replaces glue", RankGlue, RankAuthAnswer, true},
		{"same rank replaces (fresher data)", RankAnswer, RankAnswer, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := New(Config{})
			c.Put(mustRRs(t, "ns1.example.com. 300 IN A 192.0.2.1"), tc.first)
			got := c.Put(mustRRs(t, "ns1.example.com. 300 IN A 203.0.113.66"), tc.second)
			e, _ := c.Get("ns1.example.com.", dns.TypeA, dns.ClassINET)
			addr := e.RRs[0].(*dns.A).A.String()
			if got != tc.replaced || (addr == "203.0.113.66") != tc.replaced {
				t.Errorf("Put = %v, cached address %s; want replaced=%v", got, addr, tc.replaced)
			}
		})
	}
}

func TestLowerRankReplacesExpiredData(t *testing.T) {
	clk := newClock()
	c := New(Config{Now: clk.Now})
	c.Put(mustRRs(t, "ns1.example.com. 10 IN A 192.0.2.1"), RankAuthAnswer)
	clk.Advance(11 * time.Second)
	if !c.Put(mustRRs(t, "ns1.example.com. 300 IN A 192.0.2.2"), RankGlue) {
		t.Error("glue refused although the authoritative entry had expired")
	}
}

func TestNegative(t *testing.T) {
	clk := newClock()
	c := New(Config{Now: clk.Now, MaxNegativeTTL: time.Hour})
	if !c.PutNegative("nope.example.com.", dns.TypeA, dns.ClassINET, NXDomain, soa(t, 3600, 300), RankAuthAuthority) {
		t.Fatal("PutNegative refused")
	}
	for _, qt := range []uint16{dns.TypeA, dns.TypeMX, dns.TypeAAAA} {
		e, ok := c.Get("nope.example.com.", qt, dns.ClassINET)
		if !ok || e.Negative != NXDomain || e.TTL != 300 || e.SOA == nil || e.SOA.Hdr.Ttl != 300 {
			t.Errorf("%s: Get = %+v, %v; want NXDOMAIN with TTL min(SOA TTL, MINIMUM) = 300", dns.TypeToString[qt], e, ok)
		}
	}
	c.PutNegative("www.example.com.", dns.TypeAAAA, dns.ClassINET, NoData, soa(t, 60, 300), RankAuthAuthority)
	if e, ok := c.Get("www.example.com.", dns.TypeAAAA, dns.ClassINET); !ok || e.Negative != NoData || e.TTL != 60 {
		t.Errorf("NODATA: Get = %+v, %v; want NoData with TTL 60", e, ok)
	}
	if _, ok := c.Get("www.example.com.", dns.TypeA, dns.ClassINET); ok {
		t.Error("NODATA for AAAA answered A")
	}
	clk.Advance(300 * time.Second)
	if _, ok := c.Get("nope.example.com.", dns.TypeA, dns.ClassINET); ok {
		t.Error("NXDOMAIN served after its TTL")
	}

}

func TestDataAtNameClearsNXDomain(t *testing.T) {
	c := New(Config{})
	c.PutNegative("new.example.com.", dns.TypeA, dns.ClassINET, NXDomain, soa(t, 3600, 300), RankAuthAuthority)
	c.Put(mustRRs(t, "new.example.com. 300 IN TXT \"hello\""), RankAuthAnswer)
	if e, ok := c.Get("new.example.com.", dns.TypeA, dns.ClassINET); ok {
		t.Errorf("stale NXDOMAIN still served: %+v", e)
	}
}

func TestTTLClamps(t *testing.T) {
	clk := newClock()
	c := New(Config{Now: clk.Now, MaxTTL: time.Hour, MaxNegativeTTL: 10 * time.Minute, MinTTL: 5 * time.Second})
	c.Put(mustRRs(t, "a.example.com. 604800 IN A 192.0.2.1"), RankAuthAnswer)
	c.Put(mustRRs(t, "b.example.com. 1 IN A 192.0.2.1"), RankAuthAnswer)
	c.PutNegative("c.example.com.", dns.TypeA, dns.ClassINET, NXDomain, soa(t, 86400, 86400), RankAuthAuthority)
	for _, tc := range []struct {
		name string
		want uint32
	}{{"a.example.com.", 3600}, {"b.example.com.", 5}, {"c.example.com.", 600}} {
		if e, _ := c.Get(tc.name, dns.TypeA, dns.ClassINET); e.TTL != tc.want {
			t.Errorf("%s TTL = %d, want %d", tc.name, e.TTL, tc.want)
		}
	}
}

func TestRefusesBadSets(t *testing.T) {
	c := New(Config{})
	big := make([]string, MaxRRsetRecords+1)
	for i := range big {
		big[i] = fmt.Sprintf("big.example.com. 300 IN A 10.0.%d.%d", i/256, i%256)
	}
	for name, set := range map[string][]dns.RR{
		"empty":        nil,
		"mixed types":  mustRRs(t, "m.example.com. 300 IN A 192.0.2.1", "m.example.com. 300 IN AAAA 2001:db8::1"),
		"mixed owners": mustRRs(t, "m.example.com. 300 IN A 192.0.2.1", "n.example.com. 300 IN A 192.0.2.1"),
		// Owners fold in ASCII only: the Kelvin sign is not k.
		"kelvin sign": {
			&dns.A{Hdr: dns.RR_Header{Name: "k.example.com.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(192, 0, 2, 1)},
			&dns.A{Hdr: dns.RR_Header{Name: "\u212a.example.com.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(192, 0, 2, 2)},
		},
		"zero TTL": mustRRs(t, "z.example.com. 0 IN A 192.0.2.1"),
		"too many": mustRRs(t, big...),
	} {
		if c.Put(set, RankAuthAnswer) {
			t.Errorf("%s: Put accepted", name)
		}
	}
	var txt []string
	for i := range 70 {
		txt = append(txt, fmt.Sprintf("t.example.com. 300 IN TXT \"%03d%s\"", i, string(make([]byte, 240))))
	}
	if c.Put(mustRRs(t, txt...), RankAuthAnswer) {
		t.Errorf("an RRset of about %d bytes was cached, limit %d", 70*250, MaxRRsetBytes)
	}
}

// TestRefusesHugeNegative: PutNegative takes names of up to 64 KB, which
// with a SOA make an entry larger than any arena cell; it is refused, not
// a panic in the arena.
func TestRefusesHugeNegative(t *testing.T) {
	c := New(Config{})
	name := strings.Repeat("a", 65500) + "."
	if c.PutNegative(name, dns.TypeA, dns.ClassINET, NXDomain, soa(t, 300, 300), RankAuthAuthority) {
		t.Error("PutNegative accepted an entry larger than the arena's chunk")
	}
	if _, ok := c.Get(name, dns.TypeA, dns.ClassINET); ok {
		t.Error("the refused entry is served")
	}
	if !c.PutNegative("nx.example.", dns.TypeA, dns.ClassINET, NXDomain, soa(t, 300, 300), RankAuthAuthority) || c.Len() != 1 {
		t.Errorf("a normal entry after the refused one: Len %d", c.Len())
	}
	checkCache(t, c)
}

func TestBoundedByEntriesAndBytes(t *testing.T) {
	c := New(Config{MaxEntries: 100})
	for i := range 1000 {
		c.Put(mustRRs(t, fmt.Sprintf("n%d.example.com. 300 IN A 192.0.2.1", i)), RankAuthAnswer)
	}
	if c.Len() != 100 {
		t.Errorf("Len = %d, want 100", c.Len())
	}
	if _, ok := c.Get("n999.example.com.", dns.TypeA, dns.ClassINET); !ok {
		t.Error("the newest entry was evicted")
	}

	c = New(Config{MaxBytes: 20_000})
	for i := range 1000 {
		c.Put(mustRRs(t, fmt.Sprintf("n%d.example.com. 300 IN A 192.0.2.1", i)), RankAuthAnswer)
	}
	if b := c.Bytes(); b > 20_000 || c.Len() >= 1000 {
		t.Errorf("Bytes = %d with %d entries; want at most 20000", b, c.Len())
	}
}

func TestConcurrentUse(t *testing.T) {
	c := New(Config{MaxEntries: 50})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				name := fmt.Sprintf("n%d.example.com.", (g*500+i)%120)
				c.Put(mustRRs(t, name+" 300 IN A 192.0.2.1"), RankAuthAnswer)
				c.Get(name, dns.TypeA, dns.ClassINET)
			}
		})
	}
	wg.Wait()
	if c.Len() > 50 {
		t.Errorf("Len = %d over the bound 50", c.Len())
	}
}

func TestNegativeWithoutSOA(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want time.Duration // 0: not cached
	}{
		{"no minimum: a few seconds", Config{}, NoSOANegativeTTL},
		{"MinTTL", Config{MinTTL: 5 * time.Second}, 5 * time.Second},
		{"MinNegativeTTL wins when greater", Config{MinTTL: 5 * time.Second, MinNegativeTTL: 30 * time.Second}, 30 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			tc.cfg.Now = clk.Now
			c := New(tc.cfg)
			stored := c.PutNegative("x.example.com.", dns.TypeA, dns.ClassINET, NoData, nil, RankAuthAuthority)
			if stored != (tc.want > 0) {
				t.Fatalf("PutNegative = %v, want %v", stored, tc.want > 0)
			}
			if tc.want == 0 {
				return
			}
			e, ok := c.Get("x.example.com.", dns.TypeA, dns.ClassINET)
			if !ok || e.Negative != NoData || e.SOA != nil || time.Duration(e.TTL)*time.Second != tc.want {
				t.Fatalf("entry %+v, %v; want NODATA without SOA for %v", e, ok, tc.want)
			}
			clk.Advance(tc.want)
			if _, ok := c.Get("x.example.com.", dns.TypeA, dns.ClassINET); ok {
				t.Error("served after its minimum TTL")
			}
		})
	}
}

// TestRecordsRoundTrip: every kind of record comes back from the wire form
// as it was stored, owner case included, TTL aside.
func TestRecordsRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
	}{
		{"A", []string{"www.example.com. 300 IN A 192.0.2.1", "www.example.com. 300 IN A 192.0.2.2"}},
		{"AAAA", []string{"www.example.com. 300 IN AAAA 2001:db8::1"}},
		{"NS", []string{"example.com. 300 IN NS ns1.example.com.", "example.com. 300 IN NS ns2.example.net."}},
		{"CNAME owner case", []string{"Alias.Example.COM. 300 IN CNAME www.example.com."}},
		{"MX", []string{"example.com. 300 IN MX 10 mail.example.com."}},
		{"TXT", []string{`example.com. 300 IN TXT "v=spf1 -all" "two strings"`, `example.com. 300 IN TXT ""`}},
		{"SRV", []string{"_sip._udp.example.com. 300 IN SRV 10 20 5060 sip.example.com."}},
		{"unknown type", []string{`example.com. 300 IN TYPE65400 \# 3 010203`}},
		{"escaped owner", []string{`a\.b.example.com. 300 IN A 192.0.2.3`}},
		{"root owner", []string{". 300 IN NS a.root-servers.net."}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := New(Config{Now: newClock().Now})
			rrs := mustRRs(t, tc.lines...)
			if !c.Put(rrs, RankAuthAnswer) {
				t.Fatal("Put refused")
			}
			h := rrs[0].Header()
			e, ok := c.Get(h.Name, h.Rrtype, h.Class)
			if !ok || len(e.RRs) != len(rrs) {
				t.Fatalf("Get = %v, %v; want %d records", e.RRs, ok, len(rrs))
			}
			for i, rr := range e.RRs {
				if got, want := rr.String(), rrs[i].String(); got != want {
					t.Errorf("record %d:\n got %s\nwant %s", i, got, want)
				}
			}
		})
	}
}

// TestPutLeavesCallersRecords: records are shared by concurrent callers,
// so storing them must not write to them (packing sets Rdlength).
func TestPutLeavesCallersRecords(t *testing.T) {
	c := New(Config{})
	rrs := mustRRs(t, "www.example.com. 300 IN A 192.0.2.1")
	rrs[0].Header().Rdlength = 0
	soa := soa(t, 300, 300)
	soa.Hdr.Rdlength = 0
	c.Put(rrs, RankAuthAnswer)
	c.PutNegative("nope.example.com.", dns.TypeA, dns.ClassINET, NXDomain, soa, RankAuthAuthority)
	if rrs[0].Header().Rdlength != 0 || soa.Hdr.Rdlength != 0 {
		t.Error("Put wrote to the caller's records")
	}
	e, ok := c.Get("nope.example.com.", dns.TypeAAAA, dns.ClassINET)
	if !ok || e.SOA == nil || e.SOA.Serial != soa.Serial || e.SOA.Hdr.Name != soa.Hdr.Name {
		t.Errorf("Get = %+v, %v; want the NXDOMAIN with its SOA", e, ok)
	}
}

// TestBytesEstimate: the estimate of what an entry costs stays near the
// heap it takes (BenchmarkMemoryPerRRset measures the heap).
func TestBytesEstimate(t *testing.T) {
	c := New(Config{})
	c.Put(mustRRs(t, "www.example.com. 300 IN A 192.0.2.1"), RankAuthAnswer)
	if got := c.Bytes(); got < 80 || got > 160 {
		t.Errorf("Bytes = %d for one A record, want 80-160 (its heap cost is near 100)", got)
	}
}

func TestAppendAddrsReadsWhatGetReturns(t *testing.T) {
	clk := newClock()
	c := New(Config{Now: clk.Now})
	c.Put(mustRRs(t, "ns1.example.com. 300 IN A 192.0.2.1", "ns1.example.com. 300 IN A 192.0.2.2"), RankGlue)
	c.Put(mustRRs(t, "NS1.example.com. 300 IN AAAA 2001:db8::1", "ns1.example.com. 300 IN AAAA ::ffff:192.0.2.3"), RankGlue)
	c.PutSet(Set{RRs: mustRRs(t, "signed.example.com. 300 IN A 192.0.2.4"),
		Sigs: mustRRs(t, "signed.example.com. 300 IN RRSIG A 13 3 300 20260201000000 20260101000000 1 example.com. AAAA"), Rank: RankGlue})
	c.PutNegative("gone.example.com.", dns.TypeA, dns.ClassINET, NXDomain, soa(t, 300, 300), RankAuthAuthority)
	c.Put(mustRRs(t, "short.example.com. 10 IN A 192.0.2.5"), RankGlue)
	clk.Advance(20 * time.Second)
	tests := []struct {
		name   string
		qtype  uint16
		want   []string
		cached bool
	}{
		{"ns1.example.com.", dns.TypeA, []string{"192.0.2.1", "192.0.2.2"}, true},
		{"Ns1.Example.Com", dns.TypeAAAA, []string{"2001:db8::1", "192.0.2.3"}, true},
		{"signed.example.com.", dns.TypeA, []string{"192.0.2.4"}, true},
		{"gone.example.com.", dns.TypeA, nil, false},
		{"short.example.com.", dns.TypeA, nil, false}, // expired
		{"missing.example.com.", dns.TypeA, nil, false},
		{"ns1.example.com.", dns.TypeTXT, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name+"/"+dns.TypeToString[tc.qtype], func(t *testing.T) {
			got, ok := c.AppendAddrs(nil, tc.name, tc.qtype)
			var strs []string
			for _, a := range got {
				strs = append(strs, a.String())
			}
			if ok != tc.cached || !slices.Equal(strs, tc.want) {
				t.Errorf("AppendAddrs = %v, %v; want %v, %v", strs, ok, tc.want, tc.cached)
			}
		})
	}
}

// TestPackPlain: packPlain writes what dns.PackRR does (packRecords), in
// the room given or in one allocation, and leaves what it does not handle
// to it.
func TestPackPlain(t *testing.T) {
	for _, tc := range []struct {
		rrs   []dns.RR
		plain bool
	}{
		{mustRRs(t, "a.example. 300 IN A 192.0.2.1", "a.example. 300 IN A 192.0.2.2"), true},
		{mustRRs(t, "A.Example. 300 IN AAAA 2001:db8::1"), true},
		{mustRRs(t, "a.example. 300 IN AAAA ::ffff:192.0.2.1"), true},
		{mustRRs(t, "example. 300 IN NS NS1.example.", "example. 300 IN NS ns2.other."), true},
		{mustRRs(t, ". 300 IN NS a.root-servers.net."), true},
		{mustRRs(t, "www.example. 300 IN CNAME ."), true},
		{mustRRs(t, "www.example. 300 IN CNAME x\\.y.example."), false},
		{mustRRs(t, "example. 300 IN MX 10 mail.example."), false},
		{[]dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "a.example.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: net.ParseIP("192.0.2.9")}}, true}, // 16 bytes
		{[]dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "a.example.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}}}, false},
		{[]dns.RR{&dns.NS{Hdr: dns.RR_Header{Name: "a.example.", Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 1}, Ns: "a..example."}}, false},
		{[]dns.RR{&dns.NS{Hdr: dns.RR_Header{Name: "a..example.", Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 1}, Ns: "b.example."}}, false},
	} {
		h := tc.rrs[0].Header()
		name, owner := Canonical(h.Name), ""
		if name != h.Name {
			owner = h.Name
		}
		size := 0
		for _, rr := range tc.rrs {
			size += dns.Len(rr)
		}
		got, ok := packPlain(nil, name, owner, tc.rrs)
		if ok != tc.plain {
			t.Errorf("%v: packPlain ok %v, want %v", tc.rrs, ok, tc.plain)
		}
		if !ok {
			continue
		}
		want, tail, wok := packRecords(nil, name, owner, tc.rrs, false, nil, nil, size)
		if !wok || tail != 0 || got != want {
			t.Errorf("%v: packPlain %q, packRecords %q (%v)", tc.rrs, got, want, wok)
		}
		var buf [packBuf]byte
		if inBuf, _ := packPlain(buf[:], name, owner, tc.rrs); inBuf != want {
			t.Errorf("%v: packPlain in room %q, packRecords %q", tc.rrs, inBuf, want)
		}
		if n := testing.AllocsPerRun(10, func() { packPlain(nil, name, owner, tc.rrs) }); n != 1 {
			t.Errorf("%v: %v allocations, want 1", tc.rrs, n)
		}
		if n := testing.AllocsPerRun(10, func() { packPlain(buf[:], name, owner, tc.rrs) }); n != 0 {
			t.Errorf("%v: %v allocations in room, want 0", tc.rrs, n)
		}
	}
}

func TestAppendNSNamesReadsWhatGetReturns(t *testing.T) {
	clk := newClock()
	c := New(Config{Now: clk.Now})
	c.Put(mustRRs(t, "example.com. 300 IN NS ns1.example.com.", "example.com. 300 IN NS NS2.Example.Net."), RankReferral)
	c.PutSet(Set{RRs: mustRRs(t, "Signed.example. 300 IN NS ns.signed.example."),
		Sigs: mustRRs(t, "signed.example. 300 IN RRSIG NS 13 2 300 20260201000000 20260101000000 1 signed.example. AAAA"), Rank: RankAuthAnswer, Security: Secure})
	c.Put(mustRRs(t, "escaped.example. 300 IN NS a\\.b.escaped.example."), RankReferral)
	c.PutNegative("gone.example.", dns.TypeNS, dns.ClassINET, NXDomain, soa(t, 300, 300), RankAuthAuthority)
	c.Put(mustRRs(t, "short.example. 10 IN NS ns.short.example."), RankReferral)
	clk.Advance(20 * time.Second)
	for _, name := range []string{"example.com.", "EXAMPLE.com", "signed.example.", "escaped.example.", "gone.example.", "short.example.", "missing.example."} {
		t.Run(name, func(t *testing.T) {
			got, e, ok := c.AppendNSNames(nil, name)
			want, wok := c.Get(name, dns.TypeNS, dns.ClassINET)
			wok = wok && want.Negative == Positive
			var names []string
			for _, rr := range want.RRs {
				names = append(names, rr.(*dns.NS).Ns)
			}
			if ok != wok || !slices.Equal(got, names) {
				t.Fatalf("AppendNSNames = %q, %v; Get gives %q, %v", got, ok, names, wok)
			}
			want.RRs, want.Sigs = nil, nil
			if !reflect.DeepEqual(e, want) && ok {
				t.Errorf("AppendNSNames entry %+v, Get's %+v", e, want)
			}
		})
	}
}

// TestAppendAddrsAtSharesOneReading: lookups sharing a reading read the
// clock once, on the first entry found, and judge liveness by it.
func TestAppendAddrsAtSharesOneReading(t *testing.T) {
	clk := newClock()
	reads := 0
	c := New(Config{Now: func() time.Time { reads++; return clk.Now() }})
	c.Put(mustRRs(t, "ns1.example.com. 300 IN A 192.0.2.1"), RankGlue)
	c.Put(mustRRs(t, "ns2.example.com. 300 IN A 192.0.2.2"), RankGlue)
	reads = 0
	var now time.Time
	got, _ := c.AppendAddrsAt(nil, "ns0.example.com.", dns.TypeA, &now)
	if reads != 0 || !now.IsZero() {
		t.Fatalf("a miss read the clock %d times (now %v)", reads, now)
	}
	got, _ = c.AppendAddrsAt(got, "ns1.example.com.", dns.TypeA, &now)
	got, _ = c.AppendAddrsAt(got, "ns2.example.com.", dns.TypeA, &now)
	if reads != 1 || len(got) != 2 {
		t.Errorf("%d clock reads, %v; want 1 and both addresses", reads, got)
	}
	clk.Advance(time.Hour) // the reading taken stays the one used
	if got, ok := c.AppendAddrsAt(nil, "ns1.example.com.", dns.TypeA, &now); !ok || len(got) != 1 {
		t.Errorf("by the shared reading: %v, %v; want the live address", got, ok)
	}
	later := clk.Now()
	if _, ok := c.AppendAddrsAt(nil, "ns1.example.com.", dns.TypeA, &later); ok {
		t.Error("an expired entry served by a later reading")
	}
}

// TestPutSetAtUsesTheReading: a set put at a reading expires its TTL after
// it, without reading the clock.
func TestPutSetAtUsesTheReading(t *testing.T) {
	clk := newClock()
	reads := 0
	c := New(Config{Now: func() time.Time { reads++; return clk.Now() }})
	at := clk.Now().Add(-100 * time.Second)
	if !c.PutSetAt(Set{RRs: mustRRs(t, "www.example.com. 300 IN A 192.0.2.1"), Rank: RankAnswer}, at) || reads != 0 {
		t.Fatalf("PutSetAt read the clock %d times", reads)
	}
	if e, ok := c.Get("www.example.com.", dns.TypeA, dns.ClassINET); !ok || e.TTL != 200 {
		t.Errorf("TTL %d, %v; want 200 left of 300 put 100 s ago", e.TTL, ok)
	}
}
