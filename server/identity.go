package server

import (
	"strings"

	"github.com/miekg/dns"
)

// The server's identity: the CHAOS TXT questions BIND and Unbound answer
// (id.server and hostname.bind, RFC 4892; version.server and
// version.bind), and NSID (RFC 5001).

// chaos answers a class CHAOS question: TXT of the identity or version
// when configured, a bare REFUSED when hidden (as Unbound answers), and
// REFUSED with EDE 21 for every other CHAOS question.
func (s *Server) chaos(q *query, question dns.Question) *dns.Msg {
	var text string
	switch strings.ToLower(question.Name) {
	case "id.server.", "hostname.bind.":
		text = s.cfg.Identity
	case "version.server.", "version.bind.":
		text = s.cfg.Version
	default:
		return s.refuse(q, dns.ExtendedErrorCodeNotSupported, "only class IN is served")
	}
	if text == "" || question.Qtype != dns.TypeTXT {
		return s.errorReply(dns.RcodeRefused)
	}
	m := new(dns.Msg)
	m.Answer = []dns.RR{&dns.TXT{
		Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeTXT, Class: dns.ClassCHAOS, Ttl: 0},
		Txt: txtStrings(text),
	}}
	return m
}

// txtStrings cuts text into the 255-byte character-strings of a TXT
// record.
func txtStrings(text string) []string {
	var out []string
	for len(text) > 255 {
		out = append(out, text[:255])
		text = text[255:]
	}
	return append(out, text)
}

// wantsNSID reports whether the client's OPT carries the NSID option:
// the identifier is sent only to those who ask (RFC 5001 2.1).
func wantsNSID(opt *dns.OPT) bool {
	for _, o := range opt.Option {
		if o.Option() == dns.EDNS0NSID {
			return true
		}
	}
	return false
}
