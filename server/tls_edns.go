package server

import (
	"encoding/binary"
	"time"

	"github.com/miekg/dns"
)

// The EDNS options of the stream transports, added to the packed answer
// rather than in finish, so that the UDP path and the answer cache never
// see them: edns-tcp-keepalive (RFC 7828) on TCP and TLS, and padding
// (RFC 8467) on the encrypted transports.

// paddingBlock is the block size RFC 8467 4.1 recommends for responses.
const paddingBlock = 468

// streamOptions adds to answer (packed) the keepalive option when the
// query carried one, and with encrypted the padding when the query was
// padded. answer's buffer may be reused; the result may be a new one.
func (s *Server) streamOptions(opts streamOpts, answer []byte, encrypted bool) []byte {
	if opts.keepalive {
		// The timeout in units of 100 ms (RFC 7828 3.1).
		units := min(s.cfg.TCPIdleTimeout/(100*time.Millisecond), 0xffff)
		var opt [6]byte
		binary.BigEndian.PutUint16(opt[0:], dns.EDNS0TCPKEEPALIVE)
		binary.BigEndian.PutUint16(opt[2:], 2)
		binary.BigEndian.PutUint16(opt[4:], uint16(units))
		answer = appendOption(answer, opt[:])
	}
	if opts.padded && encrypted {
		answer = padAnswer(answer)
	}
	return answer
}

// wireRR is where one resource record of a packed message lies.
type wireRR struct {
	rrtype uint16
	ttl    uint32
	rdata  int // offset of the RDATA
	end    int // offset just past the record
}

// rrSections walks msg's records after the question, calling fn for each
// with the section (1 answer, 2 authority, 3 additional). It reports
// false when msg is malformed; fn returning false stops the walk.
func rrSections(msg []byte, fn func(section int, rr wireRR) bool) bool {
	if len(msg) < headerLen {
		return false
	}
	off := headerLen
	for range binary.BigEndian.Uint16(msg[4:]) {
		var ok bool
		if off, ok = skipName(msg, off); !ok || off+4 > len(msg) {
			return false
		}
		off += 4
	}
	for section := 1; section <= 3; section++ {
		for range binary.BigEndian.Uint16(msg[4+2*section:]) {
			var ok bool
			if off, ok = skipName(msg, off); !ok || off+10 > len(msg) {
				return false
			}
			rr := wireRR{rrtype: binary.BigEndian.Uint16(msg[off:]), ttl: binary.BigEndian.Uint32(msg[off+4:]), rdata: off + 10}
			rr.end = rr.rdata + int(binary.BigEndian.Uint16(msg[off+8:]))
			if rr.end > len(msg) {
				return false
			}
			if !fn(section, rr) {
				return true
			}
			off = rr.end
		}
	}
	return true
}

// streamOpts are the options of a query that a stream transport answers.
type streamOpts struct{ padded, keepalive bool }

// streamOptsOf returns query's streamOpts.
func streamOptsOf(query []byte) streamOpts {
	var o streamOpts
	o.padded, o.keepalive = queryOptions(query)
	return o
}

// queryOptions reports whether query's OPT record carries the padding and
// the keepalive options. A malformed query has neither.
func queryOptions(query []byte) (padded, keepalive bool) {
	rrSections(query, func(section int, rr wireRR) bool {
		if section != 3 || rr.rrtype != dns.TypeOPT {
			return true
		}
		for off := rr.rdata; off+4 <= rr.end; {
			code, n := binary.BigEndian.Uint16(query[off:]), int(binary.BigEndian.Uint16(query[off+2:]))
			switch code {
			case dns.EDNS0PADDING:
				padded = true
			case dns.EDNS0TCPKEEPALIVE:
				keepalive = true
			}
			off += 4 + n
		}
		return false
	})
	return padded, keepalive
}

// lastOPT returns where answer's OPT record lies when it is the last
// record, as finish puts it.
func lastOPT(answer []byte) (wireRR, bool) {
	var last wireRR
	var section int
	if !rrSections(answer, func(sec int, rr wireRR) bool {
		last, section = rr, sec
		return true
	}) {
		return wireRR{}, false
	}
	return last, section == 3 && last.rrtype == dns.TypeOPT && last.end == len(answer)
}

// appendOption appends one option (code, length, data) to answer's OPT
// record; an answer without one at its end, or that would outgrow a
// message, is returned as it is.
func appendOption(answer, option []byte) []byte {
	opt, ok := lastOPT(answer)
	rdlen := opt.end - opt.rdata + len(option)
	if !ok || len(answer)+len(option) > dns.MaxMsgSize || rdlen > 0xffff {
		return answer
	}
	binary.BigEndian.PutUint16(answer[opt.rdata-2:], uint16(rdlen))
	return append(answer, option...)
}

// padAnswer pads answer to a multiple of paddingBlock (RFC 8467 4.1).
func padAnswer(answer []byte) []byte {
	const optHeader = 4
	n := len(answer) + optHeader
	pad := (paddingBlock - n%paddingBlock) % paddingBlock
	option := make([]byte, optHeader+pad)
	binary.BigEndian.PutUint16(option[0:], dns.EDNS0PADDING)
	binary.BigEndian.PutUint16(option[2:], uint16(pad))
	return appendOption(answer, option)
}

// minTTL returns the smallest TTL of answer's answer and authority
// records (the freshness of a DoH response, RFC 8484 5.1); false when it
// has none.
func minTTL(answer []byte) (uint32, bool) {
	var ttl uint32
	found := false
	rrSections(answer, func(section int, rr wireRR) bool {
		if section == 3 {
			return false
		}
		if !found || rr.ttl < ttl {
			ttl, found = rr.ttl, true
		}
		return true
	})
	return ttl, found
}
