package resolver

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/miekg/dns"
)

// A reply that breaks the rules of the protocol is discarded whole, never
// partly used: nothing in it can be told from a forgery or a server's
// bug. Over UDP the wait for the real reply goes on (exchangeUDP); over
// TCP, and from any other Transport, the exchange fails as errMalformed.
// checkFraming reads the wire, checkReply the parsed message.

// sectionNames name the sections of a message, the question first.
var sectionNames = [4]string{"question", "answer", "authority", "additional"}

// checkFraming reports an error unless raw holds exactly the question
// entries and records its header counts, no fewer and nothing after them.
// miekg/dns passes both silently: it reads the records it finds up to
// the counts and ignores what follows, so a reply whose ANCOUNT is zero
// but which carries the answer reads as NODATA. Only the framing is
// walked here (names, lengths); the contents are left to the unpacker.
func checkFraming(raw []byte) error {
	if len(raw) < 12 {
		return fmt.Errorf("%w: %d bytes, shorter than a header", errFraming, len(raw))
	}
	off := 12
	for s, name := range sectionNames {
		count := int(binary.BigEndian.Uint16(raw[4+2*s:]))
		for i := range count {
			if off == len(raw) {
				return fmt.Errorf("%w: the header counts %d %s entries, the message holds %d", errFraming, count, name, i)
			}
			end, ok := skipName(raw, off)
			fixed := 10 // type, class, TTL, RDLENGTH
			if s == 0 {
				fixed = 4 // type, class
			}
			if ok && end+fixed <= len(raw) {
				if s > 0 {
					end += int(binary.BigEndian.Uint16(raw[end+8:]))
				}
				end += fixed
			}
			if !ok || end > len(raw) {
				return fmt.Errorf("%w: %s entry %d of %d is cut short or misframed", errFraming, name, i+1, count)
			}
			off = end
		}
	}
	if off != len(raw) {
		return fmt.Errorf("%w: %d bytes after the last counted record", errFraming, len(raw)-off)
	}
	return nil
}

// skipName returns the offset just past the (possibly compressed) name at
// off, and false when it runs past raw or uses a label type other than
// plain labels and pointers. Where pointers lead is the unpacker's check.
func skipName(raw []byte, off int) (int, bool) {
	for off < len(raw) {
		l := int(raw[off])
		switch {
		case l == 0:
			return off + 1, true
		case l&0xC0 == 0xC0:
			return off + 2, off+2 <= len(raw)
		case l&0xC0 != 0:
			return 0, false // extended and binary labels (RFC 6891, RFC 2673)
		}
		off += 1 + l
	}
	return 0, false
}

// checkReply reports, as a wrapped errMalformed, what makes resp a reply
// to q to discard whole, whatever else it says: QR clear; an opcode other
// than q's; an OPT record outside the additional section, or more than
// one (RFC 6891 section 6.1.1); a TSIG or SIG(0) record when q carried
// none. It reads the parsed message, so it holds for the replies of any
// Transport; parseReply runs it after checkFraming and unpacking.
func checkReply(q, resp *dns.Msg) error {
	if !resp.Response {
		return fmt.Errorf("%w: QR clear, a query rather than a reply", errMalformed)
	}
	if resp.Opcode != q.Opcode {
		return fmt.Errorf("%w: opcode %s, the query's is %s", errMalformed, opcodeName(resp.Opcode), opcodeName(q.Opcode))
	}
	tsigSent, sig0Sent := false, false
	for _, rr := range q.Extra {
		tsigSent = tsigSent || rr.Header().Rrtype == dns.TypeTSIG
		sig0Sent = sig0Sent || isSIG0(rr)
	}
	opts := 0
	for s, section := range [3][]dns.RR{resp.Answer, resp.Ns, resp.Extra} {
		for _, rr := range section {
			switch rr.Header().Rrtype {
			case dns.TypeOPT:
				if s != 2 {
					return fmt.Errorf("%w: OPT record in the %s section", errMalformed, sectionNames[s+1])
				}
				if opts++; opts > 1 {
					return fmt.Errorf("%w: more than one OPT record", errMalformed)
				}
			case dns.TypeTSIG:
				if !tsigSent {
					return fmt.Errorf("%w: TSIG record in the %s section, and the query was not signed", errMalformed, sectionNames[s+1])
				}
			case dns.TypeSIG:
				if !sig0Sent && isSIG0(rr) {
					return fmt.Errorf("%w: SIG(0) record in the %s section, and the query was not signed", errMalformed, sectionNames[s+1])
				}
			}
		}
	}
	return nil
}

// isSIG0 reports whether rr is a SIG(0) transaction signature (RFC 2931):
// a SIG record covering type 0. A SIG record kept opaque (its RDATA did
// not unpack) counts as one unless its first two octets, the type
// covered, say otherwise.
func isSIG0(rr dns.RR) bool {
	switch rr := rr.(type) {
	case *dns.SIG:
		return rr.TypeCovered == 0
	case *dns.RFC3597:
		return rr.Hdr.Rrtype == dns.TypeSIG && (len(rr.Rdata) < 4 || rr.Rdata[:4] == "0000")
	}
	return false
}

func opcodeName(op int) string {
	if s, ok := dns.OpcodeToString[op]; ok {
		return s
	}
	return strconv.Itoa(op)
}
