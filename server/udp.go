package server

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"

	"github.com/miekg/dns"
)

// packBuffers holds response buffers for answers written from goroutines
// other than the reader's.
var packBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, DefaultMaxUDPSize)
	return &b
}}

// readUDP reads queries from c until the server stops. Answers that need
// no engine are packed into the reader's own buffer and sent at once.
func (s *Server) readUDP(ctx context.Context, c *net.UDPConn) {
	in := make([]byte, dns.MaxMsgSize)
	out := make([]byte, 0, s.cfg.MaxUDPSize)
	for {
		n, from, err := c.ReadFromUDPAddrPort(in)
		if err != nil {
			if s.stopping.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("udp read", "addr", c.LocalAddr(), "err", err)
			continue
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		resp, pending := s.servePacket(in[:n], from, false)
		if pending != nil {
			s.work.Go(func() {
				resp := s.resolvePending(ctx, pending)
				bp := packBuffers.Get().(*[]byte)
				*bp = s.pack(resp, (*bp)[:0])
				s.writeUDP(c, *bp, from)
				packBuffers.Put(bp)
			})
			continue
		}
		if resp != nil {
			out = s.pack(resp, out[:0])
			s.writeUDP(c, out, from)
		}
	}
}

func (s *Server) writeUDP(c *net.UDPConn, b []byte, to netip.AddrPort) {
	if b == nil {
		return
	}
	if _, err := c.WriteToUDPAddrPort(b, to); err != nil && !errors.Is(err, net.ErrClosed) {
		s.log.Debug("udp write", "client", to, "err", err)
	}
}
