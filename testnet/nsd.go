package testnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/roothints"
)

// ErrNSDNotFound means no nsd binary is installed.
var ErrNSDNotFound = errors.New("testnet: nsd not found in PATH or /usr/sbin")

const (
	// nsdReadyTimeout bounds the wait for an NSD instance to answer.
	// A loaded 2-core machine has been seen to take over 15 s to start
	// the signed sandbox; the wait ends as soon as NSD answers.
	nsdReadyTimeout = 45 * time.Second
	// nsdStopTimeout is how long Close waits after SIGTERM before SIGKILL.
	nsdStopTimeout = 5 * time.Second
	nsdPollEvery   = 25 * time.Millisecond
	nsdStartTries  = 3
)

// NSDNetwork is the sandbox served by Debian's NSD: one nsd process per
// group of servers that serve the same zones (lame servers are one group
// serving nothing), dead servers as silent sockets in process.
type NSDNetwork struct {
	sb     *sandbox
	port   uint16
	tmp    string
	logger *slog.Logger

	procs  []*nsdProc
	udp    []net.PacketConn // dead servers' sockets
	tcp    []net.Listener
	silent *silentServers
	wg     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// nsdProc is one running nsd.
type nsdProc struct {
	cmd     *exec.Cmd
	dir     string
	addrs   []netip.Addr
	exited  chan struct{}
	waitErr error
}

// NSDPath returns the nsd binary to run.
func NSDPath() (string, error) {
	if p, err := exec.LookPath("nsd"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/nsd"); err == nil {
		return "/usr/sbin/nsd", nil
	}
	return "", ErrNSDNotFound
}

// StartNSD serves cfg.Dir with NSD on the same addresses as Start, all on
// one port, and returns once every server answers. The zones are signed as
// for Start, by cfg.Signer: SignerLDNS serves the tree ldns-signzone signs
// from the same keys (breakages applied to its output), to compare
// validators' verdicts across signers.
func StartNSD(cfg Config) (*NSDNetwork, error) {
	nsd, err := NSDPath()
	if err != nil {
		return nil, err
	}
	sb, err := loadSandboxConfig(cfg)
	if err != nil {
		return nil, err
	}
	for _, s := range sb.servers {
		if len(s.Behaviours) > 0 {
			return nil, fmt.Errorf("testnet: server %s: NSD cannot play behaviour %s; use Start", s.Name, s.Behaviours[0])
		}
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	tries := 1
	if cfg.Port == 0 {
		tries = nsdStartTries // another process may take the port before nsd binds it
	}
	for range tries {
		var n *NSDNetwork
		n, err = startNSDOnce(nsd, sb, cfg.Port, logger)
		if err == nil {
			logger.Info("testnet nsd started", "dir", cfg.Dir, "port", n.port, "instances", len(n.procs))
			return n, nil
		}
	}
	return nil, err
}

func startNSDOnce(nsd string, sb *sandbox, port uint16, logger *slog.Logger) (_ *NSDNetwork, err error) {
	addrs := make([]netip.Addr, len(sb.servers))
	for i, s := range sb.servers {
		addrs[i] = s.Addr
	}
	// Binding every address finds a port free on all of them; the sockets
	// of the servers nsd will run are then closed for it to bind.
	udp, tcp, port, err := listenAll(addrs, port)
	if err != nil {
		return nil, err
	}
	n := &NSDNetwork{sb: sb, port: port, logger: logger, silent: &silentServers{conns: map[net.Conn]struct{}{}}}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	for i, s := range sb.servers {
		if s.Mode != ModeDead {
			udp[i].Close()
			tcp[i].Close()
			continue
		}
		n.udp, n.tcp = append(n.udp, udp[i]), append(n.tcp, tcp[i])
		n.wg.Go(func() { n.silent.serveUDP(udp[i], s.Addr, func(Query) {}) })
		n.wg.Go(func() { n.silent.serveTCP(tcp[i], s.Addr, func(Query) {}, &n.wg) })
	}
	if n.tmp, err = os.MkdirTemp("", "testnet-nsd-"); err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	for i, g := range nsdGroups(sb.servers) {
		p, err := n.startProc(nsd, filepath.Join(n.tmp, fmt.Sprintf("nsd%d", i)), g)
		if err != nil {
			return nil, err
		}
		n.procs = append(n.procs, p)
	}
	// The instances start in parallel; wait for each in turn.
	ctx, cancel := context.WithTimeout(context.Background(), nsdReadyTimeout)
	defer cancel()
	for _, p := range n.procs {
		if err := p.waitReady(ctx, port); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// nsdGroup is the servers one nsd instance runs: same zones, same mode.
type nsdGroup struct {
	zones   []string
	servers []Server
}

// nsdGroups groups the auth and lame servers by the zones they serve, in
// the order of network.conf.
func nsdGroups(servers []Server) []nsdGroup {
	var groups []nsdGroup
	index := map[string]int{}
	for _, s := range servers {
		if s.Mode == ModeDead {
			continue
		}
		key := strings.Join(s.Zones, " ")
		i, ok := index[key]
		if !ok {
			i = len(groups)
			index[key] = i
			groups = append(groups, nsdGroup{zones: s.Zones})
		}
		groups[i].servers = append(groups[i].servers, s)
	}
	return groups
}

// startProc writes an nsd.conf and the zone files of g into dir and starts
// nsd in the foreground on them.
func (n *NSDNetwork) startProc(nsd, dir string, g nsdGroup) (*nsdProc, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	// The zones as loaded, signed and broken as signing.conf says.
	for _, origin := range g.zones {
		if err := writeZoneFile(filepath.Join(dir, zoneFileName(origin)), n.sb.zones[origin]); err != nil {
			return nil, fmt.Errorf("testnet: %w", err)
		}
	}
	conf := filepath.Join(dir, "nsd.conf")
	if err := os.WriteFile(conf, []byte(nsdConf(dir, n.port, g)), 0o644); err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	p := &nsdProc{dir: dir, exited: make(chan struct{})}
	for _, s := range g.servers {
		p.addrs = append(p.addrs, s.Addr)
	}
	p.cmd = exec.Command(nsd, "-d", "-c", conf)
	p.cmd.Dir = dir
	var stderr bytes.Buffer
	p.cmd.Stdout, p.cmd.Stderr = &stderr, &stderr
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("testnet: start nsd: %w", err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		if stderr.Len() > 0 {
			n.logger.Debug("testnet nsd output", "dir", dir, "output", stderr.String())
		}
		close(p.exited)
	}()
	return p, nil
}

// nsdConf is the configuration of one instance: its addresses on port, no
// privilege drop or chroot, every file in dir, no rate limiting (Debian
// enables RRL, which would drop a test's bursts), and the zones of g.
func nsdConf(dir string, port uint16, g nsdGroup) string {
	var b strings.Builder
	b.WriteString("server:\n")
	for _, s := range g.servers {
		fmt.Fprintf(&b, "\tip-address: %s@%d\n", s.Addr, port)
	}
	fmt.Fprintf(&b, "\tport: %d\n", port)
	for _, line := range []string{
		`username: ""`,
		`chroot: ""`,
		fmt.Sprintf("zonesdir: %q", dir),
		fmt.Sprintf("pidfile: %q", filepath.Join(dir, "nsd.pid")),
		`database: ""`,
		fmt.Sprintf("zonelistfile: %q", filepath.Join(dir, "zone.list")),
		fmt.Sprintf("xfrdfile: %q", filepath.Join(dir, "xfrd.state")),
		fmt.Sprintf("xfrdir: %q", dir),
		fmt.Sprintf("logfile: %q", filepath.Join(dir, "nsd.log")),
		"verbosity: 0",
		"server-count: 1",
		"hide-version: yes",
		"rrl-ratelimit: 0",
		"reuseport: no",
	} {
		fmt.Fprintf(&b, "\t%s\n", line)
	}
	b.WriteString("remote-control:\n\tcontrol-enable: no\n")
	for _, origin := range g.zones {
		fmt.Fprintf(&b, "zone:\n\tname: %q\n\tzonefile: %q\n", origin, zoneFileName(origin))
	}
	return b.String()
}

// waitReady polls every address of p with a SOA query until each answers,
// the process exits or ctx ends.
func (p *nsdProc) waitReady(ctx context.Context, port uint16) error {
	c := &dns.Client{Net: "udp", Timeout: 200 * time.Millisecond}
	m := new(dns.Msg).SetQuestion(".", dns.TypeSOA)
	for _, addr := range p.addrs {
		target := netip.AddrPortFrom(addr, port).String()
		for {
			if _, _, err := c.ExchangeContext(ctx, m, target); err == nil {
				break
			}
			select {
			case <-p.exited:
				return fmt.Errorf("testnet: nsd in %s exited (%v): %s", p.dir, p.waitErr, p.logTail())
			case <-ctx.Done():
				return fmt.Errorf("testnet: nsd in %s not answering on %s: %s", p.dir, target, p.logTail())
			case <-time.After(nsdPollEvery):
			}
		}
	}
	return nil
}

// logTail returns the end of the instance's log, for error messages.
func (p *nsdProc) logTail() string {
	data, err := os.ReadFile(filepath.Join(p.dir, "nsd.log"))
	if err != nil {
		return "no log"
	}
	const keep = 800
	if len(data) > keep {
		data = data[len(data)-keep:]
	}
	return strings.TrimSpace(string(data))
}

// stop ends the process: SIGTERM, then SIGKILL if it lingers.
func (p *nsdProc) stop() error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(nsdStopTimeout):
	}
	p.cmd.Process.Kill()
	<-p.exited
	return fmt.Errorf("testnet: nsd in %s ignored SIGTERM", p.dir)
}

// Port is the port every server listens on, UDP and TCP.
func (n *NSDNetwork) Port() uint16 { return n.port }

// RootHints names the sandbox's root servers and their addresses.
func (n *NSDNetwork) RootHints() *roothints.Hints { return cloneHints(n.sb.hints) }

// Servers lists the servers as network.conf describes them.
func (n *NSDNetwork) Servers() []Server { return cloneServers(n.sb.servers) }

// Close stops every nsd and silent server and removes the temporary files.
func (n *NSDNetwork) Close() error {
	n.closeOnce.Do(func() {
		var errs []error
		var stopping sync.WaitGroup
		errc := make(chan error, len(n.procs))
		for _, p := range n.procs {
			stopping.Go(func() { errc <- p.stop() })
		}
		stopping.Wait()
		close(errc)
		for err := range errc {
			errs = append(errs, err)
		}
		for _, pc := range n.udp {
			pc.Close()
		}
		for _, l := range n.tcp {
			l.Close()
		}
		n.silent.closeConns()
		n.wg.Wait()
		if n.tmp != "" {
			errs = append(errs, os.RemoveAll(n.tmp))
		}
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}
