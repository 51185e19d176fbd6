package testnet

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/miekg/dns"
)

// Case is one row of a sandbox's CASES.md table: a question and what a
// correct resolver answers, starting cold.
type Case struct {
	Name     string
	Qname    string
	Qtype    uint16
	Rcode    int      // dns.RcodeServerFailure where no answer can be had
	Answer   []string // "owner TTL TYPE data", whitespace folded; data "<...>" when elided
	Negative string   // "zone TTL" of the SOA of a negative answer, or ""
}

// ReadCases parses the case table of dir/CASES.md.
func ReadCases(dir string) ([]Case, error) {
	rows, err := readTable(filepath.Join(dir, "CASES.md"), 7)
	if err != nil {
		return nil, err
	}
	cases := make([]Case, 0, len(rows))
	for _, cells := range rows {
		c := Case{Name: cells[0], Qname: cells[1]}
		var ok bool
		if c.Qtype, ok = dns.StringToType[cells[2]]; !ok {
			return nil, fmt.Errorf("CASES.md %s: qtype %q", c.Name, cells[2])
		}
		if c.Rcode, ok = dns.StringToRcode[cells[3]]; !ok {
			return nil, fmt.Errorf("CASES.md %s: rcode %q", c.Name, cells[3])
		}
		if cells[4] != "-" {
			for _, text := range strings.Split(cells[4], " ; ") {
				if before, _, elided := strings.Cut(text, " <"); elided {
					text = before + " <...>"
				}
				c.Answer = append(c.Answer, strings.Join(strings.Fields(text), " "))
			}
		}
		if cells[5] != "-" {
			c.Negative = cells[5]
		}
		cases = append(cases, c)
	}
	return cases, nil
}

// readTable returns the cells of the first table of a Markdown file whose
// header starts "| case |": each row's cells trimmed, want of them a row.
func readTable(file string, want int) ([][]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	name := filepath.Base(file)
	var rows [][]string
	inTable := false
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "| case |"):
			inTable = true
			continue
		case !inTable || strings.HasPrefix(line, "|---"):
			continue
		case !strings.HasPrefix(line, "|"):
			if len(rows) > 0 {
				return rows, nil
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if len(cells) != want {
			return nil, fmt.Errorf("%s: %q: %d cells, want %d", name, line, len(cells), want)
		}
		rows = append(rows, cells)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no cases found", name)
	}
	return rows, nil
}

// Summarise writes rr as a CASES.md answer cell does: "owner TTL TYPE
// data", with the data elided when elide is set.
func Summarise(rr dns.RR, elide bool) string {
	h := rr.Header()
	head := fmt.Sprintf("%s %d %s", strings.ToLower(h.Name), h.Ttl, dns.TypeToString[h.Rrtype])
	if elide {
		return head + " <...>"
	}
	return head + " " + strings.Join(strings.Fields(strings.TrimPrefix(rr.String(), h.String())), " ")
}
