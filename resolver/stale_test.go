package resolver

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
)

// The serve-stale and prefetch tests run in a synctest bubble: time.Now,
// time.After and the exchanges' deadlines all follow its fake clock, and
// time.Sleep moves it.

// zone server modes
const (
	serving int32 = iota
	failing       // SERVFAIL to everything
	silent        // no reply: the exchange waits for its deadline
	slow          // the reply after 5 s
)

// staleNet is standardNet with a switch on the example.com server and a
// delegation of example.com whose TTL is delegationTTL; www.example.com
// has TTL 300, nope.example.com does not exist (negative TTL 300).
func staleNet(tb testing.TB, delegationTTL string, mode *atomic.Int32) *fakeNet {
	n := newFakeNet(tb)
	n.handle("127.53.0.1", zoneServer(tb, ".",
		". 86400 IN SOA a.root.lab. h.lab. 1 2 3 4 300",
		"com. 172800 IN NS ns.com.",
		"ns.com. 172800 IN A 127.53.1.1"))
	n.handle("127.53.1.1", zoneServer(tb, "com.",
		"com. 900 IN SOA ns.com. h.com. 1 2 3 4 300",
		"example.com. "+delegationTTL+" IN NS ns1.example.com.",
		"ns1.example.com. "+delegationTTL+" IN A 127.53.2.1"))
	inner := zoneServer(tb, "example.com.",
		"example.com. 300 IN SOA ns1.example.com. h.example.com. 1 2 3 4 300",
		"www.example.com. 300 IN A 192.0.2.1",
		"short.example.com. 60 IN A 192.0.2.2",
		"www2.example.com. 300 IN A 192.0.2.3",
		"long.example.com. 3000 IN A 192.0.2.4")
	n.handle("127.53.2.1", func(q *dns.Msg) *dns.Msg {
		switch mode.Load() {
		case failing:
			return new(dns.Msg).SetRcode(q, dns.RcodeServerFailure)
		case silent:
			return nil
		case slow:
			time.Sleep(5 * time.Second)
		}
		return inner(q)
	})
	return n
}

// countingMetrics counts the stale answers and prefetches the engine
// reports.
type countingMetrics struct {
	noMetrics
	stale, prefetches atomic.Int64
}

func (m *countingMetrics) StaleAnswer() { m.stale.Add(1) }
func (m *countingMetrics) Prefetch()    { m.prefetches.Add(1) }

// countOf counts the upstream queries for name and type.
func countOf(n *fakeNet, name string, qtype uint16) int {
	c := 0
	for _, q := range n.queries() {
		if strings.HasSuffix(q, " "+name+" "+dns.TypeToString[qtype]) {
			c++
		}
	}
	return c
}

func TestServeStale(t *testing.T) {
	tests := []struct {
		name       string
		mode       int32
		disable    bool
		qname      string
		after      time.Duration // past the expiry
		delegation string        // TTL of example.com's delegation
		wantStale  bool
		wantEDE    uint16
		wantWait   time.Duration // how long the client waits for the answer
	}{
		{"refresh fails", failing, false, "www.example.com.", time.Second, "172800", true, dns.ExtendedErrorCodeStaleAnswer, 0},
		{"refresh slow", slow, false, "www.example.com.", time.Second, "172800", true, dns.ExtendedErrorCodeStaleAnswer, DefaultStaleClientTimeout},
		{"stale NXDOMAIN", failing, false, "nope.example.com.", time.Second, "172800", true, dns.ExtendedErrorCodeStaleNXDOMAINAnswer, 0},
		{"serve-stale off", failing, true, "www.example.com.", time.Second, "172800", false, 0, 0},
		{"past the max stale age", failing, false, "www.example.com.", DefaultStaleMaxAge, "172800", false, 0, 0},
		{"just within the max stale age", failing, false, "www.example.com.", DefaultStaleMaxAge - time.Second, "172800", true, dns.ExtendedErrorCodeStaleAnswer, 0},
		// The A record (TTL 300) outlives a delegation of 100 s: a
		// ghost, never served stale.
		{"outlived its delegation", failing, false, "www.example.com.", time.Second, "100", false, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var mode atomic.Int32
				n := staleNet(t, tc.delegation, &mode)
				r := newTestResolver(t, n, func(c *Config) {
					c.QNAMEMinimisation = QminOff
					c.Stale.Disable = tc.disable
				})
				if _, err := r.Resolve(t.Context(), tc.qname, dns.TypeA); err != nil {
					t.Fatal(err)
				}
				time.Sleep(300*time.Second + tc.after)
				mode.Store(tc.mode)
				start := time.Now()
				a, err := r.Query(t.Context(), tc.qname, dns.TypeA, Options{})
				waited := time.Since(start)
				defer time.Sleep(DefaultTimeout) // a slow refresh ends before the bubble does
				if !tc.wantStale {
					if err == nil {
						t.Fatalf("got %v, stale %v; want an error, no stale answer", a.Msg, a.Stale)
					}
					return
				}
				if err != nil {
					t.Fatalf("got %v; want a stale answer", err)
				}
				m := a.Msg
				ttl := uint32(0)
				if len(m.Answer) > 0 {
					ttl = m.Answer[0].Header().Ttl
				} else if len(m.Ns) > 0 {
					ttl = m.Ns[0].Header().Ttl
				}
				if !a.Stale || a.EDE != tc.wantEDE || ttl != uint32(DefaultStaleReplyTTL/time.Second) {
					t.Errorf("stale %v, EDE %d, TTL %d; want stale, EDE %d, TTL %d", a.Stale, a.EDE, ttl, tc.wantEDE, DefaultStaleReplyTTL/time.Second)
				}
				if waited != tc.wantWait {
					t.Errorf("the client waited %v, want %v", waited, tc.wantWait)
				}
			})
		})
	}
}

// TestStaleAtOnce: with a negative client timeout the stale answer comes
// at once and the refresh runs behind it, with Run or without.
func TestStaleAtOnce(t *testing.T) {
	for _, run := range []bool{true, false} {
		t.Run(map[bool]string{true: "Run", false: "no Run"}[run], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var mode atomic.Int32
				n := staleNet(t, "172800", &mode)
				m := &countingMetrics{}
				r := newTestResolver(t, n, func(c *Config) {
					c.QNAMEMinimisation = QminOff
					c.Stale.ClientTimeout = -1
					c.Metrics = m
				})
				if run {
					defer runBackground(t, r)()
				}
				const www = "www.example.com."
				if _, err := r.Resolve(t.Context(), www, dns.TypeA); err != nil {
					t.Fatal(err)
				}
				time.Sleep(301 * time.Second)
				mode.Store(slow)
				start := time.Now()
				if a, err := r.Query(t.Context(), www, dns.TypeA, Options{}); err != nil || !a.Stale || time.Since(start) != 0 {
					t.Fatalf("%v, stale %v after %v; want a stale answer at once", err, a.Stale, time.Since(start))
				}
				time.Sleep(10 * time.Second) // the refresh lands
				if a, ok := r.QueryCached(www, dns.TypeA, Options{}); !ok || a.Stale {
					t.Errorf("after the refresh: cached %v, stale %v; want the fresh answer", ok, a.Stale)
				}
				if got := m.stale.Load(); got != 1 {
					t.Errorf("stale answers counted: %d, want 1", got)
				}
			})
		})
	}
}

// TestStaleHoldAfterFailedRefresh: after a refresh fails, the name is not
// asked again for StaleRefreshHold, and the stale answer is given at once;
// after it, a refresh is tried again and its fresh answer given.
func TestStaleHoldAfterFailedRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mode atomic.Int32
		n := staleNet(t, "172800", &mode)
		r := newTestResolver(t, n, func(c *Config) { c.QNAMEMinimisation = QminOff })
		const www = "www.example.com."
		if _, err := r.Resolve(t.Context(), www, dns.TypeA); err != nil {
			t.Fatal(err)
		}
		time.Sleep(301 * time.Second)
		mode.Store(failing)
		if a, err := r.Query(t.Context(), www, dns.TypeA, Options{}); err != nil || !a.Stale {
			t.Fatalf("first: %v, stale %v; want a stale answer", err, a.Stale)
		}
		asked := countOf(n, www, dns.TypeA)
		mode.Store(serving)
		time.Sleep(StaleRefreshHold - time.Second)
		if a, err := r.Query(t.Context(), www, dns.TypeA, Options{}); err != nil || !a.Stale {
			t.Fatalf("within the hold: %v, stale %v; want a stale answer", err, a.Stale)
		}
		if c := countOf(n, www, dns.TypeA); c != asked {
			t.Errorf("within the hold %d queries for the name, want none", c-asked)
		}
		time.Sleep(time.Second)
		a, err := r.Query(t.Context(), www, dns.TypeA, Options{})
		if err != nil || a.Stale || a.Msg.Answer[0].Header().Ttl != 300 {
			t.Fatalf("after the hold: %v, %v, stale %v; want the fresh answer", a.Msg, err, a.Stale)
		}
	})
}

// TestBogusNeverStale: expired bogus data is never served stale, and
// bogus data does not replace expired good data that may still be.
func TestBogusNeverStale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newTestResolver(t, newFakeNet(t), nil)
		for _, tc := range []struct {
			name string
			sec  cache.Security
			want bool
		}{
			{"secure.example.", cache.Secure, true},
			{"insecure.example.", cache.Insecure, true},
			{"bogus.example.", cache.Bogus, false},
		} {
			r.cache.PutSet(cache.Set{RRs: rrs(t, tc.name+" 10 IN A 192.0.2.1"), Rank: cache.RankAuthAnswer, Security: tc.sec})
		}
		time.Sleep(11 * time.Second)
		for _, tc := range []struct {
			name string
			want bool
		}{{"secure.example.", true}, {"insecure.example.", true}, {"bogus.example.", false}} {
			if _, ok := r.staleFromCache(tc.name, dns.TypeA); ok != tc.want {
				t.Errorf("%s: stale answer %v, want %v", tc.name, ok, tc.want)
			}
		}
		// A bogus refresh leaves the expired secure set servable.
		r.cache.PutSet(cache.Set{RRs: rrs(t, "secure.example. 10 IN A 192.0.2.66"), Rank: cache.RankAuthAnswer, Security: cache.Bogus, KeepStale: r.keepStale()})
		res, ok := r.staleFromCache("secure.example.", dns.TypeA)
		if !ok || res.answer[0].(*dns.A).A.String() != "192.0.2.1" {
			t.Errorf("after a bogus refresh: %v, %v; want the stale secure record", res.answer, ok)
		}
	})
}

// runBackground runs r.Run for the test and returns its cancel.
func runBackground(t *testing.T, r *Resolver) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	synctest.Wait()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

// TestPrefetchKeepsAHotRecordCached: a 60 s record asked twice a second
// for 10 minutes is always answered from the cache after the first
// query, and costs at most one upstream query per 54 s.
func TestPrefetchKeepsAHotRecordCached(t *testing.T) {
	for _, prefetch := range []bool{true, false} {
		t.Run(map[bool]string{true: "prefetch", false: "no prefetch"}[prefetch], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var mode atomic.Int32
				n := staleNet(t, "172800", &mode)
				r := newTestResolver(t, n, func(c *Config) {
					c.QNAMEMinimisation = QminOff
					c.Prefetch.Disable = !prefetch
				})
				defer runBackground(t, r)()
				const name = "short.example.com."
				if _, err := r.Resolve(t.Context(), name, dns.TypeA); err != nil {
					t.Fatal(err)
				}
				misses := 0
				for range 2 * 600 {
					time.Sleep(500 * time.Millisecond)
					if a, ok := r.QueryCached(name, dns.TypeA, Options{WillRecurse: true}); !ok || a.Stale {
						misses++
						if _, err := r.Resolve(t.Context(), name, dns.TypeA); err != nil {
							t.Fatal(err)
						}
					}
					synctest.Wait() // a prefetch started, done
				}
				upstream := 0 // the walk's queries to the zone's server; the first also asked the root and com
				for _, q := range n.queries() {
					if q == "127.53.2.1 "+name+" A" {
						upstream++
					}
				}
				if prefetch && (misses != 0 || upstream > 1+600/54) {
					t.Errorf("%d misses and %d upstream queries in 600 s; want none and at most %d", misses, upstream, 1+600/54)
				}
				if !prefetch && misses == 0 {
					t.Errorf("no misses without prefetch: the test cannot tell")
				}
			})
		})
	}
}

// TestPrefetchOncePerNameAndType: hits on records in the last tenth of
// their TTL start one refresh per name and type while it runs, and no
// more at once than the bound.
func TestPrefetchOncePerNameAndType(t *testing.T) {
	tests := []struct {
		name          string
		maxBackground int
		due           []string
	}{
		{"one name", 0, []string{"www.example.com."}},
		{"two names, bound 1", 1, []string{"www.example.com.", "www2.example.com."}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var mode atomic.Int32
				n := staleNet(t, "172800", &mode)
				m := &countingMetrics{}
				r := newTestResolver(t, n, func(c *Config) {
					c.QNAMEMinimisation = QminOff
					c.Prefetch.MaxBackground = tc.maxBackground
					c.Metrics = m
				})
				defer runBackground(t, r)()
				names := append([]string{"long.example.com."}, tc.due...) // long: never due here
				for _, name := range names {
					if _, err := r.Resolve(t.Context(), name, dns.TypeA); err != nil {
						t.Fatal(err)
					}
				}
				time.Sleep(295 * time.Second) // the 300 s records in their last tenth
				mode.Store(silent)            // refreshes hang until their deadline
				before := len(n.queries())
				for range 5 {
					for _, name := range names {
						if _, ok := r.QueryCached(name, dns.TypeA, Options{WillRecurse: true}); !ok {
							t.Fatalf("%s: a miss; want the cached answer at once", name)
						}
					}
					synctest.Wait()
				}
				if got := n.queries()[before:]; len(got) != 1 || !strings.HasSuffix(got[0], tc.due[0]+" A") {
					t.Errorf("upstream queries %q; want one, for %s A", got, tc.due[0])
				}
				if got := m.prefetches.Load(); got != 1 {
					t.Errorf("prefetches counted: %d, want 1", got)
				}
			})
		})
	}
}

// TestRunCancelsPrefetch: cancelling Run's context ends a running
// prefetch (its exchange's context is cancelled) before Run returns, and
// no prefetch starts after.
func TestRunCancelsPrefetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mode atomic.Int32
		n := staleNet(t, "172800", &mode)
		var cancelled atomic.Bool
		r := newTestResolver(t, n, func(c *Config) {
			c.QNAMEMinimisation = QminOff
			c.Transport = exchangeFunc(func(ctx context.Context, m *dns.Msg, s netip.AddrPort) (*dns.Msg, time.Duration, error) {
				resp, rtt, err := n.Exchange(ctx, m, s)
				if errors.Is(err, context.Canceled) {
					cancelled.Store(true)
				}
				return resp, rtt, err
			})
		})
		stop := runBackground(t, r)
		if _, err := r.Resolve(t.Context(), "www.example.com.", dns.TypeA); err != nil {
			t.Fatal(err)
		}
		time.Sleep(295 * time.Second)
		mode.Store(silent)
		r.QueryCached("www.example.com.", dns.TypeA, Options{})
		synctest.Wait() // the prefetch waits for its reply
		stop()
		synctest.Wait() // the cancelled walk unwinds
		if !cancelled.Load() {
			t.Error("the prefetch's exchange was not cancelled by Run's context")
		}
		before := len(n.queries())
		r.QueryCached("www.example.com.", dns.TypeA, Options{})
		synctest.Wait()
		if len(n.queries()) != before {
			t.Error("a prefetch started after Run returned")
		}
	})
}

// TestPrefetchRenewsTheAnswerOnly: a prefetch's reply renews the answer;
// the authority NS set and glue it carries leave the live cached ones
// counting down (as Unbound's prefetch, iter_prefetch_childns), unless
// those are in their own last tenth (iter_prefetch).
func TestPrefetchRenewsTheAnswerOnly(t *testing.T) {
	tests := []struct {
		ttl     string // of the authority NS set and glue
		kept    bool   // they count down; else renewed (by the reply or the parent's referral)
		leftTTL uint32 // what is left of them at 295 s
	}{
		{"3000", true, 3000 - 295},
		{"300", false, 300 - 295},
	}
	for _, tc := range tests {
		t.Run(tc.ttl, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var mode atomic.Int32
				n := staleNet(t, "172800", &mode)
				inner := zoneServer(t, "example.com.", "www.example.com. 300 IN A 192.0.2.1")
				n.handle("127.53.2.1", func(q *dns.Msg) *dns.Msg {
					m := inner(q)
					m.Ns = rrs(t, "example.com. "+tc.ttl+" IN NS ns1.example.com.")
					m.Extra = rrs(t, "ns1.example.com. "+tc.ttl+" IN A 127.53.2.1")
					return m
				})
				r := newTestResolver(t, n, func(c *Config) {
					c.QNAMEMinimisation = QminOff
					c.AcceptAuthorityNS = true
				})
				defer runBackground(t, r)()
				if _, err := r.Resolve(t.Context(), "www.example.com.", dns.TypeA); err != nil {
					t.Fatal(err)
				}
				time.Sleep(295 * time.Second)
				before := len(n.queries())
				r.QueryCached("www.example.com.", dns.TypeA, Options{})
				synctest.Wait()
				if len(n.queries()) == before {
					t.Fatal("no prefetch")
				}
				if e, ok := r.cache.Get("www.example.com.", dns.TypeA, dns.ClassINET); !ok || e.TTL != 300 {
					t.Errorf("answer TTL %d after the prefetch, want 300", e.TTL)
				}
				for _, k := range []struct {
					name  string
					qtype uint16
				}{{"ns1.example.com.", dns.TypeA}, {"example.com.", dns.TypeNS}} {
					e, ok := r.cache.Get(k.name, k.qtype, dns.ClassINET)
					if !ok || (e.TTL == tc.leftTTL) != tc.kept || e.TTL < tc.leftTTL {
						t.Errorf("%s %s: TTL %d after the prefetch, want kept %v (%d left)", k.name, dns.TypeToString[k.qtype], e.TTL, tc.kept, tc.leftTTL)
					}
				}
			})
		})
	}
}

// TestPrefetchRenewsAnExpiringCut: a prefetch treats a zone cut in the
// last tenth of its TTL as gone and asks the parent again (as Unbound's
// prefetch, iter_prefetch); a cut with time left is used as it is.
func TestPrefetchRenewsAnExpiringCut(t *testing.T) {
	tests := []struct {
		delegation string
		want       []string
	}{
		{"300", []string{"127.53.1.1 www.example.com. A", "127.53.2.1 www.example.com. A"}},
		{"172800", []string{"127.53.2.1 www.example.com. A"}},
	}
	for _, tc := range tests {
		t.Run(tc.delegation, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var mode atomic.Int32
				n := staleNet(t, tc.delegation, &mode)
				r := newTestResolver(t, n, func(c *Config) { c.QNAMEMinimisation = QminOff })
				defer runBackground(t, r)()
				if _, err := r.Resolve(t.Context(), "www.example.com.", dns.TypeA); err != nil {
					t.Fatal(err)
				}
				time.Sleep(295 * time.Second)
				before := len(n.queries())
				r.QueryCached("www.example.com.", dns.TypeA, Options{})
				synctest.Wait()
				if got := n.queries()[before:]; !slices.Equal(got, tc.want) {
					t.Errorf("the prefetch asked %q, want %q", got, tc.want)
				}
			})
		})
	}
}
