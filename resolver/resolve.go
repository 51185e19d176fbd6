package resolver

// The API stage: Resolve and ResolveCached, the checks on a client's
// question, coalescing of identical questions, and the client's answer
// built from a result. The walk (walk.go) does the work.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/dnssec"
	"github.com/recursor-dns/recursor/internal/dnsname"
)

// result is a resolution's outcome, shared by coalesced callers: never
// modify its slices.
type result struct {
	rcode  int
	answer []dns.RR // CNAME chain then the final RRset
	ns     []dns.RR // SOA of a negative answer
	// proof: the NSEC or NSEC3 records, with their RRSIGs, that the
	// names of the answer's wildcard-expanded RRsets (CNAMEs included)
	// do not exist (RFC 4035 section 3.1.3.3), for DO clients only.
	proof []dns.RR
	refs  *sectionRefs
	// loop: answer is a chain that comes back to a name it passed,
	// answered as it stands: only a DNAME into its own subtree
	// (classify), from a reply or the cache. Any other loop is ErrLoop
	// (lookup). fromCache leaves loops to the walk, so that the failure
	// cache answers the repeats of a failed one. A loop is no whole
	// answer: never AD.
	loop bool
	// sec is the verdict on the whole answer: the weakest of its RRsets'.
	sec check
	// verifications: the signature checks the walk made (0 from the cache)
	verifications int
	// stale: an RRset of the answer had expired (serve-stale, stale.go).
	stale bool
	// prefetchAt: when the first RRset of a cached answer that may be
	// prefetched enters the last tenth of its TTL, in Unix nanoseconds
	// (0: none may), and prefetchName the name of an RRset that is there
	// already ("": none).
	prefetchAt   int64
	prefetchName string
	// local: an answer of Config.LocalData, authoritative (AA), with no
	// sections from the cache; drop: its zone says to send nothing;
	// alias: the target of its CNAME, to be resolved (localdata.go).
	local, drop bool
	alias       string
}

// sectionRefs name what the authoritative reply of an answer carried in
// its authority and additional sections: the zone's NS set and the
// addresses of its servers. Non-minimal responses repeat them, read afresh
// from the cache, as Unbound's message cache does.
type sectionRefs struct {
	nsOwner string
	glue    []string
}

func refsOf(rep *reply) *sectionRefs {
	if rep.authNS == nil {
		return nil
	}
	refs := &sectionRefs{nsOwner: rep.authNS[0].Header().Name}
	for _, g := range rep.glue {
		if name := cache.Canonical(g.Header().Name); !slices.Contains(refs.glue, name) {
			refs.glue = append(refs.glue, name)
		}
	}
	return refs
}

// Resolve answers name and qtype (class IN) by iteration, from the cache
// where it can. NXDOMAIN and NODATA are answers (the message's Rcode says
// which); an error, a *Error, means no answer could be had: an answer
// that fails DNSSEC validation is one (ErrBogus). A validated answer has
// AD set. The returned message is the caller's to change; its records
// are shared, not to be changed.
func (r *Resolver) Resolve(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	a, err := r.Query(ctx, name, qtype, Options{})
	return a.Msg, err
}

// ResolveCached answers name and qtype from the cache alone, as for a
// client query without RD. It reports false when the cache cannot answer.
func (r *Resolver) ResolveCached(name string, qtype uint16) (*dns.Msg, bool) {
	a, ok := r.QueryCached(name, qtype, Options{})
	return a.Msg, ok && a.Msg != nil
}

// Options are the flags of a client's question that shape its answer.
type Options struct {
	// DNSSECOK (the DO bit): the answer carries its RRSIGs and, for
	// negative and wildcard answers, the NSEC or NSEC3 records that
	// prove them.
	DNSSECOK bool
	// CheckingDisabled (the CD bit): data that fails validation is
	// returned all the same, without AD, rather than failing with
	// ErrBogus.
	CheckingDisabled bool
	// WillRecurse tells QueryCached that Query follows when it cannot
	// answer (a client query with RD): expired data is then left to
	// Query, which tries a refresh before it serves it stale.
	WillRecurse bool

	// Client and TCP: who asked and how, for the response policy
	// (Config.Policy): its log lines name the client, and its TCP-only
	// action answers over TCP alone.
	Client netip.Addr
	TCP    bool
}

// Answer is a response with its DNSSEC verdict.
type Answer struct {
	Msg *dns.Msg
	// Security is dnssec.Secure when every RRset of the answer (and the
	// proof of a negative one) validated: then Msg has AD. Insecure:
	// proven unsigned (an insecure delegation, a negative trust anchor,
	// an unsupported algorithm). Indeterminate: not validated (validation
	// off, or no trust anchor above the name). Bogus only comes with
	// CheckingDisabled; otherwise a bogus answer is an error.
	Security dnssec.Status
	// EDE and Why say why an answer is not secure, when known.
	EDE uint16
	Why string
	// Verifications counts the signature checks that finding the answer
	// took (0 for an answer from the cache); at most
	// dnssec.Limits.MaxVerificationsPerQuery.
	Verifications int
	// Stale: the answer is expired data served stale (RFC 8767): its
	// TTLs are Stale.ReplyTTL, and EDE is 3 (Stale Answer), or 19 (Stale
	// NXDOMAIN Answer) for an NXDOMAIN. It keeps the Security it was
	// cached with: a stale secure answer has AD, as in Unbound.
	Stale bool
	// PrefetchAt is when a cached answer's prefetch is due: a cache hit
	// from then on starts a refresh. Zero when none will (prefetch off,
	// TTLs under MinPrefetchTTL, an answer not from the cache). Answer
	// caches in front of the resolver (the server's) use it to send that
	// hit to the resolver.
	PrefetchAt time.Time

	// Policy names the response policy (Config.Policy) that made the
	// answer (a TCP-only name's over TCP too), "" when none did: such an
	// answer is never cached, and its EDE is 15 (Blocked) for NXDOMAIN
	// and NODATA, 4 (Forged Answer) for local data.
	Policy string
	// Drop: send the client nothing. A local zone of type deny says so
	// (Msg is then a REFUSED for callers that must answer all the same),
	// or the response policy does (Msg is nil and Query also returns
	// ErrPolicyDrop).
	Drop bool
}

// Query is Resolve with the client's flags, returning the verdict too.
// An expired answer that may be served stale (Config.Stale) is given
// when its refresh fails or takes longer than Stale.ClientTimeout.
func (r *Resolver) Query(ctx context.Context, name string, qtype uint16, opts Options) (Answer, error) {
	qname, err := checkQuestion(name, qtype)
	if err != nil {
		return Answer{}, &Error{Qname: name, Qtype: qtype, Err: err}
	}
	if r.policy != nil {
		p := policyRun{r: r, ctx: ctx, qtype: qtype, opts: opts}
		a, _, err := p.query(qname, name, 0)
		return a, err
	}
	return r.query(ctx, qname, name, qtype, opts)
}

// query is Query after the question's checks and the policy.
func (r *Resolver) query(ctx context.Context, qname, name string, qtype uint16, opts Options) (Answer, error) {
	if res, ok := r.fromCache(qname, qtype); ok {
		if res.alias != "" {
			return r.followAlias(ctx, res, name, qtype, opts)
		}
		r.prefetchIfDue(res.prefetchName, qtype)
		return r.answer(res, name, qtype, opts)
	}
	key := flightKey(qname, qtype)
	stale, hasStale := r.staleFromCache(qname, qtype)
	if hasStale && (r.stale.ClientTimeout < 0 || r.staleHeld(key)) {
		if !r.staleHeld(key) && !r.refreshLater(qname, qtype) {
			r.walk(context.WithoutCancel(ctx), key, qname, qtype, false) // no Run: a client's walk
		}
		return r.answer(stale, name, qtype, opts)
	}
	if err := r.failed.get(key, r.now); err != nil {
		if hasStale {
			return r.answer(stale, name, qtype, opts)
		}
		return Answer{}, err
	}
	// The walk belongs to every waiter: it is not cancelled when the
	// first caller gives up.
	f := r.walk(context.WithoutCancel(ctx), key, qname, qtype, false)
	var timeout <-chan time.Time
	if hasStale {
		timeout = r.after(r.stale.ClientTimeout)
	}
	select {
	case <-ctx.Done():
		return Answer{}, &Error{Qname: qname, Qtype: qtype, Err: ctx.Err()}
	case <-timeout:
		return r.answer(stale, name, qtype, opts)
	case <-f.Done():
		fresh, err := f.Result()
		if err != nil {
			if hasStale {
				return r.answer(stale, name, qtype, opts)
			}
			return Answer{}, err
		}
		if hasStale && r.val != nil && fresh.sec.Status == dnssec.Bogus {
			return r.answer(stale, name, qtype, opts) // a bogus refresh is a failed one
		}
		return r.answer(fresh, name, qtype, opts)
	}
}

// QueryCached is ResolveCached with the client's flags. For bogus data
// in the cache it reports true with an Answer whose Msg is nil and whose
// Security is dnssec.Bogus: the question has a cached answer, SERVFAIL.
// Unless opts.WillRecurse, an expired answer that may be served stale is
// given (its refresh started in the background, see Run).
func (r *Resolver) QueryCached(name string, qtype uint16, opts Options) (Answer, bool) {
	qname, err := checkQuestion(name, qtype)
	if err != nil {
		return Answer{}, false
	}
	if r.policy != nil {
		p := policyRun{r: r, ctx: context.Background(), qtype: qtype, opts: opts, cachedOnly: true}
		a, ok, _ := p.query(qname, name, 0)
		return a, ok
	}
	return r.queryCached(qname, name, qtype, opts)
}

// queryCached is QueryCached after the question's checks and the policy.
func (r *Resolver) queryCached(qname, name string, qtype uint16, opts Options) (Answer, bool) {
	res, ok := r.fromCache(qname, qtype)
	if ok && res.alias != "" {
		return r.followAliasCached(res, name, qtype, opts)
	}
	if ok {
		r.prefetchIfDue(res.prefetchName, qtype)
	} else {
		res, ok = r.provenFromCache(qname, qtype)
	}
	if !ok && !opts.WillRecurse {
		if res, ok = r.staleFromCache(qname, qtype); ok && !r.staleHeld(flightKey(qname, qtype)) {
			r.refreshLater(qname, qtype)
		}
	}
	if !ok {
		return Answer{}, false
	}
	a, err := r.answer(res, name, qtype, opts)
	var ve *ValidationError
	if errors.As(err, &ve) {
		// Bogus data in the cache: no message, and the verdict that
		// makes it a SERVFAIL (a client without RD gets that too).
		return Answer{Security: dnssec.Bogus, EDE: ve.EDE, Why: ve.Why}, true
	}
	if err != nil {
		return Answer{}, false
	}
	return a, true
}

// provenFromCache is the negative answer that cached, validated denials
// prove for qname with no query: an NXDOMAIN above it (RFC 8020) or
// aggressive NSEC (RFC 8198), as the walk would find them.
func (r *Resolver) provenFromCache(qname string, qtype uint16) (result, bool) {
	if res, ok := r.belowNXDomain(qname); ok {
		return res, true
	}
	if r.val == nil || r.val.nsecs.zones.Len() == 0 {
		return result{}, false // no denial kept: spare every miss a query and budget
	}
	q := newQuery(qname, qtype, r.limits)
	if r.val != nil {
		q.budget.sec = dnssec.NewBudget(r.val.limits)
	}
	return r.synthesise(context.Background(), q, qname, qtype)
}

// answer is the client's answer from a result: an error when it is bogus
// and the client did not disable checking.
func (r *Resolver) answer(res result, name string, qtype uint16, opts Options) (Answer, error) {
	sec := res.sec
	if r.val == nil {
		sec = check{}
	}
	if c, ok := r.sentinelFailure(name, qtype, sec); ok && !opts.CheckingDisabled {
		sec = c
	}
	r.metrics.Answer(sec.Status)
	if sec.Status == dnssec.Bogus && !opts.CheckingDisabled {
		return Answer{}, &Error{Qname: name, Qtype: qtype, Err: &ValidationError{EDE: sec.EDE, Why: sec.Why, Verifications: res.verifications}}
	}
	m := r.respond(res, name, qtype)
	if opts.DNSSECOK && len(res.proof) > 0 {
		m.Ns = slices.Concat(m.Ns, res.proof)
	}
	// A chain that loops or a DNAME that overflows is no whole answer:
	// no AD for it (as Unbound and Knot).
	whole := !res.loop && res.rcode != dns.RcodeYXDomain
	m.AuthenticatedData = sec.Status == dnssec.Secure && !opts.CheckingDisabled && whole
	if !opts.DNSSECOK {
		m.Answer, m.Ns, m.Extra = withoutDNSSEC(m.Answer, qtype), withoutDNSSEC(m.Ns, qtype), withoutDNSSEC(m.Extra, qtype)
	}
	a := Answer{Msg: m, Security: sec.Status, EDE: sec.EDE, Why: sec.Why, Verifications: res.verifications, Drop: res.drop}
	if res.stale {
		// The expired RRsets' TTLs are the stale reply TTL (cacheGet).
		a.Stale = true
		a.EDE, a.Why = staleEDE(m.Rcode)
		r.metrics.StaleAnswer()
	} else if r.prefetch {
		if res.prefetchAt != 0 {
			a.PrefetchAt = time.Unix(0, res.prefetchAt)
		}
	}
	return a, nil
}

// withoutDNSSEC drops the RRSIG, NSEC and NSEC3 records that a client
// without DO did not ask for (RFC 4035 section 3.2.1), copying rrs only
// when there are some.
func withoutDNSSEC(rrs []dns.RR, qtype uint16) []dns.RR {
	isSec := func(rr dns.RR) bool {
		t := rr.Header().Rrtype
		return t != qtype && (t == dns.TypeRRSIG || t == dns.TypeNSEC || t == dns.TypeNSEC3)
	}
	if !slices.ContainsFunc(rrs, isSec) {
		return rrs
	}
	return slices.DeleteFunc(slices.Clone(rrs), isSec)
}

// respond builds the response message for a result. With non-minimal
// responses, a positive answer also carries the NS set of the zone it came
// from and the addresses of those servers, as the cache knows them.
func (r *Resolver) respond(res result, name string, qtype uint16) *dns.Msg {
	m := msgWithQuestion(dns.Fqdn(name), qtype)
	m.Response, m.RecursionAvailable = true, true
	m.Rcode = res.rcode
	m.Answer, m.Ns = res.answer, res.ns
	if res.local {
		m.Authoritative = true
		return m
	}
	if !r.nonMinimal && qtype == dns.TypeNS && res.rcode == dns.RcodeSuccess && len(res.ns) == 0 {
		// Even minimal responses give an NS answer its servers'
		// addresses, as Unbound does: the asker needs them next.
		if n := len(res.answer); n > 0 && res.answer[n-1].Header().Rrtype == dns.TypeNS {
			m.Extra = r.glueOf(res.answer[n-1].Header().Name, res.answer)
		}
	}
	if r.nonMinimal && res.rcode == dns.RcodeSuccess && len(res.ns) == 0 {
		refs := res.refs
		if refs == nil {
			qname, _ := dnsname.Canonical(name) // checkQuestion passed it
			refs, _ = r.msgRefs.Get(qname + "/" + dns.TypeToString[qtype])
		}
		var last dns.RR
		if n := len(res.answer); n > 0 {
			last = res.answer[n-1]
		}
		switch {
		case qtype == dns.TypeNS && last != nil && last.Header().Rrtype == dns.TypeNS:
			m.Extra = r.glueOf(last.Header().Name, res.answer)
		case refs != nil:
			m.Ns, m.Extra = r.sections(refs, r.val != nil && res.sec.Status == dnssec.Secure, res.stale)
		}
		// An RRset appears once in a message: addresses already in the
		// answer are not repeated as additional data (as Unbound).
		m.Extra = slices.DeleteFunc(slices.Clone(m.Extra), func(rr dns.RR) bool {
			h := rr.Header()
			return slices.ContainsFunc(m.Answer, func(a dns.RR) bool {
				return a.Header().Rrtype == h.Rrtype && sameName(a.Header().Name, h.Name)
			})
		})
	}
	return m
}

// msgWithQuestion returns a message whose question is name, qtype, class
// IN: one allocation for the message and its question section.
func msgWithQuestion(name string, qtype uint16) *dns.Msg {
	mq := &struct {
		msg dns.Msg
		q   [1]dns.Question
	}{q: [1]dns.Question{{Name: name, Qtype: qtype, Qclass: dns.ClassINET}}}
	mq.msg.Question = mq.q[:]
	return &mq.msg
}

// sections reads the records refs names from the cache; beside a secure
// answer only secure ones (Unbound's val-clean-additional: an unsigned NS
// set in a signed zone may be a forwarder's insertion).
// A stale answer takes stale records too.
func (r *Resolver) sections(refs *sectionRefs, secureOnly, stale bool) (ns, extra []dns.RR) {
	usable := func(e cache.Entry) bool {
		return e.Negative == cache.Positive && (!secureOnly || e.Security == cache.Secure)
	}
	var fr freshness
	if e, ok := r.cacheGet(refs.nsOwner, dns.TypeNS, stale, &fr); ok && usable(e) {
		ns = append(e.RRs, e.Sigs...) // the RRSIGs go to DO clients only
	}
	for _, name := range refs.glue {
		for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
			if e, ok := r.cacheGet(name, t, stale, &fr); ok && usable(e) {
				extra = append(extra, e.RRs...)
				extra = append(extra, e.Sigs...)
			}
		}
	}
	return ns, extra
}

// glueOf returns the cached addresses of the servers in ns whose names lie
// inside zone (as glue would: out-of-zone addresses are another zone's).
func (r *Resolver) glueOf(zone string, ns []dns.RR) []dns.RR {
	var out []dns.RR
	for _, rr := range ns {
		n, ok := rr.(*dns.NS)
		if !ok || !inZone(n.Ns, zone) {
			continue
		}
		for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
			if e, ok := r.cache.Get(n.Ns, t, dns.ClassINET); ok && e.Negative == cache.Positive {
				out = append(out, e.RRs...)
			}
		}
	}
	return out
}

// checkQuestion canonicalises name and rejects questions that cannot be
// resolved by iteration.
func checkQuestion(name string, qtype uint16) (string, error) {
	qname, err := dnsname.Canonical(name)
	if err != nil || len(qname) > 255 {
		return "", fmt.Errorf("%w: malformed name %q", ErrBadName, name)
	}
	switch qtype {
	case dns.TypeNone, dns.TypeOPT, dns.TypeAXFR, dns.TypeIXFR, dns.TypeANY, dns.TypeMAILA, dns.TypeMAILB, dns.TypeTSIG, dns.TypeTKEY:
		return "", fmt.Errorf("%w: type %s", ErrBadName, dns.TypeToString[qtype])
	}
	return qname, nil
}

// soaRRs is the authority section of a fresh negative answer: the SOA with
// the TTL it is cached for (RFC 2308 section 3).
func (r *Resolver) soaRRs(soa *dns.SOA) []dns.RR {
	if soa == nil {
		return nil
	}
	s := *soa
	s.Hdr.Ttl = r.cache.NegativeTTL(soa)
	return []dns.RR{&s}
}
