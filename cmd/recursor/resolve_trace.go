package main

// resolve --trace: every upstream exchange as it happens, with what each
// referral carried and when the transport fell back to TCP; as text lines
// beside dig's output, or under "trace" in the JSON.

import (
	"fmt"
	"io"
	"strings"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/dnssec"
	"github.com/recursor-dns/recursor/resolver"
)

// jsonStep is one step of the JSON trace: an exchange, or (with DNSSEC
// set) a validation verdict on Qname/Qtype by Zone's keys.
type jsonStep struct {
	Depth       int           `json:"depth"`
	Zone        string        `json:"zone"`
	NS          string        `json:"ns,omitempty"`
	Server      string        `json:"server,omitempty"`
	Qname       string        `json:"qname"`
	Qtype       string        `json:"qtype"`
	RTTms       float64       `json:"rttMs"`
	TCP         bool          `json:"tcp,omitempty"`
	TCPFallback string        `json:"tcpFallback,omitempty"` // why UDP was not enough: truncated, oversized, wrong ID
	Outcome     string        `json:"outcome,omitempty"`     // answered, timeout, refused, lame, ...
	Detail      string        `json:"detail"`                // what came back: "referral to com.", ...
	Referral    *jsonReferral `json:"referral,omitempty"`
	DNSSEC      string        `json:"dnssec,omitempty"`
	KeyTag      uint16        `json:"keyTag,omitempty"`
	EDE         uint16        `json:"ede,omitempty"`
}

// jsonReferral is what a referral carried: the child zone's NS names and
// the glue kept, and how many other addresses came with it.
type jsonReferral struct {
	Zone        string     `json:"zone"`
	NS          []string   `json:"ns"`
	Glue        []jsonGlue `json:"glue"`
	GlueDropped int        `json:"glueDropped"`
}

type jsonGlue struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
}

func stepOf(s resolver.Step) jsonStep {
	js := jsonStep{Depth: s.Depth, Zone: s.Zone, NS: s.NSName, Qname: s.Qname, Qtype: typeName(s.Qtype)}
	if s.Check != nil {
		js.DNSSEC, js.KeyTag, js.EDE, js.Detail = s.Check.Status.String(), s.Check.KeyTag, s.Check.EDE, s.Check.Why
		return js
	}
	js.Server, js.RTTms, js.TCP, js.TCPFallback, js.Outcome, js.Detail = s.Server.String(), ms(s.RTT), s.TCP, s.TCPFallback, s.Outcome.String(), s.Detail
	if ref := s.Referral; ref != nil {
		js.Referral = &jsonReferral{Zone: ref.Zone, NS: ref.NS, Glue: []jsonGlue{}, GlueDropped: ref.GlueDropped}
		if js.Referral.NS == nil {
			js.Referral.NS = []string{}
		}
		for _, g := range ref.Glue {
			js.Referral.Glue = append(js.Referral.Glue, jsonGlue{g.Name, g.Addr.String()})
		}
	}
	return js
}

// typeName is a type's mnemonic, or RFC 3597's TYPEnnn.
func typeName(t uint16) string {
	if s, ok := dns.TypeToString[t]; ok {
		return s
	}
	return fmt.Sprintf("TYPE%d", t)
}

func printStep(out io.Writer, s resolver.Step, js jsonStep) {
	indent := strings.Repeat("  ", s.Depth)
	if c := s.Check; c != nil {
		what := c.Status.String()
		if c.KeyTag != 0 && c.Status == dnssec.Secure {
			what += fmt.Sprintf(" (key %d)", c.KeyTag)
		}
		if c.Why != "" {
			what += ": " + c.Why
		}
		fmt.Fprintf(out, ";; %s%-22s dnssec %s %s: %s\n", indent, s.Zone, s.Qname, js.Qtype, what)
		return
	}
	via := ""
	switch {
	case s.TCPFallback != "":
		via = ", tcp after udp " + s.TCPFallback
	case s.TCP:
		via = ", tcp"
	}
	fmt.Fprintf(out, ";; %s%-22s %-26s %-20s %s %s -> %s (%.1f ms%s)\n", indent,
		s.Zone, "@"+s.NSName, s.Server, s.Qname, js.Qtype, s.Detail, js.RTTms, via)
	if s.Referral != nil {
		fmt.Fprintf(out, ";; %s%-22s %s\n", indent, "", referralLine(s.Referral))
	}
}

// referralLine says what a referral carried: each NS name with the glue
// kept for it, and how many other addresses were dropped.
func referralLine(ref *resolver.Referral) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s NS", ref.Zone)
	for i, ns := range ref.NS {
		sep := " "
		if i > 0 {
			sep = ", "
		}
		var addrs []string
		for _, g := range ref.Glue {
			if strings.EqualFold(g.Name, ns) {
				addrs = append(addrs, g.Addr.String())
			}
		}
		glue := "no glue"
		if len(addrs) > 0 {
			glue = "glue " + strings.Join(addrs, " ")
		}
		fmt.Fprintf(&b, "%s%s (%s)", sep, ns, glue)
	}
	if ref.GlueDropped > 0 {
		fmt.Fprintf(&b, "; %d other address record(s) dropped", ref.GlueDropped)
	}
	return b.String()
}
