package server

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
)

// DoQALPN is the application protocol of DNS over QUIC (RFC 9250 4.1.1).
const DoQALPN = "doq"

// The DoQ error codes (RFC 9250 4.3), for streams and connections.
const (
	DoQNoError          = 0x0
	DoQInternalError    = 0x1
	DoQProtocolError    = 0x2
	DoQRequestCancelled = 0x3
	DoQExcessiveLoad    = 0x4
)

// doqLinger is how long a connection the server closes (on shutdown) is
// kept after its last answer, for that answer to reach the client.
const doqLinger = 500 * time.Millisecond

// quicConns counts the open DoQ connections.
type quicConns struct{ open atomic.Int64 }

// listenQUIC binds one DoQ listener.
func (s *Server) listenQUIC(a string) (*quicListener, netip.AddrPort, error) {
	ap, _ := ParseListen(a) // checked by New
	e := &s.cfg.Encrypted
	conf := &quic.Config{
		HandshakeIdleTimeout:  e.HandshakeTimeout,
		MaxIdleTimeout:        s.cfg.TCPIdleTimeout,
		MaxIncomingStreams:    int64(e.MaxStreamsPerConn),
		MaxIncomingUniStreams: -1, // DoQ uses bidirectional streams only
		Allow0RTT:             false,
	}
	udp, err := net.ListenUDP("udp"+family(ap), net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return nil, netip.AddrPort{}, bindError("udp", ap, err)
	}
	tr := &quic.Transport{Conn: udp}
	l, err := tr.Listen(s.tlsConfig(DoQALPN), conf)
	if err != nil {
		udp.Close()
		return nil, netip.AddrPort{}, bindError("udp", ap, err)
	}
	bound := netip.AddrPortFrom(ap.Addr(), uint16(udp.LocalAddr().(*net.UDPAddr).Port))
	return &quicListener{Listener: l, tr: tr, udp: udp}, bound, nil
}

// acceptQUIC accepts DoQ connections on l until it is closed or life
// ends; their queries run on queryCtx.
func (s *Server) acceptQUIC(life, queryCtx context.Context, l *quicListener) {
	for {
		conn, err := l.Accept(life)
		if err != nil {
			return
		}
		if int(s.enc.quic.open.Add(1)) > s.cfg.Encrypted.MaxQUICConns {
			s.enc.quic.open.Add(-1)
			s.stats.dropped.Add(1)
			_ = conn.CloseWithError(DoQExcessiveLoad, "too many connections")
			continue
		}
		s.work.Go(func() {
			defer s.enc.quic.open.Add(-1)
			s.serveQUICConn(life, queryCtx, conn)
		})
	}
}

// serveQUICConn answers the streams of conn, one query each, until the
// client closes it, it idles out or the server stops; then it lets the
// open streams finish and closes conn with DOQ_NO_ERROR.
func (s *Server) serveQUICConn(life, queryCtx context.Context, conn *quic.Conn) {
	ua, _ := conn.RemoteAddr().(*net.UDPAddr)
	ap := ua.AddrPort()
	client := netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	var streams sync.WaitGroup
	defer func() {
		streams.Wait()
		// Closing at once could drop answers still queued on their
		// streams; give the client a moment to read them and close.
		t := time.NewTimer(doqLinger)
		defer t.Stop()
		select {
		case <-conn.Context().Done():
		case <-t.C:
		}
		_ = conn.CloseWithError(DoQNoError, "")
	}()
	for {
		st, err := conn.AcceptStream(life)
		if err != nil {
			return
		}
		streams.Go(func() { s.serveQUICStream(queryCtx, conn, st, client) })
	}
}

// serveQUICStream answers the one query of st (RFC 9250 4.2). A query
// that breaks the protocol closes the whole connection with
// DOQ_PROTOCOL_ERROR, as the RFC requires.
func (s *Server) serveQUICStream(ctx context.Context, conn *quic.Conn, st *quic.Stream, client netip.AddrPort) {
	st.SetReadDeadline(time.Now().Add(s.cfg.TCPIdleTimeout))
	query, err := readDoQQuery(st)
	if err != nil {
		var se *quic.StreamError
		if errors.As(err, &se) || isTimeout(err) {
			// The client gave up on the query (or never finished it).
			st.CancelWrite(DoQRequestCancelled)
			return
		}
		s.log.Debug("doq: bad query", "client", client, "err", err)
		_ = conn.CloseWithError(DoQProtocolError, err.Error())
		return
	}
	if _, keepalive := queryOptions(query); keepalive {
		// RFC 9250 5.5.2: QUIC has its own idle timeout.
		_ = conn.CloseWithError(DoQProtocolError, "edns-tcp-keepalive over QUIC")
		return
	}
	answer := s.handlePacket(ctx, query, client, TransportDoQ, nil)
	if answer == nil && !queryShaped(query) {
		_ = conn.CloseWithError(DoQProtocolError, "not a DNS query")
		return
	}
	if answer == nil {
		// Dropped (a denied client, a deny local zone, the policy's
		// DROP): the stream ends unanswered, the connection lives on.
		st.CancelRead(DoQRequestCancelled)
		st.CancelWrite(DoQRequestCancelled)
		return
	}
	if padded, _ := queryOptions(query); padded {
		answer = padAnswer(answer)
	}
	frame := make([]byte, 2, 2+len(answer))
	binary.BigEndian.PutUint16(frame, uint16(len(answer)))
	frame = append(frame, answer...)
	st.SetWriteDeadline(time.Now().Add(s.cfg.TCPIdleTimeout))
	if _, err := st.Write(frame); err != nil {
		s.log.Debug("doq write", "client", client, "err", err)
		st.CancelWrite(DoQInternalError)
		return
	}
	_ = st.Close() // FIN: the stream carries one answer
}

// errDoQFraming is what readDoQQuery returns for a stream that is not one
// query framed as RFC 9250 4.2 says.
var errDoQFraming = errors.New("doq: stream is not one length-prefixed message")

// readDoQQuery reads a DoQ stream to its end: a 2-byte length, that many
// bytes of message, nothing more. The message ID must be 0 (RFC 9250
// 4.2.1).
func readDoQQuery(r io.Reader) ([]byte, error) {
	var prefix [2]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errDoQFraming
		}
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(prefix[:]))
	// One byte more than promised tells a stream that goes on.
	msg, err := io.ReadAll(io.LimitReader(r, int64(n)+1))
	if err != nil {
		return nil, err
	}
	if len(msg) != n || n < headerLen {
		return nil, errDoQFraming
	}
	if binary.BigEndian.Uint16(msg) != 0 {
		return nil, errors.New("doq: message ID is not 0")
	}
	return msg, nil
}

// quicListener is a DoQ listener and the transport and socket it owns.
type quicListener struct {
	*quic.Listener
	tr  *quic.Transport
	udp *net.UDPConn
}

// Close closes the listener; open connections keep the transport until
// the server closes them (closeQUIC).
func (l *quicListener) Close() error {
	return l.Listener.Close()
}

// closeTransport closes the socket and every connection still on it.
func (l *quicListener) closeTransport() {
	l.tr.Close()
	l.udp.Close()
}
