package resolver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// NetTransport is the default Transport: UDP from a fresh connected socket
// (so a random source port, and the kernel drops packets from any other
// address), falling back to TCP when the answer is truncated or when the
// server's address sent a reply with the wrong ID (a spoofing attempt).
// It is a TimedTransport.
type NetTransport struct {
	// Dialer, when set, opens the sockets (tests bind a source address).
	Dialer *net.Dialer
}

var (
	errMalformed = errors.New("malformed reply")
	errMismatch  = errors.New("reply does not match the query")
	// errOversized: a UDP reply filled the read buffer, larger than the
	// buffer size we advertised; it is fetched over TCP instead.
	errOversized = errors.New("UDP reply larger than advertised")
	// errCaseMismatch: the reply repeats the question in another letter
	// case than the 0x20-randomised one sent.
	errCaseMismatch = errors.New("reply does not echo the question's letter case")
	// errSpoofSuspect: a reply with the wrong ID arrived from the server's
	// own address and port; the answer is fetched over TCP instead.
	errSpoofSuspect = errors.New("reply with wrong ID from the server's address")
)

// udpReadSize is the read buffer of an upstream UDP reply. We advertise
// EDNSBufferSize (1232); a larger datagram fills the buffer and is taken as
// truncated, so the answer is fetched over TCP. Small buffers keep pooled
// memory low when many queries are in flight.
const udpReadSize = 4096

var udpBufPool = sync.Pool{New: func() any { b := make([]byte, udpReadSize); return &b }}

// TimedTransport is what a Transport may add: the engine's per-server
// timeout as a duration, not a derived context (context.WithTimeout for
// every upstream query cost a tenth of a cold resolution's allocated
// bytes), and whether TCP carried the reply (Step.TCP). The engine calls
// every transport through exchangeVia, which uses it when present. Its
// types are the standard library's and miekg/dns's only, so wrappers in
// other packages (testnet.LoopbackOnly) implement it by forwarding.
type TimedTransport interface {
	// ExchangeTimed is Exchange, ended also timeout after it starts when
	// timeout is positive. tcp reports that the reply, or the error,
	// came from an exchange over TCP.
	ExchangeTimed(ctx context.Context, m *dns.Msg, server netip.AddrPort, timeout time.Duration) (resp *dns.Msg, rtt time.Duration, tcp bool, err error)
}

// exchangeVia sends m to server through t within timeout (when positive)
// and ctx: by ExchangeTimed when t has it, else by Exchange under a
// context with the timeout. tcp is false when t cannot tell. Every reply,
// whatever transport brought it, must pass checkReply; one that does not
// is an error wrapping errMalformed.
func exchangeVia(ctx context.Context, t Transport, m *dns.Msg, server netip.AddrPort, timeout time.Duration) (resp *dns.Msg, rtt time.Duration, tcp bool, err error) {
	if tt, ok := t.(TimedTransport); ok {
		resp, rtt, tcp, err = tt.ExchangeTimed(ctx, m, server, timeout)
	} else if timeout > 0 {
		tctx, cancel := context.WithTimeout(ctx, timeout)
		resp, rtt, err = t.Exchange(tctx, m, server)
		cancel()
	} else {
		resp, rtt, err = t.Exchange(ctx, m, server)
	}
	if err != nil {
		return nil, rtt, tcp, err
	}
	if resp == nil {
		return nil, rtt, tcp, fmt.Errorf("%w: the transport returned neither a reply nor an error", errMalformed)
	}
	if err := checkReply(m, resp); err != nil {
		return nil, rtt, tcp, err
	}
	return resp, rtt, tcp, nil
}

// Exchange sends m to server and returns the first reply that matches it.
func (t *NetTransport) Exchange(ctx context.Context, m *dns.Msg, server netip.AddrPort) (*dns.Msg, time.Duration, error) {
	resp, rtt, _, err := t.ExchangeTimed(ctx, m, server, 0)
	return resp, rtt, err
}

// ExchangeTimed implements TimedTransport: Exchange, ended also timeout
// after it starts, without deriving a context and its timer; tcp is true
// when the answer was fetched over TCP (truncated, oversized, or a
// spoofing suspect over UDP).
func (t *NetTransport) ExchangeTimed(ctx context.Context, m *dns.Msg, server netip.AddrPort, timeout time.Duration) (resp *dns.Msg, rtt time.Duration, tcp bool, err error) {
	start := time.Now()
	deadline, _ := ctx.Deadline()
	if end := start.Add(timeout); timeout > 0 && (deadline.IsZero() || end.Before(deadline)) {
		deadline = end
	}
	wire, err := m.Pack()
	if err != nil {
		return nil, 0, false, fmt.Errorf("pack query: %w", err)
	}
	resp, err = t.exchangeUDP(ctx, start, deadline, m, wire, server)
	if err == nil && resp.Truncated || errors.Is(err, errSpoofSuspect) || errors.Is(err, errOversized) {
		tcp = true
		noteTCPFallback(ctx, err)
		resp, err = t.exchangeTCP(ctx, deadline, m, wire, server)
	}
	return resp, time.Since(start), tcp, err
}

// exchangeConn is what an exchange needs of a socket: net.Conn, or
// udpSocket.
type exchangeConn interface {
	Read([]byte) (int, error)
	Write([]byte) (int, error)
	SetDeadline(time.Time) error
	Close() error
}

// writeReader is an exchangeConn that sends a query and reads the first
// datagram back in one go (udpSocket), a system call fewer, and whose
// reads end when ctx is done: it needs no context.AfterFunc to move its
// deadline on cancellation.
type writeReader interface {
	WriteRead(ctx context.Context, start time.Time, query, reply []byte) (int, error)
	ReadContext(ctx context.Context, b []byte) (int, error)
}

// dial connects to server; the connection ends at deadline (unless zero),
// or at once when ctx is cancelled. The caller closes conn, after calling
// stop when it is not nil. UDP without a Dialer takes the raw-socket path
// (udpSocket, a writeReader: it watches ctx itself, and stop is nil).
func (t *NetTransport) dial(ctx context.Context, deadline time.Time, network string, server netip.AddrPort) (conn exchangeConn, stop func() bool, err error) {
	if network == "udp" && t.Dialer == nil && rawUDP {
		if conn, err = openUDP(server); err != nil {
			return nil, nil, err
		}
		if !deadline.IsZero() {
			conn.SetDeadline(deadline)
		}
		return conn, nil, nil
	}
	var d net.Dialer // a copy: the deadline is this exchange's
	if t.Dialer != nil {
		d = *t.Dialer
	}
	if !deadline.IsZero() && (d.Deadline.IsZero() || deadline.Before(d.Deadline)) {
		d.Deadline = deadline
	}
	conn, err = d.DialContext(ctx, network, server.String())
	if err != nil {
		return nil, nil, err
	}
	if !deadline.IsZero() {
		conn.SetDeadline(deadline)
	}
	stop = context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	return conn, stop, nil
}

// exchangeUDP is the exchange over UDP of ExchangeTimed, which read the
// clock at start: the send's deadline check and the first wait use that
// reading, so the wait may end as much after deadline as the query took
// to pack and its socket to open (microseconds).
func (t *NetTransport) exchangeUDP(ctx context.Context, start, deadline time.Time, m *dns.Msg, wire []byte, server netip.AddrPort) (*dns.Msg, error) {
	conn, stop, err := t.dial(ctx, deadline, "udp", server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if stop != nil {
		defer stop()
	}
	bufp := udpBufPool.Get().(*[]byte)
	defer udpBufPool.Put(bufp)
	buf := *bufp
	var n int
	wr, raw := conn.(writeReader)
	if raw {
		n, err = wr.WriteRead(ctx, start, wire, buf)
	} else if _, err = conn.Write(wire); err == nil {
		n, err = conn.Read(buf)
	}
	// Keep reading until a reply matches or the deadline passes: a bad
	// packet must neither end the wait nor count against the server.
	for ; ; n, err = readNext(ctx, conn, wr, buf) {
		if err != nil {
			return nil, readError(ctx, err)
		}
		if n == len(buf) {
			return nil, errOversized
		}
		resp, err := parseReply(m, buf[:n])
		switch {
		case err == nil:
			return resp, nil
		case errors.Is(err, errSpoofSuspect), errors.Is(err, errCaseMismatch):
			return nil, err
		}
	}
}

// readNext reads the next datagram from conn, through wr when it is not
// nil (the same socket).
func readNext(ctx context.Context, conn exchangeConn, wr writeReader, buf []byte) (int, error) {
	if wr != nil {
		return wr.ReadContext(ctx, buf)
	}
	return conn.Read(buf)
}

func (t *NetTransport) exchangeTCP(ctx context.Context, deadline time.Time, m *dns.Msg, wire []byte, server netip.AddrPort) (*dns.Msg, error) {
	conn, stop, err := t.dial(ctx, deadline, "tcp", server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if stop != nil {
		defer stop()
	}
	framed := make([]byte, 2+len(wire))
	framed[0], framed[1] = byte(len(wire)>>8), byte(len(wire))
	copy(framed[2:], wire)
	if _, err := conn.Write(framed); err != nil {
		return nil, err
	}
	dc := &dns.Conn{Conn: conn.(net.Conn)}
	raw, err := dc.ReadMsgHeader(nil)
	if err != nil {
		return nil, readError(ctx, err)
	}
	resp, err := parseReply(m, raw)
	if errors.Is(err, errCookieMissing) {
		err = nil // over TCP a server need not send one
	}
	if errors.Is(err, errSpoofSuspect) {
		err = errMismatch // over TCP a wrong ID is just a broken server
	}
	return resp, err
}

// readError reports a read that hit the deadline as the context's error,
// so callers see a timeout as context.DeadlineExceeded.
func readError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return context.DeadlineExceeded
	}
	return err
}

// parseReply unpacks raw and checks it answers q: same ID, well formed
// (checkFraming, checkReply: QR set, q's opcode, ...), same question,
// with the letter case of q's name echoed exactly (0x20). The question's
// name is lower-cased in raw before unpacking, so names that compress
// against it (owners, and names inside RDATA) do not carry the random
// case into the cache and to clients.
func parseReply(q *dns.Msg, raw []byte) (*dns.Msg, error) {
	if len(raw) < 12 {
		return nil, errMalformed
	}
	if id := uint16(raw[0])<<8 | uint16(raw[1]); id != q.Id {
		return nil, errSpoofSuspect
	}
	caseEchoed := foldQuestion(raw, q)
	resp, err := UnpackReply(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errMalformed, err)
	}
	if err := checkReply(q, resp); err != nil {
		return nil, err
	}
	if !questionMatches(q, resp) {
		return nil, errMismatch
	}
	if err := checkCookie(q, resp); err != nil {
		return resp, err // a spoof: the UDP read goes on (cookies.go)
	}
	if !caseEchoed {
		return nil, errCaseMismatch
	}
	return resp, nil
}

// foldQuestion lower-cases the question name of the reply raw when it is
// q's name, and reports whether its case was exactly q's.
func foldQuestion(raw []byte, q *dns.Msg) bool {
	if len(q.Question) != 1 || raw[4] == 0 && raw[5] == 0 {
		return true
	}
	var buf [256]byte
	n, err := dns.PackDomainName(q.Question[0].Name, buf[:], 0, nil, false)
	if err != nil || len(raw) < 12+n {
		return true
	}
	sent, got := buf[:n], raw[12:12+n]
	if !bytes.EqualFold(sent, got) {
		return true // another name: the question check rejects it
	}
	exact := bytes.Equal(sent, got)
	for i, c := range got {
		if c >= 'A' && c <= 'Z' {
			got[i] = c | 0x20
		}
	}
	return exact
}

// questionMatches reports whether resp repeats q's question. A reply with no
// question is accepted only for errors that servers send without one.
func questionMatches(q, resp *dns.Msg) bool {
	if len(resp.Question) == 0 {
		return resp.Rcode == dns.RcodeFormatError || resp.Rcode == dns.RcodeNotImplemented ||
			resp.Rcode == dns.RcodeRefused || resp.Rcode == dns.RcodeServerFailure
	}
	if len(resp.Question) != 1 || len(q.Question) != 1 {
		return false
	}
	a, b := q.Question[0], resp.Question[0]
	return a.Qtype == b.Qtype && a.Qclass == b.Qclass && strings.EqualFold(a.Name, b.Name)
}
