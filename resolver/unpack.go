package resolver

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/miekg/dns"
)

// UnpackReply unpacks an upstream reply. A message miekg/dns refuses as a
// whole because some record's RDATA does not fit its type, or accepts
// with a record that would not go out again as it came (repacks), is read again
// record by record (as Unbound scrubs such records one at a time): a
// record of a type with a fixed-size RDATA or with names that may be
// compressed is dropped, any other malformed record (an SVCB with
// repeated keys, say) is kept as it came, in RFC 3597 form. That is all
// the tolerance: a broken header, question or record framing is an
// error, and so are header counts that disagree with the records present
// (too many, or bytes left after the last counted one), which miekg/dns
// lets pass, and an OPT record whose RDATA does not unpack (it carries
// the upper bits of the RCODE: without it a BADVERS reads as NOERROR).
func UnpackReply(raw []byte) (*dns.Msg, error) {
	if err := checkFraming(raw); err != nil {
		return nil, err
	}
	m := new(dns.Msg)
	err := m.Unpack(raw)
	if err == nil && allRepack(m) {
		return m, nil
	}
	if t, terr := unpackTolerant(raw); terr == nil {
		return t, nil
	}
	return nil, err
}

var errFraming = errors.New("record framing broken")

// unpackTolerant reads raw section by section, skipping by RDLENGTH the
// records whose RDATA does not unpack.
func unpackTolerant(raw []byte) (*dns.Msg, error) {
	if len(raw) < 12 {
		return nil, errFraming
	}
	qd := int(binary.BigEndian.Uint16(raw[4:]))
	counts := [3]int{
		int(binary.BigEndian.Uint16(raw[6:])),
		int(binary.BigEndian.Uint16(raw[8:])),
		int(binary.BigEndian.Uint16(raw[10:])),
	}
	off := 12
	for range qd {
		_, next, err := dns.UnpackDomainName(raw, off)
		if err != nil || next+4 > len(raw) {
			return nil, errFraming
		}
		off = next + 4
	}
	// Header and question through miekg, with the other sections cut off.
	head := make([]byte, off)
	copy(head, raw[:off])
	clear(head[6:12])
	m := new(dns.Msg)
	if err := m.Unpack(head); err != nil {
		return nil, err
	}
	sections := [3]*[]dns.RR{&m.Answer, &m.Ns, &m.Extra}
	for s, n := range counts {
		for range n {
			rr, next, err := unpackOneRR(raw, off)
			if err != nil {
				return nil, err
			}
			off = next
			if rr != nil {
				*sections[s] = append(*sections[s], rr)
			}
		}
	}
	if opt := m.IsEdns0(); opt != nil {
		m.Rcode |= opt.ExtendedRcode()
	}
	return m, nil
}

// unpackOneRR reads the record at off. It returns a nil record (and no
// error) for a record to drop, and an error when the framing itself is
// broken or the record is an OPT that does not unpack.
func unpackOneRR(raw []byte, off int) (dns.RR, int, error) {
	name, off, err := dns.UnpackDomainName(raw, off)
	if err != nil || off+10 > len(raw) {
		return nil, 0, errFraming
	}
	h := dns.RR_Header{
		Name:     name,
		Rrtype:   binary.BigEndian.Uint16(raw[off:]),
		Class:    binary.BigEndian.Uint16(raw[off+2:]),
		Ttl:      binary.BigEndian.Uint32(raw[off+4:]),
		Rdlength: binary.BigEndian.Uint16(raw[off+8:]),
	}
	start := off + 10
	end := start + int(h.Rdlength)
	if end > len(raw) {
		return nil, 0, errFraming
	}
	// As miekg does itself: the RDATA parsers must not read past RDLENGTH.
	rr, _, err := dns.UnpackRRWithHeader(h, raw[:end], start)
	if err == nil && repacks(rr) {
		return rr, end, nil
	}
	if h.Rrtype == dns.TypeOPT {
		return nil, 0, fmt.Errorf("OPT record: %w", err)
	}
	if strictRdata[h.Rrtype] {
		return nil, end, nil
	}
	return &dns.RFC3597{Hdr: h, Rdata: hex.EncodeToString(raw[start:end])}, end, nil
}

// strictRdata are the types whose malformed records are dropped rather
// than kept opaque: fixed-size RDATA, or names that servers may compress
// (RFC 3597 section 4), which would point into a message that is gone.
var strictRdata = map[uint16]bool{
	dns.TypeA: true, dns.TypeAAAA: true, dns.TypeNS: true, dns.TypeMD: true, dns.TypeMF: true,
	dns.TypeCNAME: true, dns.TypeSOA: true, dns.TypeMB: true, dns.TypeMG: true, dns.TypeMR: true,
	dns.TypePTR: true, dns.TypeMINFO: true, dns.TypeMX: true, dns.TypeDNAME: true,
	dns.TypeSRV: true, dns.TypeNAPTR: true, dns.TypeRP: true, dns.TypeAFSDB: true, dns.TypeRT: true,
	dns.TypePX: true, dns.TypeKX: true,
}

// repackBuf is scratch room for repacks: a record packs into at most
// 255 bytes of owner, 10 of header and 65535 of RDATA.
var repackBuf = sync.Pool{New: func() any { b := make([]byte, 255+10+65535); return &b }}

// allRepack reports whether every record of m repacks.
func allRepack(m *dns.Msg) bool {
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			if !repacks(rr) {
				return false
			}
		}
	}
	return true
}

// repacks reports whether rr, as miekg/dns unpacked it, packs again into
// the RDATA it came as, so that what we cache and relay is what the
// server sent. miekg/dns accepts some RDATA it cannot write again (an
// SVCB alpn with an empty id, a CAA value too long), fills fields missing
// from a short RDATA with zeros (an SOA of no bytes), and reads some
// strings raw that it writes escaped (a backslash in a URI target): each
// of those fails to pack, or packs to another length. Types whose names
// servers may compress (strictRdata) pack longer, uncompressed; they
// must not pack shorter, nor from no RDATA at all.
func repacks(rr dns.RR) bool {
	h := rr.Header()
	if h.Rrtype == dns.TypeOPT {
		return true // its own rules (checkReply); never relayed as is
	}
	came := h.Rdlength
	bufp := repackBuf.Get().(*[]byte)
	defer repackBuf.Put(bufp)
	_, err := dns.PackRR(rr, *bufp, 0, nil, false)
	packed := h.Rdlength // PackRR sets it
	h.Rdlength = came
	switch {
	case err != nil:
		return false
	case strictRdata[h.Rrtype] && h.Rrtype != dns.TypeA && h.Rrtype != dns.TypeAAAA:
		return packed >= came && (came > 0 || packed == 0)
	}
	return packed == came
}
