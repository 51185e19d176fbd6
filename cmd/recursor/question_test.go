package main

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestParseQuestion(t *testing.T) {
	tests := []struct {
		args    []string
		reverse string
		name    string
		qtype   uint16
		err     string
	}{
		{[]string{"example.com"}, "", "example.com", dns.TypeA, ""},
		{[]string{"example.com", "MX"}, "", "example.com", dns.TypeMX, ""},
		{[]string{"MX", "example.com"}, "", "example.com", dns.TypeMX, ""},
		{[]string{"example.com", "IN", "aaaa"}, "", "example.com", dns.TypeAAAA, ""},
		{[]string{"IN", "TXT", "example.com"}, "", "example.com", dns.TypeTXT, ""},
		{[]string{"example.com", "TYPE65"}, "", "example.com", dns.TypeHTTPS, ""},
		{[]string{"example.com", "type4321"}, "", "example.com", 4321, ""},
		{[]string{"mx"}, "", "mx", dns.TypeA, ""},
		{[]string{"a", "aaaa"}, "", "a", dns.TypeAAAA, ""},
		{[]string{"bücher.example"}, "", "xn--bcher-kva.example.", dns.TypeA, ""},
		{nil, "192.0.2.1", "1.2.0.192.in-addr.arpa.", dns.TypePTR, ""},
		{nil, "2001:db8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", dns.TypePTR, ""},
		{[]string{"TXT"}, "192.0.2.1", "1.2.0.192.in-addr.arpa.", dns.TypeTXT, ""},
		{[]string{"example.com", "ANY"}, "", "example.com", dns.TypeANY, ""},
		{[]string{"example.com", "CH"}, "", "", 0, "only IN"},
		{[]string{"example.com", "A", "MX"}, "", "", 0, "more than one query type"},
		{[]string{"a.example", "b.example"}, "", "", 0, `unknown query type "b.example"`},
		{[]string{"a.example", "b.example", "c.example"}, "", "", 0, "want one name"},
		{nil, "", "", 0, "want one name"},
		{[]string{"example.com"}, "192.0.2.1", "", 0, "give one"},
		{nil, "not-an-address", "", 0, "not an IP address"},
		{[]string{"a..b"}, "", "a..b", dns.TypeA, ""}, // the engine refuses it, naming it
	}
	for _, tc := range tests {
		name, qtype, err := parseQuestion(tc.args, tc.reverse)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v -x %q: err %v, want %q", tc.args, tc.reverse, err, tc.err)
			}
			continue
		}
		if err != nil || name != tc.name || qtype != tc.qtype {
			t.Errorf("%v -x %q: %q %d %v; want %q %d", tc.args, tc.reverse, name, qtype, err, tc.name, tc.qtype)
		}
	}
}

func TestResolveShort(t *testing.T) {
	out, err := runCommand(t, "resolve", "--sandbox", "--short", "MX", "example.com", "IN")
	if err != nil {
		t.Fatal(err)
	}
	if out != "10 mail.example.com.\n" {
		t.Errorf("--short output %q, want the MX's data alone", out)
	}
}
