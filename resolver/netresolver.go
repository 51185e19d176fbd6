package resolver

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// NetResolver answers the standard library's lookups with the engine, in
// process: Go's DNS client talks to it over an in-memory connection, so no
// client socket is opened and programs written for net.Resolver get full
// recursion. The embedded *net.Resolver is for APIs that take one.
//
// It behaves as Go's own resolver does around the DNS: /etc/hosts is read
// first when /etc/nsswitch.conf says so, and a name without a trailing dot
// gets /etc/resolv.conf's search domains when it has fewer dots than its
// ndots option. Give fully qualified names ("www.example.com.") to ask
// the engine about exactly that name. resolv.conf's servers are never
// asked; the methods below name the engine in their errors, where the
// embedded resolver's own name resolv.conf's first server.
type NetResolver struct {
	*net.Resolver
}

// engineServer is the server a NetResolver error names.
const engineServer = "recursor (in process)"

// NetResolver returns a NetResolver answered by r.
func (r *Resolver) NetResolver() NetResolver {
	return NetResolver{&net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return &memConn{r: r, ctx: context.WithoutCancel(ctx)}, nil
		},
	}}
}

// engineError makes a *net.DNSError name the engine as its server.
func engineError(err error) error {
	var de *net.DNSError
	if !errors.As(err, &de) {
		return err
	}
	named := *de
	named.Server = engineServer
	return &named
}

func (n NetResolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	addrs, err := n.Resolver.LookupHost(ctx, host)
	return addrs, engineError(err)
}

func (n NetResolver) LookupIP(ctx context.Context, network, host string) ([]net.IP, error) {
	ips, err := n.Resolver.LookupIP(ctx, network, host)
	return ips, engineError(err)
}

func (n NetResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	ips, err := n.Resolver.LookupIPAddr(ctx, host)
	return ips, engineError(err)
}

func (n NetResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	ips, err := n.Resolver.LookupNetIP(ctx, network, host)
	return ips, engineError(err)
}

func (n NetResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	names, err := n.Resolver.LookupAddr(ctx, addr)
	return names, engineError(err)
}

func (n NetResolver) LookupCNAME(ctx context.Context, host string) (string, error) {
	cname, err := n.Resolver.LookupCNAME(ctx, host)
	return cname, engineError(err)
}

func (n NetResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	mx, err := n.Resolver.LookupMX(ctx, name)
	return mx, engineError(err)
}

func (n NetResolver) LookupNS(ctx context.Context, name string) ([]*net.NS, error) {
	ns, err := n.Resolver.LookupNS(ctx, name)
	return ns, engineError(err)
}

func (n NetResolver) LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error) {
	cname, srv, err := n.Resolver.LookupSRV(ctx, service, proto, name)
	return cname, srv, engineError(err)
}

func (n NetResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	txt, err := n.Resolver.LookupTXT(ctx, name)
	return txt, engineError(err)
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
