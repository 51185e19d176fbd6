package testnet

import (
	"bytes"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// This file makes the authority answer DO queries for signed zones as a
// DNSSEC-aware authoritative server does (RFC 4035 section 3.1, RFC 5155
// section 7.2): the RRSIGs of every RRset it puts in the answer and the
// authority section, the DS or its denial in referrals, and the NSEC or
// NSEC3 records that prove NXDOMAIN, NODATA and wildcard answers. A zone
// without RRSIGs, NSEC or NSEC3 gets nothing added.

// denial indexes a zone's NSEC or NSEC3 chain for finding the record that
// matches or covers a name. A zone has one chain; NSEC3 wins if both.
type denial struct {
	nsec  []*dns.NSEC // sorted by owner in canonical order (RFC 4034 section 6.1)
	nsec3 []*dns.NSEC3
	// hashes are the owner hashes of nsec3, upper-case base32hex, in the
	// same order, which is their order as numbers.
	hashes []string
	param  dns.NSEC3PARAM // the hash parameters of the chain
}

// denials caches the index of each zone an authority serves, built on the
// first DO query that needs it.
type denials struct {
	mu     sync.Mutex
	byZone map[*zone]*denial
}

func (d *denials) of(z *zone) *denial {
	d.mu.Lock()
	defer d.mu.Unlock()
	if idx := d.byZone[z]; idx != nil {
		return idx
	}
	if d.byZone == nil {
		d.byZone = map[*zone]*denial{}
	}
	idx := indexDenial(z)
	d.byZone[z] = idx
	return idx
}

func indexDenial(z *zone) *denial {
	d := &denial{}
	for _, n := range z.nodes {
		for _, rr := range n.rrsets[dns.TypeNSEC] {
			d.nsec = append(d.nsec, rr.(*dns.NSEC))
		}
		for _, rr := range n.rrsets[dns.TypeNSEC3] {
			d.nsec3 = append(d.nsec3, rr.(*dns.NSEC3))
		}
	}
	slices.SortFunc(d.nsec, func(a, b *dns.NSEC) int { return canonicalCompare(a.Hdr.Name, b.Hdr.Name) })
	slices.SortFunc(d.nsec3, func(a, b *dns.NSEC3) int { return strings.Compare(ownerHash(a), ownerHash(b)) })
	for _, rr := range d.nsec3 {
		d.hashes = append(d.hashes, ownerHash(rr))
	}
	if params := z.nodes[z.origin].rrsets[dns.TypeNSEC3PARAM]; len(params) > 0 {
		d.param = *params[0].(*dns.NSEC3PARAM)
	} else if len(d.nsec3) > 0 {
		first := d.nsec3[0]
		d.param = dns.NSEC3PARAM{Hash: first.Hash, Iterations: first.Iterations, Salt: first.Salt}
	}
	return d
}

// ownerHash is the first label of an NSEC3's owner, upper case.
func ownerHash(rr *dns.NSEC3) string {
	first, _, _ := strings.Cut(rr.Hdr.Name, ".")
	return strings.ToUpper(first)
}

// nsecAt returns the NSEC whose owner is the last at or before name in
// canonical order: the one matching name (exact) or else covering it.
func (d *denial) nsecAt(name string) (rr *dns.NSEC, exact bool) {
	i, found := slices.BinarySearchFunc(d.nsec, name, func(rr *dns.NSEC, name string) int {
		return canonicalCompare(rr.Hdr.Name, name)
	})
	switch {
	case found:
		return d.nsec[i], true
	case i == 0:
		return nil, false // before the apex: not in the zone
	}
	return d.nsec[i-1], false
}

// nsec3At returns the NSEC3 matching name's hash (exact) or else covering
// it; the last NSEC3 of the chain covers the hashes before the first.
func (d *denial) nsec3At(name string) (rr *dns.NSEC3, exact bool) {
	if len(d.nsec3) == 0 {
		return nil, false
	}
	h := dns.HashName(name, d.param.Hash, d.param.Iterations, d.param.Salt)
	i, found := slices.BinarySearch(d.hashes, h)
	switch {
	case found:
		return d.nsec3[i], true
	case i == 0:
		return d.nsec3[len(d.nsec3)-1], false
	}
	return d.nsec3[i-1], false
}

// canonicalCompare orders names as RFC 4034 section 6.1 does: by labels
// from the root down, each compared as lower-case octets.
func canonicalCompare(a, b string) int {
	la, lb := wireLabels(a), wireLabels(b)
	for i, j := len(la)-1, len(lb)-1; i >= 0 && j >= 0; i, j = i-1, j-1 {
		if c := bytes.Compare(la[i], lb[j]); c != 0 {
			return c
		}
	}
	return len(la) - len(lb)
}

// wireLabels returns name's labels as lower-case octets (escapes decoded).
func wireLabels(name string) [][]byte {
	buf := make([]byte, 256)
	n, err := dns.PackDomainName(dns.Fqdn(name), buf, 0, nil, false)
	if err != nil {
		return nil
	}
	var labels [][]byte
	for off := 0; off < n && buf[off] != 0; off += int(buf[off]) + 1 {
		labels = append(labels, bytes.ToLower(buf[off+1:off+1+int(buf[off])]))
	}
	return labels
}

// dnssecReply adds the DNSSEC records of one step of resolve: one zone's
// answer for name. A nil *dnssecReply (a query without DO) adds nothing.
type dnssecReply struct {
	z     *zone
	d     *denial
	name  string // as asked, case kept
	qname string // lower case
	qtype uint16
	res   lookupResult
}

// dnssecFor returns what adds the DNSSEC records of res, or nil without DO.
func (a *authority) dnssecFor(do bool, z *zone, name string, qtype uint16, res lookupResult) *dnssecReply {
	if !do {
		return nil
	}
	return &dnssecReply{z: z, d: a.denials.of(z), name: name, qname: canonical(name), qtype: qtype, res: res}
}

// answer follows an answer or CNAME just put in resp with its RRSIGs and,
// for a wildcard's, the proof that qname itself does not exist.
func (s *dnssecReply) answer(resp *dns.Msg) {
	if s == nil {
		return
	}
	source := s.qname
	if s.res.wildcard {
		source = "*." + trimRoot(s.z.closestEncloser(s.qname))
		resp.Ns = appendNew(resp.Ns, s.wildcardAnswerProof()...)
	}
	if s.qtype == dns.TypeANY || s.qtype == dns.TypeRRSIG {
		return // ANY answers carry the RRSIGs already; RRSIGs are not signed
	}
	resp.Answer = append(resp.Answer, s.z.sigsOf(source, s.res.rrs[0].Header().Rrtype, s.name)...)
}

// dname follows a DNAME just put in resp with its RRSIGs.
func (s *dnssecReply) dname(resp *dns.Msg, d *dns.DNAME) {
	if s == nil {
		return
	}
	resp.Answer = append(resp.Answer, s.z.sigsOf(canonical(d.Hdr.Name), dns.TypeDNAME, d.Hdr.Name)...)
}

// referral follows a referral's NS set with the cut's signed DS RRset, or
// else the proof that the cut has none.
func (s *dnssecReply) referral(resp *dns.Msg) {
	if s == nil {
		return
	}
	if ds := s.z.withSigs(s.res.cut, dns.TypeDS); ds != nil {
		resp.Ns = appendNew(resp.Ns, ds...)
		return
	}
	resp.Ns = appendNew(resp.Ns, s.noData(s.res.cut)...)
}

// negative follows the SOA of an NXDOMAIN or NODATA answer with its RRSIGs
// and the denial records.
func (s *dnssecReply) negative(resp *dns.Msg) {
	if s == nil {
		return
	}
	soa := resp.Ns[len(resp.Ns)-1]
	for _, sig := range s.z.sigsOf(s.z.origin, dns.TypeSOA, soa.Header().Name) {
		// As the SOA, the signature lives no longer than negative caching
		// (RFC 2308 section 3, RFC 4035 section 3.1.3).
		sig.Header().Ttl = soa.Header().Ttl
		resp.Ns = appendNew(resp.Ns, sig)
	}
	switch {
	case s.res.kind == kindNXDomain:
		resp.Ns = appendNew(resp.Ns, s.nxDomain()...)
	case s.res.wildcard:
		resp.Ns = appendNew(resp.Ns, s.wildcardNoData()...)
	default:
		resp.Ns = appendNew(resp.Ns, s.noData(s.qname)...)
	}
}

// appendNew appends the records of rrs that section lacks, so a proof
// record that serves twice (one NSEC covering qname and the wildcard) or a
// zone visited twice in a chain is listed once.
func appendNew(section []dns.RR, rrs ...dns.RR) []dns.RR {
	for _, rr := range rrs {
		if !slices.ContainsFunc(section, func(have dns.RR) bool { return dns.IsDuplicate(have, rr) }) {
			section = append(section, rr)
		}
	}
	return section
}
