package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/dnssec"
	"github.com/recursor-dns/recursor/resolver"
)

// headerLen is the fixed DNS header; anything shorter is not answered.
const headerLen = 12

// errBusy is the SERVFAIL reason when a limit turns a query away.
var errBusy = errors.New("server busy: too many queries waiting")

// Handle answers one parsed client query, as the listeners do: the access
// list, the checks, the cache and the engine, EDNS and, over UDP,
// truncation to the client's buffer. It returns nil when the query gets no
// answer (a response sent to us, a denied client, or a UDP query over a
// limit). The returned
// message is the caller's; req is not changed.
func (s *Server) Handle(ctx context.Context, req *dns.Msg, client netip.AddrPort, tcp bool) *dns.Msg {
	s.stats.queries.Add(1)
	resp, pending, _ := s.serve(req, client, transportOf(tcp))
	if pending != nil {
		resp = s.resolvePending(ctx, pending)
	}
	return resp
}

// HandlePacket answers one client query in wire format, as the listeners
// do. The response is packed into buf (grown when too small) and returned;
// nil means no answer is sent. Bytes that do not parse get FORMERR when
// their header does, else nothing.
func (s *Server) HandlePacket(ctx context.Context, query []byte, client netip.AddrPort, tcp bool, buf []byte) []byte {
	return s.handlePacket(ctx, query, client, transportOf(tcp), buf)
}

// handlePacket is HandlePacket for a query that came over via.
func (s *Server) handlePacket(ctx context.Context, query []byte, client netip.AddrPort, via Transport, buf []byte) []byte {
	if out, ok := s.answerFast(query, client, via, buf); ok {
		return out
	}
	received := s.tapNow()
	resp, pending, hit := s.servePacket(query, client, via)
	if pending != nil {
		resp = s.resolvePending(ctx, pending)
	}
	if resp == nil {
		s.tapClient(client, via, query, nil, received)
		return nil
	}
	out := s.pack(resp, buf)
	if hit != nil {
		s.storeAnswer(query, out, hit)
	}
	s.tapClient(client, via, query, out, received)
	return out
}

// servePacket parses query and serves it as serve does. query may be
// reused as soon as it returns. hit, when not nil, is a query answered
// from the engine's cache, which the answer cache may keep.
func (s *Server) servePacket(query []byte, client netip.AddrPort, via Transport) (resp *dns.Msg, pending *query, hit *query) {
	s.stats.queries.Add(1)
	if len(query) < headerLen {
		s.stats.dropped.Add(1)
		return nil, nil, nil
	}
	req := new(dns.Msg)
	if err := req.Unpack(query); err != nil {
		// Unpack sets the header before it reads the body.
		return s.serveMalformed(req, client, via, err), nil, nil
	}
	return s.serve(req, client, via)
}

// serveMalformed answers a query whose header parsed but whose body did
// not: FORMERR without question or EDNS, since neither can be trusted.
func (s *Server) serveMalformed(hdr *dns.Msg, client netip.AddrPort, via Transport, err error) *dns.Msg {
	if hdr.Response {
		s.stats.dropped.Add(1)
		return nil
	}
	q := &query{req: &dns.Msg{MsgHdr: hdr.MsgHdr}, client: client, tcp: via.Stream(), via: via, start: time.Now()}
	switch s.access.action(client.Addr()) {
	case ActionDeny, ActionDenyNonLocal:
		s.stats.dropped.Add(1)
		return nil
	case ActionRefuse, ActionRefuseNonLocal:
		return s.finish(q, s.refuse(q, dns.ExtendedErrorCodeProhibited, "client not allowed"), false)
	}
	s.log.Debug("malformed query", "client", client, "err", err)
	return s.finish(q, s.errorReply(dns.RcodeFormatError), false)
}

// query is one client query on its way through the server.
type query struct {
	req    *dns.Msg
	client netip.AddrPort
	tcp    bool      // over a stream: via is not UDP
	via    Transport // how the query came
	start  time.Time
	edns   *dns.OPT // the client's OPT record, nil without EDNS
	ede    *dns.EDNS0_EDE
	wire   []byte // the query as received, kept for a tap while it is resolved
	// stale: answered with expired data (RFC 8767); prefetchAt: when the
	// cached answer's prefetch is due (zero: never).
	stale      bool
	prefetchAt time.Time
	// security: the DNSSEC verdict of a cached answer, for the metrics
	// of its ready-packed repeats.
	security dnssec.Status
	// drop: the engine says to send nothing (resolver.Answer.Drop: a
	// local zone of type deny, or the response policy's DROP).
	drop bool
	// policy: the response policy made the answer (never kept);
	// policyTC: it says to answer with TC.
	policy, policyTC bool
	// cookie: the COOKIE option of the answer (nil: none); truncate: the
	// answer is sent with TC set (cookies.go).
	cookie   *dns.EDNS0_COOKIE
	truncate bool
}

// serve is the one path of every client query. It runs the checks and the
// cache and returns the response, or nil to drop the query. When the query
// needs the engine it returns it as pending instead, holding a limiter
// slot: the caller runs resolvePending, inline or on a goroutine. hit is
// q when the engine's cache answered it with fresh data.
func (s *Server) serve(req *dns.Msg, client netip.AddrPort, via Transport) (resp *dns.Msg, pending, hit *query) {
	q := &query{req: req, client: client, tcp: via.Stream(), via: via, start: time.Now()}
	defer s.recoverQuery(q, &resp)
	resp, cached, final := s.prepare(q)
	if final {
		if resp == nil {
			s.stats.dropped.Add(1)
			return nil, nil, nil
		}
		if cached {
			s.stats.cacheHits.Add(1)
			if !q.stale && !q.policy {
				hit = q
			}
		}
		return s.finish(q, resp, cached), nil, hit
	}
	if !s.limiter.acquire(client.Addr().Unmap()) {
		if !q.tcp {
			// Like Unbound when its request list is full: drop, and the
			// client retries; an answer would aid reflection floods.
			s.stats.dropped.Add(1)
			return nil, nil, nil
		}
		return s.finish(q, s.servfail(q, errBusy), false), nil, nil
	}
	return nil, q, nil
}

// resolvePending asks the engine for a query serve returned as pending,
// and releases its limiter slot.
func (s *Server) resolvePending(ctx context.Context, q *query) (resp *dns.Msg) {
	defer s.limiter.release(q.client.Addr().Unmap())
	defer s.recoverQuery(q, &resp)
	resp = s.resolve(ctx, q)
	if resp == nil {
		return nil // dropped: counted by resolve
	}
	return s.finish(q, resp, false)
}

// recoverQuery is the last line of defence: a panic while serving one
// query is logged and answered SERVFAIL, and the server goes on.
func (s *Server) recoverQuery(q *query, resp **dns.Msg) {
	v := recover()
	if v == nil {
		return
	}
	s.stats.panics.Add(1)
	s.log.Error("panic serving query", "client", q.client, "panic", v, "stack", string(debug.Stack()))
	m := s.errorReply(dns.RcodeServerFailure)
	m.Id, m.Response, m.Opcode, m.RecursionAvailable = q.req.Id, true, q.req.Opcode, true
	m.RecursionDesired = q.req.RecursionDesired
	*resp = m
	defer func() { _ = recover() }() // keep the bare SERVFAIL if finish is what panics
	q.ede = &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeOther, ExtraText: "internal error"}
	*resp = s.finish(q, s.errorReply(dns.RcodeServerFailure), false)
}

// prepare runs the checks and the cache. final reports whether resp is the
// answer (nil: drop); otherwise the query needs the engine.
func (s *Server) prepare(q *query) (resp *dns.Msg, cached, final bool) {
	req := q.req
	if req.Response {
		return nil, false, true // never answer an answer: no loops between servers
	}
	opt, ednsOK := clientEDNS(req)
	action := s.access.action(q.client.Addr())
	switch action {
	case ActionDeny:
		return nil, false, true
	case ActionRefuse:
		if ednsOK && opt != nil && opt.Version() == 0 {
			q.edns = opt // so the refusal can say why
		}
		return s.refuse(q, dns.ExtendedErrorCodeProhibited, "client not allowed"), false, true
	}
	if req.Opcode != dns.OpcodeQuery {
		return s.errorReply(dns.RcodeNotImplemented), false, true
	}
	if len(req.Question) != 1 || !ednsOK {
		return s.errorReply(dns.RcodeFormatError), false, true
	}
	q.edns = opt
	if opt != nil && opt.Version() != 0 {
		return s.errorReply(dns.RcodeBadVers), false, true // RFC 6891 6.1.3
	}
	if m := s.checkCookie(q, opt); m != nil {
		return m, false, true
	}
	question := req.Question[0]
	if question.Qclass == dns.ClassCHAOS {
		return s.chaos(q, question), false, true
	}
	if action == ActionRefuseNonLocal || action == ActionDenyNonLocal {
		if !s.isLocal(question) {
			if action == ActionDenyNonLocal {
				return nil, false, true
			}
			return s.refuse(q, dns.ExtendedErrorCodeProhibited, "client allowed local data only"), false, true
		}
		action = ActionAllow
	}
	if resp := s.unserved(q, question); resp != nil {
		return resp, false, true
	}
	if !req.RecursionDesired && action == ActionAllow && !s.isLocal(question) {
		// As Unbound's allow: answering RD=0 from the cache would let
		// anyone see what others asked (cache snooping).
		return s.refuse(q, dns.ExtendedErrorCodeNotAuthoritative, "recursion not desired: the cache is not shown to this client"), false, true
	}
	m, ok := s.cachedAnswer(q)
	if q.drop {
		return nil, false, true // a deny local zone or the policy's DROP
	}
	if ok && m != nil {
		return s.fromBackend(m), true, true
	}
	if !req.RecursionDesired {
		// allow_snoop: the closest cached delegation, as Unbound hands
		// out; with none, REFUSED (RFC 8914's Not Authoritative says why).
		if m, ok := s.cachedReferral(q); ok {
			return m, false, true
		}
		return s.refuse(q, dns.ExtendedErrorCodeNotAuthoritative, "not in cache and recursion not desired"), false, true
	}
	return nil, false, false
}

// unserved answers the questions never asked of the engine: classes
// other than IN, zone transfers, meta types and ANY. Nil for the rest.
func (s *Server) unserved(q *query, question dns.Question) *dns.Msg {
	if question.Qclass != dns.ClassINET {
		return s.refuse(q, dns.ExtendedErrorCodeNotSupported, "only class IN is served")
	}
	switch t := question.Qtype; {
	case t == dns.TypeANY:
		return ANYAnswer(question)
	case t == dns.TypeAXFR || t == dns.TypeIXFR:
		return s.refuse(q, dns.ExtendedErrorCodeNotSupported, "zone transfers are not served")
	case t == dns.TypeNone || t == dns.TypeOPT:
		return s.errorReply(dns.RcodeFormatError)
	case t >= 128 && t <= 254: // the other meta types (RFC 6895 3.1)
		return s.errorReply(dns.RcodeNotImplemented)
	}
	return nil
}

// isLocal reports whether question is answered from local data.
func (s *Server) isLocal(question dns.Question) bool {
	return s.cfg.Local != nil && s.cfg.Local(question.Name, question.Qtype)
}

// resolve asks the engine, within the query timeout.
func (s *Server) resolve(ctx context.Context, q *query) *dns.Msg {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	m, err := s.resolveAnswer(ctx, q)
	s.stats.resolved.Add(1)
	if q.drop {
		s.stats.dropped.Add(1)
		return nil
	}
	if err == nil && m == nil {
		err = errors.New("backend returned no message")
	}
	if err != nil {
		return s.servfail(q, err)
	}
	return s.fromBackend(m)
}

// fromBackend copies what we send of a backend's message into one of our
// own, so that patching the header, EDNS and truncation never touch it.
// Answer and authority slices are shared and only ever re-sliced shorter.
func (s *Server) fromBackend(m *dns.Msg) *dns.Msg {
	out := &dns.Msg{Answer: m.Answer, Ns: m.Ns}
	out.Rcode = m.Rcode
	out.Authoritative = m.Authoritative // local data (resolver.Config.LocalData)
	out.AuthenticatedData = m.AuthenticatedData
	for _, rr := range m.Extra {
		if rr.Header().Rrtype != dns.TypeOPT {
			out.Extra = append(out.Extra, rr)
		}
	}
	return out
}

// servfail is the one mapping of an engine error to a response: SERVFAIL
// with an Extended DNS Error (RFC 8914) saying why.
func (s *Server) servfail(q *query, err error) *dns.Msg {
	code, text := resolver.ExtendedError(err)
	if errors.Is(err, errBusy) {
		code, text = dns.ExtendedErrorCodeOther, errBusy.Error()
	}
	q.ede = &dns.EDNS0_EDE{InfoCode: code, ExtraText: text}
	level := slog.LevelDebug
	if s.cfg.LogServfail {
		level = slog.LevelInfo // Unbound's log-servfail
	}
	if s.log.Enabled(context.Background(), level) {
		question := q.req.Question[0]
		s.log.LogAttrs(context.Background(), level, "servfail",
			slog.String("client", q.client.String()),
			slog.String("name", question.Name),
			slog.String("type", typeString(question.Qtype)),
			slog.Int("ede", int(code)),
			slog.String("reason", err.Error()))
	}
	return s.errorReply(dns.RcodeServerFailure)
}

// refuse answers REFUSED with an Extended DNS Error.
func (s *Server) refuse(q *query, code uint16, text string) *dns.Msg {
	q.ede = &dns.EDNS0_EDE{InfoCode: code, ExtraText: text}
	return s.errorReply(dns.RcodeRefused)
}

func (s *Server) errorReply(rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.Rcode = rcode
	return m
}

// ANYAnswer is how recursor answers a question of type ANY: minimally
// (RFC 8482 4.2), one synthesised HINFO "RFC8482", without asking the
// engine. The sections other than the answer are the caller's to fill.
func ANYAnswer(question dns.Question) *dns.Msg {
	m := new(dns.Msg)
	m.Answer = []dns.RR{&dns.HINFO{
		Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeHINFO, Class: dns.ClassINET, Ttl: 3600},
		Cpu: "RFC8482",
	}}
	return m
}

// clientEDNS returns the query's OPT record. ok is false when EDNS is
// malformed: more than one OPT, or one outside the additional section or
// not owned by the root (RFC 6891 6.1.1).
func clientEDNS(req *dns.Msg) (opt *dns.OPT, ok bool) {
	for _, rr := range req.Answer {
		if rr.Header().Rrtype == dns.TypeOPT {
			return nil, false
		}
	}
	for _, rr := range req.Ns {
		if rr.Header().Rrtype == dns.TypeOPT {
			return nil, false
		}
	}
	for _, rr := range req.Extra {
		o, isOPT := rr.(*dns.OPT)
		if !isOPT {
			continue
		}
		if opt != nil || o.Hdr.Name != "." {
			return nil, false
		}
		opt = o
	}
	return opt, true
}

// finish makes resp (a message we created) the answer to q: header, the
// client's question, EDNS, truncation; and logs the query.
func (s *Server) finish(q *query, resp *dns.Msg, cached bool) *dns.Msg {
	req := q.req
	resp.Id = req.Id
	resp.Response = true
	resp.Opcode = req.Opcode
	resp.RecursionDesired = req.RecursionDesired
	resp.CheckingDisabled = req.CheckingDisabled
	resp.RecursionAvailable = true
	// AD only for a client that can tell (RFC 6840 section 5.7): one that
	// set DO or AD.
	do := q.edns != nil && q.edns.Do()
	resp.AuthenticatedData = resp.AuthenticatedData && (do || req.AuthenticatedData)
	resp.Zero, resp.Truncated = false, false
	if len(req.Question) == 1 && resp.Rcode != dns.RcodeFormatError {
		resp.Question = req.Question // the client's case, echoed
	} else {
		resp.Question = nil
	}
	size := dns.MaxMsgSize
	if q.edns != nil {
		opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		opt.SetUDPSize(uint16(s.cfg.MaxUDPSize))
		if q.edns.Do() {
			opt.SetDo() // RFC 3225 section 3
		}
		if q.ede != nil {
			opt.Option = []dns.EDNS0{q.ede}
		}
		if s.nsid != "" && wantsNSID(q.edns) {
			opt.Option = append(opt.Option, &dns.EDNS0_NSID{Code: dns.EDNS0NSID, Nsid: s.nsid})
		}
		if q.cookie != nil {
			opt.Option = append(opt.Option, q.cookie)
		}
		resp.Extra = append(resp.Extra[:len(resp.Extra):len(resp.Extra)], opt)
		if !q.tcp {
			size = min(max(int(q.edns.UDPSize()), dns.MinMsgSize), s.cfg.MaxUDPSize)
		}
	} else if !q.tcp {
		size = dns.MinMsgSize
	}
	answer, ns := resp.Answer, resp.Ns
	resp.Truncate(size)
	if q.policyTC {
		resp.Truncated = true
	}
	if resp.Truncated {
		// Truncate cuts between records; a partial RRset would be cached
		// by the client as if whole (RFC 2181 9), so cut between RRsets.
		resp.Answer = wholeRRsets(answer, len(resp.Answer))
		resp.Ns = wholeRRsets(ns, len(resp.Ns))
	}
	resp.Truncated = resp.Truncated || q.truncate
	if resp.Rcode == dns.RcodeServerFailure {
		s.stats.servFail.Add(1)
	}
	s.countQuery(q, resp.Rcode, cached)
	if s.cfg.LogQueries {
		s.logQuery(q, resp, cached)
	}
	return resp
}

// wholeRRsets returns the first n records of rrs, less the records of an
// RRset that does not fit whole.
func wholeRRsets(rrs []dns.RR, n int) []dns.RR {
	if n >= len(rrs) {
		return rrs
	}
	cut := rrs[n].Header()
	for n > 0 {
		h := rrs[n-1].Header()
		if h.Rrtype != cut.Rrtype || h.Class != cut.Class || !strings.EqualFold(h.Name, cut.Name) {
			break
		}
		n--
	}
	return rrs[:n]
}

func (s *Server) logQuery(q *query, resp *dns.Msg, cached bool) {
	name, qtype := "", ""
	if len(q.req.Question) == 1 {
		name, qtype = q.req.Question[0].Name, typeString(q.req.Question[0].Qtype)
	}
	ede := -1
	if q.ede != nil {
		ede = int(q.ede.InfoCode)
	}
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "query",
		slog.String("client", q.client.String()),
		slog.String("proto", q.via.String()),
		slog.String("name", name),
		slog.String("type", qtype),
		slog.String("rcode", rcodeString(resp.Rcode)),
		slog.Duration("duration", time.Since(q.start)),
		slog.Bool("cached", cached),
		slog.Bool("rd", q.req.RecursionDesired),
		slog.Bool("do", q.edns != nil && q.edns.Do()),
		slog.Bool("cd", q.req.CheckingDisabled),
		slog.Int("size", resp.Len()),
		slog.Int("ede", ede),
	)
}

func typeString(t uint16) string {
	if s, ok := dns.TypeToString[t]; ok {
		return s
	}
	return fmt.Sprintf("TYPE%d", t)
}

func rcodeString(r int) string {
	if s, ok := dns.RcodeToString[r]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", r)
}

// pack packs m into buf's capacity, allocating only when it is too small.
// On failure it packs a SERVFAIL in its place so a
// client is never left without an answer by a bug.
func (s *Server) pack(m *dns.Msg, buf []byte) []byte {
	buf = buf[:cap(buf)]
	out, err := m.PackBuffer(buf)
	if err == nil {
		return out
	}
	s.log.Error("cannot pack response", "err", err, "question", m.Question)
	fail := &dns.Msg{MsgHdr: m.MsgHdr, Question: m.Question}
	fail.Rcode = dns.RcodeServerFailure
	out, err = fail.PackBuffer(buf)
	if err != nil {
		return nil
	}
	return out
}
