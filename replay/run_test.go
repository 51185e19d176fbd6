package replay

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/miekg/dns"
)

// replay runs sc (every variant) through the engine and the server in a
// synctest bubble and returns the first failure, with the run's events.
func replay(t *testing.T, sc *Scenario, opts Options) (error, string) {
	t.Helper()
	var mu sync.Mutex
	var events strings.Builder
	opts.Settle = synctest.Wait
	opts.Log = func(format string, args ...any) {
		mu.Lock()
		fmt.Fprintf(&events, format+"\n", args...)
		mu.Unlock()
	}
	var err error
	for _, v := range Variants(sc) {
		synctest.Test(t, func(t *testing.T) {
			if e := Run(t.Context(), sc, v, opts); e != nil && err == nil {
				err = fmt.Errorf("[%s] %w", v.Name, e)
			}
		})
	}
	return err, events.String()
}

func readFile(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// TestOwnScenarios replays the small scenarios in testdata/, written for
// the harness: each must pass.
func TestOwnScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/*/*.rpl")
	if err != nil || len(files) < 4 {
		t.Fatalf("testdata scenarios: %v %v", files, err)
	}
	for _, path := range files {
		t.Run(path, func(t *testing.T) {
			sc, err := ParseFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err, events := replay(t, sc, Options{}); err != nil {
				t.Fatalf("%v\nevents:\n%s", err, events)
			}
		})
	}
}

// TestOwnScenariosCanFail changes one thing in a passing scenario and
// checks that the run fails there: the checks, the clock, the dialects'
// range rules and the pending-query steps all bite.
func TestOwnScenariosCanFail(t *testing.T) {
	const (
		dRanges = "testdata/deckard/ranges.rpl"
		uRanges = "testdata/unbound/ranges.rpl"
		uAsync  = "testdata/unbound/async.rpl"
		dSilent = "testdata/deckard/silent.rpl"
	)
	lastCheck := "www.example.com. IN A 10.0.0.2\nENTRY_END\n\nSCENARIO_END"
	for _, tc := range []struct {
		name, file, old, new string
		want                 string // part of the error
	}{
		{"wrong expected address", dRanges, lastCheck, strings.Replace(lastCheck, "10.0.0.2", "10.0.0.9", 1),
			"step 51 CHECK_ANSWER (www.example.com. A): answer section"},
		{"without TIME_PASSES the cache still answers", dRanges, "STEP 40 TIME_PASSES ELAPSE 10\n", "",
			"step 51 CHECK_ANSWER"},
		{"too little time passes", dRanges, "STEP 40 TIME_PASSES ELAPSE 10\n", "STEP 40 TIME_PASSES ELAPSE 4.5\n",
			"step 51 CHECK_ANSWER"},
		{"deckard picks the query step's range", dRanges, "RANGE_BEGIN 0 25", "RANGE_BEGIN 0 9",
			"step 11 CHECK_ANSWER"},
		{"unbound picks the next step's range", uRanges, "STEP 11 CHECK_ANSWER\nENTRY_BEGIN\nMATCH all\nREPLY QR RD RA NOERROR\nSECTION QUESTION\nwww.example.com. IN A\nSECTION ANSWER\nwww.example.com. IN A 10.0.0.2",
			"STEP 11 CHECK_ANSWER\nENTRY_BEGIN\nMATCH all\nREPLY QR RD RA NOERROR\nSECTION QUESTION\nwww.example.com. IN A\nSECTION ANSWER\nwww.example.com. IN A 10.0.0.1",
			"step 11 CHECK_ANSWER"},
		{"unbound range not yet there", uRanges, "RANGE_BEGIN 11 30", "RANGE_BEGIN 12 30",
			"step 11 CHECK_ANSWER (www.example.com. A): no answer came; pending upstream: [www.example.com. A to 1.2.3.4/udp]"},
		{"wrong rcode", dRanges, "REPLY QR RD RA NOERROR", "REPLY QR RD RA NXDOMAIN",
			"rcode: want NXDOMAIN, got NOERROR"},
		{"deckard unscripted query", dRanges, "RANGE_BEGIN 0 100\n\tADDRESS 193.0.14.129", "RANGE_BEGIN 0 5\n\tADDRESS 193.0.14.129",
			"step 11 CHECK_ANSWER"},
		{"unbound REPLY missing", uAsync, "STEP 40 REPLY\nENTRY_BEGIN\nADJUST copy_id\nREPLY QR AA NOERROR\nSECTION QUESTION\nwww.example.com. IN A\nSECTION ANSWER\nwww.example.com. IN A 10.0.0.7\nENTRY_END\n", "",
			"step 50 CHECK_ANSWER (www.example.com. A): no answer came"},
		{"unbound outgoing query never sent", uAsync, "STEP 30 CHECK_OUT_QUERY\nENTRY_BEGIN\nMATCH qname qtype opcode\nSECTION QUESTION\nwww.example.com. IN A",
			"STEP 30 CHECK_OUT_QUERY\nENTRY_BEGIN\nMATCH qname qtype opcode\nSECTION QUESTION\nmail.example.com. IN A",
			"step 30 CHECK_OUT_QUERY"},
		{"unbound TIMEOUT with nothing pending", uAsync, "SCENARIO_END", "STEP 60 TIMEOUT\nSCENARIO_END",
			"step 60 TIMEOUT: no pending outgoing query"},
		{"unbound query left pending", uAsync, "SCENARIO_END", "STEP 60 QUERY\nENTRY_BEGIN\nREPLY RD\nSECTION QUESTION\nmail.example.com. IN A\nENTRY_END\nSCENARIO_END",
			"still pending"},
		{"unbound answer never checked", uRanges, "SCENARIO_END", "STEP 60 QUERY\nENTRY_BEGIN\nREPLY RD\nSECTION QUESTION\nwww.example.com. IN A\nENTRY_END\nSCENARIO_END",
			"never checked"},
		{"MANDATORY entry unused", dSilent, "RANGE_END\n\nSTEP 10", "ENTRY_BEGIN\nMATCH opcode qname\nMANDATORY\nSECTION QUESTION\nmail.example.com. IN A\nENTRY_END\nRANGE_END\n\nSTEP 10",
			"MANDATORY entry at line"},
		{"silent server only", dSilent, "ADDRESS 1.2.3.5", "ADDRESS 1.2.3.6",
			"step 11 CHECK_ANSWER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := readFile(t, tc.file)
			if !strings.Contains(text, tc.old) {
				t.Fatalf("%s does not contain %q", tc.file, tc.old)
			}
			d, err := DialectOf(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			sc, err := Parse(strings.NewReader(strings.Replace(text, tc.old, tc.new, 1)), tc.file, d)
			if err != nil {
				t.Fatal(err)
			}
			err, events := replay(t, sc, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q\nevents:\n%s", err, tc.want, events)
			}
		})
	}
}

func TestUnsupportedConfig(t *testing.T) {
	text := readFile(t, "testdata/unbound/ranges.rpl")
	text = strings.Replace(text, "server:\n", "server:\n\tharden-referral-path: yes\n\tdiscard-timeout: 1900\n", 1)
	sc, err := Parse(strings.NewReader(text), "ranges.rpl", Unbound)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("fails", func(t *testing.T) {
		err, _ := replay(t, sc, Options{})
		var ue *UnsupportedError
		if !errors.As(err, &ue) || ue.Key != "harden-referral-path" || ue.Line != 4 {
			t.Fatalf("err = %v, want the first unsupported key, harden-referral-path at line 4", err)
		}
	})
	t.Run("run anyway", func(t *testing.T) {
		err, _ := replay(t, sc, Options{RunUnsupported: true})
		var ue *UnsupportedError
		if !errors.As(err, &ue) || !strings.HasSuffix(err.Error(), "run anyway: passes") {
			t.Fatalf("err = %v, want unsupported, then that the run passes", err)
		}
	})
}

func TestConfigure(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		dialect      Dialect
		check        func(t *testing.T, s *setup)
		unsupported  string // the first unsupported key, if any
	}{
		{name: "deckard keys", dialect: Deckard,
			config: "do-ip6: no\nquery-minimization: off\nstub-addr: 1.2.3.4\nstub-name: a.root.\nval-override-date: \"20200102030405\"\nfeatures: min_ttl = 5 ; a comment\nfeatures: max_ttl=600\n",
			check: func(t *testing.T, s *setup) {
				if !s.noIPv6 || s.qmin == nil || *s.qmin || s.no0x20 {
					t.Errorf("noIPv6 %v qmin %v no0x20 %v", s.noIPv6, s.qmin, s.no0x20)
				}
				if s.rootName != "a.root." || len(s.rootAddrs) != 1 || s.rootAddrs[0].String() != "1.2.3.4" {
					t.Errorf("root %s %v", s.rootName, s.rootAddrs)
				}
				if s.start.Format("2006-01-02 15:04:05") != "2020-01-02 03:04:05" {
					t.Errorf("start %v", s.start)
				}
				if s.cache.MinTTL.Seconds() != 5 || s.cache.MaxTTL.Seconds() != 600 {
					t.Errorf("cache %+v", s.cache)
				}
				if s.dontQuery == nil || len(s.dontQuery) != 0 {
					t.Errorf("dontQuery %v, want empty (Knot queries loopback servers)", s.dontQuery)
				}
			}},
		{name: "unbound keys", dialect: Unbound,
			config: "server:\n\tqname-minimisation: yes\n\tdo-not-query-localhost: no\n\tcache-max-negative-ttl: 10\n\ttarget-fetch-policy: \"0 0 0\"\n\tmodule-config: \"iterator\"\nstub-zone:\n\tname: \".\"\n\tstub-addr: 127.0.0.1@53\n",
			check: func(t *testing.T, s *setup) {
				if s.qmin == nil || !*s.qmin || !s.no0x20 {
					t.Errorf("qmin %v no0x20 %v", s.qmin, s.no0x20)
				}
				if s.dontQuery == nil || len(s.dontQuery) != 0 {
					t.Errorf("dontQuery %v, want empty, not nil", s.dontQuery)
				}
				if s.cache.MaxNegativeTTL.Seconds() != 10 || s.rootAddrs[0].String() != "127.0.0.1" {
					t.Errorf("cache %+v root %v", s.cache, s.rootAddrs)
				}
			}},
		{name: "unbound refuses loopback servers by default", dialect: Unbound, config: "server:\n\tdo-ip6: yes\n",
			check: func(t *testing.T, s *setup) {
				if len(s.dontQuery) != 2 || s.noIPv6 || s.qmin != nil {
					t.Errorf("dontQuery %v noIPv6 %v qmin %v", s.dontQuery, s.noIPv6, s.qmin)
				}
			}},
		{name: "stub zone below the root", dialect: Unbound, config: "stub-zone:\n\tname: example.com\n\tstub-addr: 1.2.3.4\n",
			check: func(t *testing.T, s *setup) {
				if len(s.stubs) != 1 || s.stubs[0].Zone != "example.com." || len(s.stubs[0].Addrs) != 1 || len(s.rootAddrs) != 1 || s.rootAddrs[0].String() != "193.0.14.129" {
					t.Errorf("stubs %+v root %v", s.stubs, s.rootAddrs)
				}
			}},
		{name: "dnssec keys", dialect: Unbound,
			config: "server:\n\ttrust-anchor: \". DS 1 2 3 00\"\n\ttrust-anchor: \"example. DNSKEY 257 3 8 AwEAAQ==\"\n\tdomain-insecure: \"Sub.Example\"\n\taggressive-nsec: no\n\tdo-ip4: no\n\tharden-algo-downgrade: no\n\tmodule-config: \"validator iterator\"\n",
			check: func(t *testing.T, s *setup) {
				d := s.dnssec
				if len(d.TrustAnchors) != 2 || d.TrustAnchors[0].Header().Rrtype != dns.TypeDS || d.TrustAnchors[1].Header().Rrtype != dns.TypeDNSKEY {
					t.Errorf("anchors %v", d.TrustAnchors)
				}
				if !slices.Equal(d.InsecureDomains, []string{"sub.example."}) || !d.DisableAggressiveNSEC || d.Disable {
					t.Errorf("dnssec %+v", d)
				}
				if !slices.Contains(s.dontQuery, netip.MustParsePrefix("0.0.0.0/0")) {
					t.Errorf("dontQuery %v, want every IPv4 address (do-ip4: no)", s.dontQuery)
				}
			}},
		{name: "iterator only", dialect: Unbound, config: "server:\n\tmodule-config: \"iterator\"\n",
			check: func(t *testing.T, s *setup) {
				if !s.dnssec.Disable {
					t.Error("validation stays on with module-config: iterator")
				}
			}},
		{name: "anchor of another type", dialect: Deckard, config: "trust-anchor: \"example. A 1.2.3.4\"\n", unsupported: "-"},
		{name: "anchor file", dialect: Unbound, config: "server:\n\ttrust-anchor-file: root.key\n", unsupported: "trust-anchor-file"},
		{name: "algorithm downgrade hardened", dialect: Unbound, config: "server:\n\tharden-algo-downgrade: yes\n", unsupported: "harden-algo-downgrade"},
		{name: "unknown key", dialect: Unbound, config: "server:\n\tfrobnicate: yes\n", unsupported: "frobnicate"},
		{name: "knot feature", dialect: Deckard, config: "features: something = 1\n", unsupported: "features"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := mustParse(t, tc.dialect, tc.config+"CONFIG_END\nSCENARIO_BEGIN t\nSCENARIO_END\n")
			s, err := configure(sc)
			if tc.unsupported == "-" {
				if err == nil {
					t.Fatal("configure accepts a broken config")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.unsupported != "" {
				if len(s.unsupported) == 0 || s.unsupported[0].Key != tc.unsupported {
					t.Fatalf("unsupported %v, want %s first", s.unsupported, tc.unsupported)
				}
				return
			}
			if len(s.unsupported) > 0 {
				t.Fatalf("unexpectedly unsupported: %v", s.unsupported[0])
			}
			tc.check(t, s)
		})
	}
}
