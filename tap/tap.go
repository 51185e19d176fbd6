// Package tap owns the dnstap output of a recursor (dnstap.info): client
// queries and answers (CLIENT_QUERY, CLIENT_RESPONSE) and the engine's
// upstream queries and replies (RESOLVER_QUERY, RESOLVER_RESPONSE),
// written as Frame Streams to a Unix socket or a file with
// github.com/dnstap/golang-dnstap. A Tap implements server.Tap and
// resolver.Tap. The query path only copies bytes into a bounded queue and
// never waits: when the queue is full, or the socket is gone, messages are
// dropped and counted.
package tap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	dnstap "github.com/dnstap/golang-dnstap"
	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"

	"github.com/recursor-dns/recursor/resolver"
	"github.com/recursor-dns/recursor/server"
)

// DefaultQueueSize is the default of Config.QueueSize.
const DefaultQueueSize = 10_000

// Timeouts of the socket output: each write, and the wait before dialling
// a socket that failed again.
const (
	writeTimeout = 5 * time.Second
	redialAfter  = time.Second
)

// Config configures a Tap: exactly one of Socket and File.
type Config struct {
	// Socket is the path of a Unix socket where a dnstap collector
	// (fstrm_capture, dnstap -u, Vector, ...) listens; the bidirectional
	// Frame Streams handshake is used, and the socket is dialled again
	// when it breaks.
	Socket string
	// File is written (created or truncated) as one Frame Streams file,
	// as dnstap-read and `dnstap -r` read.
	File string
	// QueueSize caps the messages waiting to be written; default
	// DefaultQueueSize. Past it messages are dropped.
	QueueSize int
	// Identity and Version fill the dnstap fields of the same names.
	Identity, Version string
	// Logger receives the output's failures; nil discards.
	Logger *slog.Logger
}

// Tap logs DNS messages in dnstap format. Its methods are safe for
// concurrent use; Run writes them out.
type Tap struct {
	cfg     Config
	log     *slog.Logger
	queue   chan event
	sent    atomic.Uint64
	dropped atomic.Uint64
}

var (
	_ server.Tap   = (*Tap)(nil)
	_ resolver.Tap = (*Tap)(nil)
)

// event is one message to write.
type event struct {
	kind    dnstap.Message_Type
	proto   dnstap.SocketProtocol
	peer    netip.AddrPort // the client, or the upstream server
	query   []byte
	resp    []byte // nil for a query
	qtime   time.Time
	rtime   time.Time
	isReply bool
}

// New checks cfg and returns a Tap. It opens nothing: Run does.
func New(cfg Config) (*Tap, error) {
	if (cfg.Socket == "") == (cfg.File == "") {
		return nil, errors.New("tap: want a socket path or a file, one of them")
	}
	if cfg.QueueSize < 0 {
		return nil, fmt.Errorf("tap: QueueSize %d: want 0 (default) or more", cfg.QueueSize)
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	t := &Tap{cfg: cfg, log: cfg.Logger, queue: make(chan event, cfg.QueueSize)}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	return t, nil
}

// Sent reports the messages written.
func (t *Tap) Sent() uint64 { return t.sent.Load() }

// Dropped reports the messages dropped: the queue was full, or the output
// could not take them.
func (t *Tap) Dropped() uint64 { return t.dropped.Load() }

// Client implements server.Tap: a CLIENT_QUERY and, when resp is not nil,
// a CLIENT_RESPONSE.
func (t *Tap) Client(client netip.AddrPort, via server.Transport, query, resp []byte, received time.Time) {
	now := time.Now()
	proto := clientProtocol(via)
	t.enqueue(event{kind: dnstap.Message_CLIENT_QUERY, proto: proto, peer: client, query: query, qtime: received})
	if resp != nil {
		t.enqueue(event{kind: dnstap.Message_CLIENT_RESPONSE, proto: proto, peer: client, query: query, resp: resp, qtime: received, rtime: now, isReply: true})
	}
}

// Upstream implements resolver.Tap: a RESOLVER_QUERY and, when a reply
// came, a RESOLVER_RESPONSE.
func (t *Tap) Upstream(srv netip.AddrPort, tcp bool, query, reply *dns.Msg, sent time.Time, rtt time.Duration) {
	if t.full() {
		t.dropped.Add(1)
		if reply != nil {
			t.dropped.Add(1)
		}
		return
	}
	q, err := query.Pack()
	if err != nil {
		t.dropped.Add(1)
		return
	}
	proto := upstreamProtocol(tcp)
	t.enqueue(event{kind: dnstap.Message_RESOLVER_QUERY, proto: proto, peer: srv, query: q, qtime: sent})
	if reply == nil {
		return
	}
	r, err := reply.Pack()
	if err != nil {
		t.dropped.Add(1)
		return
	}
	t.enqueue(event{kind: dnstap.Message_RESOLVER_RESPONSE, proto: proto, peer: srv, query: q, resp: r, qtime: sent, rtime: sent.Add(rtt), isReply: true})
}

func (t *Tap) full() bool { return len(t.queue) == cap(t.queue) }

// enqueue copies e's bytes (the caller's buffers) and queues it, or drops
// it when the queue is full.
func (t *Tap) enqueue(e event) {
	if t.full() {
		t.dropped.Add(1)
		return
	}
	if e.isReply {
		e.resp, e.query = append([]byte(nil), e.resp...), nil
	} else {
		e.query = append([]byte(nil), e.query...)
	}
	select {
	case t.queue <- e:
	default:
		t.dropped.Add(1)
	}
}

// message is the dnstap form of e.
func (t *Tap) message(e event) *dnstap.Dnstap {
	family := dnstap.SocketFamily_INET
	if e.peer.Addr().Is6() && !e.peer.Addr().Is4In6() {
		family = dnstap.SocketFamily_INET6
	}
	m := &dnstap.Message{Type: e.kind.Enum(), SocketFamily: family.Enum(), SocketProtocol: e.proto.Enum()}
	addr, port := e.peer.Addr().Unmap().AsSlice(), uint32(e.peer.Port())
	switch e.kind {
	case dnstap.Message_CLIENT_QUERY, dnstap.Message_CLIENT_RESPONSE:
		m.QueryAddress, m.QueryPort = addr, &port
	default:
		m.ResponseAddress, m.ResponsePort = addr, &port
	}
	if !e.qtime.IsZero() {
		m.QueryTimeSec, m.QueryTimeNsec = proto64(e.qtime)
	}
	if e.isReply {
		m.ResponseMessage = e.resp
		m.ResponseTimeSec, m.ResponseTimeNsec = proto64(e.rtime)
	} else {
		m.QueryMessage = e.query
	}
	d := &dnstap.Dnstap{Type: dnstap.Dnstap_MESSAGE.Enum(), Message: m}
	if t.cfg.Identity != "" {
		d.Identity = []byte(t.cfg.Identity)
	}
	if t.cfg.Version != "" {
		d.Version = []byte(t.cfg.Version)
	}
	return d
}

func proto64(at time.Time) (*uint64, *uint32) {
	sec, nsec := uint64(at.Unix()), uint32(at.Nanosecond())
	return &sec, &nsec
}

// Run writes queued messages to the output until ctx ends, then writes
// what is still queued and closes the output. A file that cannot be
// created is an error; a socket that cannot be reached is logged and
// dialled again, its messages dropped meanwhile.
func (t *Tap) Run(ctx context.Context) error {
	if t.cfg.File != "" {
		f, err := os.Create(t.cfg.File)
		if err != nil {
			return fmt.Errorf("dnstap file: %w", err)
		}
		w, err := dnstap.NewWriter(f, nil)
		if err != nil {
			f.Close()
			return fmt.Errorf("dnstap file %s: %w", t.cfg.File, err)
		}
		err = t.drain(ctx, w)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	return t.runSocket(ctx)
}

// runSocket keeps a connection to the socket and drains into it.
func (t *Tap) runSocket(ctx context.Context) error {
	warned := false // once per outage, not once per redial
	for ctx.Err() == nil {
		conn, err := net.DialTimeout("unix", t.cfg.Socket, writeTimeout)
		var w dnstap.Writer
		if err == nil {
			w, err = dnstap.NewWriter(conn, &dnstap.WriterOptions{Bidirectional: true, Timeout: writeTimeout})
			if err != nil {
				conn.Close()
			}
		}
		if err != nil {
			if !warned {
				t.log.Warn("dnstap socket unavailable: dropping messages until it is back", "socket", t.cfg.Socket, "err", err)
				warned = true
			}
			t.discardFor(ctx, redialAfter)
			continue
		}
		if warned {
			t.log.Info("dnstap socket connected", "socket", t.cfg.Socket)
			warned = false
		}
		err = t.drain(ctx, w)
		w.Close()
		conn.Close()
		if err != nil {
			t.log.Warn("dnstap socket write failed", "socket", t.cfg.Socket, "err", err)
		}
	}
	for { // what is left has nowhere to go
		select {
		case <-t.queue:
			t.dropped.Add(1)
		default:
			return nil
		}
	}
}

// discardFor drops queued messages for d, or until ctx ends.
func (t *Tap) discardFor(ctx context.Context, d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			return
		case <-t.queue:
			t.dropped.Add(1)
		}
	}
}

// flusher is the Frame Streams writer's buffer flush.
type flusher interface{ Flush() error }

// drain writes queued messages to w, flushing whenever the queue is
// empty, until ctx ends (then it writes what is queued) or w fails.
func (t *Tap) drain(ctx context.Context, w dnstap.Writer) error {
	f, _ := w.(flusher)
	write := func(e event) error {
		frame, err := proto.Marshal(t.message(e))
		if err != nil {
			t.dropped.Add(1)
			return nil
		}
		if _, err := w.WriteFrame(frame); err != nil {
			t.dropped.Add(1)
			return err
		}
		t.sent.Add(1)
		return nil
	}
	for {
		select {
		case e := <-t.queue:
			if err := write(e); err != nil {
				return err
			}
			continue
		default:
		}
		if f != nil {
			if err := f.Flush(); err != nil {
				return err
			}
		}
		select {
		case e := <-t.queue:
			if err := write(e); err != nil {
				return err
			}
		case <-ctx.Done():
			for {
				select {
				case e := <-t.queue:
					if err := write(e); err != nil {
						return err
					}
				default:
					return nil
				}
			}
		}
	}
}

// clientProtocol is dnstap's name for how a client query came. Newer
// dnstap.proto files name DoQ as well, but golang-dnstap v0.4.0 has no
// value for it, so DoQ queries are logged as TCP (a stream, as QUIC's
// are) until it does.
func clientProtocol(via server.Transport) dnstap.SocketProtocol {
	switch via {
	case server.TransportUDP:
		return dnstap.SocketProtocol_UDP
	case server.TransportDoT:
		return dnstap.SocketProtocol_DOT
	case server.TransportDoH:
		return dnstap.SocketProtocol_DOH
	}
	return dnstap.SocketProtocol_TCP
}

// upstreamProtocol is dnstap's name for an upstream exchange.
func upstreamProtocol(tcp bool) dnstap.SocketProtocol {
	if tcp {
		return dnstap.SocketProtocol_TCP
	}
	return dnstap.SocketProtocol_UDP
}
