package testnet

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// DNSSECCasesFile is the table of what a validating resolver answers in a
// signed sandbox.
const DNSSECCasesFile = "DNSSEC-CASES.md"

// NoEDE stands, in DNSSECCase.EDE, for a reply without an extended DNS error.
const NoEDE = -1

// DNSSECCase is one row of a sandbox's DNSSEC-CASES.md: a question a
// client asks a validating resolver (DO set, cold cache, the sandbox's
// trust anchor) and what it must answer.
type DNSSECCase struct {
	Name  string
	Qname string
	Qtype uint16
	Rcode int
	AD    bool
	// EDE lists the acceptable extended DNS error codes (RFC 8914); NoEDE
	// among them accepts a reply without one. It is never empty.
	EDE []int
	// MaxVerifications is the most signature verifications the question
	// may cost (see the file for how they are counted).
	MaxVerifications int
	Exercises        string
}

// AcceptsEDE says whether a reply whose extended errors are codes (none
// when empty) meets the case: one of them is acceptable, or there are none
// and none is acceptable.
func (c DNSSECCase) AcceptsEDE(codes []uint16) bool {
	if len(codes) == 0 {
		return slices.Contains(c.EDE, NoEDE)
	}
	for _, code := range codes {
		if slices.Contains(c.EDE, int(code)) {
			return true
		}
	}
	return false
}

// ReadDNSSECCases parses the case table of dir/DNSSEC-CASES.md.
func ReadDNSSECCases(dir string) ([]DNSSECCase, error) {
	rows, err := readTable(filepath.Join(dir, DNSSECCasesFile), 8)
	if err != nil {
		return nil, err
	}
	cases := make([]DNSSECCase, 0, len(rows))
	for _, cells := range rows {
		c, err := parseDNSSECCase(cells)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", DNSSECCasesFile, cells[0], err)
		}
		cases = append(cases, c)
	}
	return cases, nil
}

// parseDNSSECCase reads the cells: case, qname, qtype, rcode, AD (0 or 1),
// EDE ("-", a code, or codes and "-" joined by " or "), max verifications,
// what it exercises.
func parseDNSSECCase(cells []string) (DNSSECCase, error) {
	c := DNSSECCase{Name: cells[0], Qname: cells[1], Exercises: cells[7]}
	if _, ok := dns.IsDomainName(c.Qname); !ok || !dns.IsFqdn(c.Qname) {
		return c, fmt.Errorf("qname %q", c.Qname)
	}
	var ok bool
	if c.Qtype, ok = dns.StringToType[cells[2]]; !ok {
		return c, fmt.Errorf("qtype %q", cells[2])
	}
	if c.Rcode, ok = dns.StringToRcode[cells[3]]; !ok {
		return c, fmt.Errorf("rcode %q", cells[3])
	}
	switch cells[4] {
	case "0":
	case "1":
		c.AD = true
	default:
		return c, fmt.Errorf("AD %q, want 0 or 1", cells[4])
	}
	for alt := range strings.SplitSeq(cells[5], " or ") {
		if alt == "-" {
			c.EDE = append(c.EDE, NoEDE)
			continue
		}
		code, err := strconv.ParseUint(alt, 10, 16)
		if err != nil {
			return c, fmt.Errorf("EDE %q", cells[5])
		}
		c.EDE = append(c.EDE, int(code))
	}
	n, err := strconv.ParseUint(cells[6], 10, 16)
	if err != nil {
		return c, fmt.Errorf("max verifications %q", cells[6])
	}
	c.MaxVerifications = int(n)
	return c, nil
}
