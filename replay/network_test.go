package replay

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/miekg/dns"
)

// rangesText has overlapping ranges: one for 1.1.1.1 over steps 0-10, one
// for any address over 0-10, one for 1.1.1.1 over 5-20. Each answers with
// an address that names it.
const rangesText = `CONFIG_END
SCENARIO_BEGIN range selection
RANGE_BEGIN 0 10
	ADDRESS 1.1.1.1
ENTRY_BEGIN
MATCH opcode qname
ADJUST copy_id copy_query
REPLY QR AA NOERROR
SECTION QUESTION
a.test. IN A
SECTION ANSWER
a.test. IN A 1.0.0.1
ENTRY_END
RANGE_END
RANGE_BEGIN 0 10
ENTRY_BEGIN
MATCH opcode qname
ADJUST copy_id copy_query
REPLY QR AA NOERROR
SECTION QUESTION
a.test. IN A
SECTION ANSWER
a.test. IN A 2.0.0.1
ENTRY_END
ENTRY_BEGIN
MATCH opcode qname
ADJUST copy_id copy_query
REPLY QR AA NOERROR
SECTION QUESTION
b.test. IN A
SECTION ANSWER
b.test. IN A 2.0.0.2
ENTRY_END
RANGE_END
RANGE_BEGIN 5 20
	ADDRESS 1.1.1.1
ENTRY_BEGIN
MATCH opcode qname
ADJUST copy_id copy_query
REPLY QR AA NOERROR
SECTION QUESTION
a.test. IN A
SECTION ANSWER
a.test. IN A 3.0.0.1
ENTRY_END
RANGE_END
STEP 25 REPLY
ENTRY_BEGIN
MATCH opcode qname
ADJUST copy_id copy_query
REPLY QR AA NOERROR
SECTION QUESTION
c.test. IN A
SECTION ANSWER
c.test. IN A 4.0.0.1
ENTRY_END
SCENARIO_END
`

func query(name string) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	return m
}

// outcome is what one exchange came to: the answer's first address, or
// its rcode, or "pending"/"error".
func outcome(resp *dns.Msg, err error) string {
	switch {
	case err != nil:
		return "error: " + err.Error()
	case resp.Rcode != dns.RcodeSuccess:
		return dns.RcodeToString[resp.Rcode]
	case len(resp.Answer) == 0:
		return "empty"
	}
	return resp.Answer[0].(*dns.A).A.String()
}

func TestDeckardRangeSelection(t *testing.T) {
	// The first range in file order that covers the step and the address
	// answers; with no match among its entries the answer is SERVFAIL.
	for _, tc := range []struct {
		name, qname, server string
		step                int
		want                string
		undefined           bool
	}{
		{"first range wins", "a.test.", "1.1.1.1", 7, "1.0.0.1", false},
		{"no fallthrough after the first eligible range", "b.test.", "1.1.1.1", 3, "SERVFAIL", false},
		{"eligible range without the entry", "b.test.", "1.1.1.1", 15, "SERVFAIL", false},
		{"unknown address takes any range", "a.test.", "9.9.9.9", 3, "1.0.0.1", false},
		{"later range by step", "a.test.", "1.1.1.1", 15, "3.0.0.1", false},
		{"REPLY step when no range covers the step", "c.test.", "1.1.1.1", 22, "4.0.0.1", false},
		{"nothing scripted", "d.test.", "1.1.1.1", 30, "SERVFAIL", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := mustParse(t, Deckard, rangesText)
			n := newNetwork(sc, func(string, ...any) {})
			n.setStep(tc.step)
			resp, _, err := n.Exchange(t.Context(), query(tc.qname), netip.AddrPortFrom(netip.MustParseAddr(tc.server), 53))
			if got := outcome(resp, err); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
			if got := len(n.undefined) > 0; got != tc.undefined {
				t.Errorf("undefined answer recorded: %v, want %v (%v)", got, tc.undefined, n.undefined)
			}
		})
	}
	t.Run("REPLY step used once", func(t *testing.T) {
		sc := mustParse(t, Deckard, rangesText)
		n := newNetwork(sc, func(string, ...any) {})
		n.setStep(22)
		server := netip.MustParseAddrPort("1.1.1.1:53")
		first, _, err1 := n.Exchange(t.Context(), query("c.test."), server)
		second, _, err2 := n.Exchange(t.Context(), query("c.test."), server)
		if outcome(first, err1) != "4.0.0.1" || outcome(second, err2) != "SERVFAIL" {
			t.Errorf("got %s then %s, want 4.0.0.1 then SERVFAIL", outcome(first, err1), outcome(second, err2))
		}
	})
}

func TestUnboundRangeSelection(t *testing.T) {
	// The last range in file order is tried first, a range whose entries
	// do not match is skipped, an address only reaches the ranges without
	// ADDRESS unless one names it, and an unanswered query stays pending.
	for _, tc := range []struct {
		name, qname, server string
		step                int
		want                string
	}{
		{"address-less range when the named one is out of steps", "a.test.", "1.1.1.1", 3, "2.0.0.1"},
		{"last range first", "a.test.", "1.1.1.1", 7, "3.0.0.1"},
		{"non-matching ranges are skipped", "b.test.", "1.1.1.1", 7, "2.0.0.2"},
		{"unknown address: only address-less ranges", "a.test.", "9.9.9.9", 7, "2.0.0.1"},
		{"nothing covers it: pending", "b.test.", "9.9.9.9", 15, "pending"},
		{"REPLY steps are not ranges", "c.test.", "1.1.1.1", 25, "pending"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sc := mustParse(t, Unbound, rangesText)
				n := newNetwork(sc, func(string, ...any) {})
				ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
				defer cancel()
				got := "pending"
				done := make(chan struct{})
				go func() {
					defer close(done)
					resp, _, err := n.Exchange(ctx, query(tc.qname), netip.AddrPortFrom(netip.MustParseAddr(tc.server), 53))
					got = outcome(resp, err)
				}()
				synctest.Wait()
				n.setStep(tc.step)
				answered := n.answerFromRanges()
				synctest.Wait()
				if answered != (tc.want != "pending") {
					t.Errorf("answerFromRanges = %v", answered)
				}
				if got != tc.want {
					t.Errorf("got %s, want %s", got, tc.want)
				}
				if tc.want == "pending" && len(n.pendingList()) != 1 {
					t.Errorf("pending list %v, want the query", n.pendingList())
				}
				n.close()
				<-done
			})
		})
	}
}

func TestUnboundReplyAndTimeout(t *testing.T) {
	sc := mustParse(t, Unbound, rangesText)
	reply := sc.Steps[0].Entry // c.test. A 4.0.0.1, used whatever was asked
	synctest.Test(t, func(t *testing.T) {
		n := newNetwork(sc, func(string, ...any) {})
		if err := n.timeoutNewest(); err == nil {
			t.Error("TIMEOUT with nothing pending must fail")
		}
		results := make(chan string, 2)
		ask := func(name string) {
			resp, _, err := n.Exchange(t.Context(), query(name), netip.MustParseAddrPort("8.8.8.8:53"))
			results <- name + " " + outcome(resp, err)
		}
		go ask("x.test.")
		synctest.Wait()
		go ask("y.test.")
		synctest.Wait()
		if p := n.pendingList(); len(p) != 2 || !strings.HasPrefix(p[0], "y.test.") {
			t.Fatalf("pending %v, want y.test. (newest) first", p)
		}
		// REPLY answers the newest pending query, whatever its name (the
		// entry's copy_query makes the question fit).
		if err := n.replyNewest(reply); err != nil {
			t.Fatal(err)
		}
		if got := <-results; got != "y.test. 4.0.0.1" {
			t.Errorf("REPLY gave %q, want y.test. answered", got)
		}
		if err := n.timeoutNewest(); err != nil {
			t.Fatal(err)
		}
		if got := <-results; got != "x.test. error: "+context.DeadlineExceeded.Error() {
			t.Errorf("TIMEOUT gave %q", got)
		}
		if err := n.replyNewest(reply); err == nil {
			t.Error("REPLY with nothing pending must fail")
		}
	})
}

func TestTruncatedRetriesOverTCP(t *testing.T) {
	text := `CONFIG_END
SCENARIO_BEGIN tc
RANGE_BEGIN 0 10
ENTRY_BEGIN
MATCH opcode udp
ADJUST copy_id copy_query
REPLY QR AA TC NOERROR
ENTRY_END
ENTRY_BEGIN
MATCH opcode tcp
ADJUST copy_id copy_query
REPLY QR AA NOERROR
SECTION ANSWER
a.test. IN A 7.7.7.7
ENTRY_END
RANGE_END
SCENARIO_END
`
	sc := mustParse(t, Deckard, text)
	n := newNetwork(sc, func(string, ...any) {})
	n.setStep(1)
	resp, _, err := n.Exchange(t.Context(), query("a.test."), netip.MustParseAddrPort("1.1.1.1:53"))
	if got := outcome(resp, err); got != "7.7.7.7" {
		t.Errorf("got %s, want 7.7.7.7 from the TCP entry", got)
	}
	if len(n.sent) != 2 || n.sent[0].tcp || !n.sent[1].tcp {
		t.Errorf("sent %v, want UDP then TCP", n.sent)
	}
}

func TestMalformedReplyIsAnError(t *testing.T) {
	for _, tc := range []struct {
		name string
		wire []byte
		want error
	}{
		{"short", []byte{0, 1, 2}, errMalformed},
		{"wrong id", []byte{0, 9, 0x84, 0, 0, 0, 0, 0, 0, 0, 0, 0}, errMismatch},
		{"truncated body", []byte{0, 1, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w'}, errMalformed},
		{"not a response", []byte{0, 1, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0}, errMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := query("a.test.")
			q.Id = 1
			if _, err := parseReply(q, tc.wire); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}
