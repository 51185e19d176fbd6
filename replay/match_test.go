package replay

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func rr(tb testing.TB, s string) dns.RR {
	tb.Helper()
	r, err := parseRR(s)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// answerMsg is a typical resolver answer: www.example.com. A 1.2.3.4 with
// an NS record in authority.
func answerMsg(tb testing.TB) *dns.Msg {
	tb.Helper()
	m := new(dns.Msg)
	m.Response, m.RecursionDesired, m.RecursionAvailable = true, true, true
	m.Question = []dns.Question{{Name: "www.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET}}
	m.Answer = []dns.RR{rr(tb, "www.example.com. 300 IN A 1.2.3.4"), rr(tb, "www.example.com. 300 IN A 5.6.7.8")}
	m.Ns = []dns.RR{rr(tb, "example.com. 300 IN NS ns.example.com.")}
	return m
}

// expectEntry is the entry that answerMsg satisfies under MATCH all.
func expectEntry(tb testing.TB, match ...string) *Entry {
	tb.Helper()
	return &Entry{
		Match:    match,
		HasMatch: len(match) > 0,
		Flags:    Flags{QR: true, RD: true, RA: true},
		Question: []dns.Question{{Name: "www.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET}},
		Answer:   []dns.RR{rr(tb, "www.example.com. IN A 5.6.7.8"), rr(tb, "www.example.com. IN A 1.2.3.4")},
		Ns:       []dns.RR{rr(tb, "example.com. IN NS ns.example.com.")},
	}
}

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dialect Dialect
		entry   func(*Entry)
		msg     func(*dns.Msg)
		tcp     bool
		want    string // "" for a match, else part of the mismatch
	}{
		{name: "deckard all matches, order and TTL ignored", dialect: Deckard},
		{name: "unbound all matches", dialect: Unbound},
		{name: "names ignore case", dialect: Deckard, msg: func(m *dns.Msg) {
			m.Question[0].Name = "WwW.ExAmPlE.CoM."
			m.Ns[0].(*dns.NS).Ns = "NS.example.COM."
		}},
		{name: "qcase sees case", dialect: Deckard, entry: func(e *Entry) { e.Match = []string{"qcase"} },
			msg: func(m *dns.Msg) { m.Question[0].Name = "WWW.example.com." }, want: "question"},
		{name: "qtype differs", dialect: Unbound, msg: func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeAAAA }, want: "question"},
		{name: "unbound question includes class", dialect: Unbound, entry: func(e *Entry) { e.Match = []string{"question"} },
			msg: func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }, want: "question"},
		{name: "deckard question ignores class", dialect: Deckard, entry: func(e *Entry) { e.Match = []string{"question"} },
			msg: func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }},
		{name: "missing record", dialect: Deckard, msg: func(m *dns.Msg) { m.Answer = m.Answer[:1] },
			want: "answer section: want 2 records, got 1: missing {www.example.com. IN A 5.6.7.8}"},
		{name: "duplicate record counts", dialect: Unbound, msg: func(m *dns.Msg) { m.Answer = append(m.Answer, m.Answer[0]) },
			want: "unexpected {www.example.com. IN A 1.2.3.4}"},
		{name: "wrong rdata", dialect: Deckard, msg: func(m *dns.Msg) { m.Ns[0].(*dns.NS).Ns = "ns2.example.com." },
			want: "authority section"},
		{name: "rcode", dialect: Deckard, msg: func(m *dns.Msg) { m.Rcode = dns.RcodeServerFailure }, want: "rcode: want NOERROR, got SERVFAIL"},
		{name: "deckard flags", dialect: Deckard, msg: func(m *dns.Msg) { m.Authoritative = true }, want: "flags"},
		{name: "unbound all sees AD", dialect: Unbound, msg: func(m *dns.Msg) { m.AuthenticatedData = true }, want: "flags"},
		{name: "answer only ignores flags", dialect: Deckard, entry: func(e *Entry) { e.Match = []string{"answer"} },
			msg: func(m *dns.Msg) { m.Authoritative, m.Ns = true, nil }},
		{name: "additional ignores OPT", dialect: Deckard, msg: func(m *dns.Msg) { m.SetEdns0(1232, false) }},
		{name: "unbound all sees an unasked OPT", dialect: Unbound, msg: func(m *dns.Msg) { m.SetEdns0(1232, false) }, want: "EDNS"},
		{name: "unbound DO wants OPT with DO", dialect: Unbound, entry: func(e *Entry) { e.DO = true },
			msg: func(m *dns.Msg) { m.SetEdns0(1232, false) }, want: "DO"},
		{name: "unbound ttl compared when asked", dialect: Unbound, entry: func(e *Entry) {
			e.Match = []string{"all", "ttl"}
			for _, r := range append(e.Answer, e.Ns...) {
				r.Header().Ttl = 300
			}
		}},
		{name: "unbound ttl mismatch", dialect: Unbound, entry: func(e *Entry) { e.Match = []string{"all", "ttl"} },
			want: "3600"},
		{name: "deckard ignores ttl item", dialect: Deckard, entry: func(e *Entry) { e.Match = []string{"all", "ttl"} }},
		{name: "subdomain", dialect: Deckard, entry: func(e *Entry) {
			e.Match = []string{"subdomain"}
			e.Question[0].Name = "example.com."
		}},
		{name: "not a subdomain", dialect: Deckard, entry: func(e *Entry) {
			e.Match = []string{"subdomain"}
			e.Question[0].Name = "example.net."
		}, want: "at or below"},
		{name: "ede wanted, none", dialect: Unbound, entry: func(e *Entry) { e.Match = []string{"ede=6"} }, want: "EDE: want 6"},
		{name: "ede present", dialect: Unbound, entry: func(e *Entry) { e.Match = []string{"ede=6"} }, msg: withEDE(6)},
		{name: "ede other code", dialect: Unbound, entry: func(e *Entry) { e.Match = []string{"ede=6"} }, msg: withEDE(9), want: "EDE: want 6"},
		{name: "ede any", dialect: Unbound, entry: func(e *Entry) { e.Match = []string{"ede=any"} }, msg: withEDE(9)},
		{name: "tcp wanted", dialect: Unbound, entry: func(e *Entry) { e.Match = []string{"tcp"} }, want: "TCP"},
		{name: "tcp got", dialect: Unbound, entry: func(e *Entry) { e.Match = []string{"tcp"} }, tcp: true},
		{name: "generic rdata matches typed", dialect: Deckard, entry: func(e *Entry) {
			e.Answer[0] = rr(t, `www.example.com. IN A \# 4 05060708`)
		}},
		{name: "no match items accept anything", dialect: Unbound, entry: func(e *Entry) { e.Match = nil },
			msg: func(m *dns.Msg) { m.Rcode, m.Answer = dns.RcodeRefused, nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := expectEntry(t, "all")
			if tc.entry != nil {
				tc.entry(e)
			}
			m := answerMsg(t)
			if tc.msg != nil {
				tc.msg(m)
			}
			err := compare(tc.dialect, e, m, tc.tcp)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("want a match, got %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("want a mismatch about %q, got a match", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("mismatch %q does not say %q", err, tc.want)
			}
		})
	}
}

func withEDE(code uint16) func(*dns.Msg) {
	return func(m *dns.Msg) {
		m.Rcode = dns.RcodeSuccess
		m.SetEdns0(1232, false)
		opt := m.IsEdns0()
		opt.Option = append(opt.Option, &dns.EDNS0_EDE{InfoCode: code})
	}
}

func TestReplyAdjust(t *testing.T) {
	q := new(dns.Msg)
	q.SetQuestion("WwW.Example.COM.", dns.TypeA)
	q.Id = 4242
	q.SetEdns0(1232, true)
	base := func() *Entry {
		return &Entry{
			Flags:    Flags{QR: true, AA: true},
			Question: []dns.Question{{Name: "www.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET}},
			Answer:   []dns.RR{rr(t, "www.example.com. IN A 1.2.3.4")},
		}
	}
	for _, tc := range []struct {
		name    string
		dialect Dialect
		adjust  []string
		check   func(t *testing.T, m *dns.Msg)
	}{
		{"deckard copy_id takes ID and case", Deckard, []string{"copy_id"}, func(t *testing.T, m *dns.Msg) {
			if m.Id != 4242 || m.Question[0].Name != "WwW.Example.COM." {
				t.Errorf("id %d name %q", m.Id, m.Question[0].Name)
			}
			if opt := m.IsEdns0(); opt == nil || !opt.Do() {
				t.Errorf("Deckard mirrors the query's EDNS and DO: %v", opt)
			}
		}},
		{"unbound copy_id takes the ID only", Unbound, []string{"copy_id"}, func(t *testing.T, m *dns.Msg) {
			if m.Id != 4242 || m.Question[0].Name != "www.example.com." {
				t.Errorf("id %d name %q", m.Id, m.Question[0].Name)
			}
			if m.IsEdns0() != nil {
				t.Errorf("Unbound adds OPT only when the entry says DO")
			}
		}},
		{"copy_query replaces the question (and Unbound answers carry the query's ID anyway)", Unbound, []string{"copy_query"}, func(t *testing.T, m *dns.Msg) {
			if m.Id != 4242 || m.Question[0].Name != "WwW.Example.COM." {
				t.Errorf("id %d name %q", m.Id, m.Question[0].Name)
			}
		}},
		{"deckard without adjust keeps its own EDNS", Deckard, nil, func(t *testing.T, m *dns.Msg) {
			if opt := m.IsEdns0(); opt == nil || opt.Do() || opt.UDPSize() != ednsPayload {
				t.Errorf("OPT %v", opt)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := base()
			e.Adjust = tc.adjust
			wire, err := e.reply(tc.dialect, q)
			if err != nil {
				t.Fatal(err)
			}
			m := new(dns.Msg)
			if err := m.Unpack(wire); err != nil {
				t.Fatal(err)
			}
			tc.check(t, m)
		})
	}
	t.Run("raw copy_id", func(t *testing.T) {
		e := &Entry{Raw: []byte{0, 0, 0x84, 0, 0, 0, 0, 0, 0, 0, 0, 0}, Adjust: []string{"copy_id"}}
		wire, err := e.reply(Unbound, q)
		if err != nil || wire[0] != 4242>>8 || wire[1] != 4242&0xff || wire[2] != 0x84 {
			t.Fatalf("raw reply % x, %v", wire, err)
		}
	})
}
