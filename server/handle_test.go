package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// want describes the parts of a response a case checks.
type want struct {
	rcode    int
	answers  int    // len(Answer); -1: don't check
	first    string // the first answer record's type, "" for none
	ns       int    // len(Ns)
	edns     bool   // an OPT record is expected
	ede      int    // the expected EDE info code, -1 for none
	tc       bool
	question bool // the question is echoed
}

func checkResponse(t *testing.T, req, resp *dns.Msg, w want) {
	t.Helper()
	if resp == nil {
		t.Fatal("no response")
	}
	if resp.Id != req.Id || !resp.Response {
		t.Errorf("id %d response %v, want id %d and QR", resp.Id, resp.Response, req.Id)
	}
	if resp.Rcode != w.rcode {
		t.Errorf("rcode %s, want %s", rcodeString(resp.Rcode), rcodeString(w.rcode))
	}
	if !resp.RecursionAvailable || resp.RecursionDesired != req.RecursionDesired || resp.Authoritative {
		t.Errorf("flags ra=%v rd=%v aa=%v, want ra, rd=%v, no aa", resp.RecursionAvailable, resp.RecursionDesired, resp.Authoritative, req.RecursionDesired)
	}
	if w.answers >= 0 && len(resp.Answer) != w.answers {
		t.Errorf("%d answers, want %d:\n%v", len(resp.Answer), w.answers, resp)
	}
	if w.first != "" && (len(resp.Answer) == 0 || dns.TypeToString[resp.Answer[0].Header().Rrtype] != w.first) {
		t.Errorf("first answer is not %s:\n%v", w.first, resp)
	}
	if len(resp.Ns) != w.ns {
		t.Errorf("%d authority records, want %d", len(resp.Ns), w.ns)
	}
	if (resp.IsEdns0() != nil) != w.edns {
		t.Errorf("OPT present %v, want %v", resp.IsEdns0() != nil, w.edns)
	}
	ede := edeOf(resp)
	switch {
	case w.ede < 0 && ede != nil:
		t.Errorf("unexpected EDE %d %q", ede.InfoCode, ede.ExtraText)
	case w.ede >= 0 && ede == nil:
		t.Errorf("no EDE, want info code %d", w.ede)
	case w.ede >= 0 && int(ede.InfoCode) != w.ede:
		t.Errorf("EDE %d %q, want info code %d", ede.InfoCode, ede.ExtraText, w.ede)
	}
	if resp.Truncated != w.tc {
		t.Errorf("TC %v, want %v", resp.Truncated, w.tc)
	}
	if w.question {
		if len(resp.Question) != 1 || resp.Question[0] != req.Question[0] {
			t.Errorf("question %v, want %v echoed exactly", resp.Question, req.Question)
		}
	} else if len(resp.Question) != 0 {
		t.Errorf("question %v echoed, want none", resp.Question)
	}
}

func TestHandle(t *testing.T) {
	ok := func(answers int, first string) want {
		return want{rcode: dns.RcodeSuccess, answers: answers, first: first, ede: -1, question: true}
	}
	withOPT := func(w want) want { w.edns = true; return w }
	tests := []struct {
		name   string
		req    func() *dns.Msg
		tcp    bool
		client netip.AddrPort
		want   want
	}{
		{"cached answer", func() *dns.Msg { return question(nameWWW, dns.TypeA) }, false, clientLoopback, ok(1, "A")},
		{"client case echoed", func() *dns.Msg { return question("WwW.ExAmPlE.cOm.", dns.TypeA) }, false, clientLoopback, ok(1, "A")},
		{"CNAME chain", func() *dns.Msg { return question(nameAlias, dns.TypeA) }, false, clientLoopback, ok(2, "CNAME")},
		{"NXDOMAIN with SOA", func() *dns.Msg { return question(nameNope, dns.TypeA) },
			false, clientLoopback, want{rcode: dns.RcodeNameError, ns: 1, ede: -1, question: true}},
		{"SERVFAIL without EDNS has no EDE", func() *dns.Msg { return question(nameFail, dns.TypeA) },
			false, clientLoopback, want{rcode: dns.RcodeServerFailure, ede: -1, question: true}},
		{"SERVFAIL with EDE", func() *dns.Msg { return withEDNS(question(nameFail, dns.TypeA), 1232, false) },
			false, clientLoopback, want{rcode: dns.RcodeServerFailure, edns: true, ede: int(dns.ExtendedErrorCodeNoReachableAuthority), question: true}},
		{"nil message from backend", func() *dns.Msg { return withEDNS(question(nameNothing, dns.TypeA), 1232, false) },
			false, clientLoopback, want{rcode: dns.RcodeServerFailure, edns: true, ede: int(dns.ExtendedErrorCodeOther), question: true}},
		{"backend panic answered SERVFAIL", func() *dns.Msg { return withEDNS(question(namePanic, dns.TypeA), 1232, false) },
			false, clientLoopback, want{rcode: dns.RcodeServerFailure, edns: true, ede: int(dns.ExtendedErrorCodeOther), question: true}},
		{"RD clear, cached, plain allow: REFUSED (no snooping)", func() *dns.Msg {
			m := withEDNS(question(nameWWW, dns.TypeA), 1232, false)
			m.RecursionDesired = false
			return m
		}, false, clientLoopback, want{rcode: dns.RcodeRefused, edns: true, ede: int(dns.ExtendedErrorCodeNotAuthoritative), question: true}},
		{"RD clear, not cached: REFUSED", func() *dns.Msg {
			m := withEDNS(question(nameAlias, dns.TypeA), 1232, false)
			m.RecursionDesired = false
			return m
		}, false, clientLoopback, want{rcode: dns.RcodeRefused, edns: true, ede: int(dns.ExtendedErrorCodeNotAuthoritative), question: true}},
		{"client not allowed", func() *dns.Msg { return withEDNS(question(nameWWW, dns.TypeA), 1232, false) },
			false, clientOther, want{rcode: dns.RcodeRefused, edns: true, ede: int(dns.ExtendedErrorCodeProhibited), question: true}},
		{"IPv4-mapped loopback client allowed", func() *dns.Msg { return question(nameWWW, dns.TypeA) },
			false, netip.MustParseAddrPort("[::ffff:127.0.0.1]:5000"), ok(1, "A")},
		{"EDNS answered with our buffer", func() *dns.Msg { return withEDNS(question(nameWWW, dns.TypeA), 4096, true) },
			false, clientLoopback, withOPT(ok(1, "A"))},
		{"EDNS version 1: BADVERS", func() *dns.Msg {
			m := withEDNS(question(nameWWW, dns.TypeA), 1232, false)
			m.IsEdns0().SetVersion(1)
			return m
		}, false, clientLoopback, want{rcode: dns.RcodeBadVers, edns: true, ede: -1, question: true}},
		{"two OPT records: FORMERR", func() *dns.Msg {
			m := withEDNS(question(nameWWW, dns.TypeA), 1232, false)
			m.Extra = append(m.Extra, m.Extra[0])
			return m
		}, false, clientLoopback, want{rcode: dns.RcodeFormatError, ede: -1}},
		{"OPT in the answer section: FORMERR", func() *dns.Msg {
			m := question(nameWWW, dns.TypeA)
			m.Answer = []dns.RR{&dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}}
			return m
		}, false, clientLoopback, want{rcode: dns.RcodeFormatError, ede: -1}},
		{"no question: FORMERR", func() *dns.Msg { m := question(nameWWW, dns.TypeA); m.Question = nil; return m },
			false, clientLoopback, want{rcode: dns.RcodeFormatError, ede: -1}},
		{"two questions: FORMERR", func() *dns.Msg {
			m := question(nameWWW, dns.TypeA)
			m.Question = append(m.Question, m.Question[0])
			return m
		}, false, clientLoopback, want{rcode: dns.RcodeFormatError, ede: -1}},
		{"NOTIFY: NOTIMP", func() *dns.Msg { m := question(nameWWW, dns.TypeSOA); m.Opcode = dns.OpcodeNotify; return m },
			false, clientLoopback, want{rcode: dns.RcodeNotImplemented, ede: -1, question: true}},
		{"UPDATE: NOTIMP", func() *dns.Msg { m := question(nameWWW, dns.TypeSOA); m.Opcode = dns.OpcodeUpdate; return m },
			false, clientLoopback, want{rcode: dns.RcodeNotImplemented, ede: -1, question: true}},
		{"class CH: REFUSED", func() *dns.Msg {
			m := question("version.bind.", dns.TypeTXT)
			m.Question[0].Qclass = dns.ClassCHAOS
			return m
		},
			false, clientLoopback, want{rcode: dns.RcodeRefused, ede: -1, question: true}},
		{"AXFR: REFUSED", func() *dns.Msg { return withEDNS(question("example.com.", dns.TypeAXFR), 1232, false) },
			true, clientLoopback, want{rcode: dns.RcodeRefused, edns: true, ede: int(dns.ExtendedErrorCodeNotSupported), question: true}},
		{"IXFR: REFUSED", func() *dns.Msg { return question("example.com.", dns.TypeIXFR) },
			false, clientLoopback, want{rcode: dns.RcodeRefused, ede: -1, question: true}},
		{"MAILA: NOTIMP", func() *dns.Msg { return question(nameWWW, dns.TypeMAILA) },
			false, clientLoopback, want{rcode: dns.RcodeNotImplemented, ede: -1, question: true}},
		{"qtype OPT: FORMERR", func() *dns.Msg { return question(nameWWW, dns.TypeOPT) },
			false, clientLoopback, want{rcode: dns.RcodeFormatError, ede: -1, question: false}},
		{"ANY: minimal HINFO", func() *dns.Msg { return question(nameWWW, dns.TypeANY) }, false, clientLoopback, ok(1, "HINFO")},
		{"medium TXT over UDP without EDNS: TC, no partial RRset", func() *dns.Msg { return question(nameMedium, dns.TypeTXT) },
			false, clientLoopback, want{rcode: dns.RcodeSuccess, answers: 0, ede: -1, tc: true, question: true}},
		{"medium TXT over UDP with EDNS: fits", func() *dns.Msg { return withEDNS(question(nameMedium, dns.TypeTXT), 1232, false) },
			false, clientLoopback, withOPT(ok(4, "TXT"))},
		{"big TXT over UDP, client buffer 4096: TC at our 1232", func() *dns.Msg { return withEDNS(question(nameBig, dns.TypeTXT), 4096, false) },
			false, clientLoopback, want{rcode: dns.RcodeSuccess, answers: 0, edns: true, ede: -1, tc: true, question: true}},
		{"big TXT over TCP: whole", func() *dns.Msg { return question(nameBig, dns.TypeTXT) }, true, clientLoopback, ok(15, "TXT")},
	}
	s, fb := newTestServer(t, Config{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req()
			before, err := req.Pack()
			if err != nil {
				t.Fatal(err)
			}
			resp := s.Handle(t.Context(), req, tc.client, tc.tcp)
			checkResponse(t, req, resp, tc.want)
			if resp != nil && !tc.tcp {
				b, err := resp.Pack()
				if err != nil {
					t.Fatal(err)
				}
				limit := dns.MinMsgSize
				if req.IsEdns0() != nil {
					limit = min(max(int(req.IsEdns0().UDPSize()), dns.MinMsgSize), DefaultMaxUDPSize)
				}
				if len(b) > limit {
					t.Errorf("UDP response of %d bytes, client accepts %d", len(b), limit)
				}
			}
			if opt := resp.IsEdns0(); opt != nil {
				if opt.UDPSize() != DefaultMaxUDPSize || opt.Version() != 0 {
					t.Errorf("our OPT: size %d version %d, want %d and 0", opt.UDPSize(), opt.Version(), DefaultMaxUDPSize)
				}
				if opt.Do() != req.IsEdns0().Do() {
					t.Errorf("DO %v, want the client's %v", opt.Do(), req.IsEdns0().Do())
				}
			}
			after, _ := req.Pack()
			if !bytes.Equal(before, after) {
				t.Errorf("Handle changed the request")
			}
		})
	}
	fb.checkUnchanged(t)
	if st := s.Stats(); st.Panics != 1 {
		t.Errorf("Stats().Panics = %d, want 1 (the panic case)", st.Panics)
	}
}

func TestWholeRRsets(t *testing.T) {
	a := func(name string, typ uint16) dns.RR {
		return &dns.ANY{Hdr: dns.RR_Header{Name: name, Rrtype: typ, Class: dns.ClassINET}}
	}
	chain := []dns.RR{a("x.", dns.TypeCNAME), a("y.", dns.TypeA), a("Y.", dns.TypeA), a("y.", dns.TypeA)}
	tests := []struct {
		name    string
		rrs     []dns.RR
		n, want int
	}{
		{"all fit", chain, 4, 4},
		{"cut inside the A set", chain, 3, 1},
		{"cut inside the A set, case differs", chain, 2, 1},
		{"cut after the CNAME", chain, 1, 1},
		{"nothing fits", chain, 0, 0},
		{"different types at one name", []dns.RR{a("y.", dns.TypeA), a("y.", dns.TypeAAAA)}, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := wholeRRsets(tc.rrs, tc.n); len(got) != tc.want {
				t.Errorf("kept %d records, want %d", len(got), tc.want)
			}
		})
	}
}

func TestHandleDropsResponses(t *testing.T) {
	s, fb := newTestServer(t, Config{})
	req := question(nameAlias, dns.TypeA)
	req.Response = true
	if resp := s.Handle(t.Context(), req, clientLoopback, false); resp != nil {
		t.Errorf("answered a response:\n%v", resp)
	}
	if calls := fb.resolveCalls(); len(calls) != 0 {
		t.Errorf("backend asked %v for a response", calls)
	}
}

func TestHandlePacket(t *testing.T) {
	pack := func(m *dns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	valid := pack(question(nameWWW, dns.TypeA))
	tests := []struct {
		name  string
		query []byte
		rcode int // -1: no answer
	}{
		{"valid", valid, dns.RcodeSuccess},
		{"empty", nil, -1},
		{"shorter than a header", valid[:11], -1},
		{"header only, QDCOUNT 1", valid[:12], dns.RcodeFormatError},
		{"truncated question", valid[:len(valid)-3], dns.RcodeFormatError},
		{"garbage body", append(append([]byte{}, valid[:12]...), 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02), dns.RcodeFormatError},
		{"garbage with QR set", func() []byte { b := append([]byte{}, valid[:12]...); b[2] |= 0x80; return append(b, 0xff) }(), -1},
		{"QDCOUNT 0", func() []byte { b := append([]byte{}, valid[:12]...); b[5] = 0; return b }(), dns.RcodeFormatError},
		{"QDCOUNT 2 with one question", func() []byte { b := append([]byte{}, valid...); b[5] = 2; return b }(), dns.RcodeFormatError},
	}
	s, _ := newTestServer(t, Config{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := s.HandlePacket(t.Context(), tc.query, clientLoopback, false, nil)
			if tc.rcode < 0 {
				if out != nil {
					t.Fatalf("answered %x", out)
				}
				return
			}
			resp := new(dns.Msg)
			if err := resp.Unpack(out); err != nil {
				t.Fatalf("unpack response: %v", err)
			}
			if resp.Rcode != tc.rcode || !resp.Response || resp.Id != uint16(tc.query[0])<<8|uint16(tc.query[1]) {
				t.Errorf("got rcode %s id %d qr %v, want %s, the query's id, QR", rcodeString(resp.Rcode), resp.Id, resp.Response, rcodeString(tc.rcode))
			}
		})
	}
}

func TestHandleReusesBuffer(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	query, _ := question(nameWWW, dns.TypeA).Pack()
	buf := make([]byte, 0, 512)
	out := s.HandlePacket(t.Context(), query, clientLoopback, false, buf)
	if len(out) == 0 || &out[0] != &buf[:1][0] {
		t.Errorf("response not packed into the caller's buffer")
	}
}

func TestLimits(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		busyFrom netip.AddrPort // the client whose next query is over the limit
		freeFrom netip.AddrPort // a client still served (zero: none)
	}{
		{"in flight", Config{MaxInFlight: 2}, clientLoopback, netip.AddrPort{}},
		{"per client", Config{MaxPerClient: 2}, clientLoopback, netip.MustParseAddrPort("127.0.0.2:1")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, fb := newTestServer(t, tc.cfg)
			var wg sync.WaitGroup
			for range 2 {
				wg.Go(func() {
					resp := s.Handle(context.Background(), question(nameSlow, dns.TypeA), clientLoopback, false)
					if resp == nil || resp.Rcode != dns.RcodeSuccess {
						t.Errorf("slow query: %v", resp)
					}
				})
			}
			fb.waitStarted(t, 2)
			if st := s.Stats(); st.InFlight != 2 {
				t.Errorf("Stats().InFlight = %d, want 2", st.InFlight)
			}
			if resp := s.Handle(t.Context(), question(nameAlias, dns.TypeA), tc.busyFrom, false); resp != nil {
				t.Errorf("UDP query over the limit answered:\n%v", resp)
			}
			req := withEDNS(question(nameAlias, dns.TypeA), 1232, false)
			resp := s.Handle(t.Context(), req, tc.busyFrom, true)
			checkResponse(t, req, resp, want{rcode: dns.RcodeServerFailure, edns: true, ede: int(dns.ExtendedErrorCodeOther), question: true})
			if resp := s.Handle(t.Context(), question(nameWWW, dns.TypeA), tc.busyFrom, false); resp == nil || resp.Rcode != dns.RcodeSuccess {
				t.Errorf("cache hit refused while busy: %v", resp)
			}
			if tc.freeFrom.IsValid() {
				if resp := s.Handle(t.Context(), question(nameAlias, dns.TypeA), tc.freeFrom, false); resp == nil || len(resp.Answer) != 2 {
					t.Errorf("another client not served: %v", resp)
				}
			}
			close(fb.release)
			wg.Wait()
			if st := s.Stats(); st.InFlight != 0 || st.Dropped != 1 {
				t.Errorf("after: InFlight %d Dropped %d, want 0 and 1", st.InFlight, st.Dropped)
			}
			// The slots are free again.
			if resp := s.Handle(t.Context(), question(nameAlias, dns.TypeA), tc.busyFrom, false); resp == nil || len(resp.Answer) != 2 {
				t.Errorf("not served after the limit cleared: %v", resp)
			}
		})
	}
}

func TestQueryTimeout(t *testing.T) {
	s, _ := newTestServer(t, Config{QueryTimeout: 20_000_000}) // 20 ms
	req := withEDNS(question(nameSlow, dns.TypeA), 1232, false)
	resp := s.Handle(t.Context(), req, clientLoopback, false)
	checkResponse(t, req, resp, want{rcode: dns.RcodeServerFailure, edns: true, ede: int(dns.ExtendedErrorCodeNoReachableAuthority), question: true})
	if e := edeOf(resp); e == nil || !strings.Contains(e.ExtraText, "timed out") {
		t.Errorf("EDE %v, want it to say timed out", e)
	}
}

func TestLogQueries(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
	s, _ := newTestServer(t, Config{Logger: log, LogQueries: true})
	s.Handle(t.Context(), question("WWW.example.com.", dns.TypeA), clientLoopback, false)
	s.Handle(t.Context(), question(nameNope, dns.TypeA), clientLoopback, true)
	mu.Lock()
	defer mu.Unlock()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want 2:\n%s", len(lines), buf.String())
	}
	for i, want := range [][]string{
		{"msg=query", "client=127.0.0.1:40000", "proto=udp", "name=WWW.example.com.", "type=A", "rcode=NOERROR", "cached=true", "duration="},
		{"msg=query", "proto=tcp", "name=nope.example.com.", "rcode=NXDOMAIN", "cached=false"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d %q lacks %q", i, lines[i], w)
			}
		}
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestNew(t *testing.T) {
	fb := newFakeBackend(t)
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"defaults", Config{Backend: fb}, ""},
		{"no backend", Config{}, "Backend is nil"},
		{"bad listen", Config{Backend: fb, Listen: []string{"localhost:53"}}, "want IP:PORT"},
		{"negative in flight", Config{Backend: fb, MaxInFlight: -1}, "MaxInFlight"},
		{"tiny UDP size", Config{Backend: fb, MaxUDPSize: 100}, "MaxUDPSize"},
		{"negative timeout", Config{Backend: fb, QueryTimeout: -1}, "QueryTimeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.cfg)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(s.cfg.Listen) != 2 || len(s.cfg.Allow) != 2 || s.cfg.MaxUDPSize != 1232 || s.cfg.MaxPerClient != 1000 {
					t.Errorf("defaults not applied: %+v", s.cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}
