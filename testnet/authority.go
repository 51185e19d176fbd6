package testnet

import (
	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/internal/dnsname"
)

const (
	// EDNSBufferSize is the UDP payload size the servers advertise and the
	// most they send over UDP, whatever the client offers (NSD's default).
	EDNSBufferSize = 1232
	// maxChain caps the CNAME and DNAME hops one server follows inside its
	// own zones, so a loop in the data ends (CNAMEOneHop and CNAMEAllHops
	// servers use their own caps).
	maxChain = 8
)

// authority answers as one authoritative server: from the zones it serves,
// or REFUSED to everything when it is lame, misbehaving as hostile says.
type authority struct {
	zones   []*zone
	lame    bool
	hostile hostility
	denials denials // the zones' NSEC and NSEC3 chains, indexed for DO queries
}

// respond builds what the server sends for req, received over TCP or UDP:
// raw packets to send first (hostile servers only, UDP only), then resp;
// a nil resp means the query goes unanswered. req has passed miekg's
// accept checks (not a response, one question, standard opcodes).
func (a *authority) respond(req *dns.Msg, tcp bool) (before [][]byte, resp *dns.Msg) {
	opt, optCount := requestOPT(req)
	h := a.hostile
	switch {
	case opt != nil && h.has(EDNSDrop):
		return nil, nil
	case opt != nil && h.has(EDNSFormErr):
		return nil, formErr(req)
	case !tcp && h.has(TCPOnly) && len(req.Question) == 1:
		return nil, tcpOnly(req, opt)
	}
	if h.has(No0x20) && len(req.Question) == 1 {
		req = req.Copy()
		req.Question[0].Name = dnsname.Lower(req.Question[0].Name)
	}
	resp = a.honest(req, opt, optCount)
	if resp.Rcode != dns.RcodeFormatError && len(req.Question) == 1 {
		switch {
		case h.has(WrongQuestion):
			wrongQuestion(resp)
		case h.has(WrongAnswer):
			wrongAnswer(resp)
		}
		if h.has(Inject) {
			inject(resp)
		}
		if !tcp && h.has(Garbage) {
			before = append(before, garbagePackets(req)...)
		}
		if !tcp && h.has(WrongID) {
			before = append(before, spoofPacket(req)...)
		}
	}
	resp.Truncate(replySize(opt, tcp))
	return before, resp
}

// honest is the reply of a well-behaved server (before truncation), with
// the NXNS and chain-length behaviours of hostile ones.
func (a *authority) honest(req *dns.Msg, opt *dns.OPT, optCount int) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetReply(req)
	if optCount > 1 || len(req.Question) != 1 {
		resp.Rcode = dns.RcodeFormatError
		return resp
	}
	if opt != nil {
		resp.SetEdns0(EDNSBufferSize, opt.Do())
		if opt.Version() != 0 {
			resp.Rcode = dns.RcodeBadVers
			return resp
		}
	}
	q := req.Question[0]
	switch {
	case req.Opcode != dns.OpcodeQuery:
		resp.Rcode = dns.RcodeNotImplemented
	case a.lame, q.Qclass != dns.ClassINET, q.Qtype == dns.TypeAXFR, q.Qtype == dns.TypeIXFR:
		resp.Rcode = dns.RcodeRefused
	default:
		a.resolve(resp, q.Name, q.Qtype, opt != nil && opt.Do())
	}
	return resp
}

// replySize is the most a reply may take: a TCP message's limit, or over UDP
// the client's EDNS size (512 without EDNS), capped by what we advertise.
func replySize(opt *dns.OPT, tcp bool) int {
	switch {
	case tcp:
		return dns.MaxMsgSize
	case opt == nil:
		return dns.MinMsgSize
	}
	return max(dns.MinMsgSize, min(int(opt.UDPSize()), EDNSBufferSize))
}

func requestOPT(req *dns.Msg) (opt *dns.OPT, count int) {
	for _, rr := range req.Extra {
		if o, ok := rr.(*dns.OPT); ok {
			opt = o
			count++
		}
	}
	return opt, count
}

// zoneFor picks the deepest zone served here that holds qname; a DS question
// for a zone's apex goes to its parent when the parent is served here too.
func (a *authority) zoneFor(qname string, qtype uint16) *zone {
	best := deepestZone(a.zones, qname, nil)
	if best != nil && qtype == dns.TypeDS && best.origin == qname && qname != "." {
		if parent := deepestZone(a.zones, qname, best); parent != nil {
			return parent
		}
	}
	return best
}

func deepestZone(zones []*zone, qname string, skip *zone) *zone {
	var best *zone
	for _, z := range zones {
		if z == skip || !dns.IsSubDomain(z.origin, qname) {
			continue
		}
		if best == nil || dns.CountLabel(z.origin) > dns.CountLabel(best.origin) {
			best = z
		}
	}
	return best
}

// resolve fills resp for qname (as received, case kept) per RFC 1034
// section 4.3.2, following CNAMEs and DNAMEs into any zone served here.
// Owner names in the answer take the case of the name asked. With do (the
// query's DO bit) the RRSIGs and denial records of signed zones come too.
func (a *authority) resolve(resp *dns.Msg, qname string, qtype uint16, do bool) {
	name := qname
	for hop := 0; hop <= a.hostile.chainLimit(); hop++ {
		z := a.zoneFor(canonical(name), qtype)
		if z == nil {
			if hop == 0 {
				resp.Rcode = dns.RcodeRefused
			}
			return // the chain leaves our zones: the client follows it
		}
		if hop == 0 {
			resp.Authoritative = true
		}
		res := z.lookupVisible(canonical(name), qtype)
		sec := a.dnssecFor(do, z, name, qtype, res)
		switch res.kind {
		case kindAnswer:
			resp.Answer = append(resp.Answer, withOwner(res.rrs, name)...)
			sec.answer(resp)
			return
		case kindCNAME:
			resp.Answer = append(resp.Answer, withOwner(res.rrs, name)...)
			sec.answer(resp)
			name = res.rrs[0].(*dns.CNAME).Target
		case kindDNAME:
			d := res.rrs[0].(*dns.DNAME)
			target, ok := dnameTarget(name, d)
			resp.Answer = append(resp.Answer, dns.Copy(d))
			sec.dname(resp, d)
			if !ok {
				resp.Rcode = dns.RcodeYXDomain // RFC 6672 section 2.2
				return
			}
			resp.Answer = append(resp.Answer, &dns.CNAME{
				Hdr:    dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: d.Hdr.Ttl},
				Target: target,
			})
			name = target
		case kindReferral:
			if hop == 0 {
				resp.Authoritative = false
			}
			resp.Ns = append(resp.Ns, copyRRs(res.rrs)...)
			sec.referral(resp)
			resp.Extra = append(resp.Extra, glue(z, res.rrs)...)
			return
		case kindNoData:
			resp.Ns = append(resp.Ns, z.negativeSOA())
			sec.negative(resp)
			return
		case kindNXDomain:
			if hop == 0 && a.hostile.victim != "" && z.origin != canonical(name) {
				resp.Authoritative = false
				a.hostile.nxnsReferral(resp, name, z.origin)
				return
			}
			resp.Rcode = dns.RcodeNameError
			resp.Ns = append(resp.Ns, z.negativeSOA())
			sec.negative(resp)
			return
		}
	}
}

// dnameTarget substitutes d's target for its owner at the end of name; ok is
// false when the result is too long to be a name.
func dnameTarget(name string, d *dns.DNAME) (target string, ok bool) {
	labels := dns.Split(name)
	keep := len(labels) - dns.CountLabel(d.Hdr.Name)
	if keep <= 0 {
		return "", false
	}
	prefix := name[:labels[keep]]
	target = prefix + trimRoot(dns.Fqdn(d.Target))
	if _, ok := dns.IsDomainName(target); !ok {
		return "", false
	}
	return target, true
}

// glue returns the addresses the zone holds for the names in an NS set.
func glue(z *zone, nsset []dns.RR) []dns.RR {
	var out []dns.RR
	for _, rr := range nsset {
		target := canonical(rr.(*dns.NS).Ns)
		if dns.IsSubDomain(z.origin, target) {
			out = append(out, copyRRs(z.addresses(target))...)
		}
	}
	return out
}

func withOwner(rrs []dns.RR, owner string) []dns.RR {
	out := copyRRs(rrs)
	for _, rr := range out {
		rr.Header().Name = owner
	}
	return out
}

func copyRRs(rrs []dns.RR) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Copy(rr)
	}
	return out
}
