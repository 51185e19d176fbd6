package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestChaosIdentity(t *testing.T) {
	chaos := func(name string, qtype uint16) *dns.Msg {
		m := question(name, qtype)
		m.Question[0].Qclass = dns.ClassCHAOS
		return m
	}
	long := strings.Repeat("x", 300)
	shown, _ := newTestServer(t, Config{Identity: "resolver-1", Version: long})
	hidden, _ := newTestServer(t, Config{})
	for _, tc := range []struct {
		name  string
		s     *Server
		req   *dns.Msg
		rcode int
		txt   string // the TXT answered, "" for none
		ede   int
	}{
		{"id.server", shown, chaos("id.server.", dns.TypeTXT), dns.RcodeSuccess, "resolver-1", -1},
		{"hostname.bind in capitals", shown, chaos("HOSTNAME.bind.", dns.TypeTXT), dns.RcodeSuccess, "resolver-1", -1},
		{"version.bind longer than a string", shown, chaos("version.bind.", dns.TypeTXT), dns.RcodeSuccess, long, -1},
		{"version.server", shown, chaos("version.server.", dns.TypeTXT), dns.RcodeSuccess, long, -1},
		{"id.server type A", shown, chaos("id.server.", dns.TypeA), dns.RcodeRefused, "", -1},
		{"hidden id.server: bare REFUSED, as Unbound", hidden, chaos("id.server.", dns.TypeTXT), dns.RcodeRefused, "", -1},
		{"hidden version.bind", hidden, chaos("version.bind.", dns.TypeTXT), dns.RcodeRefused, "", -1},
		{"other CHAOS name: not supported", shown, chaos("authors.bind.", dns.TypeTXT), dns.RcodeRefused, "", int(dns.ExtendedErrorCodeNotSupported)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			withEDNS(tc.req, 1232, false)
			resp := tc.s.Handle(t.Context(), tc.req, clientLoopback, false)
			if resp.Rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s", rcodeString(resp.Rcode), rcodeString(tc.rcode))
			}
			got := ""
			if len(resp.Answer) == 1 {
				txt, ok := resp.Answer[0].(*dns.TXT)
				if !ok || txt.Hdr.Class != dns.ClassCHAOS || txt.Hdr.Ttl != 0 {
					t.Fatalf("answer %v, want a CHAOS TXT with TTL 0", resp.Answer[0])
				}
				got = strings.Join(txt.Txt, "")
			}
			if got != tc.txt || len(resp.Answer) > 1 {
				t.Errorf("TXT %q (%d answers), want %q", got, len(resp.Answer), tc.txt)
			}
			e := edeOf(resp)
			if (e == nil && tc.ede >= 0) || (e != nil && int(e.InfoCode) != tc.ede) {
				t.Errorf("EDE %v, want %d", e, tc.ede)
			}
		})
	}
}

// nsidOf returns the NSID option of m, or nil.
func nsidOf(m *dns.Msg) *dns.EDNS0_NSID {
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if n, ok := o.(*dns.EDNS0_NSID); ok {
				return n
			}
		}
	}
	return nil
}

// TestNSID: the identifier goes to queries that ask for it, ready answers
// of the fast path included, and to no others.
func TestNSID(t *testing.T) {
	s, _ := newTestServer(t, Config{NSID: []byte("ns-a")})
	ask := func(nsid bool) *dns.Msg {
		req := withEDNS(question(nameWWW, dns.TypeA), 1232, false)
		if nsid {
			opt := req.IsEdns0()
			opt.Option = append(opt.Option, &dns.EDNS0_NSID{Code: dns.EDNS0NSID})
		}
		wire, _ := req.Pack()
		out := s.HandlePacket(t.Context(), wire, clientLoopback, false, nil)
		resp := new(dns.Msg)
		if err := resp.Unpack(out); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for i, nsid := range []bool{false, false, true, true, false} {
		resp := ask(nsid)
		got := nsidOf(resp)
		if !nsid {
			if got != nil {
				t.Errorf("query %d without NSID got %v", i, got)
			}
			continue
		}
		if got == nil || got.Nsid != "6e732d61" || len(resp.Answer) != 1 {
			t.Errorf("query %d with NSID got NSID %v and %d answers, want 6e732d61 (ns-a) and 1", i, got, len(resp.Answer))
		}
	}
	none, _ := newTestServer(t, Config{})
	req := withEDNS(question(nameWWW, dns.TypeA), 1232, false)
	req.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_NSID{Code: dns.EDNS0NSID}}
	if n := nsidOf(none.Handle(t.Context(), req, clientLoopback, false)); n != nil {
		t.Errorf("server without NSID sent %v", n)
	}
}

// jsonLines returns the log lines with msg, decoded.
func jsonLines(t *testing.T, buf *bytes.Buffer, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", line, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func TestQueryLogFields(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	s, _ := newTestServer(t, Config{Logger: log, LogQueries: true, LogServfail: true})
	req := withEDNS(question(nameWWW, dns.TypeA), 1232, true)
	req.CheckingDisabled = true
	resp := s.Handle(t.Context(), req, clientLoopback, false)
	fail := withEDNS(question(nameFail, dns.TypeA), 1232, false)
	s.Handle(t.Context(), fail, clientLoopback, false)

	lines := jsonLines(t, &buf, "query")
	if len(lines) != 2 {
		t.Fatalf("%d query lines, want 2:\n%s", len(lines), buf.String())
	}
	want := map[string]any{"name": nameWWW, "type": "A", "rcode": "NOERROR", "rd": true, "do": true, "cd": true,
		"size": float64(resp.Len()), "ede": float64(-1), "cached": true, "proto": "udp"}
	for k, v := range want {
		if lines[0][k] != v {
			t.Errorf("query line %s = %v (%T), want %v", k, lines[0][k], lines[0][k], v)
		}
	}
	if lines[1]["rcode"] != "SERVFAIL" || lines[1]["ede"] != float64(dns.ExtendedErrorCodeNoReachableAuthority) || lines[1]["do"] != false {
		t.Errorf("SERVFAIL query line %v, want rcode SERVFAIL, ede %d, do false", lines[1], dns.ExtendedErrorCodeNoReachableAuthority)
	}
	fails := jsonLines(t, &buf, "servfail")
	if len(fails) != 1 || fails[0]["level"] != "INFO" || fails[0]["name"] != nameFail || !strings.Contains(fails[0]["reason"].(string), "no reachable") {
		t.Errorf("servfail lines %v, want one at INFO with the name and the reason", fails)
	}
}

func TestServfailLoggedAtDebugByDefault(t *testing.T) {
	var buf bytes.Buffer
	s, _ := newTestServer(t, Config{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	s.Handle(t.Context(), question(nameFail, dns.TypeA), netip.MustParseAddrPort("127.0.0.1:5"), false)
	if n := len(jsonLines(t, &buf, "servfail")); n != 0 {
		t.Errorf("%d servfail lines at Info without LogServfail, want 0", n)
	}
}
