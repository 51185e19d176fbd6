package main

import (
	"strings"
	"testing"
)

const kdigSecure = `;; ->>HEADER<<- opcode: QUERY; status: NOERROR; id: 14998
;; Flags: qr rd ra ad; QUERY: 1; ANSWER: 2; AUTHORITY: 0; ADDITIONAL: 1

;; EDNS PSEUDOSECTION:
;; Version: 0; flags: do; UDP size: 1232 B; ext-rcode: NOERROR

;; ANSWER SECTION:
www.example.com.    	300	IN	A	192.0.2.10
`

func TestParseKdig(t *testing.T) {
	rcode, flags, err := parseKdig(kdigSecure)
	if err != nil || rcode != "NOERROR" || !flags["ad"] || !flags["ra"] || flags["do"] || flags["cd"] {
		t.Errorf("parseKdig = %q, %v, %v; want NOERROR with qr rd ra ad (the EDNS flags are not header flags)", rcode, flags, err)
	}
	if got := flagList(flags); got != "[qr rd ra ad]" {
		t.Errorf("flagList = %s", got)
	}
	servfail := strings.Replace(strings.Replace(kdigSecure, "NOERROR; id", "SERVFAIL; id", 1), "ra ad;", "ra;", 1)
	if rcode, flags, err := parseKdig(servfail); err != nil || rcode != "SERVFAIL" || flags["ad"] {
		t.Errorf("parseKdig = %q, %v, %v; want SERVFAIL without AD", rcode, flags, err)
	}
	if _, _, err := parseKdig(";; WARNING: response timeout for 127.0.0.1@5311(UDP)\n;; ERROR: failed to query server 127.0.0.1@5311(UDP)\n"); err == nil {
		t.Error("parseKdig accepts output without a reply")
	}
}

func TestReportSigned(t *testing.T) {
	b := &bench{s: settingsFor(false), pin: true}
	cs := []contender{{name: "Unbound"}, {name: "recursor"}}
	signed := []contender{{name: "Unbound", signed: true, settings: "validator"}, {name: "recursor", signed: true, unavailable: "no flag"}}
	r := newReport(b, cs, signed)
	r.add("Unbound", metrics{"hit_cpu_us": 10, "sig_hit_cpu_us": 11, "sig_secure_cpu_us": 200, "sig_secure_upstream_per_name": 3, "sig_insecure_cpu_us": 100})
	r.add("recursor", metrics{"hit_cpu_us": 8, "sig_hit_cpu_us": 8.8, "sig_hit_cpu_rel": 1.1, "sig_secure_cpu_us": 150, "sig_secure_upstream_per_name": 3.3, "sig_check_do_ad": 3})
	r.warner(signed[0].label(), 0)("spot check failed")
	out := r.markdown(nil)
	unsignedAt, signedAt := strings.Index(out, "| resolver CPU per query at 20000 QPS"), strings.Index(out, "## Signed tree")
	if unsignedAt < 0 || signedAt < unsignedAt {
		t.Fatalf("the signed table does not follow the unsigned one:\n%s", out)
	}
	for _, want := range []string{
		"| resolver CPU per name, µs ↓ | 200 | 150 | 0.75 |",
		"| secure names answered with AD, query with DO (+dnssec), of 3 | n/a | 3 |",
		"recursor's CPU per cache hit, signed ÷ unsigned: 1.100 (at most 1.05): missed by 4.8%",
		"CPU per cold name, secure, recursor/Unbound: 0.75 (at most 1.00): met",
		"upstream queries per cold name, secure, recursor/Unbound: 1.10 (at most 1.00): missed by 10.0%",
		"CPU per cold name, insecure, recursor/Unbound: NaN (at most 1.00): n/a",
		"Unbound (signed): round 1: spot check failed",
		"recursor (signed): n/a: no flag",
		"- Unbound: validator",
	} {
		if !strings.Contains(out[signedAt:], want) {
			t.Errorf("signed part lacks %q:\n%s", want, out[signedAt:])
		}
	}
	if strings.Contains(out[:signedAt], "spot check failed") {
		t.Errorf("a signed problem shows under the unsigned table:\n%s", out)
	}
}

func TestInterleave(t *testing.T) {
	l := func(name string, signed bool) live { return live{c: contender{name: name, signed: signed}} }
	got := interleave([]live{l("recursor", false), l("Unbound", false)}, []live{l("Unbound", true), l("recursor", true), l("baseline", true)})
	var labels []string
	for _, x := range got {
		labels = append(labels, x.c.label())
	}
	want := "recursor, recursor (signed), Unbound, Unbound (signed), baseline (signed)"
	if strings.Join(labels, ", ") != want {
		t.Errorf("interleave = %s, want %s", strings.Join(labels, ", "), want)
	}
}
