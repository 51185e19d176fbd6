package testnet

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestParseDNSSECCase(t *testing.T) {
	tests := []struct {
		name    string
		row     string
		want    DNSSECCase
		wantErr string
	}{
		{"secure", "| a | www.a. | A | NOERROR | 1 | - | 6 | x |",
			DNSSECCase{Name: "a", Qname: "www.a.", Qtype: dns.TypeA, AD: true, EDE: []int{NoEDE}, MaxVerifications: 6, Exercises: "x"}, ""},
		{"bogus", "| b | a. | DNSKEY | SERVFAIL | 0 | 9 | 4 | y |",
			DNSSECCase{Name: "b", Qname: "a.", Qtype: dns.TypeDNSKEY, Rcode: dns.RcodeServerFailure, EDE: []int{9}, MaxVerifications: 4, Exercises: "y"}, ""},
		{"alternatives", "| c | a. | A | NOERROR | 0 | 1 or - | 4 | z |",
			DNSSECCase{Name: "c", Qname: "a.", Qtype: dns.TypeA, EDE: []int{1, NoEDE}, MaxVerifications: 4, Exercises: "z"}, ""},
		{"bad AD", "| d | a. | A | NOERROR | yes | - | 4 | z |", DNSSECCase{}, "AD"},
		{"bad EDE", "| d | a. | A | NOERROR | 0 | seven | 4 | z |", DNSSECCase{}, "EDE"},
		{"bad count", "| d | a. | A | NOERROR | 0 | - | many | z |", DNSSECCase{}, "verifications"},
		{"relative name", "| d | a | A | NOERROR | 0 | - | 1 | z |", DNSSECCase{}, "qname"},
		{"short row", "| d | a. | A | NOERROR | 0 | - | 1 |", DNSSECCase{}, "cells"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			table := "| case | qname | qtype | rcode | AD | EDE | max verifications | exercises |\n|---|\n" + tt.row + "\n"
			if err := os.WriteFile(filepath.Join(dir, DNSSECCasesFile), []byte(table), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ReadDNSSECCases(dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := got[0]
			if c.Name != tt.want.Name || c.Qname != tt.want.Qname || c.Qtype != tt.want.Qtype || c.Rcode != tt.want.Rcode ||
				c.AD != tt.want.AD || !slices.Equal(c.EDE, tt.want.EDE) || c.MaxVerifications != tt.want.MaxVerifications ||
				c.Exercises != tt.want.Exercises {
				t.Errorf("got %+v, want %+v", c, tt.want)
			}
		})
	}
}

func TestAcceptsEDE(t *testing.T) {
	c := DNSSECCase{EDE: []int{1, NoEDE}}
	if !c.AcceptsEDE(nil) || !c.AcceptsEDE([]uint16{1}) || c.AcceptsEDE([]uint16{6}) {
		t.Error("1 or -: wrong verdicts")
	}
	c = DNSSECCase{EDE: []int{7}}
	if c.AcceptsEDE(nil) || !c.AcceptsEDE([]uint16{7}) || !c.AcceptsEDE([]uint16{0, 7}) {
		t.Error("7: wrong verdicts")
	}
}

// TestDNSSECCasesMatchSandbox checks the table against the signed sandbox:
// every breakage of signing.conf has a case, every broken zone is asked
// about, and each question that is not bogus gets its rcode from a plain
// (non-validating) walk, so a typo in a qname shows up here.
func TestDNSSECCasesMatchSandbox(t *testing.T) {
	cases, err := ReadDNSSECCases(sandboxDir)
	if err != nil {
		t.Fatal(err)
	}
	sb, policies := loadSigned(t, SignerBuiltin)
	for origin, p := range policies {
		if len(p.breaks) == 0 {
			continue
		}
		if !slices.ContainsFunc(cases, func(c DNSSECCase) bool { return dns.IsSubDomain(origin, canonical(c.Qname)) }) {
			t.Errorf("broken zone %s: no case asks about it", origin)
		}
	}
	n := StartTB(t, sandboxDir)
	w := &walker{hints: sb.hints, port: n.Port(), dead: map[netip.Addr]bool{}}
	for _, s := range n.Servers() {
		w.dead[s.Addr] = s.Mode == ModeDead
	}
	names := map[string]bool{}
	for _, c := range cases {
		if names[c.Name] {
			t.Errorf("case %s listed twice", c.Name)
		}
		names[c.Name] = true
		if c.Rcode == dns.RcodeServerFailure {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			if got := w.resolve(t.Context(), c.Qname, c.Qtype, 0); got.rcode != c.Rcode {
				t.Errorf("%s %s: rcode %s without validation, want %s", c.Qname, dns.TypeToString[c.Qtype],
					dns.RcodeToString[got.rcode], dns.RcodeToString[c.Rcode])
			}
		})
	}
}
