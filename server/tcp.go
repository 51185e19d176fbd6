package server

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// tcpConns are the open client connections.
type tcpConns struct {
	mu      sync.Mutex
	conns   map[*tcpConn]struct{}
	stopped bool
}

// tcpConn is one client connection. Queries on it are read in order,
// answered as they complete (RFC 7766 6.2.1.1), and written whole under wmu.
type tcpConn struct {
	conn    net.Conn // a *tls.Conn for DNS over TLS (tls.go)
	client  netip.AddrPort
	closing atomic.Bool // evicted or shutting down: read no more queries
	tls     bool        // answers are padded when the query was (RFC 8467)

	pending     sync.WaitGroup
	outstanding atomic.Int32 // queries waiting for the engine
	lastQuery   atomic.Int64 // unix nanoseconds of the last complete query

	wmu  sync.Mutex // guards wbuf and writes to conn
	wbuf []byte
}

func (t *tcpConns) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

// add registers c. At the cap it evicts the connection idle longest with
// nothing outstanding; when there is none, c is refused.
func (t *tcpConns) add(c *tcpConn, limit int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	if len(t.conns) >= limit {
		var victim *tcpConn
		for o := range t.conns {
			if o.outstanding.Load() == 0 && (victim == nil || o.lastQuery.Load() < victim.lastQuery.Load()) {
				victim = o
			}
		}
		if victim == nil {
			return false
		}
		delete(t.conns, victim)
		victim.stopReading()
	}
	t.conns[c] = struct{}{}
	return true
}

func (t *tcpConns) remove(c *tcpConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.conns, c)
}

// stopReading makes every connection finish what it has and close.
func (t *tcpConns) stopReading() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	for c := range t.conns {
		c.stopReading()
	}
}

// closeAll closes every connection still open.
func (t *tcpConns) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c := range t.conns {
		c.conn.Close()
	}
}

func (c *tcpConn) stopReading() {
	c.closing.Store(true)
	c.conn.SetReadDeadline(time.Now())
}

// acceptTCP accepts connections on l until the server stops. With
// tlsConf, each connection is DNS over TLS (RFC 7858): the same framing
// and rules inside a TLS session.
func (s *Server) acceptTCP(ctx context.Context, l net.Listener, tlsConf *tls.Config) {
	var backoff time.Duration
	for {
		conn, err := l.Accept()
		if err != nil {
			if s.stopping.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait a little, as
			// net/http does, rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("tcp accept", "addr", l.Addr(), "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		ap := conn.RemoteAddr().(*net.TCPAddr).AddrPort()
		c := &tcpConn{conn: conn, client: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), tls: tlsConf != nil}
		if s.access.action(c.client.Addr()) == ActionDeny {
			s.stats.dropped.Add(1)
			conn.Close() // a denied client is not read at all (no TLS handshake either)
			continue
		}
		if tlsConf != nil {
			c.conn = tls.Server(conn, tlsConf)
		}
		c.lastQuery.Store(time.Now().UnixNano())
		if !s.tcp.add(c, s.cfg.MaxTCPConns) {
			s.stats.dropped.Add(1)
			conn.Close()
			continue
		}
		s.work.Go(func() { s.serveTCP(ctx, c) })
	}
}

// serveTCP reads length-prefixed queries from c until the client closes,
// idles out or sends something unframeable, or the server stops; then it
// waits for c's outstanding queries and closes.
func (s *Server) serveTCP(ctx context.Context, c *tcpConn) {
	defer func() {
		c.pending.Wait()
		c.conn.Close()
		s.tcp.remove(c)
	}()
	if c.tls && !s.handshakeTLS(c) {
		return
	}
	var (
		prefix [2]byte
		buf    []byte
	)
	for {
		// The deadline covers a whole query, so a client that trickles
		// bytes (slowloris) is closed after TCPIdleTimeout.
		c.conn.SetReadDeadline(time.Now().Add(s.cfg.TCPIdleTimeout))
		if c.closing.Load() || s.stopping.Load() {
			return
		}
		n, err := io.ReadFull(c.conn, prefix[:])
		if err != nil {
			if n == 0 && isTimeout(err) && c.outstanding.Load() > 0 && !c.closing.Load() {
				continue // not idle: answers are still due
			}
			return
		}
		size := int(binary.BigEndian.Uint16(prefix[:]))
		if size < headerLen {
			return // no query fits: the stream cannot be trusted further
		}
		if cap(buf) < size {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if _, err := io.ReadFull(c.conn, buf); err != nil {
			return
		}
		c.lastQuery.Store(time.Now().UnixNano())
		received := s.tapNow()
		opts := streamOptsOf(buf)
		resp, pending, _ := s.servePacket(buf, c.client, c.via())
		if pending == nil {
			if resp == nil {
				s.tapClient(c.client, c.via(), buf, nil, received)
				if s.access.action(c.client.Addr()) == ActionDenyNonLocal {
					return // denied: close, as Unbound does
				}
			} else if !s.writeTCP(c, resp, buf, received, opts) {
				return
			}
			continue
		}
		pending.wire = s.keepWire(buf)
		c.pending.Add(1)
		c.outstanding.Add(1)
		s.work.Go(func() {
			defer c.pending.Done()
			resp := s.resolvePending(ctx, pending)
			c.outstanding.Add(-1)
			if resp != nil && !s.writeTCP(c, resp, pending.wire, pending.start, opts) {
				c.stopReading()
			}
		})
	}
}

// writeTCP sends resp on c with its length prefix, in one write so that
// concurrent answers never interleave, and logs it to the tap with query
// (received then). opts are the query's options that the stream
// transports answer. It reports false when c is broken.
func (s *Server) writeTCP(c *tcpConn, resp *dns.Msg, query []byte, received time.Time, opts streamOpts) bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(c.wbuf) < 2 {
		c.wbuf = make([]byte, 2, 512)
	}
	packed := s.pack(resp, c.wbuf[2:2])
	if packed == nil {
		return true
	}
	packed = s.streamOptions(opts, packed, c.tls)
	if &packed[:1][0] != &c.wbuf[2:3][0] {
		// PackBuffer outgrew wbuf: keep the bigger buffer for next time.
		grown := make([]byte, 2+len(packed), 2+cap(packed))
		copy(grown[2:], packed)
		c.wbuf = grown
		packed = grown[2:]
	}
	frame := c.wbuf[:2+len(packed)]
	binary.BigEndian.PutUint16(frame, uint16(len(packed)))
	c.conn.SetWriteDeadline(time.Now().Add(s.cfg.TCPIdleTimeout))
	if _, err := c.conn.Write(frame); err != nil {
		s.log.Debug("tcp write", "client", c.client, "err", err)
		return false
	}
	s.tapClient(c.client, c.via(), query, packed, received)
	return true
}

// via is the transport of c's queries: DNS over TLS or plain TCP.
func (c *tcpConn) via() Transport {
	if c.tls {
		return TransportDoT
	}
	return TransportTCP
}
