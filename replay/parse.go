package replay

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Dialect says whose replay rules a file follows. The two suites spell the
// same format but pick ranges, answer pending queries and check answers
// differently (see the scenarios README).
type Dialect uint8

const (
	Deckard Dialect = iota + 1
	Unbound
)

func (d Dialect) String() string {
	switch d {
	case Deckard:
		return "deckard"
	case Unbound:
		return "unbound"
	}
	return "unknown"
}

// DialectOf picks the dialect from the folder a file sits in: a path with a
// "deckard" element is Deckard's, one with "unbound" is Unbound's.
func DialectOf(path string) (Dialect, error) {
	for _, elem := range strings.Split(filepath.ToSlash(filepath.Dir(path)), "/") {
		switch elem {
		case "deckard":
			return Deckard, nil
		case "unbound":
			return Unbound, nil
		}
	}
	return 0, fmt.Errorf("%s: cannot tell the dialect: the path has no deckard/ or unbound/ folder", path)
}

// Scenario is one parsed .rpl file.
type Scenario struct {
	Name    string // as given to Parse, used in messages
	Dialect Dialect
	Title   string
	Config  []ConfigLine
	Ranges  []*Range
	Steps   []*Step // in increasing step number
}

// ConfigLine is one "key: value" line of the config section. Clause is the
// Unbound clause it sits in ("server", "stub-zone", ...), empty for Deckard.
type ConfigLine struct {
	Line   int
	Clause string
	Key    string
	Value  string // quotes and trailing comments removed
}

// Range is a fake server: it answers while the step number is within
// [From, To], for Addrs (any address when empty).
type Range struct {
	Line     int
	From, To int
	Addrs    []netip.Addr
	Entries  []*Entry
}

// Step is one action of the script.
type Step struct {
	Line  int
	N     int
	Type  string   // QUERY, CHECK_ANSWER, TIME_PASSES, REPLY, ...
	Args  []string // what follows the type (TIME_PASSES: "ELAPSE", seconds)
	Entry *Entry   // the message of QUERY, CHECK_ANSWER, REPLY, CHECK_OUT_QUERY
}

// Entry is a DNS message plus instructions: what to match, how to adjust
// the answer, and the message itself.
type Entry struct {
	Line      int
	Match     []string // MATCH items, lower case ("opcode", "qname", "ede=6", "tcp", ...)
	HasMatch  bool     // a MATCH line was present (Unbound: none means "accept any")
	Adjust    []string // ADJUST items: copy_id, copy_query, do_not_answer
	Mandatory bool     // Deckard: must be used before the end

	// The message. Header bits and rcode come from the REPLY (or FLAGS)
	// line; DO asks for an OPT record with the DO bit.
	Opcode   int
	Rcode    int
	Flags    Flags
	DO       bool
	Question []dns.Question
	Answer   []dns.RR
	Ns       []dns.RR
	Extra    []dns.RR
	// Raw is a literal packet (Deckard RAW, Unbound HEX_ANSWER); when set
	// it replaces the sections above.
	Raw []byte
}

// Flags are the header bits an entry can set.
type Flags struct {
	QR, AA, TC, RD, RA, AD, CD bool
}

func (f Flags) String() string {
	var names []string
	for _, b := range []struct {
		on   bool
		name string
	}{{f.QR, "QR"}, {f.AA, "AA"}, {f.TC, "TC"}, {f.RD, "RD"}, {f.RA, "RA"}, {f.AD, "AD"}, {f.CD, "CD"}} {
		if b.on {
			names = append(names, b.name)
		}
	}
	return strings.Join(names, " ")
}

func flagsOf(m *dns.Msg) Flags {
	return Flags{m.Response, m.Authoritative, m.Truncated, m.RecursionDesired, m.RecursionAvailable, m.AuthenticatedData, m.CheckingDisabled}
}

func (e *Entry) matches(item string) bool { return slices.Contains(e.Match, item) }

func (e *Entry) adjusts(item string) bool { return slices.Contains(e.Adjust, item) }

// ParseFile reads the scenario at path; the dialect comes from its folder.
func ParseFile(path string) (*Scenario, error) {
	d, err := DialectOf(path)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(f, path, d)
}

// maxLine bounds one line of a scenario (the longest RAW packets are a few
// kilobytes of hex).
const maxLine = 1 << 20

// Parse reads a scenario. Errors name the file and line.
func Parse(r io.Reader, name string, d Dialect) (*Scenario, error) {
	p := &parser{sc: &Scenario{Name: name, Dialect: d}, sc2: bufio.NewScanner(r)}
	p.sc2.Buffer(make([]byte, 64<<10), maxLine)
	if err := p.parse(); err != nil {
		return nil, err
	}
	slices.SortStableFunc(p.sc.Steps, func(a, b *Step) int { return a.N - b.N })
	return p.sc, nil
}

type parser struct {
	sc   *Scenario
	sc2  *bufio.Scanner
	line int
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", p.sc.Name, p.line, fmt.Sprintf(format, args...))
}

// next returns the next non-empty line with its comment removed, split into
// fields; ok is false at the end of input.
func (p *parser) next() (raw string, fields []string, ok bool, err error) {
	for p.sc2.Scan() {
		p.line++
		raw = stripComment(p.sc2.Text(), ';')
		fields = strings.Fields(raw)
		if len(fields) > 0 {
			return raw, fields, true, nil
		}
	}
	if err := p.sc2.Err(); err != nil {
		return "", nil, false, p.errorf("%v", err)
	}
	return "", nil, false, nil
}

// stripComment cuts line at the first c outside double quotes.
func stripComment(line string, c byte) string {
	quoted, escaped := false, false
	for i := 0; i < len(line); i++ {
		switch ch := line[i]; {
		case escaped:
			escaped = false
		case ch == '\\':
			escaped = true
		case ch == '"':
			quoted = !quoted
		case ch == c && !quoted:
			return line[:i]
		}
	}
	return line
}

func (p *parser) parse() error {
	if err := p.parseConfig(); err != nil {
		return err
	}
	for {
		_, f, ok, err := p.next()
		if err != nil {
			return err
		}
		if !ok {
			return p.errorf("no SCENARIO_BEGIN")
		}
		if f[0] == "SCENARIO_BEGIN" {
			p.sc.Title = strings.Join(f[1:], " ")
			break
		}
		return p.errorf("want SCENARIO_BEGIN, got %q", f[0])
	}
	for {
		_, f, ok, err := p.next()
		if err != nil {
			return err
		}
		if !ok {
			return p.errorf("no SCENARIO_END")
		}
		switch f[0] {
		case "SCENARIO_END":
			return nil
		case "RANGE_END":
			// A stray RANGE_END (iter_failreply.rpl has one); testbound
			// ignores it, and so do we.
		case "RANGE_BEGIN":
			if err := p.parseRange(f); err != nil {
				return err
			}
		case "STEP":
			if err := p.parseStep(f); err != nil {
				return err
			}
		case "ENTRY_BEGIN":
			// An entry after a step belongs to it (several steps carry
			// their message on the following lines).
			if len(p.sc.Steps) == 0 {
				return p.errorf("ENTRY_BEGIN outside a RANGE and before any STEP")
			}
			st := p.sc.Steps[len(p.sc.Steps)-1]
			if st.Entry != nil {
				return p.errorf("step %d has a second entry", st.N)
			}
			e, err := p.parseEntry()
			if err != nil {
				return err
			}
			st.Entry = e
		default:
			return p.errorf("unexpected %q in the scenario", f[0])
		}
	}
}

// unboundClauses are the clause headers of an unbound.conf fragment.
var unboundClauses = map[string]bool{
	"server": true, "stub-zone": true, "forward-zone": true, "auth-zone": true,
	"remote-control": true, "view": true, "rpz": true, "python": true, "dynlib": true,
	"cachedb": true, "dnstap": true,
}

func (p *parser) parseConfig() error {
	clause := ""
	for {
		raw, f, ok, err := p.next()
		if err != nil {
			return err
		}
		if !ok {
			return p.errorf("no CONFIG_END")
		}
		if f[0] == "CONFIG_END" {
			return nil
		}
		line := strings.TrimSpace(stripComment(raw, '#'))
		if line == "" {
			continue
		}
		key, value, found := strings.Cut(line, ":")
		if !found {
			return p.errorf("config line %q is not key: value", line)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if value == "" && p.sc.Dialect == Unbound && unboundClauses[key] {
			clause = key
			continue
		}
		p.sc.Config = append(p.sc.Config, ConfigLine{Line: p.line, Clause: clause, Key: key, Value: unquote(value)})
	}
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'') {
		return s[1 : len(s)-1]
	}
	return s
}

func (p *parser) parseRange(f []string) error {
	if len(f) < 3 || len(f) > 4 {
		return p.errorf("want RANGE_BEGIN from to [address]")
	}
	from, err1 := strconv.Atoi(f[1])
	to, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil || from > to {
		return p.errorf("bad range %q %q", f[1], f[2])
	}
	rg := &Range{Line: p.line, From: from, To: to}
	if len(f) == 4 {
		a, err := netip.ParseAddr(f[3])
		if err != nil {
			return p.errorf("range address: %v", err)
		}
		rg.Addrs = append(rg.Addrs, a)
	}
	for {
		_, f, ok, err := p.next()
		if err != nil {
			return err
		}
		if !ok {
			return p.errorf("no RANGE_END")
		}
		switch f[0] {
		case "RANGE_END":
			p.sc.Ranges = append(p.sc.Ranges, rg)
			return nil
		case "ADDRESS":
			if len(f) != 2 {
				return p.errorf("want ADDRESS ip")
			}
			a, err := netip.ParseAddr(f[1])
			if err != nil {
				return p.errorf("ADDRESS: %v", err)
			}
			rg.Addrs = append(rg.Addrs, a)
		case "ENTRY_BEGIN":
			e, err := p.parseEntry()
			if err != nil {
				return err
			}
			rg.Entries = append(rg.Entries, e)
		default:
			return p.errorf("unexpected %q in a range", f[0])
		}
	}
}

// stepTypes are the step types the harness knows, with whether an entry
// must follow.
var stepTypes = map[string]bool{
	"QUERY": true, "CHECK_ANSWER": true, "REPLY": true, "CHECK_OUT_QUERY": true,
	"TIME_PASSES": false, "TIMEOUT": false, "TRAFFIC": false, "NOTHING": false, "INFRA_RTT": false,
}

func (p *parser) parseStep(f []string) error {
	if len(f) < 3 {
		return p.errorf("want STEP n TYPE")
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return p.errorf("step number %q: %v", f[1], err)
	}
	if _, ok := stepTypes[f[2]]; !ok {
		return p.errorf("unknown step type %q", f[2])
	}
	st := &Step{Line: p.line, N: n, Type: f[2], Args: f[3:]}
	if st.Type == "TIME_PASSES" {
		if len(st.Args) != 2 || st.Args[0] != "ELAPSE" {
			return p.errorf("want TIME_PASSES ELAPSE seconds")
		}
		if s, err := strconv.ParseFloat(st.Args[1], 64); err != nil || s < 0 {
			return p.errorf("TIME_PASSES: bad seconds %q", st.Args[1])
		}
	}
	p.sc.Steps = append(p.sc.Steps, st)
	return nil
}

var (
	rcodeNames = map[string]int{
		"NOERROR": dns.RcodeSuccess, "FORMERR": dns.RcodeFormatError, "SERVFAIL": dns.RcodeServerFailure,
		"NXDOMAIN": dns.RcodeNameError, "NOTIMPL": dns.RcodeNotImplemented, "NOTIMP": dns.RcodeNotImplemented,
		"REFUSED": dns.RcodeRefused, "YXDOMAIN": dns.RcodeYXDomain, "YXRRSET": dns.RcodeYXRrset,
		"NXRRSET": dns.RcodeNXRrset, "NOTAUTH": dns.RcodeNotAuth, "NOTZONE": dns.RcodeNotZone,
		"BADVERS": dns.RcodeBadVers,
	}
	opcodeNames = map[string]int{
		"QUERY": dns.OpcodeQuery, "IQUERY": dns.OpcodeIQuery, "STATUS": dns.OpcodeStatus,
		"NOTIFY": dns.OpcodeNotify, "UPDATE": dns.OpcodeUpdate,
	}
	// matchItems are the MATCH items either dialect knows (lower case).
	matchItems = map[string]bool{
		"opcode": true, "qtype": true, "qname": true, "qcase": true, "subdomain": true,
		"question": true, "rcode": true, "flags": true, "answer": true, "authority": true,
		"additional": true, "all": true, "ttl": true, "tcp": true, "udp": true, "edns": true,
	}
)

func (p *parser) parseEntry() (*Entry, error) {
	e := &Entry{Line: p.line}
	section := ""
	for {
		raw, f, ok, err := p.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, p.errorf("no ENTRY_END for the entry at line %d", e.Line)
		}
		switch f[0] {
		case "ENTRY_END":
			return e, nil
		case "MATCH":
			e.HasMatch = true
			for _, item := range f[1:] {
				item = strings.ToLower(item)
				if !matchItems[item] && item != "ede=any" && !strings.HasPrefix(item, "ede=") {
					return nil, p.errorf("unknown MATCH item %q", item)
				}
				if code, ok := strings.CutPrefix(item, "ede="); ok && code != "any" {
					if _, err := strconv.ParseUint(code, 10, 16); err != nil {
						return nil, p.errorf("MATCH %s: bad code", item)
					}
				}
				e.Match = append(e.Match, item)
			}
		case "ADJUST":
			for _, item := range f[1:] {
				switch item {
				case "copy_id", "copy_query", "do_not_answer":
				default:
					return nil, p.errorf("unsupported ADJUST %q", item)
				}
				e.Adjust = append(e.Adjust, item)
			}
		case "REPLY", "FLAGS":
			if err := p.parseReplyLine(e, f[1:]); err != nil {
				return nil, err
			}
		case "MANDATORY":
			e.Mandatory = true
		case "SECTION":
			if len(f) != 2 {
				return nil, p.errorf("want SECTION name")
			}
			switch s := strings.ToUpper(f[1]); s {
			case "QUESTION", "ANSWER", "AUTHORITY", "ADDITIONAL":
				section = s
			default:
				return nil, p.errorf("unknown section %q", f[1])
			}
		case "RAW":
			_, hexLine, ok, err := p.next()
			if err != nil {
				return nil, err
			}
			if !ok || len(hexLine) != 1 {
				return nil, p.errorf("RAW wants one line of hex")
			}
			b, err := hex.DecodeString(hexLine[0])
			if err != nil {
				return nil, p.errorf("RAW: %v", err)
			}
			e.Raw = b
		case "HEX_ANSWER_BEGIN":
			b, err := p.parseHexAnswer()
			if err != nil {
				return nil, err
			}
			e.Raw = b
		default:
			if section == "" {
				return nil, p.errorf("unexpected %q in an entry", f[0])
			}
			if err := p.parseRecord(e, section, raw, f); err != nil {
				return nil, err
			}
		}
	}
}

func (p *parser) parseReplyLine(e *Entry, items []string) error {
	for _, item := range items {
		switch u := strings.ToUpper(item); u {
		case "QR":
			e.Flags.QR = true
		case "AA":
			e.Flags.AA = true
		case "TC":
			e.Flags.TC = true
		case "RD":
			e.Flags.RD = true
		case "RA":
			e.Flags.RA = true
		case "AD":
			e.Flags.AD = true
		case "CD":
			e.Flags.CD = true
		case "DO":
			e.DO = true
		default:
			if rc, ok := rcodeNames[u]; ok {
				e.Rcode = rc
			} else if op, ok := opcodeNames[u]; ok {
				e.Opcode = op
			} else {
				return p.errorf("unknown REPLY item %q", item)
			}
		}
	}
	return nil
}

func (p *parser) parseHexAnswer() ([]byte, error) {
	var b strings.Builder
	for {
		_, f, ok, err := p.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, p.errorf("no HEX_ANSWER_END")
		}
		if f[0] == "HEX_ANSWER_END" {
			out, err := hex.DecodeString(b.String())
			if err != nil {
				return nil, p.errorf("HEX_ANSWER: %v", err)
			}
			return out, nil
		}
		for _, x := range f {
			b.WriteString(x)
		}
	}
}

func (p *parser) parseRecord(e *Entry, section, raw string, f []string) error {
	if section == "QUESTION" {
		q, err := parseQuestion(f)
		if err != nil {
			return p.errorf("%v", err)
		}
		e.Question = append(e.Question, q)
		return nil
	}
	rr, err := parseRR(raw)
	if err != nil {
		return p.errorf("%v", err)
	}
	switch section {
	case "ANSWER":
		e.Answer = append(e.Answer, rr)
	case "AUTHORITY":
		e.Ns = append(e.Ns, rr)
	case "ADDITIONAL":
		e.Extra = append(e.Extra, rr)
	}
	return nil
}

// parseQuestion reads "name [class] [ttl] type" (the files write questions
// as records without data).
func parseQuestion(f []string) (dns.Question, error) {
	q := dns.Question{Name: dns.Fqdn(f[0]), Qclass: dns.ClassINET}
	if _, ok := dns.IsDomainName(q.Name); !ok {
		return q, fmt.Errorf("question name %q is not a domain name", f[0])
	}
	haveType := false
	for i, tok := range f[1:] {
		u := strings.ToUpper(tok)
		last := i == len(f)-2
		// ANY is both a class and a type: the last word is the type.
		if c, ok := dns.StringToClass[u]; ok && !(last && !haveType) {
			q.Qclass = c
		} else if t, ok := dns.StringToType[u]; ok && !haveType {
			q.Qtype, haveType = t, true
		} else if t, ok := genericType(u); ok && !haveType {
			q.Qtype, haveType = t, true
		} else if _, err := strconv.ParseUint(tok, 10, 32); err != nil {
			return q, fmt.Errorf("question %q: unexpected %q", strings.Join(f, " "), tok)
		}
	}
	if !haveType {
		return q, fmt.Errorf("question %q has no type", strings.Join(f, " "))
	}
	return q, nil
}

// genericType reads RFC 3597's TYPEnnn.
func genericType(s string) (uint16, bool) {
	n, ok := strings.CutPrefix(s, "TYPE")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(n, 10, 16)
	return uint16(v), err == nil
}

// parseRR reads one record in zone-file syntax: TTL 3600 and class IN when
// absent, names relative to the root. RDATA in RFC 3597 form that does not
// fit its type (the files break records on purpose) stays a *dns.RFC3597.
func parseRR(line string) (dns.RR, error) {
	// A leading blank would mean "same owner as before" to the zone
	// parser; in these files every record names its owner.
	line = strings.TrimSpace(line)
	if generic, gerr := parseGenericRR(line); gerr == nil {
		// miekg's parser would cut RDATA that is too long for its type
		// (an AAAA of 48 bytes) down to size: keep the bytes as written
		// unless they make a valid record.
		if typed, ok := fromGeneric(generic.(*dns.RFC3597)); ok {
			return typed, nil
		}
		return generic, nil
	}
	rr, err := dns.NewRR(line)
	if err == nil && rr != nil {
		normalize(rr)
		return rr, nil
	}
	if fixed, ok := fixDSAlgorithm(line); ok {
		if rr, err2 := dns.NewRR(fixed); err2 == nil && rr != nil {
			return rr, nil
		}
	}
	if err == nil {
		err = fmt.Errorf("empty record")
	}
	return nil, fmt.Errorf("record %q: %v", strings.TrimSpace(line), err)
}

// parseGenericRR builds a *dns.RFC3597 from "owner [ttl] [class] type \# len hex...".
func parseGenericRR(line string) (dns.RR, error) {
	head, data, ok := strings.Cut(line, `\#`)
	if !ok {
		return nil, fmt.Errorf("not RFC 3597 form")
	}
	f := strings.Fields(head)
	if len(f) < 2 {
		return nil, fmt.Errorf("too few fields")
	}
	h := dns.RR_Header{Name: dns.Fqdn(f[0]), Class: dns.ClassINET, Ttl: 3600}
	haveType := false
	for _, tok := range f[1:] {
		u := strings.ToUpper(tok)
		if c, ok := dns.StringToClass[u]; ok {
			h.Class = c
		} else if t, ok := dns.StringToType[u]; ok && !haveType {
			h.Rrtype, haveType = t, true
		} else if t, ok := genericType(u); ok && !haveType {
			h.Rrtype, haveType = t, true
		} else if ttl, err := strconv.ParseUint(tok, 10, 32); err == nil {
			h.Ttl = uint32(ttl)
		} else {
			return nil, fmt.Errorf("unexpected %q", tok)
		}
	}
	df := strings.Fields(data)
	if !haveType || len(df) < 1 {
		return nil, fmt.Errorf("no type or length")
	}
	n, err := strconv.Atoi(df[0])
	if err != nil {
		return nil, fmt.Errorf("length %q", df[0])
	}
	rdata := strings.Join(df[1:], "")
	b, err := hex.DecodeString(rdata)
	if err != nil || len(b) != n {
		return nil, fmt.Errorf("rdata is not %d bytes of hex", n)
	}
	return &dns.RFC3597{Hdr: h, Rdata: strings.ToLower(rdata)}, nil
}

// fixDSAlgorithm rewrites a DS record whose algorithm is a mnemonic
// ("RSASHA1") to the number, as Deckard's parser does.
func fixDSAlgorithm(line string) (string, bool) {
	f := strings.Fields(line)
	for i, tok := range f {
		if strings.EqualFold(tok, "DS") && i+2 < len(f) {
			if alg, ok := dns.StringToAlgorithm[strings.ToUpper(f[i+2])]; ok {
				f[i+2] = strconv.Itoa(int(alg))
				return strings.Join(f, " "), true
			}
		}
	}
	return "", false
}
