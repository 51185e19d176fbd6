package resolver

// Classification, pure: what a server's reply means for the question it
// was asked (answer, CNAME, referral, NXDOMAIN, NODATA, lame, bad).

import (
	"slices"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/internal/dnsname"
)

// kind is what a reply from an authoritative server means for the question.
type kind uint8

const (
	kindBad      kind = iota // unusable: error rcode, wrong question, garbage
	kindLame                 // the server is not authoritative for the zone
	kindAnswer               // the data asked for (maybe after CNAMEs)
	kindCNAME                // a CNAME/DNAME chain leaving the zone: restart at target
	kindNXDomain             // the name (or the chain's target) does not exist
	kindNoData               // the name exists, the type does not
	kindReferral             // a delegation to a zone below the one asked
	kindCached               // not a reply: the walk found its answer in the cache
)

func (k kind) String() string {
	return [...]string{"bad", "lame", "answer", "cname", "nxdomain", "nodata", "referral", "cached"}[k]
}

// reply is a classified, bailiwick-scrubbed reply: only records at or below
// the zone the server was asked for survive.
type reply struct {
	kind   kind
	why    string   // for kindBad and kindLame
	empty  bool     // kindNoData from an authoritative reply with empty sections
	loop   bool     // kindAnswer: chain is a DNAME loop, answered as it stands
	aa     bool     // the reply was authoritative
	rcode  int      // as received
	chain  []dns.RR // CNAMEs and DNAMEs (each with its synthesised CNAME) followed from qname
	target string   // the name the chain ends at (qname without a chain)
	answer []dns.RR // the RRset of target and qtype (kindAnswer)
	soa    *dns.SOA // the zone's SOA of a negative reply, if given
	child  string   // the delegated zone (kindReferral, or kindCNAME into a delegation)
	ns     []dns.RR // the NS set of the delegation
	glue   []dns.RR // A and AAAA records of the NS names, within the zone
	authNS []dns.RR // an answer's or negative answer's NS set in authority (the zone's own)

	// DNSSEC records, within the zone, for the validate stage.
	sigs   []*dns.RRSIG // the RRSIGs of the answer and authority sections
	denial []dns.RR     // NSEC and NSEC3 records of the authority section
	ds     []dns.RR     // a referral's DS set for the child
	sec    check        // the validate stage's verdict on the reply
	// secured: the NS set and glue of a secure answer whose signatures
	// verified too (checkSections), with their verdicts.
	secured []securedSet
	// refresh: the reply to a prefetch's own question, whose authority
	// NS set and glue do not replace live cached ones (they keep
	// counting down, as in Unbound: a prefetch renews the answer only)
	refresh bool
}

// clone returns a copy of rep with slices of its own.
func (rep *reply) clone() *reply {
	c := *rep
	c.chain = slices.Clone(c.chain)
	c.answer = slices.Clone(c.answer)
	c.ns = slices.Clone(c.ns)
	c.glue = slices.Clone(c.glue)
	c.authNS = slices.Clone(c.authNS)
	c.sigs = slices.Clone(c.sigs)
	c.denial = slices.Clone(c.denial)
	c.ds = slices.Clone(c.ds)
	c.secured = slices.Clone(c.secured)
	return &c
}

// classify labels resp, the reply of a server asked as authority for zone
// about qname and qtype, following at most maxChain CNAMEs and DNAMEs in
// its answer. It is pure: caching and server bookkeeping are the caller's.
func classify(resp *dns.Msg, zone, qname string, qtype uint16, maxChain int) reply {
	r := classifyData(resp, zone, qname, qtype, maxChain)
	if r.kind != kindBad && r.kind != kindLame {
		collectDNSSEC(&r, resp, zone)
	}
	return r
}

// collectDNSSEC keeps the RRSIGs, NSEC and NSEC3 records of resp within
// zone, and a referral's DS set: what validation needs beside the data.
func collectDNSSEC(r *reply, resp *dns.Msg, zone string) {
	// RRSIGs count wherever they are (some servers put an answer's in
	// the additional section); denial records only in authority.
	for s, section := range [][]dns.RR{resp.Answer, resp.Ns, resp.Extra} {
		for _, rr := range section {
			h := rr.Header()
			switch h.Rrtype {
			case dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNSEC3, dns.TypeDS:
			default:
				continue
			}
			if h.Class != dns.ClassINET || !inZone(h.Name, zone) {
				continue
			}
			switch t := rr.(type) {
			case *dns.RRSIG:
				r.sigs = append(r.sigs, t)
			case *dns.NSEC, *dns.NSEC3:
				if s == 1 {
					r.denial = append(r.denial, rr)
				}
			case *dns.DS:
				if s == 1 && r.kind == kindReferral && sameName(h.Name, r.child) {
					r.ds = append(r.ds, rr)
				}
			}
		}
	}
}

func classifyData(resp *dns.Msg, zone, qname string, qtype uint16, maxChain int) (r reply) {
	r = reply{aa: resp.Authoritative, rcode: resp.Rcode, target: qname}
	if resp.Rcode == dns.RcodeYXDomain && len(resp.Question) == 1 && sameName(resp.Question[0].Name, qname) {
		// A DNAME whose substitution would overflow a name (RFC 6672
		// section 2.2): the DNAME is the answer, YXDOMAIN the rcode.
		for _, rr := range scrub(resp.Answer, zone) {
			if d, ok := rr.(*dns.DNAME); ok && inZone(qname, d.Hdr.Name) && !sameName(qname, d.Hdr.Name) {
				r.kind, r.chain = kindAnswer, []dns.RR{d}
				return r
			}
		}
	}
	if resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError {
		r.kind, r.why = kindBad, "rcode "+dns.RcodeToString[resp.Rcode]
		return r
	}
	if len(resp.Question) != 1 || !sameName(resp.Question[0].Name, qname) || resp.Question[0].Qtype != qtype {
		r.kind, r.why = kindBad, "question mismatch"
		return r
	}
	answer := scrub(resp.Answer, zone)
	authority := scrub(resp.Ns, zone)
	defer func() {
		// The zone's own NS set, sent along with an answer: with
		// Config.AcceptAuthorityNS cached (and its glue) for the next
		// query and for non-minimal responses; dropped otherwise.
		if r.kind != kindAnswer && r.kind != kindNoData && r.kind != kindNXDomain {
			return
		}
		if owner, ns := referralIn(authority, r.target); ns != nil && !(r.kind == kindAnswer && r.target == owner && qtype == dns.TypeNS) {
			r.authNS = ns
			r.glue = append(r.glue, glueFor(scrub(resp.Extra, zone), ns)...)
		}
	}()

	// Follow the answer section from qname: the RRset asked for, or CNAMEs
	// and DNAMEs leading to it. Only data for names on the chain is used.
	var looped bool
	r.chain, r.target, r.answer, looped = followAnswer(answer, zone, qname, qtype, maxChain)
	if looped && dnameIntoItself(r.chain[0]) {
		// A DNAME whose target lies in its own subtree rewrites every
		// name below it again and again: the reply is the loop, answered
		// as it stands (as Unbound does). Any other loop is followed a
		// hop at a time until the walk sees a name again (ErrLoop, as
		// Unbound's restart limit and Knot end it).
		r.kind, r.loop = kindAnswer, true
		return r
	}
	if len(r.chain) == 1 && len(r.answer) > 0 && r.chain[0].Header().Rrtype == dns.TypeDNAME {
		// A CNAME question below a DNAME: the DNAME and the CNAME we
		// synthesise from it are the answer.
		r.kind = kindAnswer
		return r
	}
	if len(r.chain) > 0 {
		// Only the record of the alias asked about is surely the
		// server's own data; what follows it may come from its cache
		// (RFC 2181 section 5.4.1). Restart at the first target, as
		// Unbound does; the rest of the answer is not used.
		first := r.chain[:1]
		if _, ok := r.chain[0].(*dns.DNAME); ok {
			first = r.chain[:2]
		}
		r.chain = first
		r.target = first[len(first)-1].(*dns.CNAME).Target
		r.answer = nil
		r.kind = kindCNAME
		return r
	}
	if len(r.answer) > 0 {
		// Non-authoritative answers are used (ranked below authoritative
		// data): servers that omit AA, or recursive servers in the hints,
		// still give the data; Knot and Unbound accept them too.
		r.kind = kindAnswer
		if qtype == dns.TypeNS {
			r.glue = glueFor(scrub(resp.Extra, zone), r.answer) // priming, NS queries
		}
		return r
	}
	return withoutAnswer(r, resp, authority, zone)
}

// withoutAnswer labels a reply whose answer section held neither the data
// nor a chain leaving the zone: a negative answer, a referral, or a lame
// or empty reply. r carries what the answer section gave.
func withoutAnswer(r reply, resp *dns.Msg, authority []dns.RR, zone string) reply {
	r.soa = soaFor(authority, r.target, zone)
	if len(r.chain) > 0 && !inZone(r.target, zone) {
		r.kind = kindCNAME
		return r
	}
	if resp.Rcode == dns.RcodeNameError {
		r.kind = kindNXDomain
		return r
	}
	if r.soa != nil {
		r.kind = kindNoData
		return r
	}
	if child, ns := referralIn(authority, r.target); ns != nil {
		switch {
		case len(child) > len(zone): // strictly below: scrub kept only names in zone
			r.kind, r.child, r.ns = kindReferral, child, ns
			r.glue = glueFor(scrub(resp.Extra, zone), ns)
			if len(r.chain) > 0 {
				// A CNAME in the zone whose target is delegated away:
				// restart at the target; the delegation is learned too.
				r.kind = kindCNAME
			}
		case resp.Authoritative:
			r.kind = kindNoData // some servers put their NS set in a NODATA
		default:
			r.kind, r.why = kindLame, "referral to "+child+" from a server for "+zone
		}
		return r
	}
	if len(r.chain) > 0 {
		r.kind = kindCNAME // the chain ends in the zone with nothing said of its target
		return r
	}
	if upward := upwardReferral(resp.Ns, zone); upward != "" {
		r.kind, r.why = kindLame, "upward referral to "+upward
		return r
	}
	if resp.Authoritative && len(resp.Ns) > 0 {
		r.kind = kindNoData
		return r
	}
	if resp.Authoritative {
		// Nothing at all, not even an SOA (RFC 2308 section 2.2 asks for
		// one): the caller asks the other servers first, and takes it
		// as a NODATA only when none says more (as Unbound does).
		r.kind, r.empty = kindNoData, true
		return r
	}
	if slices.ContainsFunc(authority, func(rr dns.RR) bool {
		t := rr.Header().Rrtype
		return t == dns.TypeNSEC || t == dns.TypeNSEC3
	}) {
		// No AA, no SOA, but a denial of the zone's own: a NODATA
		// whose proof the validate stage judges (as Unbound does).
		r.kind = kindNoData
		return r
	}
	r.kind, r.why = kindLame, "empty non-authoritative reply"
	return r
}

// followAnswer follows answer, scrubbed to zone, from qname: to the RRset
// of qtype, or along CNAMEs and DNAMEs (each DNAME with the CNAME it
// synthesises), at most maxChain of them, stopping where the chain
// leaves the zone. looped: the chain came back to a name it passed.
func followAnswer(answer []dns.RR, zone, qname string, qtype uint16, maxChain int) (chain []dns.RR, target string, set []dns.RR, looped bool) {
	cur := qname
	target = qname
	seen := map[string]bool{dnsname.Lower(qname): true}
	for hops := 0; hops <= maxChain; hops++ {
		if hops > 0 {
			// The chain came back to a name it passed.
			if seen[dnsname.Lower(cur)] {
				return chain, target, set, true
			}
			seen[dnsname.Lower(cur)] = true
		}
		if qtype == dns.TypeCNAME {
			// The CNAME asked for below a DNAME is the one we
			// synthesise from it, whatever the server sent.
			if dname, synth := dnameFor(answer, cur); dname != nil {
				return append(chain, dname), cur, []dns.RR{synth}, false
			}
		}
		if s := rrsetOf(answer, cur, qtype); len(s) > 0 {
			return chain, cur, s, false
		}
		// A DNAME above cur wins over any CNAME the server synthesised
		// from it: we synthesise our own (RFC 6672 section 3.2), for a
		// DNAME question too (the DNAME applies to every type below it).
		if dname, synth := dnameFor(answer, cur); dname != nil {
			chain = append(chain, dname, synth)
			cur = synth.Target
			target = cur
			if !inZone(cur, zone) {
				break
			}
			continue
		}
		if qtype != dns.TypeCNAME {
			if cname := rrsetOf(answer, cur, dns.TypeCNAME); len(cname) > 0 {
				chain = append(chain, cname[0])
				cur = dns.Fqdn(cname[0].(*dns.CNAME).Target)
				target = cur
				if !inZone(cur, zone) {
					break // the rest is another zone's business
				}
				continue
			}
		}
		break
	}
	return chain, target, set, false
}

// dnameIntoItself reports whether rr is a DNAME whose target is its owner
// or a name below it.
func dnameIntoItself(rr dns.RR) bool {
	d, ok := rr.(*dns.DNAME)
	return ok && inZone(dns.Fqdn(d.Target), d.Hdr.Name)
}

// upwardReferral returns the owner of an NS record in authority that lies
// above zone: a server that refers us back up is lame, AA bit or not.
func upwardReferral(authority []dns.RR, zone string) string {
	for _, rr := range authority {
		if ns, ok := rr.(*dns.NS); ok && !inZone(ns.Hdr.Name, zone) && inZone(zone, ns.Hdr.Name) {
			return ns.Hdr.Name
		}
	}
	return ""
}

// rrsetOf returns the records of rrs owned by name with type t.
func rrsetOf(rrs []dns.RR, name string, t uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		if h := rr.Header(); h.Rrtype == t && sameName(h.Name, name) {
			out = append(out, rr)
		}
	}
	return out
}

// dnameFor finds a DNAME owned by a proper ancestor of name and returns it
// with the CNAME it synthesises for name (RFC 6672 section 2.2).
func dnameFor(rrs []dns.RR, name string) (dns.RR, *dns.CNAME) {
	for _, rr := range rrs {
		d, ok := rr.(*dns.DNAME)
		if !ok || sameName(d.Hdr.Name, name) || !inZone(name, d.Hdr.Name) {
			continue
		}
		prefix := name[:len(name)-len(d.Hdr.Name)]
		target := prefix + dns.Fqdn(d.Target)
		if dns.Fqdn(d.Target) == "." {
			target = prefix // a DNAME to the root: the prefix is the name
		}
		if _, ok := dns.IsDomainName(target); !ok || len(target) > 255 {
			continue
		}
		synth := &dns.CNAME{
			Hdr:    dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: d.Hdr.Ttl},
			Target: target,
		}
		return d, synth
	}
	return nil, nil
}

// soaFor returns the SOA in authority that may speak for name: owned by
// an ancestor of name (or name itself) within zone.
func soaFor(authority []dns.RR, name, zone string) *dns.SOA {
	for _, rr := range authority {
		if soa, ok := rr.(*dns.SOA); ok && inZone(name, soa.Hdr.Name) && inZone(soa.Hdr.Name, zone) {
			return soa
		}
	}
	return nil
}

// referralIn returns the NS set in authority whose owner is an ancestor of
// name (or name), the deepest such set.
func referralIn(authority []dns.RR, name string) (string, []dns.RR) {
	var child string
	for _, rr := range authority {
		if ns, ok := rr.(*dns.NS); ok && inZone(name, ns.Hdr.Name) && len(ns.Hdr.Name) > len(child) {
			child = dnsname.Lower(ns.Hdr.Name)
		}
	}
	if child == "" {
		return "", nil
	}
	return child, rrsetOf(authority, child, dns.TypeNS)
}

// glueFor keeps the A and AAAA records of additional owned by NS names.
func glueFor(additional, ns []dns.RR) []dns.RR {
	var out []dns.RR
	for _, rr := range additional {
		h := rr.Header()
		if h.Rrtype != dns.TypeA && h.Rrtype != dns.TypeAAAA {
			continue
		}
		for _, n := range ns {
			if sameName(h.Name, n.(*dns.NS).Ns) {
				out = append(out, rr)
				break
			}
		}
	}
	return out
}
