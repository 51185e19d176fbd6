package resolver

// Server selection: which address of a delegation to ask next, by
// smoothed RTT (infra.go), passing over held addresses and servers marked
// lame for the zone, with glueless name server lookups in parallel and
// the parent-side glue as a last resort. Every exchange's outcome reaches
// the infra cache (exchange.go), which is where the policy lives.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/dnssec"
	"github.com/recursor-dns/recursor/internal/dnsname"
)

// candidate is one server address to try for a delegation.
type candidate struct {
	ns       string
	addr     netip.Addr
	port     uint16 // 0: the resolver's upstream port
	attempts int
	timeouts int
	done     bool // answered unusably (lame, refused, malformed): not asked again this query
	// deadline: the end of the ask's time (AskTimeBudget); the exchange
	// waits no longer.
	deadline time.Time
}

// AskTimeBudget is how long one question may go from server to server of
// a delegation before the delegation counts as unreachable: a zone whose
// every address is dead, however many, fails within it rather than at
// the query's overall deadline.
const AskTimeBudget = 2 * time.Second

// ask puts the question to the servers of d until one gives a usable reply
// (an answer, a CNAME, a negative answer or a referral). Servers without
// addresses are looked up when the ones with addresses are used up. The
// reply comes back scrubbed, and what it teaches is in the cache before
// any other walk can ask again.
//
// The same question to the same zone is sent once at a time: concurrent
// walks (the parallel address lookups of one client query, or other
// clients' queries) wait for the first and share its reply. Only a
// delegation whose servers all have addresses is shared this way: its
// ask waits on nothing but the network, so no walk can come to wait on
// its own flight, however the zones' name servers depend on each other;
// but for the validation of its reply, whose key lookups are refused an
// ask their own walk leads (query.leading).
//
// cached, when not nil, is the caller's own look in the cache, taken again
// once this walk leads the ask: a walk that missed the cache, then came
// to the shared ask just after another walk's ask stored the answer,
// would ask the same question twice. The reply is then kindCached.
func (r *Resolver) ask(ctx context.Context, q *query, d delegation, qname string, qtype uint16, cached func() bool) (*reply, error) {
	if err := r.deadZones.zoneDown(d.zone, r.now); err != nil {
		return nil, err
	}
	if !r.addressed(d) {
		return r.askAndLearn(ctx, q, d, qname, qtype)
	}
	key := d.zone + "\x00" + dnsname.Lower(qname) + "\x00" + strconv.Itoa(int(qtype))
	if q.leading(key) {
		// The validation of this very ask's reply needs its reply: a
		// reply signed by a zone whose keys it is to lead to. Waiting
		// on the flight would wait for ever.
		return nil, fmt.Errorf("%w: validating the reply of %s %s at %s needs that reply", ErrLoop, qname, dns.TypeToString[qtype], d.zone)
	}
	// Do, not DoChan: the leader asks on its own goroutine and context,
	// with no timer of its own; a follower waits at most the leader's
	// AskTimeBudget and exchange timeouts.
	led := false
	v, err, shared := r.asks.Do(key, func() (any, error) {
		led = true
		if cached != nil && cached() {
			return &reply{kind: kindCached, target: qname}, nil
		}
		if r.val != nil {
			lq := *q // a copy that leads key, for the key lookups of its validation
			lq.leads = key
			return r.askAndLearn(ctx, &lq, d, qname, qtype)
		}
		return r.askAndLearn(ctx, q, d, qname, qtype)
	})
	rep, _ := v.(*reply)
	if !shared {
		return rep, err
	}
	if !led && ctx.Err() == nil && (errors.Is(err, ErrLimit) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		// The leader's budget or context ran out, not this walk's.
		return r.askAndLearn(ctx, q, d, qname, qtype)
	}
	// Every walk that got the reply, the leader too, takes slices of its
	// own: the walks go on to change them.
	if rep == nil {
		return nil, err
	}
	return rep.clone(), err
}

// askAndLearn is askServers, then the reply scrubbed and stored. Storing
// inside the shared ask matters: a walk that missed the cache just before
// the store, and the flight just after it ended, would ask again.
func (r *Resolver) askAndLearn(ctx context.Context, q *query, d delegation, qname string, qtype uint16) (*reply, error) {
	rep, err := r.askServers(ctx, q, d, qname, qtype)
	if err != nil {
		return rep, err
	}
	r.scrub(rep, qtype)
	rep.refresh = q.refresh && q.parent == nil && sameName(qname, q.qname) && qtype == q.qtype
	if q.unvalidated && r.val != nil {
		r.storePrimed(rep)
		return rep, nil
	}
	r.store(d.zone, qname, qtype, rep)
	return rep, nil
}

// storePrimed keeps the root's NS set and addresses of a priming reply,
// which is not validated (the root's keys come from the servers it
// names), at the lowest rank: iteration starts from it, while a client
// asking for the root's NS set is below what a client's answer may use,
// so the question is asked again and validated.
func (r *Resolver) storePrimed(rep *reply) {
	if rep.kind != kindAnswer {
		return
	}
	r.cache.Put(rep.answer, cache.RankGlue)
	for _, set := range splitRRsets(nil, rep.glue) {
		r.cache.Put(set, cache.RankGlue)
	}
}

// addressed reports whether every server of d has an address we may query.
func (r *Resolver) addressed(d delegation) bool {
	for _, ns := range d.servers {
		if !r.mayAskOne(d, ns.addrs) {
			return false
		}
	}
	return len(d.servers) > 0
}

// askServers is ask, unshared.
func (r *Resolver) askServers(ctx context.Context, q *query, d delegation, qname string, qtype uint16) (*reply, error) {
	s := r.newSelection(ctx, q, d)
	defer s.release()
	for {
		c, err := s.next(ctx)
		if err != nil {
			return nil, s.fail(err)
		}
		if c == nil {
			rep, err := s.exhausted()
			if err == nil && s.bogus == nil {
				r.validate(ctx, q, r.validationZone(d, qname), rep) // the empty or unsigned reply kept
			}
			return rep, err
		}
		rep, o, err := r.exchange(ctx, q, d, c, qname, qtype)
		switch {
		case ctx.Err() != nil:
			return nil, s.fail(ctx.Err())
		case errors.Is(err, ErrLimit):
			return nil, s.fail(err)
		case o == OutcomeAnswered && rep.empty:
			s.keepEmpty(c, rep) // another server may say more
			continue
		case o == OutcomeAnswered && !d.forwards() && r.dnssecLame(q, d.zone, rep) && s.lameCount < MaxBogusRetries:
			// No RRSIG at all from a server of a zone known to be
			// signed: ask another first (Unbound's dnssec-lame servers).
			// If every one answers so, the last reply is validated
			// (it may come from an unsigned child on the same servers).
			c.done, s.heard = true, true
			s.lameCount++
			s.lame = rep
			continue
		case o == OutcomeAnswered:
			r.validate(ctx, q, r.validationZone(d, qname), rep)
			if s.retryBogus(c, rep) {
				continue
			}
			return rep, nil
		}
		if err := s.failed(ctx, c, o, err); err != nil {
			return nil, s.fail(err)
		}
	}
}

// selection is the state of one ask: the candidates, the glueless
// servers still to look up, and what the failures said.
type selection struct {
	r     *Resolver
	q     *query
	d     delegation
	now   time.Time // when the ask began
	cands []*candidate
	// glueless: servers with no address we may query, to look up.
	glueless []string
	// lookups run in the background, a batch at a time; made with the
	// first batch (most delegations come with glue).
	lookups   *glueLookups
	pending   int
	lookupErr error
	lastErr   error  // the last server's failure, cause kept
	heard     bool   // some server replied, if unusably
	empty     *reply // the first empty authoritative reply
	pass      int    // passes over the candidates, up to MaxAttemptsPerAddr
	i         int    // the next candidate of this pass
	// parentTried: the parent's glue was added for a last pass.
	parentTried bool
	// bogus: the last reply that failed validation, and how many did.
	bogus      *reply
	bogusCount int
	// familiesLookedUp: after bogus replies, the servers known by one
	// address family only were queued for a lookup of the other.
	familiesLookedUp bool
	// lame: the last reply without any RRSIG from a signed zone's
	// server, and how many came.
	lame      *reply
	lameCount int
	// candBuf and candPtrs hold the candidates of a delegation with at
	// most inlineCands addresses (most have fewer): no allocation of
	// their own then.
	candBuf  [inlineCands]candidate
	candPtrs [inlineCands]*candidate
}

// inlineCands is how many candidates a selection holds in itself.
const inlineCands = 4

// dnssecLame reports whether rep, a usable reply of zone's server, has no
// RRSIG at all although zone is known to be signed.
func (r *Resolver) dnssecLame(q *query, zone string, rep *reply) bool {
	if r.val == nil || q.unvalidated || len(rep.sigs) > 0 || rep.kind == kindReferral || q.qtype == dns.TypeRRSIG {
		return false
	}
	if zk, ok := r.val.keys.Get(zone); ok && r.now().Before(zk.expires) {
		return zk.Status == dnssec.Secure
	}
	// Keys not fetched yet: a secure DS (a referral's) says it is signed.
	e, ok := r.cache.Get(zone, dns.TypeDS, dns.ClassINET)
	return ok && e.Negative == cache.Positive && e.Security == cache.Secure
}

// retryBogus reports whether to ask another server after rep: its own
// signatures or proofs failed, so another server may have good data (a
// spoofed reply, or one broken server among good ones). The last such
// reply is kept for when every server has been asked.
func (s *selection) retryBogus(c *candidate, rep *reply) bool {
	if rep.sec.Status != dnssec.Bogus || !rep.sec.fromReply || rep.sec.Exhausted || s.bogusCount >= MaxBogusRetries {
		return false
	}
	c.done = true
	s.bogusCount++
	s.bogus = rep
	s.heard = true
	return true
}

// selections keeps the selections of finished asks for the next ones:
// with their candidates, a fifth of a cold name's allocated bytes.
var selections = sync.Pool{New: func() any { return new(selection) }}

func (r *Resolver) newSelection(ctx context.Context, q *query, d delegation) *selection {
	s := selections.Get().(*selection) // zero
	s.r, s.q, s.d, s.now = r, q, d, r.now()
	n := 0
	for _, ns := range d.servers {
		n += len(ns.addrs)
	}
	// Room for the candidates a delegation brings, in s if they fit.
	// backing never grows: the candidates must not move.
	backing := s.candBuf[:0]
	s.cands = s.candPtrs[:0]
	if n > inlineCands {
		backing, s.cands = make([]candidate, 0, n), make([]*candidate, 0, n)
	}
	for _, ns := range d.servers {
		usable := 0
		for _, a := range ns.addrs {
			if r.mayAsk(d, a) {
				backing = append(backing, candidate{ns: ns.name, addr: a, port: d.portOf(a)})
				s.cands = append(s.cands, &backing[len(backing)-1])
				usable++
			}
		}
		// A server with no address we may query (none known, or only
		// ones we never send to, like ::1 as glue) is looked up: it
		// may have others.
		if usable == 0 && !q.looksUp(ns.name) {
			s.glueless = append(s.glueless, ns.name)
		}
	}
	if len(s.cands) == 0 {
		s.startLookups(ctx)
	}
	r.orderCandidates(s.cands, d.zone, s.now)
	return s
}

// release ends the ask: its lookups are stopped and waited for (close),
// and s, holding nothing any more, goes back to selections. No candidate
// of it may be used after.
func (s *selection) release() {
	s.close()
	*s = selection{}
	selections.Put(s)
}

// next returns the candidate to ask next, nil when every one is used up.
func (s *selection) next(ctx context.Context) (*candidate, error) {
	for s.pass < MaxAttemptsPerAddr {
		if s.lastErr != nil && !s.r.now().Before(s.now.Add(AskTimeBudget)) {
			s.lastErr = fmt.Errorf("no usable reply within %v: %w", AskTimeBudget, s.lastErr)
			return nil, nil
		}
		s.collect()
		if s.i >= len(s.cands) {
			if s.bogus != nil && s.pending == 0 && !s.familiesLookedUp {
				s.lookUpOtherFamilies(ctx)
			}
			s.startLookups(ctx)
			if s.pending > 0 {
				if err := s.await(ctx); err != nil {
					return nil, err
				}
				continue
			}
			s.endPass()
			continue
		}
		c := s.cands[s.i]
		s.i++
		if c.done || c.attempts > s.pass {
			continue
		}
		if s.r.infra.held(c.addr, s.now) {
			c.done = true
			s.lastErr = &ServerError{Outcome: OutcomeTimeout, Server: s.r.serverOf(c), NSName: c.ns, Err: errHeld}
			continue
		}
		c.attempts++
		c.deadline = s.now.Add(AskTimeBudget)
		return c, nil
	}
	return nil, nil
}

// errHeld: an address is held after repeated failures (RFC 9520).
var errHeld = errors.New("held after repeated failures")

// endPass starts the next pass over the candidates. After the last, the
// parent's glue may still work where the child's own address records are
// wrong (Unbound's parent-side fallback): one more pass over those.
func (s *selection) endPass() {
	s.pass++
	if s.pass == MaxAttemptsPerAddr && !s.parentTried {
		s.parentTried = true
		if s.r.addParentGlue(s.d, &s.cands) > 0 {
			s.pass--
		}
	}
	s.r.orderCandidates(s.cands, s.d.zone, s.now)
	s.i = 0
}

// failed notes a server's failure: servers that answered unusably are not
// asked again, and more glueless servers are looked up meanwhile. It
// returns an error when the query's failure budget is spent.
func (s *selection) failed(ctx context.Context, c *candidate, o Outcome, err error) error {
	if o != OutcomeTimeout && o != OutcomeNetError {
		c.done = true
		s.heard = true
	}
	s.lastErr = err
	b := s.q.budget
	if int(b.failures.Add(1)) >= b.limits.MaxFailures {
		return fmt.Errorf("%w: %d failed exchanges", ErrLimit, b.limits.MaxFailures)
	}
	s.startLookups(ctx)
	return nil
}

func (s *selection) keepEmpty(c *candidate, rep *reply) {
	c.done = true
	if s.empty == nil {
		s.empty = rep
	}
}

// fail is err as the error of asking d, with the servers tried.
func (s *selection) fail(err error) error {
	e := &Error{Zone: s.d.zone, Err: err}
	for _, c := range s.cands {
		e.Servers = append(e.Servers, s.r.serverOf(c))
	}
	return e
}

// exhausted ends an ask whose candidates are all used up.
func (s *selection) exhausted() (*reply, error) {
	if s.bogus != nil {
		return s.bogus, nil
	}
	if s.lame != nil {
		return s.lame, nil
	}
	if s.empty != nil {
		return s.empty, nil
	}
	if len(s.cands) == 0 && s.lookupErr != nil && (errors.Is(s.lookupErr, ErrLimit) || errors.Is(s.lookupErr, ErrLoop)) {
		return nil, s.fail(s.lookupErr)
	}
	if len(s.cands) == 0 && s.lastErr == nil {
		if len(s.d.servers) > 0 && !s.d.reachable(s.q) {
			return nil, s.fail(fmt.Errorf("%w: the name servers of %s depend on themselves", ErrLoop, s.d.zone))
		}
		if s.lookupErr != nil {
			return nil, s.fail(fmt.Errorf("%w: name server addresses: %w", ErrNoReachableServer, s.lookupErr))
		}
		return nil, s.fail(fmt.Errorf("%w: no usable server address", ErrNoReachableServer))
	}
	if s.lastErr == nil {
		return nil, s.fail(fmt.Errorf("%w: every server failed", ErrNoReachableServer))
	}
	if !s.heard {
		return nil, s.fail(fmt.Errorf("%w: %w: last: %w", ErrNoReachableServer, errNoReply, s.lastErr))
	}
	return nil, s.fail(fmt.Errorf("%w: last: %w", ErrNoReachableServer, s.lastErr))
}

// errNoReply: every server of a delegation was silent or unreachable; no
// reply came at all. Such a zone is remembered as down (deadZones).
var errNoReply = errors.New("no server replied")

// orderCandidates sorts cands best first: by the infra cache's order of
// their addresses, and those marked lame, refusing or failing for zone
// after all the others, so they are asked only when no other server
// answers. Candidates that share an address stay together, in the order
// they had.
func (r *Resolver) orderCandidates(cands []*candidate, zone string, now time.Time) {
	var addrBuf [16]netip.Addr
	addrs := addrBuf[:0]
	for _, c := range cands {
		if !slices.Contains(addrs, c.addr) {
			addrs = append(addrs, c.addr)
		}
	}
	r.infra.orderFor(addrs, zone, now)
	var candBuf [16]*candidate
	was := append(candBuf[:0], cands...)
	i := 0
	for _, a := range addrs {
		for _, c := range was {
			if c.addr == a {
				cands[i] = c
				i++
			}
		}
	}
}
