package main

// resolve --json: the response as RFC 8427 represents a DNS message in
// JSON, with kdig's extra members (dateString, dateSeconds, msgLength) and
// a few of our own, named in lower camel case as kdig names its own:
// queryTimeMs, extendedError, validation, error, and trace (with --trace
// only).

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/dnssec"
	"github.com/recursor-dns/recursor/resolver"
)

// jsonMessage is RFC 8427's message object (section 2.1), the flags as
// 0 or 1 as in its examples and kdig's output, and our members.
type jsonMessage struct {
	DateString  string `json:"dateString"`
	DateSeconds int64  `json:"dateSeconds"`
	MsgLength   int    `json:"msgLength"`

	ID         uint16   `json:"ID"`
	QR         int      `json:"QR"`
	Opcode     int      `json:"Opcode"`
	AA         int      `json:"AA"`
	TC         int      `json:"TC"`
	RD         int      `json:"RD"`
	RA         int      `json:"RA"`
	AD         int      `json:"AD"`
	CD         int      `json:"CD"`
	RCODE      int      `json:"RCODE"`
	QDCOUNT    int      `json:"QDCOUNT"`
	ANCOUNT    int      `json:"ANCOUNT"`
	NSCOUNT    int      `json:"NSCOUNT"`
	ARCOUNT    int      `json:"ARCOUNT"`
	QNAME      string   `json:"QNAME"`
	QTYPE      uint16   `json:"QTYPE"`
	QTYPEname  string   `json:"QTYPEname,omitempty"`
	QCLASS     uint16   `json:"QCLASS"`
	QCLASSname string   `json:"QCLASSname,omitempty"`
	Question   []object `json:"questionRRs"`
	Answer     []object `json:"answerRRs"`
	Authority  []object `json:"authorityRRs"`
	Additional []object `json:"additionalRRs"`

	QueryTimeMs float64 `json:"queryTimeMs"`
	// EDE is the Extended DNS Error (RFC 8914) of the OPT record, again
	// in plain members.
	EDE        *jsonEDE       `json:"extendedError,omitempty"`
	Validation jsonValidation `json:"validation"`
	// Error says why no answer could be had (RCODE 2).
	Error string     `json:"error,omitempty"`
	Trace []jsonStep `json:"trace,omitempty"`
}

type jsonEDE struct {
	Code uint16 `json:"code"`
	Text string `json:"text"`
}

// jsonValidation is the DNSSEC verdict: secure, insecure, indeterminate
// or bogus, why it is not secure, and the signature checks it took.
type jsonValidation struct {
	Status        string `json:"status"`
	Reason        string `json:"reason,omitempty"`
	Verifications int    `json:"verifications"`
}

// printJSON prints the answer a (or the failure err) as JSON. A failure
// exits exitNoAnswer, as without --json.
func printJSON(out io.Writer, name string, qtype uint16, a resolver.Answer, err error, o resolveOptions, t timing, steps []jsonStep) error {
	jm := jsonMessage{QueryTimeMs: ms(t.elapsed), Trace: steps,
		Validation: jsonValidation{Status: a.Security.String(), Reason: a.Why, Verifications: a.Verifications}}
	if err != nil {
		code, text := resolver.ExtendedError(err)
		a = resolver.Answer{Msg: servfail(name, qtype), EDE: code, Why: text}
		jm.Error, jm.EDE = err.Error(), &jsonEDE{code, text}
		var ve *resolver.ValidationError
		if errors.As(err, &ve) {
			jm.Validation = jsonValidation{Status: dnssec.Bogus.String(), Reason: text, Verifications: ve.Verifications}
		}
	} else if a.EDE != 0 {
		jm.EDE = &jsonEDE{a.EDE, a.Why} // an insecure answer's reason, or bogus data under --cd
	}
	m, size := digMessage(a, o)
	jm.fill(m)
	jm.DateString, jm.DateSeconds, jm.MsgLength = t.start.Format(time.RFC3339), t.start.Unix(), size
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	if encErr := enc.Encode(jm); encErr != nil {
		return encErr
	}
	if err != nil {
		return silentExit{code: exitNoAnswer} // the JSON says why; the status says it failed
	}
	return nil
}

// servfail is the message a client of recursor serve gets when no answer
// could be had.
func servfail(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.Response, m.RecursionAvailable, m.Rcode = true, true, dns.RcodeServerFailure
	return m
}

// fill sets the header and sections of jm from m.
func (jm *jsonMessage) fill(m *dns.Msg) {
	bit := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	jm.ID, jm.QR, jm.Opcode, jm.AA, jm.TC = m.Id, bit(m.Response), m.Opcode, bit(m.Authoritative), bit(m.Truncated)
	jm.RD, jm.RA, jm.AD, jm.CD, jm.RCODE = bit(m.RecursionDesired), bit(m.RecursionAvailable), bit(m.AuthenticatedData), bit(m.CheckingDisabled), m.Rcode&0xf
	jm.QDCOUNT, jm.ANCOUNT, jm.NSCOUNT, jm.ARCOUNT = len(m.Question), len(m.Answer), len(m.Ns), len(m.Extra)
	jm.Question = []object{}
	for i, q := range m.Question {
		o := object{{"NAME", q.Name}, {"TYPE", q.Qtype}}
		o = o.maybe("TYPEname", dns.TypeToString[q.Qtype]).with("CLASS", q.Qclass).maybe("CLASSname", dns.ClassToString[q.Qclass])
		jm.Question = append(jm.Question, o)
		if i == 0 {
			jm.QNAME, jm.QTYPE, jm.QTYPEname = q.Name, q.Qtype, dns.TypeToString[q.Qtype]
			jm.QCLASS, jm.QCLASSname = q.Qclass, dns.ClassToString[q.Qclass]
		}
	}
	jm.Answer, jm.Authority, jm.Additional = rrObjects(m.Answer), rrObjects(m.Ns), rrObjects(m.Extra)
}

func rrObjects(rrs []dns.RR) []object {
	out := []object{}
	for _, rr := range rrs {
		out = append(out, rrObject(rr))
	}
	return out
}

// rrObject is RFC 8427's resource record object (section 2.2): the
// owner, type, class and TTL, the RDATA in presentation form as
// rdata<TYPE> (section 2.3 names A, AAAA, CNAME, DNAME, NS, PTR and TXT;
// kdig, and we, name every type so), and always the RDATA as RDATAHEX
// with its RDLENGTH. An OPT record's class is its UDP size: no CLASSname.
func rrObject(rr dns.RR) object {
	h := rr.Header()
	typeName := dns.TypeToString[h.Rrtype]
	o := object{{"NAME", h.Name}, {"TYPE", h.Rrtype}}
	o = o.maybe("TYPEname", typeName).with("CLASS", h.Class)
	if h.Rrtype != dns.TypeOPT {
		o = o.maybe("CLASSname", dns.ClassToString[h.Class])
	}
	o = o.with("TTL", h.Ttl)
	if _, unknown := rr.(*dns.RFC3597); !unknown && typeName != "" && h.Rrtype != dns.TypeOPT {
		o = o.with("rdata"+typeName, strings.TrimPrefix(rr.String(), h.String()))
	}
	if rdata, ok := rdataOf(rr); ok {
		o = o.with("RDLENGTH", len(rdata))
		if len(rdata) > 0 {
			o = o.with("RDATAHEX", strings.ToUpper(hex.EncodeToString(rdata)))
		}
	}
	return o
}

// rdataOf is rr's RDATA in wire form, uncompressed.
func rdataOf(rr dns.RR) ([]byte, bool) {
	buf := make([]byte, dns.Len(rr)+256)
	end, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		return nil, false
	}
	// The owner comes first: packed again in place, it says where it ends.
	nameEnd, err := dns.PackDomainName(rr.Header().Name, buf, 0, nil, false)
	if err != nil {
		return nil, false
	}
	start := nameEnd + 10 // TYPE, CLASS, TTL, RDLENGTH
	if start > end {
		return nil, false
	}
	return buf[start:end], true
}

// object is a JSON object whose members keep their order, as RFC 8427's
// member names vary with the record's type (rdataA, rdataMX, ...).
type object []member

type member struct {
	Name  string
	Value any
}

func (o object) with(name string, v any) object { return append(o, member{name, v}) }

// maybe adds the member when s is not empty.
func (o object) maybe(name, s string) object {
	if s == "" {
		return o
	}
	return o.with(name, s)
}

func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(m.Name)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(m.Value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
