package resolver

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/localdata"
)

func localTable(tb testing.TB, cfg localdata.Config) *localdata.Table {
	tb.Helper()
	t, err := localdata.Load(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// answerText is the answer section's records, without TTLs, joined by "; ".
func answerText(m *dns.Msg) string {
	var out []string
	for _, rr := range m.Answer {
		f := strings.Fields(rr.String())
		out = append(out, strings.Join(append(f[:1:1], f[2:]...), " "))
	}
	return strings.Join(out, "; ")
}

// Local data answers, authoritatively, without a packet upstream, for
// every zone type that answers; the built-in zones it does not override
// still answer too.
func TestLocalDataAnswersWithoutQueries(t *testing.T) {
	n := standardNet(t)
	r := newTestResolver(t, n, func(c *Config) {
		c.LocalData = localTable(t, localdata.Config{
			Zones: []string{"example.com. transparent", "corp. static", "refused.example. refuse", "ads.example. redirect", "blocked.example. always_nxdomain"},
			Data: []string{
				"www.example.com. 300 A 192.0.2.99",
				"corp. SOA ns.corp. hostmaster.corp. 1 3600 600 86400 60",
				"intranet.corp. A 10.0.0.1",
				"ads.example. A 127.0.0.1",
				"printer.lan. AAAA 2001:db8::7",
				"host.test. A 192.0.2.50",
			},
			PTRs: []string{"10.0.0.1 intranet.corp."},
		})
	})
	tests := []struct {
		qname  string
		qtype  uint16
		rcode  int
		answer string
		soa    bool
	}{
		{"www.example.com.", dns.TypeA, dns.RcodeSuccess, "www.example.com. IN A 192.0.2.99", false},
		{"WWW.Example.COM.", dns.TypeA, dns.RcodeSuccess, "www.example.com. IN A 192.0.2.99", false},
		{"www.example.com.", dns.TypeAAAA, dns.RcodeSuccess, "", false},
		{"intranet.corp.", dns.TypeA, dns.RcodeSuccess, "intranet.corp. IN A 10.0.0.1", false},
		{"nope.corp.", dns.TypeA, dns.RcodeNameError, "", true},
		{"intranet.corp.", dns.TypeMX, dns.RcodeSuccess, "", true},
		{"1.0.0.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, "1.0.0.10.in-addr.arpa. IN PTR intranet.corp.", false},
		{"x.refused.example.", dns.TypeA, dns.RcodeRefused, "", false},
		{"deep.tracker.ads.example.", dns.TypeA, dns.RcodeSuccess, "deep.tracker.ads.example. IN A 127.0.0.1", false},
		{"x.blocked.example.", dns.TypeA, dns.RcodeNameError, "", false},
		{"printer.lan.", dns.TypeAAAA, dns.RcodeSuccess, "printer.lan. IN AAAA 2001:db8::7", false},
		{"host.test.", dns.TypeA, dns.RcodeSuccess, "host.test. IN A 192.0.2.50", false},
	}
	for _, tt := range tests {
		a, err := r.Query(t.Context(), tt.qname, tt.qtype, Options{})
		if err != nil {
			t.Errorf("%s %s: %v", tt.qname, dns.TypeToString[tt.qtype], err)
			continue
		}
		m := a.Msg
		hasSOA := len(m.Ns) == 1 && m.Ns[0].Header().Rrtype == dns.TypeSOA
		if m.Rcode != tt.rcode || answerText(m) != tt.answer || hasSOA != tt.soa || !m.Authoritative {
			t.Errorf("%s %s: %s %q soa=%v aa=%v, want %s %q soa=%v aa", tt.qname, dns.TypeToString[tt.qtype],
				dns.RcodeToString[m.Rcode], answerText(m), hasSOA, m.Authoritative, dns.RcodeToString[tt.rcode], tt.answer, tt.soa)
		}
		if m.Question[0].Name != tt.qname {
			t.Errorf("%s: question echoed as %s", tt.qname, m.Question[0].Name)
		}
		if c, ok := r.QueryCached(tt.qname, tt.qtype, Options{}); !ok || c.Msg.Rcode != tt.rcode || answerText(c.Msg) != tt.answer {
			t.Errorf("%s %s: QueryCached = %v, %v; want the local answer", tt.qname, dns.TypeToString[tt.qtype], c.Msg, ok)
		}
	}
	// The built-in test. zone still answers the names local data leaves.
	if m, err := r.Resolve(t.Context(), "other.test.", dns.TypeA); err != nil || m.Rcode != dns.RcodeNameError || m.Authoritative {
		t.Errorf("other.test.: %v, %v; want the built-in zone's NXDOMAIN", m, err)
	}
	if q := n.queries(); len(q) != 0 {
		t.Errorf("local data went upstream: %v", q)
	}
	if _, ok := r.cache.Get("www.example.com.", dns.TypeA, dns.ClassINET); ok {
		t.Error("a local answer entered the cache")
	}
}

// A transparent zone leaves the names it has no data for to resolution,
// and its answers are not authoritative.
func TestLocalDataTransparentResolves(t *testing.T) {
	n := standardNet(t)
	r := newTestResolver(t, n, func(c *Config) {
		c.LocalData = localTable(t, localdata.Config{
			Zones: []string{"example.com. transparent"},
			Data:  []string{"www.example.com. A 192.0.2.99"},
		})
	})
	m, err := r.Resolve(t.Context(), "a.b.example.com.", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if answerText(m) != "a.b.example.com. IN A 192.0.2.9" || m.Authoritative {
		t.Errorf("a.b.example.com.: %q aa=%v, want the upstream answer without aa", answerText(m), m.Authoritative)
	}
	if len(n.queries()) == 0 {
		t.Error("no query upstream for a name the transparent zone has no data for")
	}
}

// A configured zone replaces the built-in zone of its name, and a
// transparent one closer to the name sends it upstream; a built-in zone
// closer to the name than a configured one still answers.
func TestLocalDataOverridesBuiltInZones(t *testing.T) {
	n := standardNet(t)
	r := newTestResolver(t, n, func(c *Config) {
		c.LocalData = localTable(t, localdata.Config{
			Zones: []string{"10.in-addr.arpa. transparent", "168.192.in-addr.arpa. nodefault", "sub.test. typetransparent", "in-addr.arpa. transparent"},
		})
	})
	for _, tt := range []struct {
		qname    string
		upstream bool
	}{
		{"4.3.2.10.in-addr.arpa.", true},
		{"1.1.168.192.in-addr.arpa.", true},
		{"www.sub.test.", true},
		{"www.other.test.", false},          // test. is closer than any configured zone
		{"1.0.20.172.in-addr.arpa.", false}, // 20.172.in-addr.arpa. is closer than in-addr.arpa.
		{"1.0.0.127.in-addr.arpa.", false},  // so is 127.in-addr.arpa.
		{"www.example.com.", true},          // no zone at all
	} {
		before := len(n.queries())
		r.Resolve(t.Context(), tt.qname, dns.TypePTR)
		if went := len(n.queries()) > before; went != tt.upstream {
			t.Errorf("%s: upstream %v, want %v", tt.qname, went, tt.upstream)
		}
	}
}

// A deny zone's questions get Drop, with a REFUSED for callers that must
// answer; its local data is answered.
func TestLocalDataDeny(t *testing.T) {
	r := newTestResolver(t, standardNet(t), func(c *Config) {
		c.LocalData = localTable(t, localdata.Config{Zones: []string{"deny.example. deny"}, Data: []string{"ok.deny.example. A 192.0.2.1"}})
	})
	a, err := r.Query(t.Context(), "x.deny.example.", dns.TypeA, Options{})
	if err != nil || !a.Drop || a.Msg == nil || a.Msg.Rcode != dns.RcodeRefused {
		t.Errorf("Query(x.deny.example.) = %+v, %v; want Drop with a REFUSED", a, err)
	}
	if c, ok := r.QueryCached("x.deny.example.", dns.TypeA, Options{}); !ok || !c.Drop {
		t.Errorf("QueryCached(x.deny.example.) = %+v, %v; want Drop", c, ok)
	}
	if a, err := r.Query(t.Context(), "ok.deny.example.", dns.TypeA, Options{}); err != nil || a.Drop || answerText(a.Msg) != "ok.deny.example. IN A 192.0.2.1" {
		t.Errorf("Query(ok.deny.example.) = %+v, %v; want its local data", a, err)
	}
}

// SetLocalData swaps the table: the next question sees the new one, and
// nothing of the old one stays behind in the cache.
func TestSetLocalData(t *testing.T) {
	n := standardNet(t)
	old := localTable(t, localdata.Config{Data: []string{"www.example.com. A 192.0.2.99"}})
	r := newTestResolver(t, n, func(c *Config) { c.LocalData = old })
	if r.LocalData() != old {
		t.Fatal("LocalData() is not the configured table")
	}
	check := func(want string, aa bool) {
		t.Helper()
		m, err := r.Resolve(t.Context(), "www.example.com.", dns.TypeA)
		if err != nil || answerText(m) != want || m.Authoritative != aa {
			t.Errorf("www.example.com.: %v, %v; want %q aa=%v", m, err, want, aa)
		}
	}
	check("www.example.com. IN A 192.0.2.99", true)
	r.SetLocalData(nil)
	check("www.example.com. IN A 192.0.2.1", false)
	r.SetLocalData(localTable(t, localdata.Config{Zones: []string{"example.com. always_nxdomain"}}))
	if m, err := r.Resolve(t.Context(), "www.example.com.", dns.TypeA); err != nil || m.Rcode != dns.RcodeNameError {
		t.Errorf("after the swap to always_nxdomain: %v, %v", m, err)
	}
}

// A CNAME at a redirect zone's apex is an alias: the target is resolved
// and its answer follows the CNAME, not authoritative (the CNAME does
// not make the upstream data ours); a target in local data makes the
// whole answer local; aliases that loop fail.
func TestLocalDataAlias(t *testing.T) {
	n := standardNet(t)
	r := newTestResolver(t, n, func(c *Config) {
		c.LocalData = localTable(t, localdata.Config{
			Zones: []string{"safe.example. redirect", "inner.example. redirect", "loop1.example. redirect", "loop2.example. redirect"},
			Data: []string{
				"safe.example. 60 CNAME WWW.example.com.",
				"inner.example. CNAME host.lan.", "host.lan. A 192.0.2.77",
				"loop1.example. CNAME loop2.example.", "loop2.example. CNAME loop1.example.",
			},
		})
	})
	m, err := r.Resolve(t.Context(), "X.safe.example.", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	want := "X.safe.example. IN CNAME WWW.example.com.; www.example.com. IN A 192.0.2.1"
	if got := answerText(m); !strings.EqualFold(got, want) || m.Authoritative || m.Question[0].Name != "X.safe.example." {
		t.Errorf("alias: %q aa=%v question %v, want %q without aa", got, m.Authoritative, m.Question, want)
	}
	if len(n.queries()) == 0 {
		t.Error("the alias's target was not resolved upstream")
	}
	before := len(n.queries())
	if a, ok := r.QueryCached("y.safe.example.", dns.TypeA, Options{}); !ok || !strings.HasSuffix(answerText(a.Msg), "www.example.com. IN A 192.0.2.1") {
		t.Errorf("QueryCached through the alias: %v, %v; want the cached target", a.Msg, ok)
	}
	if len(n.queries()) != before {
		t.Error("QueryCached sent a query")
	}
	if m, err := r.Resolve(t.Context(), "inner.example.", dns.TypeA); err != nil || answerText(m) != "inner.example. IN CNAME host.lan.; host.lan. IN A 192.0.2.77" || !m.Authoritative {
		t.Errorf("alias to local data: %v, %v; want the chain with aa", m, err)
	}
	if m, err := r.Resolve(t.Context(), "safe.example.", dns.TypeCNAME); err != nil || answerText(m) != "safe.example. IN CNAME WWW.example.com." {
		t.Errorf("the CNAME itself: %v, %v", m, err)
	}
	if _, err := r.Resolve(t.Context(), "a.loop1.example.", dns.TypeA); !errors.Is(err, ErrLoop) {
		t.Errorf("looping aliases: err %v, want ErrLoop", err)
	}
}

// Questions running while the table is swapped each see one table whole
// (run with -race).
func TestSetLocalDataWhileQuerying(t *testing.T) {
	tables := []*localdata.Table{
		localTable(t, localdata.Config{Data: []string{"h.lan. A 192.0.2.1"}}),
		localTable(t, localdata.Config{Data: []string{"h.lan. A 192.0.2.2"}}),
	}
	r := newTestResolver(t, standardNet(t), func(c *Config) { c.LocalData = tables[0] })
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				m, err := r.Resolve(t.Context(), "h.lan.", dns.TypeA)
				if err != nil || len(m.Answer) != 1 {
					t.Errorf("h.lan.: %v, %v", m, err)
					return
				}
			}
		})
	}
	for i := range 200 {
		r.SetLocalData(tables[i%2])
	}
	wg.Wait()
}
