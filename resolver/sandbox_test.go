package resolver_test

import (
	"bufio"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/resolver"
	"github.com/recursor-dns/recursor/testnet"
)

const sandboxDir = "../testdata/sandbox"

// sandboxCase is one row of testdata/sandbox/CASES.md.
type sandboxCase struct {
	name, qname string
	qtype       uint16
	rcode       string
	answer      []string // "owner TTL TYPE data", or "owner TTL TYPE <...>"
	negative    string   // "zone TTL" or ""
}

func loadCases(tb testing.TB) []sandboxCase {
	tb.Helper()
	f, err := os.Open(filepath.Join(sandboxDir, "CASES.md"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var cases []sandboxCase
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") && len(cases) > 0 {
			break // the table of direct server questions follows
		}
		cells := strings.Split(line, "|")
		if len(cells) != 9 || strings.TrimSpace(cells[1]) == "case" || strings.HasPrefix(strings.TrimSpace(cells[1]), "---") {
			continue
		}
		cell := func(i int) string { return strings.TrimSpace(cells[i]) }
		qtype, ok := dns.StringToType[cell(3)]
		if !ok {
			tb.Fatalf("CASES.md: unknown type %q", cell(3))
		}
		c := sandboxCase{name: cell(1), qname: cell(2), qtype: qtype, rcode: cell(4)}
		if a := cell(5); a != "-" {
			for _, rr := range strings.Split(a, " ; ") {
				c.answer = append(c.answer, strings.Join(strings.Fields(rr), " "))
			}
		}
		if n := cell(6); n != "-" {
			c.negative = n
		}
		cases = append(cases, c)
	}
	if len(cases) < 30 {
		tb.Fatalf("CASES.md: only %d cases parsed", len(cases))
	}
	return cases
}

// summarise writes a record as CASES.md does: owner TTL TYPE data.
func summarise(rr dns.RR, long bool) string {
	h := rr.Header()
	head := strings.ToLower(h.Name) + " " + strconv.Itoa(int(h.Ttl)) + " " + dns.TypeToString[h.Rrtype]
	if long {
		return head + " <...>"
	}
	data := strings.TrimPrefix(rr.String(), h.String())
	return head + " " + strings.Join(strings.Fields(data), " ")
}

// newSandboxResolver returns a cold resolver over n whose transport fails
// the test on any non-loopback destination.
func newSandboxResolver(tb testing.TB, n *testnet.Network, mod func(*resolver.Config)) *resolver.Resolver {
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

func checkCase(t *testing.T, r *resolver.Resolver, c sandboxCase) {
	start := time.Now()
	m, err := r.Resolve(t.Context(), c.qname, c.qtype)
	took := time.Since(start)
	if c.rcode == "SERVFAIL" {
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
	if got := dns.RcodeToString[m.Rcode]; got != c.rcode {
		t.Errorf("rcode %s, want %s", got, c.rcode)
	}
	var got, want []string
	for i, rr := range m.Answer {
		long := i < len(c.answer) && strings.Contains(c.answer[i], "<")
		got = append(got, summarise(rr, long))
	}
	for _, w := range c.answer {
		if strings.Contains(w, "<") {
			w = w[:strings.Index(w, "<")] + "<...>"
		}
		want = append(want, w)
	}
	if c.name == "big-txt" {
		got = slices.Compact(got) // eight TXT records, one RRset
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("answer:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if c.negative != "" {
		if len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != dns.TypeSOA {
			t.Fatalf("authority %v, want the SOA %s", m.Ns, c.negative)
		}
		if g := strings.ToLower(m.Ns[0].Header().Name) + " " + strconv.Itoa(int(m.Ns[0].Header().Ttl)); g != c.negative {
			t.Errorf("negative SOA %s, want %s", g, c.negative)
		}
	}
}

func TestSandboxCases(t *testing.T) {
	n := testnet.StartTB(t, sandboxDir)
	for _, mode := range []resolver.QNAMEMinimisation{resolver.QminRelaxed, resolver.QminOff} {
		t.Run("qmin-"+mode.String(), func(t *testing.T) {
			for _, c := range loadCases(t) {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					checkCase(t, newSandboxResolver(t, n, func(cfg *resolver.Config) { cfg.QNAMEMinimisation = mode }), c)
				})
			}
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
		if c.rcode != "SERVFAIL" {
			r.Resolve(t.Context(), c.qname, c.qtype)
		}
	}
	n.ResetQueries()
	for _, c := range cases {
		if c.rcode == "SERVFAIL" {
			continue
		}
		if _, err := r.Resolve(t.Context(), c.qname, c.qtype); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if q := n.Queries(); len(q) != 0 {
		t.Errorf("warm cache still sent %d queries: %v", len(q), q)
	}
}
