package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/recursor-dns/recursor/server"
)

func init() { extraCommands = append(extraCommands, newServeCommand) }

// serveFlags are the flags of `recursor serve` beyond the engine's.
type serveFlags struct {
	config       string
	listen       []string
	allow        []string
	logQueries   bool
	verbose      bool
	maxInFlight  int
	maxPerClient int
	maxUDPSize   int
	maxTCPConns  int
	threads      int // 0: GOMAXPROCS
	tcpIdle      time.Duration
	grace        time.Duration

	// Operations (ops.go): the control socket and the cache file.
	controlSocket string
	memoryLimit   string // as GOMEMLIMIT; empty: the environment's
	cacheFile     string
	// cmdline: the flags given on the command line, which a reload
	// applies again over the re-read config file; flags: the flag set.
	cmdline []flagSetting
	flags   *pflag.FlagSet
	observe observeFlags

	// Identity, logs, access control and privileges (serverops.go).
	srvops serverOpsFlags

	cookies cookieFlags // cookies.go

	transports transportFlags // DoT, DoH, DoQ (transports.go)
}

// register adds the server's own flags; configFile lists them as the
// [server] section of the config file.
func (f *serveFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.listen, "listen", nil, "ADDR:PORT to serve on, UDP and TCP (repeatable; default 127.0.0.1:53 and [::1]:53, skipping either with a warning when the host lacks it)")
	fs.StringArrayVar(&f.allow, "allow", nil, "client network (CIDR or address) allowed to query, shorthand for --access-control NET=allow (repeatable; default loopback only)")
	fs.BoolVar(&f.logQueries, "log-queries", false, "log one line per client query")
	fs.BoolVarP(&f.verbose, "verbose", "v", false, "log debug lines (every upstream exchange)")
	fs.IntVar(&f.maxInFlight, "max-in-flight", server.DefaultMaxInFlight, "client queries waiting for the engine at once; more are dropped (UDP) or get SERVFAIL (TCP)")
	fs.IntVar(&f.maxPerClient, "max-per-client", server.DefaultMaxPerClient, "queries one client address may have waiting for the engine")
	fs.IntVar(&f.maxUDPSize, "max-udp-size", server.DefaultMaxUDPSize, "EDNS buffer size advertised and largest UDP answer sent")
	fs.IntVar(&f.maxTCPConns, "max-tcp-conns", server.DefaultMaxTCPConns, "open TCP connections at most")
	fs.IntVar(&f.threads, "threads", 0, "cores to serve with, as Unbound's num-threads: sets GOMAXPROCS and opens that many UDP sockets and TCP listeners on each --listen address (SO_REUSEPORT; one elsewhere than Linux); 0: GOMAXPROCS, one per core")
	fs.DurationVar(&f.tcpIdle, "tcp-idle-timeout", server.DefaultTCPIdleTimeout, "close TCP connections idle this long")
	fs.DurationVar(&f.grace, "shutdown-grace", server.DefaultShutdownGrace, "on SIGINT/SIGTERM, let in-flight queries finish this long")

	fs.StringVar(&f.controlSocket, "control-socket", "", "Unix socket (mode 0600) for `recursor control`; empty: none")
	fs.StringVar(&f.cacheFile, "cache-file", "", "load the cache from this file at start and write it there on shutdown; empty: none")
	fs.StringVar(&f.memoryLimit, "memory-limit", "", "soft limit of the Go runtime's memory (as GOMEMLIMIT: the collector works harder near it), a number with an optional k, m or g suffix; empty: GOMEMLIMIT's, or none")
	f.observe.register(fs)
	f.srvops.register(fs)

	f.cookies.register(fs)

	f.transports.register(fs)
}

func newServeCommand() *cobra.Command {
	var (
		ef engineFlags
		sf serveFlags
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Answer DNS clients on UDP and TCP (port 53 by default)",
		Long: `Serve answers recursive queries from clients on UDP and TCP until SIGINT or
SIGTERM, then finishes the queries in flight and exits 0. Only loopback
clients are answered unless --allow or --access-control says otherwise.
Started as root it runs as --user once its sockets are bound, and refuses
to stay root without --allow-root. Settings may also come
from a TOML file (--config, see docs/recursor.example.toml); flags given on
the command line win over the file. --tls-listen, --https-listen and
--quic-listen add DNS over TLS, HTTPS and QUIC (with --tls-cert/--tls-key).`,
		Example: `  recursor serve --sandbox --listen 127.0.0.1:5353   # then: dig @127.0.0.1 -p 5353 www.example.com
  recursor serve --listen 192.0.2.1:53 --allow 192.0.2.0/24 --log-queries
  recursor serve --config /etc/recursor.toml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sf.cmdline, sf.flags = commandLine(cmd.Flags()), cmd.Flags()
			if sf.config != "" {
				if err := loadConfigFile(sf.config, cmd.Flags()); err != nil {
					return err
				}
			}
			level := slog.LevelInfo
			if sf.verbose {
				level = slog.LevelDebug
			}
			log, err := sf.srvops.logger(cmd.ErrOrStderr(), level)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(contextOf(cmd), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runServe(ctx, &ef, &sf, log)
		},
	}
	cmd.Flags().StringVar(&sf.config, "config", "", "read settings from this TOML file (flags override it)")
	sf.register(cmd.Flags())
	ef.register(cmd.Flags())
	return cmd
}

func contextOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// runServe builds the engine and the server and serves until ctx ends.
func runServe(ctx context.Context, ef *engineFlags, sf *serveFlags, log *slog.Logger) error {
	allow, err := parseAllow(sf.allow)
	if err != nil {
		return err
	}
	for _, v := range []struct {
		name string
		n    int
	}{{"--max-in-flight", sf.maxInFlight}, {"--max-per-client", sf.maxPerClient}, {"--max-tcp-conns", sf.maxTCPConns}} {
		if v.n < 1 {
			return fmt.Errorf("%s %d: must be at least 1", v.name, v.n)
		}
	}
	if sf.threads < 0 {
		return fmt.Errorf("--threads %d: want 0 (one per core) or more", sf.threads)
	}
	if sf.threads > 0 {
		// The cores the engine and the readers share: with fewer Ps
		// than sockets, readers would wait for each other.
		runtime.GOMAXPROCS(sf.threads)
	}
	if sf.maxUDPSize < 512 || sf.maxUDPSize > 65535 {
		return fmt.Errorf("--max-udp-size %d: must be 512 to 65535", sf.maxUDPSize)
	}
	if sf.tcpIdle <= 0 || sf.grace <= 0 {
		return fmt.Errorf("--tcp-idle-timeout and --shutdown-grace must be positive")
	}
	if sf.memoryLimit != "" {
		limit, err := parseSize(sf.memoryLimit)
		if err != nil || limit < 32<<20 {
			return fmt.Errorf("--memory-limit %q: want a size of at least 32MiB", sf.memoryLimit)
		}
		debug.SetMemoryLimit(limit)
	}
	become, err := sf.srvops.plannedIdentity(os.Geteuid())
	if err != nil {
		return err
	}
	obs, err := sf.observe.setUp(ef, log, sf.controlSocket != "")
	if err != nil {
		return err
	}
	defer obs.stop()
	e, err := ef.build(log)
	if err != nil {
		return err
	}
	defer e.Close()
	live := &liveEngine{}
	live.p.Store(e.resolver)
	scfg := server.Config{
		Backend:        live,
		Listen:         sf.listen,
		Allow:          allow,
		MaxInFlight:    sf.maxInFlight,
		MaxPerClient:   sf.maxPerClient,
		MaxUDPSize:     sf.maxUDPSize,
		TCPIdleTimeout: sf.tcpIdle,
		MaxTCPConns:    sf.maxTCPConns,
		Threads:        sf.threads,
		QueryTimeout:   ef.timeout, // a client never waits longer than the engine works
		ShutdownGrace:  sf.grace,
		Logger:         log,
		LogQueries:     sf.logQueries,
	}
	obs.serverConfig(&scfg)
	if err := sf.srvops.serverConfig(&scfg); err != nil {
		return err
	}
	if err := sf.cookies.apply(&scfg); err != nil {
		return err
	}
	if err := sf.transports.apply(&scfg); err != nil {
		return err
	}
	srv, err := server.New(scfg)
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "server: "))
	}
	ef.rpz.notify(srv.FlushAnswers)
	if e.network != nil {
		log.Info("sandbox", "upstream_port", e.network.Port())
	}
	obs.start(ctx, srv, e, log)
	ops := &operations{ef: ef, sf: sf, log: log, live: live, srv: srv, network: e.network, metrics: obs.metrics}
	if err := ops.start(ctx); err != nil {
		return err
	}
	if err := dropPrivileges(srv, become, sf, log); err != nil {
		ops.stop(false)
		return err
	}
	err = srv.Serve(ctx)
	ops.stop(err == nil)
	return err
}

// parseAllow reads --allow values: CIDR prefixes or single addresses.
func parseAllow(vals []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range vals {
		p, err := parsePrefixOrAddr(v)
		if err != nil {
			return nil, fmt.Errorf("--allow %q: %w", v, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefixOrAddr(v string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(v); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not a CIDR prefix or address")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
