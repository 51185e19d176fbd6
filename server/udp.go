package server

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/internal/stackpad"
)

// mmsgQuerySize is the receive buffer of each slot of a batched read.
// Longer datagrams arrive cut (MSG_TRUNC) and are answered FORMERR; real
// queries are a few hundred bytes.
const mmsgQuerySize = 4096

// packBuffers holds response buffers for answers written from goroutines
// other than the reader's.
var packBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, DefaultMaxUDPSize)
	return &b
}}

// readUDP reads queries from u until the server stops. Answers that need
// no engine are packed into the reader's own buffer and sent at once.
func (s *Server) readUDP(ctx context.Context, u *udpSocket) {
	if !u.wildcard && s.readUDPBatch(ctx, u) {
		return
	}
	in := make([]byte, dns.MaxMsgSize)
	out := make([]byte, 0, s.cfg.MaxUDPSize)
	for {
		var (
			n    int
			from netip.AddrPort
			sess *dns.SessionUDP // wildcard sockets: the address to answer from
			err  error
		)
		if u.wildcard {
			n, sess, err = dns.ReadFromSessionUDP(u.conn, in)
			if err == nil {
				from = sess.RemoteAddr().(*net.UDPAddr).AddrPort()
			}
		} else {
			n, from, err = u.conn.ReadFromUDPAddrPort(in)
		}
		if err != nil {
			if s.stopping.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("udp read", "addr", u.conn.LocalAddr(), "err", err)
			continue
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if fast, ok := s.answerFast(in[:n], from, TransportUDP, out); ok {
			s.writeUDP(u, fast, from, sess)
			continue
		}
		received := s.tapNow()
		resp, pending, hit := s.servePacket(in[:n], from, TransportUDP)
		if pending != nil {
			pending.wire = s.keepWire(in[:n])
			s.answerLater(ctx, u, pending, from, sess)
			continue
		}
		if resp == nil {
			s.tapClient(from, TransportUDP, in[:n], nil, received)
			continue
		}
		out = s.pack(resp, out[:0])
		if hit != nil {
			s.storeAnswer(in[:n], out, hit)
		}
		s.writeUDP(u, out, from, sess)
		s.tapClient(from, TransportUDP, in[:n], out, received)
	}
}

// answerLater resolves q on a goroutine of its own and sends the answer to
// the client at to (from the address sess names, on a wildcard socket).
func (s *Server) answerLater(ctx context.Context, u *udpSocket, q *query, to netip.AddrPort, sess *dns.SessionUDP) {
	s.work.Go(func() {
		// The engine's cache lookup of a cold name, eight frames
		// down, needs more than 4 KB; 8 KB holds the whole query.
		stackpad.Grow8K()
		resp := s.resolvePending(ctx, q)
		if resp == nil { // dropped by the response policy
			s.tapClient(to, TransportUDP, q.wire, nil, q.start)
			return
		}
		bp := packBuffers.Get().(*[]byte)
		*bp = s.pack(resp, (*bp)[:0])
		s.writeUDP(u, *bp, to, sess)
		s.tapClient(to, TransportUDP, q.wire, *bp, q.start)
		packBuffers.Put(bp)
	})
}

func (s *Server) writeUDP(u *udpSocket, b []byte, to netip.AddrPort, sess *dns.SessionUDP) {
	if b == nil {
		return
	}
	var err error
	switch {
	case sess != nil:
		_, err = dns.WriteToSessionUDP(u.conn, b, sess)
	case writeRaw(u, b, to, &err):
	default:
		_, err = u.conn.WriteToUDPAddrPort(b, to)
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		s.log.Debug("udp write", "client", to, "err", err)
	}
}
