package resolver

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// NetResolver returns a *net.Resolver whose lookups are answered by r in
// process: the standard library's DNS client talks to r through an
// in-memory connection, so no socket is opened for the client side and
// programs using net.Resolver get full recursion.
func (r *Resolver) NetResolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return &memConn{r: r, ctx: context.WithoutCancel(ctx)}, nil
		},
	}
}

// memConn carries DNS messages framed as over TCP (two-byte length
// prefix): the Go resolver uses that framing for any net.Conn that is not
// a net.PacketConn. Each complete query written is answered before Write
// returns, and its reply waits for Read.
type memConn struct {
	r   *Resolver
	ctx context.Context

	mu       sync.Mutex
	in, out  []byte
	deadline time.Time
	closed   bool
}

var errConnClosed = errors.New("in-process DNS connection closed")

func (c *memConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, errConnClosed
	}
	c.in = append(c.in, p...)
	var queries [][]byte
	for len(c.in) >= 2 {
		n := int(c.in[0])<<8 | int(c.in[1])
		if len(c.in) < 2+n {
			break
		}
		queries = append(queries, c.in[2:2+n])
		c.in = c.in[2+n:]
	}
	deadline := c.deadline
	c.mu.Unlock()

	for _, q := range queries {
		ctx, cancel := c.ctx, context.CancelFunc(func() {})
		if !deadline.IsZero() {
			ctx, cancel = context.WithDeadline(ctx, deadline)
		}
		reply := c.r.answerWire(ctx, q)
		cancel()
		if reply == nil {
			continue // unparsable: the client times out, as with a real server
		}
		c.mu.Lock()
		c.out = append(c.out, byte(len(reply)>>8), byte(len(reply)))
		c.out = append(c.out, reply...)
		c.mu.Unlock()
	}
	return len(p), nil
}

func (c *memConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.out) == 0 {
		if c.closed {
			return 0, errConnClosed
		}
		if !c.deadline.IsZero() && time.Now().After(c.deadline) {
			return 0, os.ErrDeadlineExceeded
		}
		return 0, io.EOF
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

func (c *memConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *memConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return nil
}

func (c *memConn) SetReadDeadline(t time.Time) error  { return c.SetDeadline(t) }
func (c *memConn) SetWriteDeadline(t time.Time) error { return c.SetDeadline(t) }
func (c *memConn) LocalAddr() net.Addr                { return memAddr{} }
func (c *memConn) RemoteAddr() net.Addr               { return memAddr{} }

type memAddr struct{}

func (memAddr) Network() string { return "recursor" }
func (memAddr) String() string  { return "in-process" }

// answerWire answers one wire-format query for the in-process client.
func (r *Resolver) answerWire(ctx context.Context, wire []byte) []byte {
	q := new(dns.Msg)
	if err := q.Unpack(wire); err != nil {
		return nil
	}
	resp := new(dns.Msg)
	switch {
	case len(q.Question) != 1 || q.Question[0].Qclass != dns.ClassINET:
		resp.SetRcode(q, dns.RcodeRefused)
	default:
		ans, err := r.Resolve(ctx, q.Question[0].Name, q.Question[0].Qtype)
		if err != nil {
			resp.SetRcode(q, dns.RcodeServerFailure)
			break
		}
		resp.SetRcode(q, ans.Rcode)
		resp.Answer, resp.Ns = ans.Answer, ans.Ns
	}
	resp.RecursionAvailable = true
	out, err := resp.Pack()
	if err != nil {
		return nil
	}
	return out
}
