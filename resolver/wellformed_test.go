package resolver

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// replyShape is a reply to q, packed and then, for the shapes that can
// only be made on the wire, bent there.
type replyShape struct {
	name string
	msg  func(tb testing.TB, q *dns.Msg) *dns.Msg
	wire func(raw []byte) []byte // nil: as packed
	why  string                  // in the error; "" for a well-formed reply
}

// forgedFor is a reply to q with the right ID and question and another
// address than answerFor's 192.0.2.1: what must never reach the caller.
func forgedFor(tb testing.TB, q *dns.Msg) *dns.Msg {
	m := answerFor(tb, q)
	m.Answer = rrs(tb, q.Question[0].Name+" 300 IN A 203.0.113.66")
	m.Ns = rrs(tb, "example.com. 300 IN NS ns.example.com.")
	m.Extra = rrs(tb, "ns.example.com. 300 IN A 203.0.113.53")
	return m
}

// with returns forgedFor changed by edit.
func with(edit func(tb testing.TB, m *dns.Msg)) func(testing.TB, *dns.Msg) *dns.Msg {
	return func(tb testing.TB, q *dns.Msg) *dns.Msg {
		m := forgedFor(tb, q)
		edit(tb, m)
		return m
	}
}

// setCount sets the header count at off (6 answer, 8 authority, 10
// additional).
func setCount(off int, n uint16) func([]byte) []byte {
	return func(raw []byte) []byte {
		binary.BigEndian.PutUint16(raw[off:], n)
		return raw
	}
}

func optRR() *dns.OPT {
	o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	o.SetUDPSize(1232)
	return o
}

func tsigRR() *dns.TSIG {
	return &dns.TSIG{Hdr: dns.RR_Header{Name: "key.", Rrtype: dns.TypeTSIG, Class: dns.ClassANY},
		Algorithm: dns.HmacSHA256, Fudge: 300, TimeSigned: 1700000000, MACSize: 0, OrigId: 1}
}

func sigRR(covered uint16) *dns.SIG {
	return &dns.SIG{RRSIG: dns.RRSIG{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeSIG, Class: dns.ClassANY},
		TypeCovered: covered, Algorithm: dns.RSASHA256, Expiration: 1700000300, Inception: 1700000000,
		SignerName: "example.com.", Signature: "AAECAw=="}}
}

// malformedShapes are the replies to discard whole. The layout forgedFor
// packs to: header, question, one answer, one NS, one glue A.
var malformedShapes = []replyShape{
	{name: "bytes after the last record", msg: forgedFor,
		wire: func(raw []byte) []byte { return append(raw, 0, 0, 0) }, why: "3 bytes after the last counted record"},
	{name: "answer not counted (reads as NODATA)", msg: forgedFor, wire: setCount(6, 0), why: "bytes after the last counted record"},
	{name: "glue not counted", msg: forgedFor, wire: setCount(10, 0), why: "bytes after the last counted record"},
	{name: "more answers counted than present", msg: forgedFor, wire: setCount(6, 2), why: "the header counts 1 additional entries, the message holds 0"},
	{name: "more glue counted than present", msg: forgedFor, wire: setCount(10, 3), why: "the header counts 3 additional entries, the message holds 1"},
	{name: "header alone, counts kept", msg: forgedFor,
		wire: func(raw []byte) []byte { return raw[:12] }, why: "the header counts 1 question entries, the message holds 0"},
	{name: "RDLENGTH past the end", msg: forgedFor,
		wire: func(raw []byte) []byte { raw[len(raw)-5]++; return raw }, why: "additional entry 1 of 1 is cut short"},
	{name: "opcode NOTIFY", msg: with(func(_ testing.TB, m *dns.Msg) { m.Opcode = dns.OpcodeNotify }), why: "opcode NOTIFY, the query's is QUERY"},
	{name: "opcode UPDATE", msg: with(func(_ testing.TB, m *dns.Msg) { m.Opcode = dns.OpcodeUpdate }), why: "opcode UPDATE"},
	{name: "QR clear", msg: with(func(_ testing.TB, m *dns.Msg) { m.Response = false }), why: "QR clear"},
	{name: "OPT in the answer section", msg: with(func(_ testing.TB, m *dns.Msg) { m.Answer = append(m.Answer, optRR()) }),
		why: "OPT record in the answer section"},
	{name: "OPT in the authority section", msg: with(func(_ testing.TB, m *dns.Msg) { m.Ns = append(m.Ns, optRR()) }),
		why: "OPT record in the authority section"},
	{name: "two OPT records", msg: with(func(_ testing.TB, m *dns.Msg) { m.Extra = append(m.Extra, optRR(), optRR()) }),
		why: "more than one OPT record"},
	{name: "OPT that does not unpack", msg: with(func(_ testing.TB, m *dns.Msg) {
		o := optRR()
		o.Option = []dns.EDNS0{&dns.EDNS0_LOCAL{Code: 65001, Data: []byte{0}}}
		m.Extra = append(m.Extra, o)
	}), wire: func(raw []byte) []byte {
		raw[len(raw)-2] = 0xff // the option's length: 255 bytes in 1
		return raw
	}, why: "malformed reply"},
	{name: "TSIG, query unsigned", msg: with(func(_ testing.TB, m *dns.Msg) { m.Extra = append(m.Extra, tsigRR()) }),
		why: "TSIG record in the additional section, and the query was not signed"},
	{name: "TSIG in the answer, query unsigned", msg: with(func(_ testing.TB, m *dns.Msg) { m.Answer = append(m.Answer, tsigRR()) }),
		why: "TSIG record in the answer section"},
	{name: "SIG(0), query unsigned", msg: with(func(_ testing.TB, m *dns.Msg) { m.Extra = append(m.Extra, sigRR(0)) }),
		why: "SIG(0) record in the additional section, and the query was not signed"},
	{name: "SIG(0) kept opaque, query unsigned", msg: with(func(_ testing.TB, m *dns.Msg) {
		m.Extra = append(m.Extra, &dns.RFC3597{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeSIG, Class: dns.ClassANY}, Rdata: "00"})
	}), why: "SIG(0) record"},
}

// wellFormedShapes look odd and are not malformed.
var wellFormedShapes = []replyShape{
	{name: "honest", msg: forgedFor},
	{name: "OPT before the glue", msg: with(func(_ testing.TB, m *dns.Msg) { m.Extra = append([]dns.RR{optRR()}, m.Extra...) })},
	{name: "SIG covering A in the answer", msg: with(func(_ testing.TB, m *dns.Msg) { m.Answer = append(m.Answer, sigRR(dns.TypeA)) })},
	{name: "header alone, no counts", msg: func(_ testing.TB, q *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeRefused)
		m.Question = nil
		return m
	}},
}

func (s replyShape) pack(tb testing.TB, q *dns.Msg) []byte {
	tb.Helper()
	raw := pack(tb, s.msg(tb, q))
	if s.wire != nil {
		raw = s.wire(raw)
	}
	return raw
}

func plainQuery(name string, qtype uint16) *dns.Msg {
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	return q
}

func TestParseReplyWellFormed(t *testing.T) {
	for _, s := range append(malformedShapes, wellFormedShapes...) {
		t.Run(s.name, func(t *testing.T) {
			q := plainQuery("www.example.com.", dns.TypeA)
			resp, err := parseReply(q, s.pack(t, q))
			if s.why == "" {
				if err != nil {
					t.Fatalf("parseReply: %v, want the reply", err)
				}
				return
			}
			if !errors.Is(err, errMalformed) || !strings.Contains(err.Error(), s.why) {
				t.Fatalf("parseReply = %v, %v; want errMalformed: %s", resp, err, s.why)
			}
		})
	}
}

// checkReply holds for a parsed message of any Transport: the shapes that
// can be built as a *dns.Msg (all but the wire's) fail it alone.
func TestCheckReply(t *testing.T) {
	for _, s := range append(malformedShapes, wellFormedShapes...) {
		if s.wire != nil {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			q := plainQuery("www.example.com.", dns.TypeA)
			err := checkReply(q, s.msg(t, q))
			if s.why == "" {
				if err != nil {
					t.Fatalf("checkReply: %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, errMalformed) || !strings.Contains(err.Error(), s.why) {
				t.Fatalf("checkReply = %v; want errMalformed: %s", err, s.why)
			}
		})
	}
	// A signed query may be answered signed (the signature is not ours to
	// check here: we never sign).
	signed := func(rr dns.RR) {
		q := plainQuery("www.example.com.", dns.TypeA)
		q.Extra = append(q.Extra, rr)
		m := forgedFor(t, q)
		m.Extra = append(m.Extra, rr)
		if err := checkReply(q, m); err != nil {
			t.Errorf("reply signed with %s to a query signed so: %v", dns.TypeToString[rr.Header().Rrtype], err)
		}
	}
	signed(tsigRR())
	signed(sigRR(0))
}

// pacedServer answers each query on loopback UDP with first, then, gap
// later, with second: the forger's packet arrives while the transport
// waits, and the server's after the transport has dealt with it.
func pacedServer(tb testing.TB, gap time.Duration, first, second func(q *dns.Msg) []byte) netip.AddrPort {
	tb.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Skipf("no UDP socket on loopback: %v", err)
	}
	serveUDP(tb, pc, func(q *dns.Msg, send func([]byte)) {
		send(first(q))
		later := second(q)
		time.AfterFunc(gap, func() { send(later) })
	})
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

// truncatingServer answers every query on loopback UDP with an empty,
// truncated reply, and one query over TCP on the same port with the
// message respond returns, as raw bytes behind a length. The TCP listener
// is opened first, on a free port, so that the UDP socket has the port
// too.
func truncatingServer(tb testing.TB, respond func(q *dns.Msg) []byte) netip.AddrPort {
	tb.Helper()
	var (
		ln net.Listener
		pc net.PacketConn
	)
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Skipf("no TCP listener on loopback: %v", err)
		}
		if pc, err = net.ListenPacket("udp", l.Addr().String()); err == nil {
			ln = l
			break
		}
		l.Close()
	}
	if ln == nil {
		tb.Fatal("no loopback port free for both UDP and TCP")
	}
	tb.Cleanup(func() { ln.Close() })
	serveUDP(tb, pc, func(q *dns.Msg, send func([]byte)) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Truncated = true
		if raw, err := m.Pack(); err == nil {
			send(raw)
		}
	})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		dc := &dns.Conn{Conn: c}
		if q, err := dc.ReadMsg(); err == nil {
			dc.Write(respond(q))
		}
	}()
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

// Over real sockets, a malformed reply sent first with the right ID and
// question is passed over, and the honest reply a millisecond later is
// the one returned: on the raw-socket and the net.Dialer paths.
func TestTransportSkipsMalformedReplies(t *testing.T) {
	for _, s := range malformedShapes {
		t.Run(s.name, func(t *testing.T) {
			srv := pacedServer(t, time.Millisecond,
				func(q *dns.Msg) []byte { return s.pack(t, q) },
				func(q *dns.Msg) []byte { return pack(t, answerFor(t, q)) })
			for _, tr := range []*NetTransport{{}, {Dialer: &net.Dialer{}}} {
				q := plainQuery("www.example.com.", dns.TypeA)
				q.SetEdns0(EDNSBufferSize, false)
				resp, _, err := tr.Exchange(t.Context(), q, srv)
				if err != nil || len(resp.Answer) != 1 || resp.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
					t.Fatalf("dialer=%v: Exchange = %v, %v; want the honest answer after the malformed one", tr.Dialer != nil, resp, err)
				}
			}
		})
	}
}

// Over TCP there is no other reply to wait for: a malformed one ends the
// exchange as errMalformed.
func TestTransportTCPMalformedFails(t *testing.T) {
	for _, s := range malformedShapes {
		t.Run(s.name, func(t *testing.T) {
			srv := truncatingServer(t, func(q *dns.Msg) []byte { return s.pack(t, q) })
			q := plainQuery("www.example.com.", dns.TypeA)
			resp, _, tcp, err := (&NetTransport{}).ExchangeTimed(t.Context(), q, srv, 0)
			if !errors.Is(err, errMalformed) || !tcp {
				t.Fatalf("ExchangeTimed = %v, tcp %v, %v; want errMalformed over TCP", resp, tcp, err)
			}
		})
	}
}

func TestUnpackReplyFraming(t *testing.T) {
	q := plainQuery("www.example.com.", dns.TypeA)
	for _, s := range malformedShapes {
		if s.wire == nil {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			if m, err := UnpackReply(s.pack(t, q)); err == nil {
				t.Fatalf("UnpackReply = %v, want an error", m)
			}
		})
	}
}
