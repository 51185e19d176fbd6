package replay

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func mustParse(tb testing.TB, d Dialect, text string) *Scenario {
	tb.Helper()
	sc, err := Parse(strings.NewReader(text), "test.rpl", d)
	if err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	return sc
}

const parseSample = `; comment line
server:
	qname-minimisation: "no"   # trailing comment
stub-zone:
	name: "."
	stub-addr: 193.0.14.129
CONFIG_END
SCENARIO_BEGIN A title with words
RANGE_BEGIN 0 100 1.1.1.1 ; address on the RANGE_BEGIN line
	ADDRESS 2.2.2.2
ENTRY_BEGIN
MATCH opcode QNAME ede=6 TCP
ADJUST copy_id copy_query
REPLY QR AA DO NXDOMAIN
MANDATORY
SECTION QUESTION
Example.COM. IN A
SECTION ANSWER
example.com. 300 IN A 1.2.3.4 ; a comment
   www.example.com. IN CNAME example.com.
bad.example.com. IN A \# 3 030405
SECTION AUTHORITY
example.com IN NS ns.example.com
SECTION ADDITIONAL
txt.example.com. IN TXT "semi;colon"
ENTRY_END
RANGE_END
RANGE_END
STEP 20 CHECK_ANSWER
ENTRY_BEGIN
HEX_ANSWER_BEGIN
0001 8180
00000000 00000000
HEX_ANSWER_END
ENTRY_END
STEP 10 QUERY
ENTRY_BEGIN
REPLY RD
SECTION QUESTION
example.com. ANY
ENTRY_END
STEP 15 TIME_PASSES ELAPSE 0.5
SCENARIO_END
`

func TestParse(t *testing.T) {
	sc := mustParse(t, Unbound, parseSample)
	t.Run("config", func(t *testing.T) {
		want := []ConfigLine{
			{Line: 3, Clause: "server", Key: "qname-minimisation", Value: "no"},
			{Line: 5, Clause: "stub-zone", Key: "name", Value: "."},
			{Line: 6, Clause: "stub-zone", Key: "stub-addr", Value: "193.0.14.129"},
		}
		if len(sc.Config) != len(want) {
			t.Fatalf("config = %+v, want %+v", sc.Config, want)
		}
		for i := range want {
			if sc.Config[i] != want[i] {
				t.Errorf("config[%d] = %+v, want %+v", i, sc.Config[i], want[i])
			}
		}
		if sc.Title != "A title with words" {
			t.Errorf("title %q", sc.Title)
		}
	})
	t.Run("range", func(t *testing.T) {
		if len(sc.Ranges) != 1 {
			t.Fatalf("%d ranges, want 1 (a stray RANGE_END is ignored)", len(sc.Ranges))
		}
		rg := sc.Ranges[0]
		if rg.From != 0 || rg.To != 100 {
			t.Errorf("range %d-%d", rg.From, rg.To)
		}
		wantAddrs := []netip.Addr{netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("2.2.2.2")}
		if len(rg.Addrs) != 2 || rg.Addrs[0] != wantAddrs[0] || rg.Addrs[1] != wantAddrs[1] {
			t.Errorf("addrs %v, want %v", rg.Addrs, wantAddrs)
		}
		e := rg.Entries[0]
		if strings.Join(e.Match, ",") != "opcode,qname,ede=6,tcp" || !e.HasMatch {
			t.Errorf("match %v", e.Match)
		}
		if !e.adjusts("copy_id") || !e.adjusts("copy_query") || e.adjusts("do_not_answer") {
			t.Errorf("adjust %v", e.Adjust)
		}
		if e.Flags != (Flags{QR: true, AA: true}) || !e.DO || e.Rcode != dns.RcodeNameError || !e.Mandatory {
			t.Errorf("reply line: flags %v DO %v rcode %d mandatory %v", e.Flags, e.DO, e.Rcode, e.Mandatory)
		}
		if len(e.Question) != 1 || e.Question[0] != (dns.Question{Name: "Example.COM.", Qtype: dns.TypeA, Qclass: dns.ClassINET}) {
			t.Errorf("question %v", e.Question)
		}
		if len(e.Answer) != 3 || len(e.Ns) != 1 || len(e.Extra) != 1 {
			t.Fatalf("sections %d/%d/%d, want 3/1/1", len(e.Answer), len(e.Ns), len(e.Extra))
		}
		if e.Answer[0].Header().Ttl != 300 || e.Answer[1].Header().Ttl != 3600 {
			t.Errorf("TTLs %d %d, want 300 and the default 3600", e.Answer[0].Header().Ttl, e.Answer[1].Header().Ttl)
		}
		if e.Answer[1].Header().Name != "www.example.com." {
			t.Errorf("indented record owner %q", e.Answer[1].Header().Name)
		}
		if g, ok := e.Answer[2].(*dns.RFC3597); !ok || g.Rdata != "030405" || g.Hdr.Rrtype != dns.TypeA {
			t.Errorf("malformed A record = %#v, want RFC3597 with 3 bytes", e.Answer[2])
		}
		if ns := e.Ns[0].(*dns.NS); ns.Hdr.Name != "example.com." || ns.Ns != "ns.example.com." {
			t.Errorf("relative names not made absolute: %v", ns)
		}
		if txt := e.Extra[0].(*dns.TXT); txt.Txt[0] != "semi;colon" {
			t.Errorf("quoted ; cut: %v", txt)
		}
	})
	t.Run("steps sorted", func(t *testing.T) {
		var got []int
		for _, st := range sc.Steps {
			got = append(got, st.N)
		}
		if len(got) != 3 || got[0] != 10 || got[1] != 15 || got[2] != 20 {
			t.Fatalf("steps %v, want [10 15 20]", got)
		}
		if q := sc.Steps[0].Entry.Question[0]; q.Qtype != dns.TypeANY || q.Qclass != dns.ClassINET {
			t.Errorf("'ANY' as the last word must be the type: %v", q)
		}
		if st := sc.Steps[1]; st.Type != "TIME_PASSES" || st.Args[1] != "0.5" {
			t.Errorf("time step %+v", st)
		}
		if raw := sc.Steps[2].Entry.Raw; len(raw) != 12 || raw[1] != 1 || raw[2] != 0x81 {
			t.Errorf("hex answer % x", raw)
		}
	})
	t.Run("deckard flat config", func(t *testing.T) {
		sc := mustParse(t, Deckard, "server: x\nstub-addr: 1.2.3.4\nCONFIG_END\nSCENARIO_BEGIN t\nSCENARIO_END\n")
		if len(sc.Config) != 2 || sc.Config[0].Clause != "" || sc.Config[0].Key != "server" {
			t.Errorf("Deckard has no clauses: %+v", sc.Config)
		}
	})
}

func TestParseErrors(t *testing.T) {
	head := "CONFIG_END\nSCENARIO_BEGIN t\n"
	for _, tc := range []struct {
		name, text, want string
	}{
		{"no CONFIG_END", "stub-addr: 1.2.3.4\n", "test.rpl:1: no CONFIG_END"},
		{"config without colon", "stub-addr 1.2.3.4\nCONFIG_END\n", "test.rpl:1: config line"},
		{"unknown step", head + "STEP 1 JUMP\n", "test.rpl:3: unknown step type"},
		{"bad step number", head + "STEP x QUERY\n", "test.rpl:3: step number"},
		{"bad elapse", head + "STEP 1 TIME_PASSES ELAPSE soon\n", "test.rpl:3: TIME_PASSES"},
		{"unterminated entry", head + "RANGE_BEGIN 0 1\nENTRY_BEGIN\nMATCH qname\n", "no ENTRY_END"},
		{"bad record", head + "STEP 1 QUERY\nENTRY_BEGIN\nSECTION ANSWER\nexample.com. IN A 1.2.3\nENTRY_END\n", "test.rpl:6: record"},
		{"unknown match", head + "RANGE_BEGIN 0 1\nENTRY_BEGIN\nMATCH everything\n", "test.rpl:5: unknown MATCH item"},
		{"unknown reply", head + "RANGE_BEGIN 0 1\nENTRY_BEGIN\nREPLY QR WAT\n", "test.rpl:5: unknown REPLY item"},
		{"bad range", head + "RANGE_BEGIN 5 1\n", "test.rpl:3: bad range"},
		{"bad address", head + "RANGE_BEGIN 0 1\nADDRESS one\n", "test.rpl:4: ADDRESS"},
		{"bad hex", head + "STEP 1 QUERY\nENTRY_BEGIN\nRAW\nzz\n", "test.rpl:6: RAW"},
		{"record outside section", head + "STEP 1 QUERY\nENTRY_BEGIN\nexample.com. IN A 1.2.3.4\n", "test.rpl:5: unexpected"},
		{"second entry", head + "STEP 1 QUERY\nENTRY_BEGIN\nENTRY_END\nENTRY_BEGIN\n", "step 1 has a second entry"},
		{"no end", head, "no SCENARIO_END"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.text), "test.rpl", Unbound)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestDialectOf(t *testing.T) {
	for _, tc := range []struct {
		path string
		want Dialect
	}{
		{"../shared/scenarios/iter/deckard/iter_resolve.rpl", Deckard},
		{"iter/unbound/x.rpl", Unbound},
		{"testdata/x.rpl", 0},
	} {
		got, err := DialectOf(tc.path)
		if got != tc.want || (err == nil) != (tc.want != 0) {
			t.Errorf("DialectOf(%q) = %v, %v; want %v", tc.path, got, err, tc.want)
		}
	}
}

// TestEntryRoundTrip: every entry of our own scenarios, built as a
// message, packed and unpacked, matches itself under MATCH all.
func TestEntryRoundTrip(t *testing.T) {
	files, err := filepath.Glob("testdata/*/*.rpl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata scenarios: %v", err)
	}
	for _, path := range files {
		t.Run(path, func(t *testing.T) {
			sc, err := ParseFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var entries []*Entry
			for _, rg := range sc.Ranges {
				entries = append(entries, rg.Entries...)
			}
			for _, st := range sc.Steps {
				if st.Entry != nil {
					entries = append(entries, st.Entry)
				}
			}
			for _, e := range entries {
				wire, err := e.message(sc.Dialect).Pack()
				if err != nil {
					t.Fatalf("entry at line %d: %v", e.Line, err)
				}
				m := new(dns.Msg)
				if err := m.Unpack(wire); err != nil {
					t.Fatalf("entry at line %d: %v", e.Line, err)
				}
				all := &Entry{Match: []string{"all"}, Opcode: e.Opcode, Rcode: e.Rcode, Flags: e.Flags, DO: e.DO,
					Question: e.Question, Answer: e.Answer, Ns: e.Ns, Extra: e.Extra}
				if err := compare(sc.Dialect, all, m, false); err != nil {
					t.Errorf("entry at line %d does not survive the wire: %v", e.Line, err)
				}
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(parseSample)
	files, _ := filepath.Glob("testdata/*/*.rpl")
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err == nil {
			f.Add(string(b))
		}
	}
	f.Fuzz(func(t *testing.T, text string) {
		for _, d := range []Dialect{Deckard, Unbound} {
			sc, err := Parse(strings.NewReader(text), "fuzz.rpl", d)
			if err != nil {
				continue
			}
			// What parses must be usable: config maps or says why not,
			// entries build messages without panicking.
			_, _ = configure(sc)
			for _, rg := range sc.Ranges {
				for _, e := range rg.Entries {
					_, _ = e.message(d).Pack()
					_ = compare(d, e, e.message(d), false)
				}
			}
		}
	})
}
