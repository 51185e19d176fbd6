package resolver

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
)

func TestFlushNameAndZone(t *testing.T) {
	n := standardNet(t)
	r := newTestResolver(t, n, nil)
	resolve := func(name string) []string {
		t.Helper()
		before := len(n.queries())
		if _, err := r.Resolve(t.Context(), name, dns.TypeA); err != nil {
			t.Fatal(err)
		}
		return n.queries()[before:]
	}
	resolve("www.example.com.")
	resolve("www.shop.example.com.")
	if got := resolve("www.example.com."); len(got) != 0 {
		t.Fatalf("a cached name went upstream: %v", got)
	}
	if dropped := r.FlushName("WWW.example.com", dns.TypeAAAA); dropped != 0 {
		t.Errorf("FlushName(www, AAAA) dropped %d; nothing was cached for AAAA", dropped)
	}
	if dropped := r.FlushName("WWW.example.com", 0); dropped != 1 {
		t.Errorf("FlushName(www) dropped %d, want the A set", dropped)
	}
	if got := resolve("www.example.com."); strings.Join(got, ",") != "127.53.2.1 www.example.com. A" {
		t.Errorf("after FlushName, queries = %v; want one to example.com's server", got)
	}
	if dropped := r.FlushZone("example.com."); dropped < 4 {
		t.Errorf("FlushZone(example.com) dropped %d entries; want the NS sets, glue and answers", dropped)
	}
	for _, k := range r.Cache().Keys() {
		if inZone(k.Name, "example.com.") {
			t.Errorf("FlushZone left %v", k)
		}
	}
	if got := resolve("www.shop.example.com."); len(got) == 0 || !strings.HasPrefix(got[0], "127.53.1.1 ") {
		t.Errorf("after FlushZone, queries = %v; want the walk to start at com's server", got)
	}
}

func TestLookupAndFlushInfra(t *testing.T) {
	n := standardNet(t)
	r := newTestResolver(t, n, nil)
	cut, err := r.Lookup("www.example.com")
	if err != nil || cut.Zone != "." || cut.Source != "root hints" || len(cut.Servers) != 1 || cut.Servers[0].Known {
		t.Fatalf("cold Lookup = %+v, %v; want the root hints' one unknown server", cut, err)
	}
	if _, err := r.Resolve(t.Context(), "www.example.com.", dns.TypeA); err != nil {
		t.Fatal(err)
	}
	cut, err = r.Lookup("deeper.www.example.com.")
	want := ServerState{NSName: "ns1.example.com.", Addr: netip.MustParseAddr("127.53.2.1"), Known: true}
	if err != nil || cut.Zone != "example.com." || cut.Source != "cache" || len(cut.Servers) != 1 {
		t.Fatalf("Lookup = %+v, %v; want example.com. from the cache", cut, err)
	}
	if s := cut.Servers[0]; s.NSName != want.NSName || s.Addr != want.Addr || !s.Known || s.SRTT <= 0 {
		t.Errorf("server = %+v; want %s %s known with an SRTT", s, want.NSName, want.Addr)
	}
	if got := r.FlushInfra(netip.MustParseAddr("127.53.2.1")); got != 1 {
		t.Errorf("FlushInfra(127.53.2.1) = %d, want 1", got)
	}
	if cut, _ = r.Lookup("www.example.com."); cut.Servers[0].Known {
		t.Error("the flushed address is still known")
	}
	if got := r.FlushInfra(netip.Addr{}); got != 2 {
		t.Errorf("FlushInfra(all) = %d, want the root's and com's addresses", got)
	}
	if _, err := r.Lookup("bad..name"); err == nil {
		t.Error("Lookup took a bad name")
	}
}

func TestFlushNegativeAndBogus(t *testing.T) {
	c := cache.New(cache.Config{})
	r := newTestResolver(t, standardNet(t), func(cfg *Config) { cfg.Cache = c })
	soa := &dns.SOA{Hdr: dns.RR_Header{Name: "example.com.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 300}, Ns: "ns.", Mbox: "h.", Minttl: 300}
	c.PutNegative("gone.example.com.", 0, dns.ClassINET, cache.NXDomain, soa, cache.RankAuthAuthority)
	a, _ := dns.NewRR("bad.example.com. 300 IN A 192.0.2.1")
	c.PutSet(cache.Set{RRs: []dns.RR{a}, Rank: cache.RankAuthAnswer, Security: cache.Bogus, EDE: 6})
	good, _ := dns.NewRR("good.example.com. 300 IN A 192.0.2.2")
	c.Put([]dns.RR{good}, cache.RankAuthAnswer)
	if got := r.FlushNegative(); got != 1 {
		t.Errorf("FlushNegative = %d, want 1", got)
	}
	if got := r.FlushBogus(); got != 1 {
		t.Errorf("FlushBogus = %d, want 1", got)
	}
	if keys := c.Keys(); len(keys) != 1 || keys[0].Name != "good.example.com." {
		t.Errorf("left %v; want the good A set alone", keys)
	}
}

func TestNegativeTrustAnchorsAtRunTime(t *testing.T) {
	r := newTestResolver(t, standardNet(t), nil) // test hints: no anchor, validation off
	if err := r.AddNegativeTrustAnchor("example.com"); err != ErrNotValidating {
		t.Errorf("AddNegativeTrustAnchor without validation = %v, want ErrNotValidating", err)
	}
	ds, _ := dns.NewRR(". DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D")
	r = newTestResolver(t, standardNet(t), func(cfg *Config) {
		cfg.DNSSEC.TrustAnchors = []dns.RR{ds}
		cfg.DNSSEC.InsecureDomains = []string{"corp.example."}
	})
	r.Cache().Put(mustRR(t, "www.Bogus.example. 300 IN A 192.0.2.1"), cache.RankAuthAnswer)
	if err := r.AddNegativeTrustAnchor("Bogus.Example"); err != nil {
		t.Fatal(err)
	}
	if err := r.AddNegativeTrustAnchor("bad..name"); err == nil {
		t.Error("a bad name was taken")
	}
	if got := r.NegativeTrustAnchors(); !slices.Equal(got, []string{"bogus.example.", "corp.example."}) {
		t.Errorf("NegativeTrustAnchors = %v", got)
	}
	if !r.val.anchors.negative("www.bogus.example.") || r.Cache().Len() != 0 {
		t.Errorf("after AddNegativeTrustAnchor: negative=%v, cache %d entries (want the zone flushed)",
			r.val.anchors.negative("www.bogus.example."), r.Cache().Len())
	}
	if ok, err := r.RemoveNegativeTrustAnchor("corp.example"); !ok || err != nil {
		t.Errorf("removing a configured anchor = %v, %v", ok, err)
	}
	if ok, _ := r.RemoveNegativeTrustAnchor("corp.example"); ok {
		t.Error("removed twice")
	}
	if got := r.NegativeTrustAnchors(); !slices.Equal(got, []string{"bogus.example."}) || r.val.anchors.negative("x.corp.example.") {
		t.Errorf("after removal: %v", got)
	}
}

func mustRR(tb testing.TB, s string) []dns.RR {
	tb.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		tb.Fatal(err)
	}
	return []dns.RR{rr}
}
