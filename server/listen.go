package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/recursor-dns/recursor/internal/ports"
)

// udpReaders is the number of goroutines reading each UDP socket, with
// threads sockets on each address: together at least one per core. Each
// answers cache hits inline, so a few keep every core busy; queries that
// need the engine move to goroutines bounded by MaxInFlight.
func udpReaders(threads int) int {
	procs := max(1, runtime.GOMAXPROCS(0))
	return max(1, (procs+threads-1)/threads)
}

// Listen binds UDP and TCP on every Config.Listen address and returns the
// bound addresses (useful with port 0). Serve calls it when it has not been
// called; calling it twice is an error.
func (s *Server) Listen() ([]netip.AddrPort, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listened {
		return nil, errors.New("server: Listen called twice")
	}
	s.listened = true
	for _, a := range s.cfg.Listen {
		ap, _ := ParseListen(a) // checked by New
		udp, tcp, bound, err := listenPair(ap, s.cfg.Threads)
		if err != nil && s.defaultListen && noSuchAddress(err) {
			// A host without IPv6 loopback (Docker's default network,
			// disable_ipv6) still serves on the others. An address the
			// user named stays an error.
			s.log.Warn("default listen address skipped", "err", err)
			continue
		}
		if err != nil {
			s.closeListeners()
			return nil, err
		}
		s.udpConns = append(s.udpConns, udp...)
		s.listeners = append(s.listeners, tcp...)
		s.addrs = append(s.addrs, bound)
	}
	if err := s.listenEncrypted(); err != nil {
		s.closeListeners()
		return nil, err
	}
	if len(s.addrs) == 0 {
		return nil, fmt.Errorf("listen: none of the default addresses %v can be bound on this host; name one with --listen", s.cfg.Listen)
	}
	return append([]netip.AddrPort(nil), s.addrs...), nil
}

// noSuchAddress reports whether err says the host lacks the address or
// its family altogether.
func noSuchAddress(err error) bool {
	return errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.EAFNOSUPPORT)
}

// Addrs returns the bound addresses (UDP and TCP share each one), or nil
// before Listen.
func (s *Server) Addrs() []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]netip.AddrPort(nil), s.addrs...)
}

// listenPair binds threads UDP sockets and threads TCP listeners to the
// same address and port (see listenThreads). With port 0 the kernel picks
// the UDP port and TCP must get the same one, which may already be taken:
// then try again with a new pick. With port 0 and SO_REUSEPORT (threads
// above one), the pick is ours, outside the kernel's ephemeral range: a
// port the kernel picked can be joined by any same-user socket that binds
// port 0 with SO_REUSEPORT, as dig's client socket does (see package
// ports).
func listenPair(ap netip.AddrPort, threads int) ([]*udpSocket, []*net.TCPListener, netip.AddrPort, error) {
	attempts := 10
	pickOurs := ap.Port() == 0 && threads > 1
	if pickOurs {
		attempts = 50 // a port outside the range is more often in use
	}
	var lastErr error
	for range attempts {
		want := ap
		if pickOurs {
			if p, ok := ports.OutsideEphemeral(); ok {
				want = netip.AddrPortFrom(ap.Addr(), p)
			}
		}
		udp, err := listenUDP(want, false)
		if err != nil && want.Port() != ap.Port() && errors.Is(err, syscall.EADDRINUSE) {
			lastErr = bindError("udp", want, err)
			continue
		}
		if err != nil {
			return nil, nil, netip.AddrPort{}, bindError("udp", ap, err)
		}
		bound := netip.AddrPortFrom(ap.Addr(), udp.conn.LocalAddr().(*net.UDPAddr).AddrPort().Port())
		tcp, err := net.ListenTCP("tcp"+family(ap), net.TCPAddrFromAddrPort(bound))
		if err == nil {
			udps, tcps, err := listenThreads(bound, threads, udp, tcp)
			return udps, tcps, bound, err
		}
		udp.conn.Close()
		lastErr = bindError("tcp", bound, err)
		if ap.Port() != 0 {
			break
		}
	}
	return nil, nil, netip.AddrPort{}, lastErr
}

// listenThreads adds threads-1 UDP sockets and TCP listeners with
// SO_REUSEPORT to bound, where udp and tcp are bound already, and returns
// them all; on error it closes them all. The first two were bound without
// SO_REUSEPORT and get it afterwards, which Linux allows: so a port held
// by another process's SO_REUSEPORT group is an error, as with one socket,
// not a share of that process's clients, and a port 0 pick (which may land
// on such a group when the socket asks for SO_REUSEPORT) never joins
// another server's sockets.
func listenThreads(bound netip.AddrPort, threads int, udp *udpSocket, tcp *net.TCPListener) ([]*udpSocket, []*net.TCPListener, error) {
	udps, tcps := []*udpSocket{udp}, []*net.TCPListener{tcp}
	if threads <= 1 {
		return udps, tcps, nil
	}
	fail := func(proto string, err error) ([]*udpSocket, []*net.TCPListener, error) {
		for _, u := range udps {
			u.conn.Close()
		}
		for _, l := range tcps {
			l.Close()
		}
		return nil, nil, bindError(proto, bound, err)
	}
	if err := setReusePort(udp.raw); err != nil {
		return fail("udp", fmt.Errorf("SO_REUSEPORT: %w", err))
	}
	raw, err := tcp.SyscallConn()
	if err == nil {
		err = setReusePort(raw)
	}
	if err != nil {
		return fail("tcp", fmt.Errorf("SO_REUSEPORT: %w", err))
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error { return setReusePort(c) }}
	for range threads - 1 {
		u, err := listenUDP(bound, true)
		if err != nil {
			return fail("udp", err)
		}
		udps = append(udps, u)
		l, err := lc.Listen(context.Background(), "tcp"+family(bound), bound.String())
		if err != nil {
			return fail("tcp", err)
		}
		tcps = append(tcps, l.(*net.TCPListener))
	}
	return udps, tcps, nil
}

// family is "4" or "6": each socket serves one address family, so that
// 0.0.0.0 and :: are separate sockets as the user listed them.
func family(ap netip.AddrPort) string {
	if ap.Addr().Is4() {
		return "4"
	}
	return "6"
}

// udpSocket is one bound UDP socket. A wildcard socket learns each query's
// destination address from the kernel and answers from it, so replies
// leave from the address the client asked.
type udpSocket struct {
	conn     *net.UDPConn
	wildcard bool
	// raw is the socket for raw system calls (the batched reader and
	// writeRaw); is4, its family.
	raw syscall.RawConn
	is4 bool
}

// listenUDP binds one UDP socket, with SO_REUSEPORT when reusePort.
func listenUDP(ap netip.AddrPort, reusePort bool) (*udpSocket, error) {
	var lc net.ListenConfig
	if reusePort {
		lc.Control = func(_, _ string, c syscall.RawConn) error { return setReusePort(c) }
	}
	pc, err := lc.ListenPacket(context.Background(), "udp"+family(ap), ap.String())
	if err != nil {
		return nil, err
	}
	conn := pc.(*net.UDPConn)
	u := &udpSocket{conn: conn, wildcard: ap.Addr().IsUnspecified(), is4: family(ap) == "4"}
	if u.raw, err = conn.SyscallConn(); err != nil {
		conn.Close()
		return nil, err
	}
	if u.wildcard {
		if err := enablePacketInfo(conn, ap.Addr().Is4()); err != nil {
			conn.Close()
			return nil, fmt.Errorf("destination address of queries: %w", err)
		}
	}
	return u, nil
}

// bindError says what to do about the common bind failures.
func bindError(proto string, ap netip.AddrPort, err error) error {
	switch {
	case errors.Is(err, os.ErrPermission) && ap.Port() < 1024:
		return fmt.Errorf("listen %s %s: permission denied: port %d needs privilege; use another port (e.g. --listen %s) or grant CAP_NET_BIND_SERVICE (setcap cap_net_bind_service=+ep recursor)",
			proto, ap, ap.Port(), netip.AddrPortFrom(ap.Addr(), 5353))
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("listen %s %s: address already in use (another DNS server running?)", proto, ap)
	case noSuchAddress(err):
		return fmt.Errorf("listen %s %s: no such local address: %w", proto, ap, err)
	}
	return fmt.Errorf("listen %s %s: %w", proto, ap, err)
}

// closeListeners closes every bound socket; s.mu is held.
func (s *Server) closeListeners() {
	for _, c := range s.udpConns {
		c.conn.Close()
	}
	for _, l := range s.listeners {
		l.Close()
	}
	s.udpConns, s.listeners, s.addrs = nil, nil, nil
	s.closeEncrypted()
}

// Serve answers clients on the Listen addresses until ctx is cancelled,
// then shuts down gracefully: it stops reading, lets in-flight queries
// finish for up to ShutdownGrace, cancels the rest (their clients get
// SERVFAIL), closes every socket and returns nil. It returns an error only
// when it cannot start.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	if s.serving {
		s.mu.Unlock()
		return errors.New("server: Serve called twice")
	}
	s.serving = true
	listened := s.listened
	s.mu.Unlock()
	if !listened {
		if _, err := s.Listen(); err != nil {
			return err
		}
	}
	if len(s.addrs) == 0 {
		return errors.New("server: nothing to serve: Listen failed earlier")
	}

	// Queries run on their own context, cancelled only when the grace
	// period is over, so cancelling ctx lets them finish.
	queryCtx, cancelQueries := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelQueries()

	var readers sync.WaitGroup
	if b, ok := s.backend.(BackgroundBackend); ok {
		// The engine's background work (prefetch) ends with ctx, at
		// once: nothing waits for it.
		readers.Go(func() { _ = b.Run(ctx) })
	}
	s.startAdmission(queryCtx, &readers)
	for _, c := range s.udpConns {
		for range udpReaders(s.cfg.Threads) {
			readers.Go(func() { s.readUDP(queryCtx, c) })
		}
	}
	for _, l := range s.listeners {
		readers.Go(func() { s.acceptTCP(queryCtx, l, nil) })
	}
	s.serveEncrypted(ctx, queryCtx, &readers)
	s.log.Info("serving", "addrs", s.addrs, "threads", s.cfg.Threads, "access", accessRules(s.cfg))

	<-ctx.Done()
	s.log.Info("shutting down", "in_flight", s.limiter.inFlight())
	s.stopping.Store(true)
	now := time.Now()
	for _, c := range s.udpConns {
		c.conn.SetReadDeadline(now) // wakes the readers; the sockets stay open for replies
	}
	for _, l := range s.listeners {
		l.Close()
	}
	s.stopAdmission(now)
	s.stopEncrypted()
	s.tcp.stopReading()
	readers.Wait()
	s.flushAdmission(queryCtx)

	if !waitTimeout(&s.work, s.cfg.ShutdownGrace) {
		s.log.Warn("grace period over: cancelling queries", "in_flight", s.limiter.inFlight())
		cancelQueries()
		if !waitTimeout(&s.work, s.cfg.ShutdownGrace) {
			s.log.Warn("queries still running after cancel; closing anyway", "in_flight", s.limiter.inFlight())
		}
	}
	s.tcp.closeAll()
	s.mu.Lock()
	for _, c := range s.udpConns {
		c.conn.Close()
	}
	s.closeEncrypted()
	s.mu.Unlock()
	st := s.Stats()
	s.log.Info("stopped", "queries", st.Queries, "cache_hits", st.CacheHits, "resolved", st.Resolved,
		"servfail", st.ServFail, "dropped", st.Dropped)
	return nil
}

// waitTimeout waits for wg up to d and reports whether it finished. On
// timeout its helper goroutine stays until wg is done.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// isTimeout reports a deadline error, which is how readers are woken.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
