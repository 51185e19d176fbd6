package dnssec

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// CompareNames orders names canonically (RFC 4034 section 6.1): label by
// label from the root, each label as lowercased octets, a missing label (or
// octet) sorting first. It returns -1, 0 or +1. Names that do not pack
// (invalid presentation form) fall back to comparing lowercased strings.
func CompareNames(a, b string) int {
	var abuf, bbuf [256]byte
	al, aok := wireLabels(a, abuf[:])
	bl, bok := wireLabels(b, bbuf[:])
	if !aok || !bok {
		return strings.Compare(dns.CanonicalName(a), dns.CanonicalName(b))
	}
	for i, j := len(al)-1, len(bl)-1; i >= 0 && j >= 0; i, j = i-1, j-1 {
		if c := compareLabel(al[i], bl[j]); c != 0 {
			return c
		}
	}
	switch {
	case len(al) < len(bl):
		return -1
	case len(al) > len(bl):
		return 1
	}
	return 0
}

// wireLabels packs name into buf and returns its labels (without length
// octets), leftmost first.
func wireLabels(name string, buf []byte) ([][]byte, bool) {
	n, err := dns.PackDomainName(dns.Fqdn(name), buf, 0, nil, false)
	if err != nil {
		return nil, false
	}
	labels := make([][]byte, 0, 8)
	for off := 0; off < n && buf[off] != 0; off += int(buf[off]) + 1 {
		labels = append(labels, buf[off+1:off+1+int(buf[off])])
	}
	return labels, true
}

func compareLabel(a, b []byte) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := lower(a[i]), lower(b[i])
		if ca != cb {
			if ca < cb {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// ancestor returns name cut to its rightmost n labels ("." for 0).
func ancestor(name string, n int) string {
	idx := dns.Split(name)
	if n <= 0 || len(idx) == 0 {
		return "."
	}
	if n >= len(idx) {
		return name
	}
	return name[idx[len(idx)-n]:]
}

// commonLabels counts the labels two canonical names share from the root.
func commonLabels(a, b string) int { return dns.CompareDomainName(a, b) }

// below reports whether name is strictly under parent.
func below(name, parent string) bool {
	return dns.CountLabel(name) > dns.CountLabel(parent) && dns.IsSubDomain(parent, name)
}

// signedData is the input of an RRSIG's signature (RFC 4034 3.1.8.1): the
// RRSIG RDATA without the signature, then the RRset in canonical form and
// order (6.2, 6.3), duplicates removed.
func signedData(sig *dns.RRSIG, rrset []dns.RR) ([]byte, error) {
	buf := make([]byte, 18, 512)
	binary.BigEndian.PutUint16(buf[0:], sig.TypeCovered)
	buf[2] = sig.Algorithm
	buf[3] = sig.Labels
	binary.BigEndian.PutUint32(buf[4:], sig.OrigTtl)
	binary.BigEndian.PutUint32(buf[8:], sig.Expiration)
	binary.BigEndian.PutUint32(buf[12:], sig.Inception)
	binary.BigEndian.PutUint16(buf[16:], sig.KeyTag)
	buf, err := appendName(buf, dns.CanonicalName(sig.SignerName))
	if err != nil {
		return nil, err
	}
	owner, err := appendName(nil, signedOwner(rrset[0].Header().Name, sig.Labels))
	if err != nil {
		return nil, err
	}
	rdatas := make([][]byte, 0, len(rrset))
	for _, rr := range rrset {
		rd, err := canonicalRdata(rr)
		if err != nil {
			return nil, err
		}
		rdatas = append(rdatas, rd)
	}
	slices.SortFunc(rdatas, bytes.Compare)
	rdatas = slices.CompactFunc(rdatas, bytes.Equal)
	var fixed [10]byte
	binary.BigEndian.PutUint16(fixed[0:], rrset[0].Header().Rrtype)
	binary.BigEndian.PutUint16(fixed[2:], rrset[0].Header().Class)
	binary.BigEndian.PutUint32(fixed[4:], sig.OrigTtl)
	for _, rd := range rdatas {
		binary.BigEndian.PutUint16(fixed[8:], uint16(len(rd)))
		buf = append(buf, owner...)
		buf = append(buf, fixed[:]...)
		buf = append(buf, rd...)
	}
	return buf, nil
}

// signedOwner is the owner as signed: lowercased, and the wildcard it was
// expanded from when the RRSIG has fewer labels (RFC 4035 5.3.2).
func signedOwner(owner string, labels uint8) string {
	owner = dns.CanonicalName(owner)
	if dns.CountLabel(owner) > int(labels) {
		return "*." + strings.TrimPrefix(ancestor(owner, int(labels)), ".")
	}
	return owner
}

func appendName(buf []byte, name string) ([]byte, error) {
	var tmp [256]byte
	n, err := dns.PackDomainName(name, tmp[:], 0, nil, false)
	if err != nil {
		return nil, err
	}
	return append(buf, tmp[:n]...), nil
}

// canonicalRdata packs rr's RDATA uncompressed with the embedded names of
// the RFC 4034 6.2 list (as corrected by RFC 6840 5.1) lowercased. It packs
// through a dns.Msg because dns.PackRR writes the record's Rdlength, and the
// records checked here may be shared between goroutines.
func canonicalRdata(rr dns.RR) ([]byte, error) {
	m := dns.Msg{Answer: []dns.RR{lowerRdataNames(rr)}}
	wire, err := m.PackBuffer(make([]byte, 0, dns.Len(rr)+64))
	if err != nil {
		return nil, err
	}
	off := 12 // message header, no question
	for off < len(wire) && wire[off] != 0 {
		off += int(wire[off]) + 1
	}
	off += 1 + 8 // root octet, type, class, ttl
	if off+2 > len(wire) {
		return nil, dns.ErrRdata
	}
	rdlen := int(binary.BigEndian.Uint16(wire[off:]))
	if off+2+rdlen != len(wire) {
		return nil, dns.ErrRdata
	}
	return wire[off+2:], nil
}

// lowerRdataNames returns rr, or a copy of it with the domain names in its
// RDATA lowercased for the types whose canonical form requires it.
func lowerRdataNames(rr dns.RR) dns.RR {
	switch rr.(type) {
	case *dns.NS, *dns.MD, *dns.MF, *dns.CNAME, *dns.SOA, *dns.MB, *dns.MG, *dns.MR,
		*dns.PTR, *dns.MINFO, *dns.MX, *dns.RP, *dns.AFSDB, *dns.RT, *dns.SIG, *dns.PX,
		*dns.NAPTR, *dns.KX, *dns.SRV, *dns.DNAME:
	default:
		return rr
	}
	c := dns.Copy(rr)
	lc := dns.CanonicalName
	switch x := c.(type) {
	case *dns.NS:
		x.Ns = lc(x.Ns)
	case *dns.MD:
		x.Md = lc(x.Md)
	case *dns.MF:
		x.Mf = lc(x.Mf)
	case *dns.CNAME:
		x.Target = lc(x.Target)
	case *dns.SOA:
		x.Ns, x.Mbox = lc(x.Ns), lc(x.Mbox)
	case *dns.MB:
		x.Mb = lc(x.Mb)
	case *dns.MG:
		x.Mg = lc(x.Mg)
	case *dns.MR:
		x.Mr = lc(x.Mr)
	case *dns.PTR:
		x.Ptr = lc(x.Ptr)
	case *dns.MINFO:
		x.Rmail, x.Email = lc(x.Rmail), lc(x.Email)
	case *dns.MX:
		x.Mx = lc(x.Mx)
	case *dns.RP:
		x.Mbox, x.Txt = lc(x.Mbox), lc(x.Txt)
	case *dns.AFSDB:
		x.Hostname = lc(x.Hostname)
	case *dns.RT:
		x.Host = lc(x.Host)
	case *dns.SIG:
		x.SignerName = lc(x.SignerName)
	case *dns.PX:
		x.Map822, x.Mapx400 = lc(x.Map822), lc(x.Mapx400)
	case *dns.NAPTR:
		x.Replacement = lc(x.Replacement)
	case *dns.KX:
		x.Exchanger = lc(x.Exchanger)
	case *dns.SRV:
		x.Target = lc(x.Target)
	case *dns.DNAME:
		x.Target = lc(x.Target)
	}
	return c
}
