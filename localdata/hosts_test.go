package localdata

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestParseHosts(t *testing.T) {
	f, err := os.Open("testdata/hosts")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rrs, err := ParseHosts(f, "testdata/hosts")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rr := range rrs {
		got = append(got, strings.Join(strings.Fields(rr.String()), " "))
	}
	want := []string{
		"localhost. 3600 IN A 127.0.0.1",
		"1.0.0.127.in-addr.arpa. 3600 IN PTR localhost.",
		"box.lan. 3600 IN A 127.0.1.1",
		"1.1.0.127.in-addr.arpa. 3600 IN PTR box.lan.",
		"box. 3600 IN A 127.0.1.1",
		"nas.lan. 3600 IN A 192.0.2.10",
		"10.2.0.192.in-addr.arpa. 3600 IN PTR nas.lan.",
		"nas. 3600 IN A 192.0.2.10",
		"files.lan. 3600 IN A 192.0.2.10",
		"printer.lan. 3600 IN A 192.0.2.11",
		"11.2.0.192.in-addr.arpa. 3600 IN PTR printer.lan.",
		"backup.lan. 3600 IN A 192.0.2.10",
		"nas.lan. 3600 IN AAAA 2001:db8::10",
		"0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 3600 IN PTR nas.lan.",
		"mapped.lan. 3600 IN A 192.0.2.12",
		"12.2.0.192.in-addr.arpa. 3600 IN PTR mapped.lan.",
	}
	if !slices.Equal(got, want) {
		t.Errorf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestHostsTable(t *testing.T) {
	tab := load(t, Config{Hosts: []string{"testdata/hosts"}})
	tests := []struct {
		qname string
		qtype uint16
		want  outcome
	}{
		{"nas.lan.", dns.TypeA, outcome{action: Answer, answer: "nas.lan. 3600 IN A 192.0.2.10"}},
		{"NAS.lan.", dns.TypeA, outcome{}}, // Lookup takes canonical names: the caller lowers them
		{"nas.lan.", dns.TypeAAAA, outcome{action: Answer, answer: "nas.lan. 3600 IN AAAA 2001:db8::10"}},
		{"printer.lan.", dns.TypeAAAA, outcome{action: Answer}},
		{"10.2.0.192.in-addr.arpa.", dns.TypePTR, outcome{action: Answer, answer: "10.2.0.192.in-addr.arpa. 3600 IN PTR nas.lan."}},
		{"scoped.lan.", dns.TypeAAAA, outcome{}},
		{"www.lan.", dns.TypeA, outcome{}},
	}
	for _, tt := range tests {
		if got := outcomeOf(tab.Lookup(tt.qname, tt.qtype)); got != tt.want {
			t.Errorf("Lookup(%s, %s) = %+v, want %+v", tt.qname, dns.TypeToString[tt.qtype], got, tt.want)
		}
	}
}

func TestHostsAndZones(t *testing.T) {
	// A hosts name inside a configured static zone is that zone's data.
	tab := load(t, Config{Zones: []string{"lan. static"}, Hosts: []string{"testdata/hosts"}})
	if got := outcomeOf(tab.Lookup("nas.lan.", dns.TypeA)); got.answer != "nas.lan. 3600 IN A 192.0.2.10" {
		t.Errorf("nas.lan. A: %+v", got)
	}
	if got := outcomeOf(tab.Lookup("www.lan.", dns.TypeA)); got.rcode != dns.RcodeNameError {
		t.Errorf("www.lan. A: %+v, want NXDOMAIN from the static zone", got)
	}
}
