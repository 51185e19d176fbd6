// Package testnet owns the sandbox: a mini-internet of authoritative DNS
// servers on loopback addresses (127.53.x.y), serving a directory of zone
// files described by its network.conf. Start runs the servers in process on
// miekg/dns; StartNSD runs the same tree on Debian's NSD. Both listen on one
// port shared by every server address and hand out matching root hints.
// A signing.conf beside network.conf signs the zones at load (NSEC or
// NSEC3, keys from keys/, the root's DS as TrustAnchor) and breaks some on
// purpose, for testing validators; DNSSEC-CASES.md says what a validating
// resolver answers there.
// An in-process server can also be hostile: network.conf may give it
// behaviours (see Behaviour) that poison, flood, loop or break the
// transport, as testdata/hostile does.
//
// Tests of the resolver use it through StartTB, and wrap their transport in
// LoopbackOnly; the commands' --sandbox flag uses Start. The engine never
// imports it.
package testnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/roothints"
)

// Config says what to serve and where.
type Config struct {
	// Dir is the sandbox directory: network.conf and zones/.
	Dir string
	// FS, when set, is read instead of Dir (an embedded sandbox, say).
	FS fs.FS
	// Port is the port every server listens on; 0 picks a free one.
	Port uint16
	// Logger receives a Debug line per query; nil discards.
	Logger *slog.Logger
	// Now is the clock the zones of signing.conf are signed at: their
	// signatures are valid from SignatureInceptionSkew before it to
	// SignatureLifetime after it. Nil means time.Now.
	Now func() time.Time
	// Signer signs those zones: SignerBuiltin (the zero value) or
	// SignerLDNS (ldns-signzone, for comparing signers).
	Signer Signer
}

// MaxLoggedQueries bounds the query log: it keeps the first
// MaxLoggedQueries queries since the start or the last ResetQueries, and
// only counts the later ones (QueryCount). A test's resolution sends tens;
// `recursor serve --sandbox` may pass millions and reads none. The log
// holds at most some 1.2 MB (a name is at most 255 bytes), a few hundred
// kilobytes with names of usual length.
const MaxLoggedQueries = 4096

// bindAttempts is how often Start tries fresh ports when one is taken on
// some server address.
const bindAttempts = 8

// Query is one query a server received.
type Query struct {
	Server netip.Addr
	Qname  string // as received, case kept
	Qtype  uint16
	TCP    bool
	EDNS   bool // the query carried an OPT record
}

func (q Query) String() string {
	proto := "udp"
	if q.TCP {
		proto = "tcp"
	}
	edns := ""
	if q.EDNS {
		edns = " +edns"
	}
	return fmt.Sprintf("%s %s %s %s%s", q.Server, proto, q.Qname, dns.TypeToString[q.Qtype], edns)
}

// Network is a running in-process sandbox.
type Network struct {
	sb     *sandbox
	port   uint16
	logger *slog.Logger

	udp     []net.PacketConn
	tcp     []net.Listener
	servers []*dns.Server
	silent  *silentServers
	wg      sync.WaitGroup

	closeOnce sync.Once
	closeErr  error

	mu      sync.Mutex // guards the query log and count
	queries []Query    // the first MaxLoggedQueries
	count   int        // every query, logged or not
}

// Start loads cfg.Dir and serves it: one authoritative server per line of
// network.conf, each on its own address, all on one port.
func Start(cfg Config) (*Network, error) {
	sb, err := loadSandboxConfig(cfg)
	if err != nil {
		return nil, err
	}
	n := &Network{sb: sb, logger: cfg.Logger}
	if n.logger == nil {
		n.logger = slog.New(slog.DiscardHandler)
	}
	addrs := make([]netip.Addr, len(sb.servers))
	for i, s := range sb.servers {
		addrs[i] = s.Addr
	}
	n.udp, n.tcp, n.port, err = listenAll(addrs, cfg.Port)
	if err != nil {
		return nil, err
	}
	n.silent = &silentServers{conns: map[net.Conn]struct{}{}}
	for i, s := range sb.servers {
		if s.Mode == ModeDead {
			n.wg.Go(func() { n.silent.serveUDP(n.udp[i], s.Addr, n.record) })
			n.wg.Go(func() { n.silent.serveTCP(n.tcp[i], s.Addr, n.record, &n.wg) })
			continue
		}
		n.serveAuthority(s, sb.authority(s), n.udp[i], n.tcp[i])
	}
	n.logger.Info("testnet started", "dir", cfg.Dir, "port", n.port, "servers", len(sb.servers))
	return n, nil
}

// serveAuthority runs miekg servers for s on its sockets and returns once
// both are serving, so Close never races their start.
func (n *Network) serveAuthority(s Server, a *authority, pc net.PacketConn, l net.Listener) {
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		tcp := w.LocalAddr().Network() == "tcp"
		if len(req.Question) == 1 {
			n.record(Query{Server: s.Addr, Qname: req.Question[0].Name, Qtype: req.Question[0].Qtype, TCP: tcp, EDNS: req.IsEdns0() != nil})
		}
		before, resp := a.respond(req, tcp)
		for _, raw := range before {
			if _, err := w.Write(raw); err != nil {
				n.logger.Debug("testnet write", "server", s.Name, "err", err)
			}
		}
		if resp == nil {
			n.logger.Debug("testnet query dropped", "server", s.Name, "addr", s.Addr, "tcp", tcp,
				"question", questionString(req))
			return
		}
		n.logger.Debug("testnet query", "server", s.Name, "addr", s.Addr, "tcp", tcp,
			"question", questionString(req), "rcode", dns.RcodeToString[resp.Rcode])
		if err := w.WriteMsg(resp); err != nil {
			n.logger.Debug("testnet write", "server", s.Name, "err", err)
		}
	})
	var started sync.WaitGroup
	for _, srv := range []*dns.Server{
		{PacketConn: pc, Handler: handler, UDPSize: dns.MaxMsgSize},
		{Listener: l, Handler: handler},
	} {
		started.Add(1)
		srv.NotifyStartedFunc = started.Done
		n.servers = append(n.servers, srv)
		n.wg.Go(func() {
			if err := srv.ActivateAndServe(); err != nil {
				n.logger.Debug("testnet serve", "server", s.Name, "err", err)
			}
		})
	}
	started.Wait()
}

// Port is the port every server listens on, UDP and TCP.
func (n *Network) Port() uint16 { return n.port }

// RootHints names the sandbox's root servers and their addresses.
func (n *Network) RootHints() *roothints.Hints { return cloneHints(n.sb.hints) }

// Servers lists the servers as network.conf describes them.
func (n *Network) Servers() []Server { return cloneServers(n.sb.servers) }

// Queries returns the queries received since the start or the last
// ResetQueries, in the order they arrived: all of them, unless more than
// MaxLoggedQueries came (QueryCount says how many).
func (n *Network) Queries() []Query {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.queries)
}

// QueryCount returns how many queries were received since the start or
// the last ResetQueries, logged or not.
func (n *Network) QueryCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.count
}

// ResetQueries empties the query log and zeroes the count.
func (n *Network) ResetQueries() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.queries, n.count = nil, 0
}

func (n *Network) record(q Query) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.count++
	if len(n.queries) < MaxLoggedQueries {
		n.queries = append(n.queries, q)
	}
}

// Close stops every server and waits for them.
func (n *Network) Close() error {
	n.closeOnce.Do(func() {
		var errs []error
		for _, srv := range n.servers {
			errs = append(errs, srv.Shutdown())
		}
		// Shutdown closes the sockets of running servers; the silent ones
		// (and any left unserved) are closed here.
		for _, pc := range n.udp {
			if err := pc.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
		for _, l := range n.tcp {
			if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
		n.silent.closeConns()
		n.wg.Wait()
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// listenAll binds UDP and TCP on port at every address. With port 0 it
// takes a free port on the first address and tries it on the others,
// starting over with a new port when one of them has it taken.
func listenAll(addrs []netip.Addr, port uint16) ([]net.PacketConn, []net.Listener, uint16, error) {
	attempts := 1
	if port == 0 {
		attempts = bindAttempts
	}
	var err error
	for range attempts {
		var (
			pcs []net.PacketConn
			ls  []net.Listener
			got uint16
		)
		pcs, ls, got, err = listenAllOnce(addrs, port)
		if err == nil {
			return pcs, ls, got, nil
		}
	}
	return nil, nil, 0, fmt.Errorf("testnet: listen: %w", err)
}

func listenAllOnce(addrs []netip.Addr, port uint16) (pcs []net.PacketConn, ls []net.Listener, _ uint16, err error) {
	defer func() {
		if err != nil {
			for _, pc := range pcs {
				pc.Close()
			}
			for _, l := range ls {
				l.Close()
			}
		}
	}()
	for _, addr := range addrs {
		pc, err := net.ListenPacket("udp", netip.AddrPortFrom(addr, port).String())
		if err != nil {
			return pcs, ls, 0, err
		}
		pcs = append(pcs, pc)
		if port == 0 {
			port = uint16(pc.LocalAddr().(*net.UDPAddr).Port)
		}
		l, err := net.Listen("tcp", netip.AddrPortFrom(addr, port).String())
		if err != nil {
			return pcs, ls, 0, err
		}
		ls = append(ls, l)
	}
	return pcs, ls, port, nil
}

// silentServers are the dead servers: they read every query, log it and
// never answer.
type silentServers struct {
	mu    sync.Mutex // guards conns and closed
	conns map[net.Conn]struct{}
	done  bool
}

func (s *silentServers) serveUDP(pc net.PacketConn, addr netip.Addr, record func(Query)) {
	buf := make([]byte, dns.MaxMsgSize)
	for {
		size, _, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		recordRaw(buf[:size], addr, false, record)
	}
}

func (s *silentServers) serveTCP(l net.Listener, addr netip.Addr, record func(Query), wg *sync.WaitGroup) {
	for {
		conn, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if !s.track(conn) {
			conn.Close()
			return
		}
		wg.Go(func() {
			defer s.untrack(conn)
			var size [2]byte
			for {
				if _, err := io.ReadFull(conn, size[:]); err != nil {
					return
				}
				msg := make([]byte, binary.BigEndian.Uint16(size[:]))
				if _, err := io.ReadFull(conn, msg); err != nil {
					return
				}
				recordRaw(msg, addr, true, record)
			}
		})
	}
}

func (s *silentServers) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *silentServers) untrack(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	c.Close()
}

func (s *silentServers) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	for c := range s.conns {
		c.Close()
	}
}

// recordRaw logs a query that arrived as bytes; garbage is not logged.
func recordRaw(wire []byte, addr netip.Addr, tcp bool, record func(Query)) {
	var m dns.Msg
	if m.Unpack(wire) != nil || m.Response || len(m.Question) != 1 {
		return
	}
	record(Query{Server: addr, Qname: m.Question[0].Name, Qtype: m.Question[0].Qtype, TCP: tcp, EDNS: m.IsEdns0() != nil})
}

func questionString(m *dns.Msg) string {
	if len(m.Question) != 1 {
		return ""
	}
	return m.Question[0].Name + " " + dns.TypeToString[m.Question[0].Qtype]
}

func cloneHints(h *roothints.Hints) *roothints.Hints {
	c := &roothints.Hints{TTL: h.TTL}
	for _, s := range h.Servers {
		c.Servers = append(c.Servers, roothints.Server{Name: s.Name, Addrs: slices.Clone(s.Addrs)})
	}
	return c
}

func cloneServers(servers []Server) []Server {
	out := slices.Clone(servers)
	for i := range out {
		out[i].Zones = slices.Clone(out[i].Zones)
	}
	return out
}
