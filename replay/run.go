package replay

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/resolver"
	"github.com/recursor-dns/recursor/server"
)

// Variant is one way of running a file. Deckard runs a file that does not
// pin QNAME minimisation twice, once with and once without.
type Variant struct {
	Name string // "" for the only run, else "qmin=on" or "qmin=off"
	// QNAMEMinimisation, when set, overrides the file and the dialect.
	QNAMEMinimisation *bool
}

// Variants returns the runs a file needs.
func Variants(sc *Scenario) []Variant {
	if sc.Dialect != Deckard {
		return []Variant{{}}
	}
	for _, c := range sc.Config {
		if c.Key == "query-minimization" {
			return []Variant{{}}
		}
	}
	on, off := true, false
	return []Variant{{Name: "qmin=on", QNAMEMinimisation: &on}, {Name: "qmin=off", QNAMEMinimisation: &off}}
}

// Options tune a run.
type Options struct {
	// Settle returns once every goroutine of the run is blocked: the
	// engine is waiting for the network or done. In tests it is
	// testing/synctest.Wait, and Run must then be called in the bubble.
	Settle func()
	// Log, when set, receives the harness's and the engine's events
	// (sent queries, which entry answered, every upstream exchange).
	Log func(format string, args ...any)
	// QueryTimeout bounds one client query (fake time in a bubble);
	// default 60s.
	QueryTimeout time.Duration
	// RunUnsupported runs a file even when its config asks for what the
	// engine cannot do. The file still fails, with the unsupported key and
	// then how the run went, to show what would fail next.
	RunUnsupported bool
}

// StepError is a failed step: which one, and what differed.
type StepError struct {
	Step  int
	Type  string
	Query string // the client question the step is about, if any
	Err   error
}

func (e *StepError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "step %d %s", e.Step, e.Type)
	if e.Query != "" {
		fmt.Fprintf(&b, " (%s)", e.Query)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

func (e *StepError) Unwrap() error { return e.Err }

// clientAddr is where client queries come from.
var clientAddr = netip.MustParseAddrPort("127.0.0.1:40000")

// maxRounds bounds the Unbound event loop, as testbound does.
const maxRounds = 5000

// Run replays sc in variant v. It returns nil when every check passes,
// an *UnsupportedError when the file asks for what the engine lacks, a
// *StepError for the first failed step, or another error for a file that
// cannot be run or a failed end-of-run check.
func Run(ctx context.Context, sc *Scenario, v Variant, opts Options) error {
	if opts.Settle == nil {
		return errors.New("replay: Options.Settle is required (synctest.Wait)")
	}
	if opts.Log == nil {
		opts.Log = func(string, ...any) {}
	}
	if opts.QueryTimeout == 0 {
		opts.QueryTimeout = time.Minute
	}
	s, err := configure(sc)
	if err != nil {
		return err
	}
	for _, st := range sc.Steps {
		if st.Type == "INFRA_RTT" {
			s.unsupported = append(s.unsupported, &UnsupportedError{Line: st.Line, Key: "STEP INFRA_RTT",
				Value: strings.Join(st.Args, " "), Reason: "the engine has no way to preset a server's RTT"})
		}
	}
	if len(s.unsupported) == 0 {
		return run1(ctx, sc, s, v, opts)
	}
	if !opts.RunUnsupported {
		return s.unsupported[0]
	}
	outcome := "passes"
	if err := run1(ctx, sc, s, v, opts); err != nil {
		outcome = err.Error()
	}
	return fmt.Errorf("%w; run anyway: %s", s.unsupported[0], outcome)
}

func run1(ctx context.Context, sc *Scenario, s *setup, v Variant, opts Options) error {
	r, err := newRun(sc, s, v, opts)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	r.ctx = ctx
	r.clients.Go(func() { _ = r.engine.Run(ctx) })
	defer func() {
		// Let every goroutine of the run end: the network fails what is
		// waiting, the client queries are cancelled.
		r.net.close()
		cancel()
		r.clients.Wait()
	}()
	if sc.Dialect == Deckard {
		err = r.deckard()
	} else {
		err = r.unbound()
	}
	if err != nil {
		return err
	}
	return r.endChecks()
}

// clock is the injected time: the file's date, moved by TIME_PASSES.
type clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []timer // of After, not yet fired
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	waiting := c.timers[:0]
	for _, t := range c.timers {
		if c.now.Before(t.at) {
			waiting = append(waiting, t)
		} else {
			t.ch <- c.now
		}
	}
	c.timers = waiting
	c.mu.Unlock()
}

type timer struct {
	at time.Time
	ch chan time.Time
}

// After is time.After on the scenario's clock: TIME_PASSES fires it.
func (c *clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.timers = append(c.timers, timer{at: c.now.Add(d), ch: ch})
	return ch
}

type answer struct {
	step int
	q    string
	msg  *dns.Msg
	tcp  bool
}

type run struct {
	sc    *Scenario
	opts  Options
	clock *clock
	net   *network
	front *server.Server
	// engine runs its background work (prefetch, stale refreshes) for
	// the run, as server.Serve would.
	engine *resolver.Resolver
	ctx    context.Context

	nextID  uint16
	clients sync.WaitGroup

	mu      sync.Mutex
	answers []answer // Unbound: not yet checked; Deckard: the last one
}

func newRun(sc *Scenario, s *setup, v Variant, opts Options) (*run, error) {
	r := &run{sc: sc, opts: opts, clock: &clock{now: s.start}}
	r.net = newNetwork(sc, opts.Log)
	ccfg := s.cache
	ccfg.Now = r.clock.Now
	qmin := s.qmin
	if v.QNAMEMinimisation != nil {
		qmin = v.QNAMEMinimisation
	}
	rcfg := resolver.Config{
		RootHints:           s.hints(),
		UpstreamPort:        53,
		DisableIPv6:         s.noIPv6,
		Disable0x20:         s.no0x20,
		NonMinimalResponses: s.nonMinimal,
		AcceptAuthorityNS:   s.authNS,
		VerifySiblingGlue:   s.verifyGlue,
		PrivateAddress:      s.private,
		StubZones:           s.stubs,
		PrivateDomain:       s.privateOK,
		NoDefaultZones:      s.noDefault,
		Transport:           r.net,
		Cache:               cache.New(ccfg),
		Now:                 r.clock.Now,
		Limits:              s.limits,
		DontQuery:           s.dontQuery,
		DNSSEC:              s.dnssec,
		Stale:               s.stale,
		Prefetch:            resolver.PrefetchConfig{Disable: !s.prefetch},
		After:               r.clock.After,
	}
	// The suites sign with DSA and RSA keys under 1024 bits; the switch
	// that verifies them is for tests like these.
	rcfg.DNSSEC.Limits.AllowWeak = true
	if qmin != nil && !*qmin {
		rcfg.QNAMEMinimisation = resolver.QminOff
	}
	if sc.Dialect == Unbound {
		// Unbound's minimised questions ask for A records.
		rcfg.MinimisedQtype = dns.TypeA
	}
	res, err := resolver.New(rcfg)
	if err != nil {
		return nil, fmt.Errorf("resolver.New: %w", err)
	}
	r.engine = res
	// The front end's answer cache counts TTLs down on the scenario's
	// clock, as the engine's cache does.
	r.front, err = server.New(server.Config{Backend: res, Now: r.clock.Now, AccessControl: s.access})
	if err != nil {
		return nil, fmt.Errorf("server.New: %w", err)
	}
	return r, nil
}

// clientQuery builds the wire query of a QUERY step and says whether it
// goes over TCP.
func (r *run) clientQuery(e *Entry) (wire []byte, tcp bool, err error) {
	if e.Raw != nil {
		return e.Raw, false, nil
	}
	m := e.message(r.sc.Dialect)
	r.nextID++
	m.Id = r.nextID
	wire, err = m.Pack()
	return wire, e.matches("tcp"), err
}

// ask sends a client query through the server's packet path and returns
// its answer, unpacked as a client would; nil when none came.
func (r *run) ask(step int, wire []byte, tcp bool) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.opts.QueryTimeout)
	defer cancel()
	ctx = resolver.WithTrace(ctx, func(s resolver.Step) {
		r.opts.Log("query of step %d: engine: depth %d %s %s zone %s server %s: %s %v", step, s.Depth, s.Qname,
			dns.TypeToString[s.Qtype], s.Zone, s.Server, s.Detail, s.Err)
	})
	out := r.front.HandlePacket(ctx, wire, clientAddr, tcp, nil)
	if out == nil {
		return nil, nil
	}
	// Records relayed as received (an SVCB with repeated keys) are kept
	// opaque, as testbound's own parser keeps them.
	m, err := resolver.UnpackReply(out)
	if err != nil {
		return nil, fmt.Errorf("the server's answer does not unpack: %w", err)
	}
	return m, nil
}

func stepErr(st *Step, err error) *StepError {
	se := &StepError{Step: st.N, Type: st.Type, Err: err}
	if st.Entry != nil && len(st.Entry.Question) > 0 {
		q := st.Entry.Question[0]
		se.Query = q.Name + " " + dns.TypeToString[q.Qtype]
	}
	return se
}

func elapse(st *Step) time.Duration {
	secs, _ := strconv.ParseFloat(st.Args[1], 64) // checked by the parser
	return time.Duration(math.Round(secs * float64(time.Second)))
}

// deckard replays by Deckard's rules: each query is answered before the
// next step, ranges are picked by the QUERY step's number, CHECK_ANSWER
// checks the latest answer.
func (r *run) deckard() error {
	var last *dns.Msg
	var lastTCP bool
	for _, st := range r.sc.Steps {
		r.net.setStep(st.N)
		switch st.Type {
		case "QUERY":
			if st.Entry == nil {
				return stepErr(st, errors.New("QUERY without an entry"))
			}
			wire, tcp, err := r.clientQuery(st.Entry)
			if err != nil {
				return stepErr(st, err)
			}
			m, err := r.ask(st.N, wire, tcp)
			r.opts.Settle()
			if err != nil {
				return stepErr(st, err)
			}
			last, lastTCP = m, tcp
		case "CHECK_ANSWER":
			if st.Entry == nil {
				return stepErr(st, errors.New("CHECK_ANSWER without an entry"))
			}
			if last == nil {
				return stepErr(st, errors.New("no answer from the preceding query"))
			}
			if err := compare(Deckard, st.Entry, last, lastTCP); err != nil {
				return stepErr(st, fmt.Errorf("%w; got %s", err, summary(last)))
			}
		case "TIME_PASSES":
			r.clock.advance(elapse(st))
		case "REPLY", "TRAFFIC", "NOTHING", "TIMEOUT":
			// REPLY entries are used by the network when a query comes.
		case "CHECK_OUT_QUERY":
			// Deckard skips these steps (its runner has no hook on
			// outgoing queries), and so does its dialect here.
			r.opts.Log("step %d: CHECK_OUT_QUERY skipped (Deckard dialect)", st.N)
		}
	}
	return nil
}

// unbound replays by testbound's event loop: between events the engine
// runs until it waits for the network; then, in this order, a
// CHECK_OUT_QUERY step takes a matching pending query, a CHECK_ANSWER step
// takes any matching answer, a range of the current step answers a
// pending query, or the current step is done.
func (r *run) unbound() error {
	steps := r.sc.Steps
	i := 0
	for rounds := 0; i < len(steps); rounds++ {
		if rounds > maxRounds {
			return fmt.Errorf("more than %d events: the scenario loops", maxRounds)
		}
		r.opts.Settle()
		now := steps[i]
		r.net.setStep(now.N)
		if now.Type == "CHECK_OUT_QUERY" && now.Entry != nil {
			if p := r.net.findPending(now.Entry); p != nil {
				i++
				if now.Entry.adjusts("copy_id") {
					r.net.answerPending(p, now.Entry)
				}
				continue
			}
		}
		if now.Type == "CHECK_ANSWER" && r.haveAnswers() {
			if err := r.checkAnyAnswer(now); err != nil {
				return stepErr(now, err)
			}
			i++
			continue
		}
		if r.net.answerFromRanges() {
			continue
		}
		i++
		switch now.Type {
		case "QUERY":
			if now.Entry == nil {
				return stepErr(now, errors.New("QUERY without an entry"))
			}
			if i < len(steps) {
				// Ranges are picked by the step after the query.
				r.net.setStep(steps[i].N)
			}
			if err := r.startQuery(now); err != nil {
				return stepErr(now, err)
			}
		case "CHECK_ANSWER":
			return stepErr(now, fmt.Errorf("no answer came; pending upstream: %s", pendingText(r.net.pendingList())))
		case "CHECK_OUT_QUERY":
			return stepErr(now, fmt.Errorf("no pending outgoing query matches; pending: %s", pendingText(r.net.pendingList())))
		case "REPLY":
			if now.Entry == nil {
				return stepErr(now, errors.New("REPLY without an entry"))
			}
			if err := r.net.replyNewest(now.Entry); err != nil {
				return stepErr(now, err)
			}
		case "TIMEOUT":
			if err := r.net.timeoutNewest(); err != nil {
				return stepErr(now, err)
			}
		case "TIME_PASSES":
			r.clock.advance(elapse(now))
		case "TRAFFIC", "NOTHING":
		}
	}
	r.opts.Settle()
	return nil
}

func pendingText(p []string) string {
	if len(p) == 0 {
		return "none"
	}
	return "[" + strings.Join(p, ", ") + "]"
}

// startQuery sends a client query that is answered in the background.
func (r *run) startQuery(st *Step) error {
	wire, tcp, err := r.clientQuery(st.Entry)
	if err != nil {
		return err
	}
	q := ""
	if len(st.Entry.Question) > 0 {
		q = st.Entry.Question[0].Name + " " + dns.TypeToString[st.Entry.Question[0].Qtype]
	}
	r.clients.Go(func() {
		m, err := r.ask(st.N, wire, tcp)
		if err != nil || m == nil {
			r.opts.Log("step %d: no answer to %s: %v", st.N, q, err)
			return
		}
		r.mu.Lock()
		r.answers = append(r.answers, answer{step: st.N, q: q, msg: m, tcp: tcp})
		r.mu.Unlock()
	})
	return nil
}

func (r *run) haveAnswers() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.answers) > 0
}

// checkAnyAnswer takes the first unchecked answer that matches st.
func (r *run) checkAnyAnswer(st *Step) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st.Entry == nil || !st.Entry.HasMatch {
		// testbound: an entry without MATCH accepts any answer.
		r.answers = r.answers[1:]
		return nil
	}
	var first error
	for i, a := range r.answers {
		err := compare(Unbound, st.Entry, a.msg, a.tcp)
		if err == nil {
			r.answers = slices.Delete(r.answers, i, i+1)
			return nil
		}
		if first == nil {
			first = fmt.Errorf("%w; got %s", err, summary(a.msg))
			if len(r.answers) > 1 {
				first = fmt.Errorf("none of %d answers matches; the one to %s (step %d): %w", len(r.answers), a.q, a.step, first)
			}
		}
	}
	return first
}

// endChecks are the checks after the last step: nothing left pending or
// unchecked (Unbound), every MANDATORY entry used and every query answered
// by the script (Deckard).
func (r *run) endChecks() error {
	if r.sc.Dialect == Unbound {
		if p := r.net.pendingList(); len(p) > 0 {
			return fmt.Errorf("after the last step: outgoing queries still pending: %s", pendingText(p))
		}
		r.mu.Lock()
		n := len(r.answers)
		r.mu.Unlock()
		if n > 0 {
			return fmt.Errorf("after the last step: %d answers never checked", n)
		}
		return nil
	}
	if e := r.net.unfired(); len(e) > 0 {
		return fmt.Errorf("MANDATORY entry at line %d never used", e[0].Line)
	}
	r.net.mu.Lock()
	undefined := slices.Clone(r.net.undefined)
	r.net.mu.Unlock()
	if len(undefined) > 0 {
		return fmt.Errorf("nothing scripted answers %s (got SERVFAIL)", undefined[0])
	}
	return nil
}
