package resolver_test

import (
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/resolver"
	"github.com/recursor-dns/recursor/roothints"
	"github.com/recursor-dns/recursor/testnet"
)

const sandboxDir = "../testdata/sandbox"

func loadCases(tb testing.TB) []testnet.Case {
	tb.Helper()
	cases, err := testnet.ReadCases(sandboxDir)
	if err != nil {
		tb.Fatal(err)
	}
	return cases
}

// sandboxNet is what a resolver needs of the in-process or the NSD network.
type sandboxNet interface {
	Port() uint16
	RootHints() *roothints.Hints
}

// newSandboxResolver returns a cold resolver over n whose transport fails
// the test on any non-loopback destination.
func newSandboxResolver(tb testing.TB, n sandboxNet, mod func(*resolver.Config)) *resolver.Resolver {
	tb.Helper()
	cfg := resolver.Config{
		RootHints:    n.RootHints(),
		UpstreamPort: n.Port(),
		DontQuery:    []netip.Prefix{},
		Transport:    testnet.LoopbackOnly(tb, &resolver.NetTransport{}),
	}
	if mod != nil {
		mod(&cfg)
	}
	r, err := resolver.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func checkCase(t *testing.T, r *resolver.Resolver, c testnet.Case) {
	start := time.Now()
	m, err := r.Resolve(t.Context(), c.Qname, c.Qtype)
	took := time.Since(start)
	if c.Rcode == dns.RcodeServerFailure {
		var re *resolver.Error
		if !errors.As(err, &re) {
			t.Fatalf("got %v, %v; want an error (SERVFAIL)", m, err)
		}
		if took > 3*time.Second {
			t.Errorf("SERVFAIL after %v, want within 3 s", took)
		}
		return
	}
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if m.Rcode != c.Rcode {
		t.Errorf("rcode %s, want %s", dns.RcodeToString[m.Rcode], dns.RcodeToString[c.Rcode])
	}
	var got []string
	for i, rr := range m.Answer {
		got = append(got, testnet.Summarise(rr, i < len(c.Answer) && strings.HasSuffix(c.Answer[i], "<...>")))
	}
	want := slices.Clone(c.Answer)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("answer:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if c.Negative != "" {
		if len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != dns.TypeSOA {
			t.Fatalf("authority %v, want the SOA %s", m.Ns, c.Negative)
		}
		if g := strings.ToLower(m.Ns[0].Header().Name) + " " + strconv.Itoa(int(m.Ns[0].Header().Ttl)); g != c.Negative {
			t.Errorf("negative SOA %s, want %s", g, c.Negative)
		}
	}
}

func TestSandboxCases(t *testing.T) {
	n := testnet.StartTB(t, sandboxDir)
	for _, mode := range []resolver.QNAMEMinimisation{resolver.QminRelaxed, resolver.QminOff} {
		t.Run("qmin-"+mode.String(), func(t *testing.T) {
			for _, c := range loadCases(t) {
				t.Run(c.Name, func(t *testing.T) {
					t.Parallel()
					checkCase(t, newSandboxResolver(t, n, func(cfg *resolver.Config) { cfg.QNAMEMinimisation = mode }), c)
				})
			}
		})
	}
}

// TestSandboxCasesNSD resolves every case through the same zone tree
// served by NSD, a real authoritative server, and expects the same answers.
func TestSandboxCasesNSD(t *testing.T) {
	n := testnet.StartNSDTB(t, sandboxDir)
	for _, c := range loadCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			checkCase(t, newSandboxResolver(t, n, nil), c)
		})
	}
}

// TestSandboxUpstreamQueries pins the exact queries of cold walks.
func TestSandboxUpstreamQueries(t *testing.T) {
	n := testnet.StartTB(t, sandboxDir)
	tests := []struct {
		qname string
		qtype uint16
		want  []string // server qname qtype, in order
	}{
		{"www.shop.example.com.", dns.TypeA, []string{
			"127.53.0.x . NS",
			"127.53.0.x com. NS",
			"127.53.1.x example.com. NS",
			"127.53.10.x shop.example.com. NS",
			"127.53.11.x www.shop.example.com. A",
		}},
		{"example.com.", dns.TypeDS, []string{
			"127.53.0.x . NS",
			"127.53.0.x com. NS",
			"127.53.1.x example.com. DS",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.qname+dns.TypeToString[tc.qtype], func(t *testing.T) {
			n.ResetQueries()
			r := newSandboxResolver(t, n, nil)
			if _, err := r.Resolve(t.Context(), tc.qname, tc.qtype); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, q := range n.Queries() {
				a := q.Server.As4()
				got = append(got, "127.53."+strconv.Itoa(int(a[2]))+".x "+strings.ToLower(q.Qname)+" "+dns.TypeToString[q.Qtype])
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("queries:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// TestSandboxCacheAnswersWithoutQueries: a second resolution of every case
// comes from the cache.
func TestSandboxCacheAnswersWithoutQueries(t *testing.T) {
	n := testnet.StartTB(t, sandboxDir)
	r := newSandboxResolver(t, n, nil)
	cases := loadCases(t)
	for _, c := range cases {
		if c.Rcode != dns.RcodeServerFailure {
			r.Resolve(t.Context(), c.Qname, c.Qtype)
		}
	}
	n.ResetQueries()
	for _, c := range cases {
		if c.Rcode == dns.RcodeServerFailure {
			continue
		}
		if _, err := r.Resolve(t.Context(), c.Qname, c.Qtype); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
	}
	if q := n.Queries(); len(q) != 0 {
		t.Errorf("warm cache still sent %d queries: %v", len(q), q)
	}
}

// A repeat answered from the cache carries the DNAME before its
// synthesised CNAME, as the first answer did (the cache keeps the two as
// separate RRsets).
func TestSandboxCachedDNAME(t *testing.T) {
	n := testnet.StartTB(t, sandboxDir)
	r := newSandboxResolver(t, n, nil)
	types := func(m *dns.Msg) (out []string) {
		for _, rr := range m.Answer {
			out = append(out, dns.TypeToString[rr.Header().Rrtype])
		}
		return out
	}
	first, err := r.Resolve(t.Context(), "www.old.example.com.", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	n.ResetQueries()
	again, err := r.Resolve(t.Context(), "www.old.example.com.", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"DNAME", "CNAME", "A"}
	if !slices.Equal(types(first), want) || !slices.Equal(types(again), want) {
		t.Errorf("answers: first %v, repeat %v; want %v both times", types(first), types(again), want)
	}
	if q := n.Queries(); len(q) != 0 {
		t.Errorf("the repeat sent %d queries: %v", len(q), q)
	}
}

// One resolution asks each question of each zone once: the parallel
// lookups of a glueless delegation's servers share the questions they
// have in common (net. NS at the root, dns-host.net. NS at net.) and take
// addresses from the glue a shared referral brought.
func TestSandboxAsksEachQuestionOnce(t *testing.T) {
	n := testnet.StartTB(t, sandboxDir)
	for range 5 {
		r := newSandboxResolver(t, n, nil)
		var mu sync.Mutex
		var got []string
		ctx := resolver.WithTrace(t.Context(), func(s resolver.Step) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, s.Zone+" "+strings.ToLower(s.Qname)+" "+dns.TypeToString[s.Qtype])
		})
		if _, err := r.Resolve(ctx, "www.example.org.", dns.TypeA); err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		want := []string{
			". . NS",
			". net. NS",
			". org. NS",
			"dns-host.net. ns1.dns-host.net. AAAA",
			"dns-host.net. ns2.dns-host.net. AAAA",
			"example.org. www.example.org. A",
			"net. dns-host.net. NS",
			"org. example.org. NS",
		}
		if !slices.Equal(got, want) {
			t.Fatalf("exchanges (sorted):\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
}
