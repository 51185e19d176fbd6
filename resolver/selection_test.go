package resolver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/roothints"
)

// feedbackNet: alpha. is served by 127.53.10.2 and, in name only, by
// 127.53.10.1, which refuses it but serves beta.
func feedbackNet(tb testing.TB) *fakeNet {
	n := newFakeNet(tb)
	n.handle("127.53.0.1", zoneServer(tb, ".",
		". 86400 IN SOA a.root.lab. h.lab. 1 2 3 4 300",
		"alpha. 172800 IN NS ns1.alpha.",
		"alpha. 172800 IN NS ns2.alpha.",
		"ns1.alpha. 172800 IN A 127.53.10.1",
		"ns2.alpha. 172800 IN A 127.53.10.2",
		"beta. 172800 IN NS ns1.alpha."))
	var alpha []string
	alpha = append(alpha, "alpha. 300 IN SOA ns2.alpha. h.alpha. 1 2 3 4 300")
	for i := range 6 {
		alpha = append(alpha, fmt.Sprintf("w%d.alpha. 300 IN A 192.0.2.%d", i, i+1))
	}
	n.handle("127.53.10.2", zoneServer(tb, "alpha.", alpha...))
	n.handle("127.53.10.1", zoneServer(tb, "beta.",
		"beta. 300 IN SOA ns1.alpha. h.beta. 1 2 3 4 300",
		"x.beta. 300 IN A 192.0.2.99"))
	return n
}

// A server that refuses a zone is passed over for that zone on later
// queries, and still asked about the zones it serves: not held.
func TestRefusedServerSkippedForZoneOnly(t *testing.T) {
	n := feedbackNet(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := newTestResolver(t, n, func(c *Config) { c.Now = func() time.Time { return now } })
	refuser, good := netip.MustParseAddr("127.53.10.1"), netip.MustParseAddr("127.53.10.2")
	// The refuser looks fastest, so it is asked first.
	r.infra.success(refuser, time.Millisecond, now)
	r.infra.success(good, 150*time.Millisecond, now)

	var mu sync.Mutex
	var steps []Step
	ctx := WithTrace(t.Context(), func(s Step) {
		mu.Lock()
		defer mu.Unlock()
		steps = append(steps, s)
	})
	for i := range 6 {
		m, err := r.Resolve(ctx, fmt.Sprintf("w%d.alpha.", i), dns.TypeA)
		if err != nil || len(m.Answer) != 1 {
			t.Fatalf("w%d: %v, %v", i, m, err)
		}
	}
	refusals := 0
	for _, s := range steps {
		if s.Server.Addr() == refuser {
			refusals++
			if s.Outcome != OutcomeRefused || s.Detail != "refused: rcode REFUSED" {
				t.Errorf("step to the refuser: outcome %v, detail %q; want refused", s.Outcome, s.Detail)
			}
		}
	}
	if refusals != 1 {
		t.Errorf("the refusing server was asked %d times about alpha., want once", refusals)
	}
	if r.infra.held(refuser, now) {
		t.Error("a server that refused one zone is held for all")
	}
	m, err := r.Resolve(ctx, "x.beta.", dns.TypeA)
	if err != nil || len(m.Answer) != 1 {
		t.Fatalf("x.beta.: %v, %v; want the answer of the server that refused alpha.", m, err)
	}
	// The mark lasts LameHold.
	now = now.Add(LameHold)
	if r.infra.markedFor(refuser, "alpha.", now) {
		t.Error("the zone mark outlived LameHold")
	}
}

// Each outcome leads the infra cache to its policy.
func TestInfraReport(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := netip.MustParseAddr("127.0.0.1")
	for _, tc := range []struct {
		o          Outcome
		held       bool // after failureHoldAfter reports
		marked     bool // passed over for the zone
		markedLong bool // still marked after ServfailHold
		rtoUp      bool // the timeout backed off
	}{
		{o: OutcomeAnswered},
		{o: OutcomeTimeout, held: true, rtoUp: true},
		{o: OutcomeNetError, held: true},
		{o: OutcomeMalformed, held: true},
		{o: OutcomeRefused, marked: true, markedLong: true},
		{o: OutcomeLame, marked: true, markedLong: true},
		{o: OutcomeServfail, marked: true},
		{o: OutcomeEDNS},
	} {
		t.Run(tc.o.String(), func(t *testing.T) {
			in := newInfra()
			for range failureHoldAfter {
				in.report(a, "zone.", tc.o, 10*time.Millisecond, now.Add(-time.Hour))
			}
			if got := in.held(a, now.Add(-time.Hour)); got != tc.held {
				t.Errorf("held = %v, want %v", got, tc.held)
			}
			if got := in.markedFor(a, "zone.", now.Add(-time.Hour)); got != tc.marked {
				t.Errorf("marked for the zone = %v, want %v", got, tc.marked)
			}
			if in.markedFor(a, "other.", now.Add(-time.Hour)) {
				t.Error("marked for another zone")
			}
			if got := in.markedFor(a, "zone.", now.Add(-time.Hour+ServfailHold)); got != tc.markedLong {
				t.Errorf("marked after ServfailHold = %v, want %v", got, tc.markedLong)
			}
			if got := in.timeout(a, now.Add(-time.Hour)) > UnknownServerTimeout; got != tc.rtoUp {
				t.Errorf("timeout %v backed off = %v, want %v", in.timeout(a, now.Add(-time.Hour)), got, tc.rtoUp)
			}
		})
	}
}

// What each kind of failure is, as selection sees it.
func TestOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name string
		rep  reply
		err  error
		want Outcome
	}{
		{"answer", reply{kind: kindAnswer}, nil, OutcomeAnswered},
		{"referral", reply{kind: kindReferral}, nil, OutcomeAnswered},
		{"nxdomain", reply{kind: kindNXDomain, rcode: dns.RcodeNameError}, nil, OutcomeAnswered},
		{"refused", reply{kind: kindBad, rcode: dns.RcodeRefused}, nil, OutcomeRefused},
		{"servfail", reply{kind: kindBad, rcode: dns.RcodeServerFailure}, nil, OutcomeServfail},
		{"notauth", reply{kind: kindBad, rcode: dns.RcodeNotAuth}, nil, OutcomeLame},
		{"formerr", reply{kind: kindBad, rcode: dns.RcodeFormatError}, nil, OutcomeEDNS},
		{"question mismatch", reply{kind: kindBad, rcode: dns.RcodeSuccess}, nil, OutcomeMalformed},
		{"upward referral", reply{kind: kindLame}, nil, OutcomeLame},
		{"timeout", reply{}, fmt.Errorf("x: %w", context.DeadlineExceeded), OutcomeTimeout},
		{"case", reply{}, errCaseMismatch, OutcomeCaseMismatch},
		{"malformed", reply{}, fmt.Errorf("%w: bad counts", errMalformed), OutcomeMalformed},
		{"wrong question", reply{}, errMismatch, OutcomeMalformed},
		{"network", reply{}, os.ErrPermission, OutcomeNetError},
	} {
		got := outcomeOf(&tc.rep)
		if tc.err != nil {
			got = transportOutcome(tc.err)
		}
		if got != tc.want {
			t.Errorf("%s: outcome %v, want %v", tc.name, got, tc.want)
		}
	}
}

// The error of a failed delegation keeps the last server's failure as a
// *ServerError, cause and all.
func TestErrorKeepsServerCause(t *testing.T) {
	n := feedbackNet(t)
	n.handle("127.53.10.2", func(q *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeServerFailure)
		return m
	})
	r := newTestResolver(t, n, nil)
	_, err := r.Resolve(t.Context(), "w1.alpha.", dns.TypeA)
	var se *ServerError
	if !errors.Is(err, ErrNoReachableServer) || !errors.As(err, &se) {
		t.Fatalf("err %v: want ErrNoReachableServer wrapping a *ServerError", err)
	}
	if se.Outcome != OutcomeRefused && se.Outcome != OutcomeServfail {
		t.Errorf("last server's outcome %v, want refused or servfail", se.Outcome)
	}
}

// When no root hint address may be queried, resolution fails at once
// with an error that says so: it used to hang, the priming query looking
// the root servers up through itself.
func TestNoQueryableRootHint(t *testing.T) {
	v6hints := &roothints.Hints{TTL: 3600000, Servers: []roothints.Server{{Name: "a.root.lab.", Addrs: []netip.Addr{netip.MustParseAddr("::1")}}}}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"loopback hints, default dont-query", func(c *Config) { c.DontQuery = nil }},
		{"IPv6-only hints, IPv6 off", func(c *Config) { c.RootHints = v6hints; c.DisableIPv6 = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := standardNet(t)
			r := newTestResolver(t, n, tc.mod)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			_, err := r.Resolve(ctx, "www.example.com.", dns.TypeA)
			if !errors.Is(err, ErrNoReachableServer) || !strings.Contains(err.Error(), "every root server address is excluded") {
				t.Fatalf("err %v, want ErrNoReachableServer: every root server address is excluded", err)
			}
			if q := n.queries(); len(q) != 0 {
				t.Errorf("queries sent: %v", q)
			}
		})
	}
}
