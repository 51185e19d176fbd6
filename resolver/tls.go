package resolver

// DNS over TLS to forwarders (RFC 7858): one connection per server, kept
// open and shared, queries pipelined over it and matched to replies by
// ID (RFC 7766 section 6.2.1.1), closed after an idle time. A reader
// goroutine per open connection hands out the replies; it ends when the
// connection closes, at the latest DoTIdleTimeout after the last reply.

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"
)

const (
	// DoTHandshakeTimeout bounds connecting to a DoT server and the TLS
	// handshake. They take two or three round trips, so they get three
	// times the query's own timeout (the engine's, from the server's
	// SRTT), up to this; the query's timeout counts from when it is
	// sent, and a handshake is not counted in the server's RTT.
	DoTHandshakeTimeout = 5 * time.Second
	// handshakeRTTs: the query timeouts a handshake may take.
	handshakeRTTs = 3
	// DoTIdleTimeout: a connection that has had no query nor reply for
	// this long is closed (RFC 7766 section 6.2.3: clients close idle
	// connections; Unbound's tcp-idle-timeout is 30 s).
	DoTIdleTimeout = 20 * time.Second
	// MaxDoTPending bounds the queries in flight on one connection.
	MaxDoTPending = 100
	// DoTPaddingBlock: queries over TLS are padded to a multiple of this
	// many octets (RFC 8467 section 4.1, the recommended block length;
	// Unbound's pad-queries-block-size), so that their size does not
	// tell the name asked.
	DoTPaddingBlock = 128
)

var (
	errDoTClosed = errors.New("DoT connection closed")
	errDoTBusy   = fmt.Errorf("more than %d queries in flight on the DoT connection", MaxDoTPending)
)

// dotTransport is a TimedTransport over DNS over TLS to the servers of
// one forward zone.
type dotTransport struct {
	base  *tls.Config
	names map[netip.AddrPort]string // the certificate names, "" for the address
	idle  time.Duration

	mu      sync.Mutex
	conns   map[netip.AddrPort]*dotConn
	dialing map[netip.AddrPort]chan struct{} // closed when the dial ends
}

func newDoTTransport(base *tls.Config, names map[netip.AddrPort]string) *dotTransport {
	return &dotTransport{base: forwardTLS(base), names: names, idle: DoTIdleTimeout,
		conns: map[netip.AddrPort]*dotConn{}, dialing: map[netip.AddrPort]chan struct{}{}}
}

// Exchange implements Transport.
func (t *dotTransport) Exchange(ctx context.Context, m *dns.Msg, server netip.AddrPort) (*dns.Msg, time.Duration, error) {
	resp, rtt, _, err := t.ExchangeTimed(ctx, m, server, 0)
	return resp, rtt, err
}

// ExchangeTimed implements TimedTransport; tcp is always true. The
// handshake of a new connection has a deadline of its own (dial), and
// the timeout counts from when the query is sent. A query on a reused connection
// that the server closed meanwhile is sent once more on a new one (RFC
// 7766 section 6.2.1.1).
func (t *dotTransport) ExchangeTimed(ctx context.Context, m *dns.Msg, server netip.AddrPort, timeout time.Duration) (*dns.Msg, time.Duration, bool, error) {
	for try := 0; ; try++ {
		c, fresh, err := t.conn(ctx, server, timeout)
		if err != nil {
			return nil, 0, true, err
		}
		start := time.Now()
		resp, err := c.exchange(ctx, m, timeout, t.idle)
		if err != nil && !fresh && try == 0 && errors.Is(err, errDoTClosed) && ctx.Err() == nil {
			continue
		}
		return resp, time.Since(start), true, err
	}
}

// conn returns the open connection to server, or a new one; fresh says
// it is new. Exchanges that find none at once wait for one dial, not a
// handshake each.
func (t *dotTransport) conn(ctx context.Context, server netip.AddrPort, timeout time.Duration) (*dotConn, bool, error) {
	for {
		t.mu.Lock()
		c := t.conns[server]
		if c != nil && c.alive() {
			t.mu.Unlock()
			return c, false, nil
		}
		wait, dialing := t.dialing[server]
		if !dialing {
			done := make(chan struct{})
			t.dialing[server] = done
			t.mu.Unlock()
			c, err := t.connect(ctx, server, timeout)
			t.mu.Lock()
			delete(t.dialing, server)
			close(done)
			t.mu.Unlock()
			return c, true, err
		}
		t.mu.Unlock()
		select {
		case <-wait: // connected, or failed: look again (and dial, if failed)
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

// connect dials server and starts reading replies on the new connection.
func (t *dotTransport) connect(ctx context.Context, server netip.AddrPort, timeout time.Duration) (*dotConn, error) {
	tc, err := t.dial(ctx, server, timeout)
	if err != nil {
		return nil, err
	}
	c := &dotConn{conn: tc, waiting: map[uint16]chan []byte{}}
	t.mu.Lock()
	t.conns[server] = c
	t.mu.Unlock()
	go c.read(t.idle, func() {
		t.mu.Lock()
		if t.conns[server] == c {
			delete(t.conns, server)
		}
		t.mu.Unlock()
	})
	return c, nil
}

// dial connects to server and completes the TLS handshake, checking the
// certificate against the server's name, within handshakeRTTs times
// timeout (when positive) and DoTHandshakeTimeout.
func (t *dotTransport) dial(ctx context.Context, server netip.AddrPort, timeout time.Duration) (*tls.Conn, error) {
	cfg := t.base.Clone()
	cfg.ServerName = t.names[server]
	if cfg.ServerName == "" {
		cfg.ServerName = server.Addr().String()
	}
	limit := DoTHandshakeTimeout
	if timeout > 0 {
		limit = min(limit, handshakeRTTs*timeout)
	}
	hctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	d := tls.Dialer{Config: cfg}
	conn, err := d.DialContext(hctx, "tcp", server.String())
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("DoT to %s: %w", server, err)
		}
		return nil, fmt.Errorf("DoT to %s (%s): %w", server, cfg.ServerName, err)
	}
	return conn.(*tls.Conn), nil
}

// dotConn is one open DoT connection and the queries waiting on it.
type dotConn struct {
	conn *tls.Conn
	wmu  sync.Mutex // one writer at a time

	mu      sync.Mutex
	waiting map[uint16]chan []byte // by the ID sent
	err     error                  // why it closed; nil while open
}

func (c *dotConn) alive() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err == nil
}

// exchange sends m under an ID unused on the connection and waits for
// the reply, within timeout (when positive) and ctx.
func (c *dotConn) exchange(ctx context.Context, m *dns.Msg, timeout, idle time.Duration) (*dns.Msg, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	q := *m // shallow: only the ID differs
	ch := make(chan []byte, 1)
	c.mu.Lock()
	switch {
	case c.err != nil:
		c.mu.Unlock()
		return nil, c.err
	case len(c.waiting) >= MaxDoTPending:
		c.mu.Unlock()
		return nil, errDoTBusy
	}
	for q.Id = dns.Id(); c.waiting[q.Id] != nil; q.Id = dns.Id() {
	}
	c.waiting[q.Id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiting, q.Id)
		c.mu.Unlock()
	}()
	wire, err := padQuery(&q)
	if err != nil {
		return nil, fmt.Errorf("pack query: %w", err)
	}
	if err := c.write(ctx, wire, idle); err != nil {
		return nil, err
	}
	select {
	case raw, ok := <-ch:
		if !ok {
			c.mu.Lock()
			defer c.mu.Unlock()
			return nil, c.err
		}
		resp, err := parseReply(&q, raw)
		if err != nil {
			return nil, err
		}
		resp.Id = m.Id
		return resp, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// write sends one framed message; a failed write closes the connection.
func (c *dotConn) write(ctx context.Context, wire []byte, idle time.Duration) error {
	framed := make([]byte, 2+len(wire))
	binary.BigEndian.PutUint16(framed, uint16(len(wire)))
	copy(framed[2:], wire)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	deadline := time.Now().Add(idle)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.conn.SetWriteDeadline(deadline)
	if _, err := c.conn.Write(framed); err != nil {
		c.fail(fmt.Errorf("%w: write: %w", errDoTClosed, err))
		return c.errOr(err)
	}
	// A query sent extends the connection's life: its reply is due.
	c.conn.SetReadDeadline(time.Now().Add(idle))
	return nil
}

func (c *dotConn) errOr(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	return err
}

// read hands each reply to the query waiting for its ID, until the
// connection fails or stays idle for idle; then it closes it, fails the
// queries still waiting and calls closed.
func (c *dotConn) read(idle time.Duration, closed func()) {
	defer closed()
	var size [2]byte
	for {
		c.conn.SetReadDeadline(time.Now().Add(idle))
		if _, err := io.ReadFull(c.conn, size[:]); err != nil {
			c.fail(fmt.Errorf("%w: %w", errDoTClosed, err))
			return
		}
		raw := make([]byte, binary.BigEndian.Uint16(size[:]))
		if _, err := io.ReadFull(c.conn, raw); err != nil {
			c.fail(fmt.Errorf("%w: %w", errDoTClosed, err))
			return
		}
		if len(raw) < 12 {
			continue // no ID to match: a broken message, dropped
		}
		id := binary.BigEndian.Uint16(raw)
		c.mu.Lock()
		ch := c.waiting[id]
		delete(c.waiting, id)
		c.mu.Unlock()
		if ch != nil {
			ch <- raw // buffered, and sent to once
		}
	}
}

// fail closes the connection for err, once, and wakes every waiting
// query.
func (c *dotConn) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	if errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) {
		err = fmt.Errorf("%w by the server", errDoTClosed)
	}
	c.err = err
	c.conn.Close()
	for id, ch := range c.waiting {
		close(ch)
		delete(c.waiting, id)
	}
}

// padQuery packs q, a shallow copy the caller owns, with an EDNS(0)
// Padding option (RFC 7830) that makes it a multiple of DoTPaddingBlock
// octets long. A query without an OPT record goes unpadded.
func padQuery(q *dns.Msg) ([]byte, error) {
	wire, err := q.Pack()
	opt := q.IsEdns0()
	if err != nil || opt == nil {
		return wire, err
	}
	const optionHeader = 4 // code and length
	padded := *opt         // a copy: the OPT record is the engine's
	padded.Option = append(slices.Clone(opt.Option), &dns.EDNS0_PADDING{
		Padding: make([]byte, (DoTPaddingBlock-(len(wire)+optionHeader)%DoTPaddingBlock)%DoTPaddingBlock),
	})
	q.Extra = slices.Clone(q.Extra)
	for i, rr := range q.Extra {
		if rr == opt {
			q.Extra[i] = &padded
		}
	}
	return q.Pack()
}
