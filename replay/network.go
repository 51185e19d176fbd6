package replay

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/resolver"
)

// fakeRTT is the round trip every fake exchange reports: the files say
// nothing about latency, so all servers are equally fast.
const fakeRTT = 10 * time.Millisecond

var (
	errClosed    = errors.New("fake network closed")
	errMalformed = errors.New("malformed reply")
	errMismatch  = errors.New("reply does not match the query")
)

// sentQuery is one outgoing query, as the engine put it on the wire.
type sentQuery struct {
	step   int
	server netip.AddrPort
	tcp    bool
	msg    *dns.Msg
}

func (s sentQuery) String() string {
	proto := "udp"
	if s.tcp {
		proto = "tcp"
	}
	return fmt.Sprintf("%s to %s/%s", questionText(s.msg), s.server.Addr(), proto)
}

func questionText(m *dns.Msg) string {
	if m == nil || len(m.Question) == 0 {
		return "<no question>"
	}
	q := m.Question[0]
	return q.Name + " " + dns.TypeToString[q.Qtype]
}

// pendingQuery is an outgoing query waiting for the script (Unbound: a
// range of a later step, a REPLY or a TIMEOUT step).
type pendingQuery struct {
	sentQuery
	done  chan exchangeResult // buffered: delivery never blocks
	burst int                 // network.delivered when it was sent
}

// newestIndex is where p goes in the pending list, newest first. The
// engine sends some queries in parallel (name server lookups), in an
// order the Go scheduler picks; testbound's single thread has one order.
// Queries sent since the last answer or timeout count as sent at once,
// and are ordered by question, so that REPLY and TIMEOUT steps (which
// take the newest) pick the same query on every run. Called with n.mu
// held.
func (n *network) newestIndex(p *pendingQuery) int {
	key := func(q *pendingQuery) string {
		return strings.ToLower(questionText(q.msg)) + "/" + q.server.String()
	}
	for i, other := range n.pending {
		if other.burst < p.burst || other.burst == p.burst && key(other) < key(p) {
			return i
		}
	}
	return len(n.pending)
}

type exchangeResult struct {
	wire []byte
	err  error
}

// network is the fake Internet: it implements resolver.Transport by
// answering from the scenario's ranges and REPLY steps.
type network struct {
	sc  *Scenario
	log func(format string, args ...any)

	mu        sync.Mutex
	step      int             // the step number ranges are picked by
	pending   []*pendingQuery // Unbound: newest first
	delivered int             // answers and timeouts handed out so far
	sent      []sentQuery
	usedReply map[*Step]bool // Deckard: REPLY steps already used
	fired     map[*Entry]int // times each entry answered
	undefined []string       // Deckard: queries nothing scripted answered
	closed    bool
	done      chan struct{}
}

func newNetwork(sc *Scenario, log func(string, ...any)) *network {
	return &network{
		sc: sc, log: log,
		usedReply: map[*Step]bool{}, fired: map[*Entry]int{},
		done: make(chan struct{}),
	}
}

func (n *network) setStep(step int) {
	n.mu.Lock()
	n.step = step
	n.mu.Unlock()
}

// close makes every pending and future exchange fail at once, so the
// engine's goroutines finish.
func (n *network) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.closed {
		n.closed = true
		close(n.done)
	}
}

// Exchange implements resolver.Transport. The query goes through wire
// format; a truncated answer is asked again over TCP, as the engine's own
// transport does.
func (n *network) Exchange(ctx context.Context, m *dns.Msg, server netip.AddrPort) (*dns.Msg, time.Duration, error) {
	wire, err := m.Pack()
	if err != nil {
		return nil, 0, fmt.Errorf("pack query: %w", err)
	}
	q := new(dns.Msg)
	if err := q.Unpack(wire); err != nil {
		return nil, 0, fmt.Errorf("query does not unpack: %w", err)
	}
	resp, err := n.roundTrip(ctx, q, server, false)
	if err == nil && resp.Truncated {
		resp, err = n.roundTrip(ctx, q, server, true)
	}
	return resp, fakeRTT, err
}

func (n *network) roundTrip(ctx context.Context, q *dns.Msg, server netip.AddrPort, tcp bool) (*dns.Msg, error) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil, errClosed
	}
	sq := sentQuery{step: n.step, server: server, tcp: tcp, msg: q}
	n.sent = append(n.sent, sq)
	n.log("step %d: sent %s", sq.step, sq)
	if server.Port() != 53 {
		n.mu.Unlock()
		return nil, fmt.Errorf("%s: nothing listens on port %d", server, server.Port())
	}
	var res exchangeResult
	silent := false
	var p *pendingQuery
	if n.sc.Dialect == Deckard {
		res.wire, res.err, silent = n.deckardAnswer(sq)
	} else {
		p = &pendingQuery{sentQuery: sq, done: make(chan exchangeResult, 1), burst: n.delivered}
		n.pending = slices.Insert(n.pending, n.newestIndex(p), p)
	}
	n.mu.Unlock()

	switch {
	case p != nil:
		select {
		case res = <-p.done:
		case <-ctx.Done():
			n.drop(p)
			return nil, ctx.Err()
		case <-n.done:
			return nil, errClosed
		}
	case silent:
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-n.done:
			return nil, errClosed
		}
	}
	if res.err != nil {
		return nil, res.err
	}
	return parseReply(q, res.wire)
}

// parseReply unpacks a canned answer and checks it answers q, as a real
// transport must: ID, QR and the question (letter case aside).
func parseReply(q *dns.Msg, wire []byte) (*dns.Msg, error) {
	if len(wire) < 12 {
		return nil, fmt.Errorf("%w: %d bytes", errMalformed, len(wire))
	}
	if id := uint16(wire[0])<<8 | uint16(wire[1]); id != q.Id {
		return nil, fmt.Errorf("%w: ID %d, sent %d", errMismatch, id, q.Id)
	}
	// The engine's own transport unpacks this way: malformed records
	// are dropped or kept opaque one by one.
	resp, err := resolver.UnpackReply(wire)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	if !resp.Response {
		return nil, fmt.Errorf("%w: QR not set", errMismatch)
	}
	if len(resp.Question) == 0 {
		switch resp.Rcode {
		case dns.RcodeFormatError, dns.RcodeNotImplemented, dns.RcodeRefused, dns.RcodeServerFailure:
			return resp, nil
		}
		return nil, fmt.Errorf("%w: no question", errMismatch)
	}
	a, b := q.Question[0], resp.Question[0]
	if len(resp.Question) != 1 || a.Qtype != b.Qtype || a.Qclass != b.Qclass || !strings.EqualFold(a.Name, b.Name) {
		return nil, fmt.Errorf("%w: question %s %s", errMismatch, b.Name, dns.TypeToString[b.Qtype])
	}
	return resp, nil
}

// servfail is the answer of a Deckard server that has nothing scripted.
func servfail(q *dns.Msg) []byte {
	m := new(dns.Msg)
	m.SetRcode(q, dns.RcodeServerFailure)
	wire, _ := m.Pack()
	return wire
}

// deckardAnswer answers at once, by Deckard's rules: the first range in
// file order that covers the step and the address (any range when no
// range names the address) answers, SERVFAIL when none of its entries
// match; else a REPLY step at or after the current one whose entry
// matches; else SERVFAIL, and the file fails at the end. Called with n.mu
// held.
func (n *network) deckardAnswer(sq sentQuery) (wire []byte, err error, silent bool) {
	addr := sq.server.Addr()
	known := false
	for _, rg := range n.sc.Ranges {
		known = known || slices.Contains(rg.Addrs, addr)
	}
	for _, rg := range n.sc.Ranges {
		if sq.step < rg.From || sq.step > rg.To {
			continue
		}
		if known && len(rg.Addrs) > 0 && !slices.Contains(rg.Addrs, addr) {
			continue
		}
		for _, e := range rg.Entries {
			if compare(Deckard, e, sq.msg, sq.tcp) != nil {
				continue
			}
			n.fired[e]++
			if e.adjusts("do_not_answer") {
				n.log("step %d: range at line %d entry at line %d stays silent to %s", sq.step, rg.Line, e.Line, sq)
				return nil, nil, true
			}
			n.log("step %d: range at line %d entry at line %d answers %s", sq.step, rg.Line, e.Line, sq)
			wire, err := e.reply(Deckard, sq.msg)
			return wire, err, false
		}
		n.log("step %d: range at line %d has no entry for %s: SERVFAIL", sq.step, rg.Line, sq)
		return servfail(sq.msg), nil, false
	}
	for _, st := range n.sc.Steps {
		if st.Type != "REPLY" || st.N < sq.step || n.usedReply[st] || st.Entry == nil {
			continue
		}
		if compare(Deckard, st.Entry, sq.msg, sq.tcp) == nil {
			n.usedReply[st] = true
			n.fired[st.Entry]++
			n.log("step %d: REPLY step %d answers %s", sq.step, st.N, sq)
			if st.Entry.adjusts("do_not_answer") {
				return nil, nil, true
			}
			wire, err := st.Entry.reply(Deckard, sq.msg)
			return wire, err, false
		}
	}
	n.undefined = append(n.undefined, fmt.Sprintf("step %d: %s", sq.step, sq))
	n.log("step %d: nothing scripted answers %s: SERVFAIL", sq.step, sq)
	return servfail(sq.msg), nil, false
}

// deliver hands p its answer built from e and takes it off the pending
// list. Called with n.mu held.
func (n *network) deliver(p *pendingQuery, e *Entry) {
	n.fired[e]++
	wire, err := e.reply(n.sc.Dialect, p.msg)
	n.removeLocked(p)
	n.delivered++
	p.done <- exchangeResult{wire: wire, err: err}
}

func (n *network) removeLocked(p *pendingQuery) {
	if i := slices.Index(n.pending, p); i >= 0 {
		n.pending = slices.Delete(n.pending, i, i+1)
	}
}

func (n *network) drop(p *pendingQuery) {
	n.mu.Lock()
	n.removeLocked(p)
	n.mu.Unlock()
}

// answerFromRanges answers one pending query from the ranges of the
// current step, by Unbound's rules: newest pending first, ranges from the
// last in the file, a range with an address only for that address, the
// first matching entry. It reports whether it answered one.
func (n *network) answerFromRanges() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.pending {
		for i := len(n.sc.Ranges) - 1; i >= 0; i-- {
			rg := n.sc.Ranges[i]
			if n.step < rg.From || n.step > rg.To {
				continue
			}
			if len(rg.Addrs) > 0 && !slices.Contains(rg.Addrs, p.server.Addr()) {
				continue
			}
			for _, e := range rg.Entries {
				if compare(Unbound, e, p.msg, p.tcp) == nil {
					n.log("step %d: range at line %d entry at line %d answers %s", n.step, rg.Line, e.Line, p.sentQuery)
					n.deliver(p, e)
					return true
				}
			}
		}
	}
	return false
}

// findPending returns the newest pending query that matches e, or nil.
func (n *network) findPending(e *Entry) *pendingQuery {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.pending {
		if compare(n.sc.Dialect, e, p.msg, p.tcp) == nil {
			return p
		}
	}
	return nil
}

// answerPending answers p with e if p is still pending.
func (n *network) answerPending(p *pendingQuery, e *Entry) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if slices.Contains(n.pending, p) {
		n.deliver(p, e)
	}
}

// replyNewest answers the newest pending query with e, ignoring e's MATCH
// (Unbound's REPLY step).
func (n *network) replyNewest(e *Entry) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.pending) == 0 {
		return errors.New("no pending outgoing query to reply to")
	}
	n.log("step %d: REPLY answers %s", n.step, n.pending[0].sentQuery)
	n.deliver(n.pending[0], e)
	return nil
}

// timeoutNewest makes the newest pending query time out (Unbound's
// TIMEOUT step).
func (n *network) timeoutNewest() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.pending) == 0 {
		return errors.New("no pending outgoing query to time out")
	}
	p := n.pending[0]
	n.log("step %d: TIMEOUT for %s", n.step, p.sentQuery)
	n.removeLocked(p)
	n.delivered++
	p.done <- exchangeResult{err: context.DeadlineExceeded}
	return nil
}

func (n *network) pendingList() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, p := range n.pending {
		out = append(out, p.sentQuery.String())
	}
	return out
}

// unfired returns the MANDATORY entries that never answered.
func (n *network) unfired() []*Entry {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []*Entry
	for _, rg := range n.sc.Ranges {
		for _, e := range rg.Entries {
			if e.Mandatory && n.fired[e] == 0 {
				out = append(out, e)
			}
		}
	}
	return out
}
