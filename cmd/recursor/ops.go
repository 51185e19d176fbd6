package main

// Operations of a running server: the control socket, reload (the control
// command and SIGHUP) and the cache file kept across restarts.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/pflag"

	"github.com/recursor-dns/recursor/control"
	"github.com/recursor-dns/recursor/metrics"
	"github.com/recursor-dns/recursor/resolver"
	"github.com/recursor-dns/recursor/server"
	"github.com/recursor-dns/recursor/testnet"
)

// liveEngine is the server's backend: the running resolver, which a
// reload replaces while queries run, and its background work (prefetch,
// stale refreshes), which moves to the new resolver with it.
type liveEngine struct {
	p atomic.Pointer[resolver.Resolver]

	mu      sync.Mutex
	runCtx  context.Context    // while Run runs
	stopRun context.CancelFunc // ends the running resolver's Run
	runs    sync.WaitGroup
	// run is the background work of a resolver: (*resolver.Resolver).Run
	// when nil (tests watch it through their own).
	run func(*resolver.Resolver, context.Context) error
}

func (l *liveEngine) get() *resolver.Resolver { return l.p.Load() }

// Run runs the background work of the resolver in place, and of each one
// a reload puts in place, until ctx ends (server.BackgroundBackend).
func (l *liveEngine) Run(ctx context.Context) error {
	l.mu.Lock()
	l.runCtx = ctx
	l.runLocked(l.get())
	l.mu.Unlock()
	<-ctx.Done()
	l.runs.Wait()
	return nil
}

// swap puts r in place of the running resolver, and its background work
// in place of the old one's.
func (l *liveEngine) swap(r *resolver.Resolver) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.p.Store(r)
	l.runLocked(r)
}

func (l *liveEngine) runLocked(r *resolver.Resolver) {
	if l.runCtx == nil || l.runCtx.Err() != nil {
		return
	}
	if l.stopRun != nil {
		l.stopRun()
	}
	ctx, cancel := context.WithCancel(l.runCtx)
	l.stopRun = cancel
	run := l.run
	if run == nil {
		run = (*resolver.Resolver).Run
	}
	l.runs.Go(func() { _ = run(r, ctx) })
}

func (l *liveEngine) Resolve(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	return l.get().Resolve(ctx, name, qtype)
}

func (l *liveEngine) ResolveCached(name string, qtype uint16) (*dns.Msg, bool) {
	return l.get().ResolveCached(name, qtype)
}

func (l *liveEngine) Query(ctx context.Context, name string, qtype uint16, opts resolver.Options) (resolver.Answer, error) {
	return l.get().Query(ctx, name, qtype, opts)
}

func (l *liveEngine) QueryCached(name string, qtype uint16, opts resolver.Options) (resolver.Answer, bool) {
	return l.get().QueryCached(name, qtype, opts)
}

// restartOnly are the settings a reload cannot change: every one of the
// server's ([server]: sockets, limits, logging, observers) and those of
// the cache and sandbox that a reload keeps. Every other [resolver]
// setting takes effect on reload.
func restartOnly() []string {
	names := []string{"sandbox", "sandbox-dir", "cache-entries", "cache-max-bytes", "max-ttl", "max-negative-ttl"}
	names = append(names, sharedRestartOnly...)
	fs := pflag.NewFlagSet("server", pflag.ContinueOnError)
	(&serveFlags{}).register(fs)
	fs.VisitAll(func(f *pflag.Flag) {
		if !slices.Contains(reloadableCookieFlags, f.Name) {
			names = append(names, f.Name)
		}
	})
	return names
}

// flagSetting is a flag given on the command line and its values.
type flagSetting struct {
	name   string
	values []string
}

// commandLine returns the flags of fs set so far (on the command line,
// before the config file is read).
func commandLine(fs *pflag.FlagSet) []flagSetting {
	var out []flagSetting
	fs.Visit(func(f *pflag.Flag) {
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			out = append(out, flagSetting{f.Name, sv.GetSlice()})
		} else {
			out = append(out, flagSetting{f.Name, []string{f.Value.String()}})
		}
	})
	return out
}

// operations runs the control socket, reloads and the cache file around
// a server.
type operations struct {
	ef      *engineFlags
	sf      *serveFlags
	log     *slog.Logger
	live    *liveEngine
	srv     *server.Server
	network *testnet.Network  // the sandbox, kept across reloads
	metrics *metrics.Registry // the figures of stats; nil: the server's counters alone

	reloadMu sync.Mutex // one reload at a time
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// start loads the cache file, opens the control socket and starts
// answering it and SIGHUP, until stop.
func (o *operations) start(ctx context.Context) error {
	o.loadCacheFile()
	ctx, o.cancel = context.WithCancel(ctx)
	if path := o.sf.controlSocket; path != "" {
		cs, err := control.Listen(control.Config{
			Path:    path,
			Engine:  o.live.get,
			Stats:   o.stats,
			Trace:   o.trace,
			Reload:  o.reload,
			Changed: func() { o.srv.FlushAnswers() },
			Logger:  o.log,
		})
		if err != nil {
			o.cancel()
			return fmt.Errorf("--control-socket: %w", err)
		}
		o.log.Info("control socket", "path", path)
		o.wg.Go(func() {
			if err := cs.Serve(ctx); err != nil {
				o.log.Error("control socket", "err", err)
			}
		})
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	o.wg.Go(func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := o.reload(io.Discard); err != nil {
					o.log.Error("reload on SIGHUP failed: the running settings stay", "err", err)
				}
			}
		}
	})
	return nil
}

// stop closes the control socket and, after a graceful shutdown, writes
// the cache file.
func (o *operations) stop(graceful bool) {
	o.cancel()
	o.wg.Wait()
	if graceful {
		o.writeCacheFile()
	}
}

// loadCacheFile loads --cache-file. A missing or bad file is logged,
// never fatal: the server starts with what it could load (nothing, for a
// bad file).
func (o *operations) loadCacheFile() {
	name := o.sf.cacheFile
	if name == "" {
		return
	}
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		o.log.Info("no cache file yet: starting cold", "file", name)
		return
	}
	if err != nil {
		o.log.Warn("cache file not loaded", "file", name, "err", err)
		return
	}
	defer f.Close()
	start := time.Now()
	n, err := o.live.get().Cache().Load(f)
	if err != nil {
		o.log.Warn("cache file not loaded: starting cold", "file", name, "err", err)
		return
	}
	o.log.Info("cache file loaded", "file", name, "entries", n, "took", time.Since(start).Round(time.Millisecond))
}

// writeCacheFile writes --cache-file through a temporary file renamed
// into place.
func (o *operations) writeCacheFile() {
	name := o.sf.cacheFile
	if name == "" {
		return
	}
	start := time.Now()
	c := o.live.get().Cache()
	if err := control.WriteFileAtomically(name, c.Dump); err != nil {
		o.log.Error("cache file not written", "file", name, "err", err)
		return
	}
	o.log.Info("cache file written", "file", name, "entries", c.Len(), "took", time.Since(start).Round(time.Millisecond))
}

// stats writes the metrics in Prometheus' text format, the same figures
// as /metrics; without a registry, the server's counters, one "name value"
// line each.
func (o *operations) stats(w io.Writer) error {
	if o.metrics != nil {
		return o.metrics.WriteText(w)
	}
	st := o.srv.Stats()
	c := o.live.get().Cache()
	_, err := fmt.Fprintf(w, "queries %d\ncache_hits %d\nresolved %d\nservfail %d\ndropped %d\npanics %d\nin_flight %d\ntcp_conns %d\ncache_entries %d\ncache_bytes %d\n",
		st.Queries, st.CacheHits, st.Resolved, st.ServFail, st.Dropped, st.Panics, st.InFlight, st.TCPConns, c.Len(), c.Bytes())
	return err
}

// trace resolves in the running engine, printing as resolve --trace.
func (o *operations) trace(ctx context.Context, w io.Writer, name string, qtype uint16) error {
	r := o.live.get()
	if _, ok := r.ResolveCached(name, qtype); ok {
		fmt.Fprintf(w, ";; %s %s is answered from the cache: no upstream exchange (flush it first to see the walk)\n\n", name, dns.Type(qtype))
	}
	return runResolve(ctx, w, r, name, qtype, resolveOptions{trace: true, dnssec: r.Validating()})
}

// reload re-reads the config file over the command line's flags, builds
// a new engine on the running cache (and sandbox) and puts it in place.
// It reloads the certificate of the encrypted listeners first, and only
// that when there is no config file.
// Settings that need a restart are left as they run, and named in the
// log and to w.
func (o *operations) reload(w io.Writer) error {
	o.reloadMu.Lock()
	defer o.reloadMu.Unlock()
	if hasCert, err := o.sf.transports.reloadCertificate(w, o.log); err != nil || (hasCert && o.sf.config == "") {
		return err
	}
	if o.sf.config == "" {
		return errors.New("nothing to reload: the server was started without --config")
	}
	fs := pflag.NewFlagSet("reload", pflag.ContinueOnError)
	var ef engineFlags
	var sf serveFlags
	sf.register(fs)
	ef.register(fs)
	fs.StringVar(&sf.config, "config", "", "")
	for _, s := range o.sf.cmdline {
		for _, v := range s.values {
			if err := fs.Set(s.name, v); err != nil {
				return fmt.Errorf("--%s: %w", s.name, err)
			}
		}
	}
	if err := loadConfigFile(o.sf.config, fs); err != nil {
		return err
	}
	var kept []string
	for _, name := range restartOnly() {
		if fs.Lookup(name).Value.String() != o.sf.flags.Lookup(name).Value.String() {
			kept = append(kept, name)
		}
	}
	rotateCookies, err := o.sf.cookies.reloaded(&sf.cookies, o.log)
	if err != nil {
		return err
	}
	ef.sandbox, ef.sandboxDir = o.ef.sandbox, o.ef.sandboxDir
	ef.keepCache, ef.keepNetwork = o.live.get().Cache(), o.network
	ef.hooks = o.ef.hooks // the new engine reports to the same metrics and dnstap
	ef.rpz.flush, ef.rpz.prev = o.ef.rpz.flush, o.live.get().Policy()
	ef.shared, ef.keepShared = o.ef.shared, o.live.get().SharedCache() // restart-only, as the sandbox
	e, err := ef.build(o.log)
	if err != nil {
		return err
	}
	o.live.swap(e.resolver)
	rotateCookies(o.srv)
	o.srv.FlushAnswers()
	if len(kept) > 0 {
		slices.Sort(kept)
		o.log.Warn("reloaded; these settings changed but need a restart", "config", o.sf.config, "kept", kept)
		_, err = fmt.Fprintf(w, "reloaded %s; changed but kept until a restart: %s\n", o.sf.config, strings.Join(kept, ", "))
		return err
	}
	o.log.Info("reloaded", "config", o.sf.config)
	_, err = fmt.Fprintf(w, "reloaded %s\n", o.sf.config)
	return err
}
