package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of EncryptedConfig.
const (
	// DefaultTLSHandshakeTimeout bounds a TLS (DoT, DoH) or QUIC (DoQ)
	// handshake: a client that opens a connection and stalls is closed.
	DefaultTLSHandshakeTimeout = 5 * time.Second
	// DefaultMaxStreamsPerConn caps the HTTP/2 streams (DoH) and QUIC
	// streams (DoQ, one query each) a connection may have open at once.
	DefaultMaxStreamsPerConn = 100
	// DefaultMaxQUICConns caps open DoQ connections; past it a new one is
	// closed with DOQ_EXCESSIVE_LOAD.
	DefaultMaxQUICConns = 512
)

// EncryptedConfig configures the encrypted client transports. Each
// listener kind is off while its address list is empty. The idle time of
// every connection is Config.TCPIdleTimeout, and DoT and DoH connections
// count against Config.MaxTCPConns (DoT shares the TCP front end: the
// same pipelining, out-of-order answers and eviction at the cap).
type EncryptedConfig struct {
	// TLSListen lists ADDR:PORT for DNS over TLS (RFC 7858; port 853).
	TLSListen []string
	// HTTPSListen lists ADDR:PORT for DNS over HTTPS (RFC 8484; port
	// 443), path /dns-query, HTTP/2 and HTTP/1.1.
	HTTPSListen []string
	// QUICListen lists ADDR:PORT for DNS over QUIC (RFC 9250; UDP port
	// 853), ALPN "doq".
	QUICListen []string
	// GetCertificate returns the server certificate of every TLS and
	// QUIC handshake; required when any listener needs TLS. A CertStore
	// gives one that can be reloaded while connections stay open.
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// HTTPSPlain serves the HTTPSListen addresses without TLS (HTTP/1.1
	// and unencrypted HTTP/2), for running behind a proxy that
	// terminates TLS.
	HTTPSPlain bool
	// HTTPSTrustedProxies lists the networks of proxies whose
	// Forwarded or X-Forwarded-For header names the client of a DoH
	// request. A request from anywhere else is the client itself, and
	// without this list the headers are never read.
	HTTPSTrustedProxies []netip.Prefix
	// HandshakeTimeout bounds each TLS and QUIC handshake; default
	// DefaultTLSHandshakeTimeout.
	HandshakeTimeout time.Duration
	// MaxStreamsPerConn caps the concurrent HTTP/2 and QUIC streams of
	// one connection; default DefaultMaxStreamsPerConn.
	MaxStreamsPerConn int
	// MaxQUICConns caps open DoQ connections; default DefaultMaxQUICConns.
	MaxQUICConns int
}

func (e *EncryptedConfig) needsCertificate() bool {
	return len(e.TLSListen) > 0 || len(e.QUICListen) > 0 || (len(e.HTTPSListen) > 0 && !e.HTTPSPlain)
}

// checkEncrypted checks e and fills in its defaults.
func checkEncrypted(e *EncryptedConfig) error {
	for _, list := range [][]string{e.TLSListen, e.HTTPSListen, e.QUICListen} {
		for _, a := range list {
			if _, err := ParseListen(a); err != nil {
				return err
			}
		}
	}
	if e.needsCertificate() && e.GetCertificate == nil {
		return errors.New("a TLS or QUIC listener needs a certificate (EncryptedConfig.GetCertificate)")
	}
	if e.HandshakeTimeout < 0 || e.MaxStreamsPerConn < 0 || e.MaxQUICConns < 0 {
		return errors.New("EncryptedConfig: negative HandshakeTimeout, MaxStreamsPerConn or MaxQUICConns")
	}
	if e.HandshakeTimeout == 0 {
		e.HandshakeTimeout = DefaultTLSHandshakeTimeout
	}
	if e.MaxStreamsPerConn == 0 {
		e.MaxStreamsPerConn = DefaultMaxStreamsPerConn
	}
	if e.MaxQUICConns == 0 {
		e.MaxQUICConns = DefaultMaxQUICConns
	}
	return nil
}

// encrypted are a Server's bound encrypted listeners.
type encrypted struct {
	tlsListeners   []net.Listener
	httpsListeners []net.Listener
	quicListeners  []*quicListener
	tlsAddrs       []netip.AddrPort
	httpsAddrs     []netip.AddrPort
	quicAddrs      []netip.AddrPort

	https []*http.Server // set by serveEncrypted
	quic  quicConns      // open DoQ connections
}

// TLSAddrs, HTTPSAddrs and QUICAddrs return the bound addresses of the
// encrypted listeners (useful with port 0), or nil before Listen.
func (s *Server) TLSAddrs() []netip.AddrPort { return s.encAddrs(&s.enc.tlsAddrs) }

// HTTPSAddrs: see TLSAddrs.
func (s *Server) HTTPSAddrs() []netip.AddrPort { return s.encAddrs(&s.enc.httpsAddrs) }

// QUICAddrs: see TLSAddrs.
func (s *Server) QUICAddrs() []netip.AddrPort { return s.encAddrs(&s.enc.quicAddrs) }

func (s *Server) encAddrs(p *[]netip.AddrPort) []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]netip.AddrPort(nil), (*p)...)
}

// listenEncrypted binds the encrypted listeners; s.mu is held.
func (s *Server) listenEncrypted() error {
	e := &s.cfg.Encrypted
	for _, a := range e.TLSListen {
		l, bound, err := listenStream(a)
		if err != nil {
			return err
		}
		s.enc.tlsListeners, s.enc.tlsAddrs = append(s.enc.tlsListeners, l), append(s.enc.tlsAddrs, bound)
	}
	for _, a := range e.HTTPSListen {
		l, bound, err := listenStream(a)
		if err != nil {
			return err
		}
		l = &cappedListener{Listener: l, conns: &s.tcp, limit: s.cfg.MaxTCPConns}
		s.enc.httpsListeners, s.enc.httpsAddrs = append(s.enc.httpsListeners, l), append(s.enc.httpsAddrs, bound)
	}
	for _, a := range e.QUICListen {
		l, bound, err := s.listenQUIC(a)
		if err != nil {
			return err
		}
		s.enc.quicListeners, s.enc.quicAddrs = append(s.enc.quicListeners, l), append(s.enc.quicAddrs, bound)
	}
	return nil
}

// listenStream binds a TCP listener for DoT or DoH.
func listenStream(a string) (net.Listener, netip.AddrPort, error) {
	ap, _ := ParseListen(a) // checked by New
	l, err := net.ListenTCP("tcp"+family(ap), net.TCPAddrFromAddrPort(ap))
	if err != nil {
		return nil, netip.AddrPort{}, bindError("tcp", ap, err)
	}
	return l, netip.AddrPortFrom(ap.Addr(), uint16(l.Addr().(*net.TCPAddr).Port)), nil
}

// closeEncrypted closes every encrypted listener and the QUIC sockets (and
// connections still on them); s.mu is held.
func (s *Server) closeEncrypted() {
	for _, l := range s.enc.tlsListeners {
		l.Close()
	}
	for _, l := range s.enc.httpsListeners {
		l.Close()
	}
	for _, l := range s.enc.quicListeners {
		l.closeTransport()
	}
	s.enc.tlsListeners, s.enc.httpsListeners, s.enc.quicListeners = nil, nil, nil
	s.enc.tlsAddrs, s.enc.httpsAddrs, s.enc.quicAddrs = nil, nil, nil
}

// tlsConfig is the server side of every TLS handshake; alpn names the
// application protocols offered (none for DoT, which RFC 7858 leaves
// without one).
func (s *Server) tlsConfig(alpn ...string) *tls.Config {
	return &tls.Config{
		GetCertificate: s.cfg.Encrypted.GetCertificate,
		MinVersion:     tls.VersionTLS12, // RFC 8310 8.1, RFC 9325
		NextProtos:     alpn,
	}
}

// serveEncrypted starts the encrypted listeners: accept loops join
// readers, connections and requests run on queryCtx. life is the server's
// lifetime context, whose end stops the QUIC connections taking streams.
func (s *Server) serveEncrypted(life, queryCtx context.Context, readers *sync.WaitGroup) {
	if len(s.enc.tlsListeners) > 0 {
		conf := s.tlsConfig()
		for _, l := range s.enc.tlsListeners {
			readers.Go(func() { s.acceptTCP(queryCtx, l, conf) })
		}
	}
	for _, l := range s.enc.httpsListeners {
		srv := s.newHTTPServer(queryCtx)
		s.mu.Lock()
		s.enc.https = append(s.enc.https, srv)
		s.mu.Unlock()
		readers.Go(func() { s.serveHTTP(srv, l) })
	}
	for _, l := range s.enc.quicListeners {
		readers.Go(func() { s.acceptQUIC(life, queryCtx, l) })
	}
	if n := len(s.enc.tlsAddrs) + len(s.enc.httpsAddrs) + len(s.enc.quicAddrs); n > 0 {
		s.log.Info("serving encrypted", "tls", s.enc.tlsAddrs, "https", s.enc.httpsAddrs, "quic", s.enc.quicAddrs,
			"https_plain", s.cfg.Encrypted.HTTPSPlain)
	}
}

// stopEncrypted stops accepting on the encrypted listeners; what is open
// finishes, within the shutdown grace, as TCP does.
func (s *Server) stopEncrypted() {
	for _, l := range s.enc.tlsListeners {
		l.Close()
	}
	for _, l := range s.enc.quicListeners {
		l.Close()
	}
	s.mu.Lock()
	servers := s.enc.https
	s.mu.Unlock()
	for _, srv := range servers {
		s.work.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
			defer cancel()
			_ = srv.Shutdown(ctx)
			srv.Close()
		})
	}
}

// handshakeTLS runs c's TLS handshake within the handshake timeout, so
// that a stalled client holds its slot no longer; false: c is done.
func (s *Server) handshakeTLS(c *tcpConn) bool {
	tc := c.conn.(*tls.Conn)
	tc.SetDeadline(time.Now().Add(s.cfg.Encrypted.HandshakeTimeout))
	if err := tc.Handshake(); err != nil {
		s.log.Debug("tls handshake", "client", c.client, "err", err)
		return false
	}
	tc.SetDeadline(time.Time{})
	return !c.closing.Load()
}

// cappedListener counts its connections against the TCP cap: at the
// cap a new connection is closed at once. (The TCP front end evicts an
// idle connection instead; an HTTP server's connections are its own.)
type cappedListener struct {
	net.Listener
	conns *tcpConns
	limit int
	open  atomic.Int64
}

func (l *cappedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if int(l.open.Load())+l.conns.count() >= l.limit {
			c.Close()
			continue
		}
		l.open.Add(1)
		return &countedConn{Conn: c, open: &l.open}, nil
	}
}

type countedConn struct {
	net.Conn
	open *atomic.Int64
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.open.Add(-1) })
	return c.Conn.Close()
}

// CertStore holds a certificate and key loaded from PEM files, for
// EncryptedConfig.GetCertificate. Reload reads the files again: new
// handshakes get the new certificate, open connections keep going.
type CertStore struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// LoadCertStore loads the certificate chain in certFile and its private
// key in keyFile (PEM).
func LoadCertStore(certFile, keyFile string) (*CertStore, error) {
	c := &CertStore{certFile: certFile, keyFile: keyFile}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the files again. On an error the certificate in use stays.
func (c *CertStore) Reload() error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("certificate %s, key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cur.Store(&cert)
	return nil
}

// GetCertificate returns the certificate loaded last.
func (c *CertStore) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cur.Load(), nil
}
