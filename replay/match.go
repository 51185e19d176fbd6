package replay

import (
	"fmt"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// ednsPayload is what an entry's OPT record advertises (both suites use
// 4096 for their canned messages).
const ednsPayload = 4096

// message builds the entry's DNS message. The dialects differ on EDNS:
// Deckard's entries always carry an OPT record (DO when the REPLY line says
// so), Unbound's only when the REPLY line says DO.
func (e *Entry) message(d Dialect) *dns.Msg {
	m := new(dns.Msg)
	m.Opcode = e.Opcode
	m.Rcode = e.Rcode
	m.Response, m.Authoritative, m.Truncated = e.Flags.QR, e.Flags.AA, e.Flags.TC
	m.RecursionDesired, m.RecursionAvailable = e.Flags.RD, e.Flags.RA
	m.AuthenticatedData, m.CheckingDisabled = e.Flags.AD, e.Flags.CD
	m.Question = slices.Clone(e.Question)
	m.Answer = copyRRs(e.Answer)
	m.Ns = copyRRs(e.Ns)
	m.Extra = copyRRs(e.Extra)
	if d == Deckard || e.DO {
		m.SetEdns0(ednsPayload, e.DO)
	}
	return m
}

func copyRRs(rrs []dns.RR) []dns.RR {
	if rrs == nil {
		return nil
	}
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Copy(rr)
	}
	return out
}

// reply builds the wire answer of a canned entry to query q, applying the
// entry's ADJUST items.
func (e *Entry) reply(d Dialect, q *dns.Msg) ([]byte, error) {
	if e.Raw != nil {
		wire := slices.Clone(e.Raw)
		if e.adjusts("copy_id") && len(wire) >= 2 {
			wire[0], wire[1] = byte(q.Id>>8), byte(q.Id)
		}
		return wire, nil
	}
	m := e.message(d)
	copyID, copyQuery := e.adjusts("copy_id"), e.adjusts("copy_query")
	if d == Unbound && !copyID {
		// testbound hands canned answers straight to the waiting query,
		// so their ID is never checked: files often omit copy_id.
		m.Id = q.Id
	}
	if copyID {
		m.Id = q.Id
		// Deckard's copy_id also takes the query name's letter case.
		if d == Deckard && len(m.Question) > 0 && len(q.Question) > 0 {
			m.Question[0].Name = q.Question[0].Name
		}
	}
	if copyQuery {
		m.Question = slices.Clone(q.Question)
	}
	if d == Deckard && (copyID || copyQuery) {
		// Deckard mirrors the query's EDNS in adjusted answers.
		m.Extra = slices.DeleteFunc(m.Extra, func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeOPT })
		if opt := q.IsEdns0(); opt != nil {
			o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
			o.SetUDPSize(ednsPayload)
			o.SetVersion(opt.Version())
			o.SetDo(opt.Do())
			m.Extra = append(m.Extra, o)
		}
	}
	wire, err := m.Pack()
	if err != nil {
		return nil, fmt.Errorf("entry at line %d: pack: %w", e.Line, err)
	}
	return wire, nil
}

// matchItems expands an entry's MATCH list per dialect.
func (e *Entry) matchSet(d Dialect) map[string]bool {
	set := map[string]bool{}
	for _, item := range e.Match {
		switch item {
		case "all":
			for _, x := range []string{"opcode", "qname", "qtype", "rcode", "answer", "authority", "additional"} {
				set[x] = true
			}
			if d == Deckard {
				set["flags"] = true
			} else {
				// Unbound compares the whole message: every header bit,
				// the question's class and the EDNS record's presence.
				set["allflags"], set["qclass"], set["ednspresence"] = true, true, true
			}
		case "question":
			set["qname"], set["qtype"] = true, true
			if d == Unbound {
				set["qclass"] = true
			}
		default:
			set[item] = true
		}
	}
	return set
}

// compare checks got, which arrived over TCP when tcp is set, against e
// with e's MATCH rules. It returns nil on a match, else the first
// mismatch, described for a person.
func compare(d Dialect, e *Entry, got *dns.Msg, tcp bool) error {
	set := e.matchSet(d)
	withTTL := d == Unbound && set["ttl"]
	var expQ, gotQ *dns.Question
	if len(e.Question) > 0 {
		expQ = &e.Question[0]
	}
	if len(got.Question) > 0 {
		gotQ = &got.Question[0]
	}
	qtext := func(q *dns.Question) string {
		if q == nil {
			return "<no question>"
		}
		return q.Name + " " + dns.ClassToString[q.Qclass] + " " + dns.TypeToString[q.Qtype]
	}
	if set["opcode"] && e.Opcode != got.Opcode {
		return fmt.Errorf("opcode: want %s, got %s", dns.OpcodeToString[e.Opcode], dns.OpcodeToString[got.Opcode])
	}
	if set["qname"] || set["qcase"] || set["qtype"] || set["qclass"] {
		if (expQ == nil) != (gotQ == nil) {
			return fmt.Errorf("question: want %s, got %s", qtext(expQ), qtext(gotQ))
		}
	}
	if expQ != nil && gotQ != nil {
		if set["qname"] && !strings.EqualFold(expQ.Name, gotQ.Name) ||
			set["qcase"] && expQ.Name != gotQ.Name ||
			set["qtype"] && expQ.Qtype != gotQ.Qtype ||
			set["qclass"] && expQ.Qclass != gotQ.Qclass {
			return fmt.Errorf("question: want %s, got %s", qtext(expQ), qtext(gotQ))
		}
	}
	if set["subdomain"] && expQ != nil {
		name := "."
		if gotQ != nil {
			name = gotQ.Name
		}
		if !dns.IsSubDomain(expQ.Name, name) {
			return fmt.Errorf("question: want a name at or below %s, got %s", expQ.Name, name)
		}
	}
	if (set["flags"] || set["allflags"]) && e.Flags != flagsOf(got) {
		return fmt.Errorf("flags: want [%s], got [%s]", e.Flags, flagsOf(got))
	}
	if set["rcode"] && e.Rcode != got.Rcode {
		return fmt.Errorf("rcode: want %s, got %s", rcodeText(e.Rcode), rcodeText(got.Rcode))
	}
	for _, s := range []struct {
		item      string
		exp, have []dns.RR
	}{
		{"answer", e.Answer, got.Answer},
		{"authority", e.Ns, got.Ns},
		{"additional", withoutOPT(e.Extra), withoutOPT(got.Extra)},
	} {
		if set[s.item] {
			if err := compareSection(s.exp, s.have, withTTL); err != nil {
				return fmt.Errorf("%s section: %w", s.item, err)
			}
		}
	}
	gotOPT := got.IsEdns0()
	if set["ednspresence"] {
		if e.DO != (gotOPT != nil) {
			return fmt.Errorf("EDNS: want OPT record %v, got %v", e.DO, gotOPT != nil)
		}
		if gotOPT != nil && gotOPT.Do() != e.DO {
			return fmt.Errorf("EDNS: want DO %v, got %v", e.DO, gotOPT.Do())
		}
	}
	if set["edns"] && gotOPT == nil {
		return fmt.Errorf("EDNS: want an OPT record, got none")
	}
	if set["tcp"] && !tcp {
		return fmt.Errorf("transport: want TCP, got UDP")
	}
	if set["udp"] && tcp {
		return fmt.Errorf("transport: want UDP, got TCP")
	}
	for item := range set {
		code, ok := strings.CutPrefix(item, "ede=")
		if !ok {
			continue
		}
		codes := edeCodes(got)
		if code == "any" && len(codes) > 0 || slices.Contains(codes, code) {
			continue
		}
		return fmt.Errorf("EDE: want %s, got %v", code, codes)
	}
	return nil
}

func rcodeText(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rc)
}

func withoutOPT(rrs []dns.RR) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		if rr.Header().Rrtype != dns.TypeOPT {
			out = append(out, rr)
		}
	}
	return out
}

func edeCodes(m *dns.Msg) []string {
	var codes []string
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if ede, ok := o.(*dns.EDNS0_EDE); ok {
				codes = append(codes, fmt.Sprint(ede.InfoCode))
			}
		}
	}
	return codes
}

// compareSection compares two sections as multisets of records: owner
// names and names in the data without regard to case, TTLs only when
// withTTL is set.
func compareSection(exp, got []dns.RR, withTTL bool) error {
	remaining := map[string]int{}
	for _, rr := range got {
		remaining[rrKey(rr, withTTL)]++
	}
	var missing []string
	for _, rr := range exp {
		k := rrKey(rr, withTTL)
		if remaining[k] > 0 {
			remaining[k]--
			continue
		}
		missing = append(missing, k)
	}
	var extra []string
	for _, rr := range got {
		k := rrKey(rr, withTTL)
		if remaining[k] > 0 {
			remaining[k]--
			extra = append(extra, k)
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return nil
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "missing "+brace(missing))
	}
	if len(extra) > 0 {
		parts = append(parts, "unexpected "+brace(extra))
	}
	return fmt.Errorf("want %d records, got %d: %s", len(exp), len(got), strings.Join(parts, ", "))
}

func brace(items []string) string { return "{" + strings.Join(items, "; ") + "}" }

// caseSensitiveData lists types whose data holds text, not names: their
// data keeps its case in comparisons.
var caseSensitiveData = map[uint16]bool{
	dns.TypeTXT: true, dns.TypeSPF: true, dns.TypeHINFO: true, dns.TypeNAPTR: true, dns.TypeCAA: true,
}

// rrKey is the comparable text of a record: lower-case owner, TTL only
// when asked for, data lower-cased unless it is text. Records in RFC 3597
// form are turned into their type first when their data fits it, so that a
// generic expectation matches a parsed answer.
func rrKey(rr dns.RR, withTTL bool) string {
	if g, ok := rr.(*dns.RFC3597); ok {
		if typed, ok := fromGeneric(g); ok {
			rr = typed
		}
	}
	h := rr.Header()
	data := strings.TrimPrefix(rr.String(), h.String())
	if !caseSensitiveData[h.Rrtype] {
		data = strings.ToLower(data)
	}
	var b strings.Builder
	b.WriteString(strings.ToLower(h.Name))
	if withTTL {
		fmt.Fprintf(&b, " %d", h.Ttl)
	}
	class := dns.ClassToString[h.Class]
	if class == "" {
		class = fmt.Sprintf("CLASS%d", h.Class)
	}
	typ := dns.TypeToString[h.Rrtype]
	if typ == "" {
		typ = fmt.Sprintf("TYPE%d", h.Rrtype)
	}
	fmt.Fprintf(&b, " %s %s %s", class, typ, data)
	return b.String()
}

// fromGeneric parses an RFC 3597 record as its own type through the wire.
func fromGeneric(g *dns.RFC3597) (dns.RR, bool) {
	buf := make([]byte, dns.MaxMsgSize)
	n, err := dns.PackRR(g, buf, 0, nil, false)
	if err != nil {
		return nil, false
	}
	rr, _, err := dns.UnpackRR(buf[:n], 0)
	if err != nil {
		return nil, false
	}
	if _, still := rr.(*dns.RFC3597); still {
		return nil, false
	}
	return rr, true
}

// summary describes a message in one line for failure reports.
func summary(m *dns.Msg) string {
	if m == nil {
		return "<no message>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s [%s] an=%d ns=%d ar=%d", rcodeText(m.Rcode), flagsOf(m), len(m.Answer), len(m.Ns), len(withoutOPT(m.Extra)))
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if ede, ok := o.(*dns.EDNS0_EDE); ok {
				fmt.Fprintf(&b, " EDE %d %q", ede.InfoCode, ede.ExtraText)
			}
		}
	}
	return b.String()
}
