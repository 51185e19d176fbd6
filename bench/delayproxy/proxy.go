package main

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// maxMessage is the largest DNS message over TCP (a 16-bit length); UDP
// datagrams are read into a buffer of the same size.
const maxMessage = 65535

// Proxy forwards DNS messages to one upstream server, holding each query
// for Delay before sending it on, so that every round trip through it costs
// at least Delay. It never parses what it forwards: bytes go through as
// they came, so no input can make it fail other than by closing a stream.
type Proxy struct {
	// Delay is added to every round trip.
	Delay time.Duration
	// Source is the local address of the sockets towards upstream; the
	// zero value lets the kernel choose.
	Source netip.Addr
	// Timeout bounds one upstream exchange; default 5s.
	Timeout time.Duration
}

func (p *Proxy) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return 5 * time.Second
}

// timerSlack is how late a Go timer may fire here: the runtime's poller
// sleeps in whole milliseconds, so a 10 ms timer alone held queries for
// 10.5-11.7 ms, and the bench's floor (round trips × delay) was off by up
// to a millisecond per round trip for every resolver.
const timerSlack = 2 * time.Millisecond

// waitUntil blocks until deadline, or until ctx ends (then it reports
// false). It sleeps on a timer to timerSlack before the deadline and
// spins, yielding, for the rest, which puts the release within a few
// microseconds of the deadline. The spin costs at most timerSlack of CPU
// per message: the delay phase sends one query at a time.
func waitUntil(ctx context.Context, deadline time.Time) bool {
	if d := time.Until(deadline) - timerSlack; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return false
		}
		runtime.Gosched()
	}
	return ctx.Err() == nil
}

func (p *Proxy) dial(ctx context.Context, network string, upstream netip.AddrPort) (net.Conn, error) {
	d := net.Dialer{Timeout: p.timeout()}
	if p.Source.IsValid() {
		if network == "udp" {
			d.LocalAddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.Source, 0))
		} else {
			d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(p.Source, 0))
		}
	}
	return d.DialContext(ctx, network, upstream.String())
}

// ServeUDP answers datagrams arriving on pc until ctx ends, forwarding each
// from a fresh socket so that replies cannot be confused. It closes pc.
func (p *Proxy) ServeUDP(ctx context.Context, pc net.PacketConn, upstream netip.AddrPort) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { pc.Close() })
	defer stop()
	defer pc.Close()
	for {
		buf := make([]byte, maxMessage)
		n, client, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		release := time.Now().Add(p.Delay)
		wg.Go(func() { p.forwardUDP(ctx, pc, client, buf[:n], upstream, release) })
	}
}

// forwardUDP sends query upstream at release (its arrival plus the delay;
// the socket is set up while it waits) and relays the reply.
func (p *Proxy) forwardUDP(ctx context.Context, pc net.PacketConn, client net.Addr, query []byte, upstream netip.AddrPort, release time.Time) {
	conn, err := p.dial(ctx, "udp", upstream)
	if err != nil {
		return
	}
	defer conn.Close()
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return
	}
	reply := make([]byte, maxMessage)
	if !waitUntil(ctx, release) {
		return
	}
	conn.SetDeadline(time.Now().Add(p.timeout()))
	if err := rawWrite(sc, query); err != nil {
		return
	}
	n, err := rawRead(sc, reply)
	if err != nil {
		return // the client times out, as it would with a lost packet
	}
	if to, ok := client.(*net.UDPAddr); ok && rawSendTo(pc.(syscall.Conn), reply[:n], to.AddrPort()) == nil {
		return
	}
	pc.WriteTo(reply[:n], client)
}

// ServeTCP accepts connections on ln until ctx ends and relays each over
// its own upstream connection, one message at a time. It closes ln.
func (p *Proxy) ServeTCP(ctx context.Context, ln net.Listener, upstream netip.AddrPort) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer ln.Close()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		wg.Go(func() { p.relayTCP(ctx, conn, upstream) })
	}
}

func (p *Proxy) relayTCP(ctx context.Context, client net.Conn, upstream netip.AddrPort) {
	defer client.Close()
	stop := context.AfterFunc(ctx, func() { client.Close() })
	defer stop()
	var server net.Conn
	defer func() {
		if server != nil {
			server.Close()
		}
	}()
	for {
		client.SetReadDeadline(time.Now().Add(p.timeout()))
		query, err := readFrame(client)
		if err != nil || !waitUntil(ctx, time.Now().Add(p.Delay)) {
			return
		}
		if server == nil {
			if server, err = p.dial(ctx, "tcp", upstream); err != nil {
				return
			}
		}
		server.SetDeadline(time.Now().Add(p.timeout()))
		if err := writeFrame(server, query); err != nil {
			return
		}
		reply, err := readFrame(server)
		if err != nil {
			return
		}
		if err := writeFrame(client, reply); err != nil {
			return
		}
	}
}

// readFrame reads one length-prefixed DNS message (RFC 1035 4.2.2).
func readFrame(r io.Reader) ([]byte, error) {
	var size [2]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	msg := make([]byte, binary.BigEndian.Uint16(size[:]))
	if _, err := io.ReadFull(r, msg); err != nil {
		return nil, err
	}
	return msg, nil
}

func writeFrame(w io.Writer, msg []byte) error {
	if len(msg) > maxMessage {
		return errors.New("message longer than 65535 bytes")
	}
	framed := make([]byte, 2+len(msg))
	binary.BigEndian.PutUint16(framed, uint16(len(msg)))
	copy(framed[2:], msg)
	_, err := w.Write(framed)
	return err
}
