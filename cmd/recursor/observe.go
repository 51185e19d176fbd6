package main

// The observation flags of `recursor serve`: Prometheus metrics
// (--metrics-listen) and dnstap (--dnstap-socket, --dnstap-file).

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"

	"github.com/spf13/pflag"

	"github.com/recursor-dns/recursor/metrics"
	"github.com/recursor-dns/recursor/server"
	"github.com/recursor-dns/recursor/tap"
)

// observeFlags are the metrics and dnstap flags, in [server].
type observeFlags struct {
	metricsListen string
	dnstapSocket  string
	dnstapFile    string
	dnstapQueue   int
}

func (f *observeFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.metricsListen, "metrics-listen", "", "serve Prometheus metrics on http://ADDR:PORT/metrics (default off; keep it on loopback or a management network)")
	fs.StringVar(&f.dnstapSocket, "dnstap-socket", "", "log client and upstream queries and responses in dnstap format to this Unix socket (Frame Streams; default off)")
	fs.StringVar(&f.dnstapFile, "dnstap-file", "", "log client and upstream queries and responses in dnstap format to this file, truncated at start (default off)")
	fs.IntVar(&f.dnstapQueue, "dnstap-queue", tap.DefaultQueueSize, "dnstap messages waiting to be written at most; more are dropped (and counted)")
}

// observers are the metrics registry and dnstap output of a server, and
// the goroutines that serve them.
type observers struct {
	metrics  *metrics.Registry // nil when off
	tap      *tap.Tap          // nil when off
	listener net.Listener      // of the metrics
	wg       sync.WaitGroup
	cancel   context.CancelFunc
}

// setUp checks the flags, binds the metrics address and makes the tap, and
// hands them to the engine's configuration. withRegistry keeps metrics
// without --metrics-listen too, for the control socket's stats.
func (f *observeFlags) setUp(ef *engineFlags, log *slog.Logger, withRegistry bool) (*observers, error) {
	o := &observers{}
	if f.dnstapSocket != "" && f.dnstapFile != "" {
		return nil, fmt.Errorf("--dnstap-socket and --dnstap-file: choose one")
	}
	if f.dnstapSocket != "" || f.dnstapFile != "" {
		if f.dnstapQueue < 1 {
			return nil, fmt.Errorf("--dnstap-queue %d: must be at least 1", f.dnstapQueue)
		}
		identity, _ := os.Hostname()
		t, err := tap.New(tap.Config{Socket: f.dnstapSocket, File: f.dnstapFile, QueueSize: f.dnstapQueue,
			Identity: identity, Version: "recursor " + version(), Logger: log})
		if err != nil {
			return nil, err
		}
		o.tap = t
		ef.hooks.Tap = t
	}
	if f.metricsListen != "" {
		if _, err := server.ParseListen(f.metricsListen); err != nil {
			return nil, fmt.Errorf("--metrics-listen: %w", err)
		}
		l, err := net.Listen("tcp", f.metricsListen)
		if err != nil {
			return nil, fmt.Errorf("--metrics-listen: %w", err)
		}
		o.listener = l
	}
	if f.metricsListen != "" || withRegistry {
		o.metrics = metrics.New()
		ef.hooks.Metrics = o.metrics
		if o.tap != nil {
			o.metrics.WatchTap(o.tap)
		}
	}
	return o, nil
}

// serverConfig adds the server's hooks to cfg.
func (o *observers) serverConfig(cfg *server.Config) {
	if o.metrics != nil {
		cfg.Metrics = o.metrics
	}
	if o.tap != nil {
		cfg.Tap = o.tap
	}
}

// start serves the metrics and runs the tap until stop.
func (o *observers) start(ctx context.Context, srv *server.Server, e *engine, log *slog.Logger) {
	ctx, o.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if o.metrics != nil {
		o.metrics.WatchServer(srv)
		o.metrics.WatchCache(e.resolver.Cache())
		if t, ok := e.resolver.SharedCache().(metrics.SharedCacheStats); ok {
			o.metrics.WatchSharedCache(t)
		}
	}
	if o.listener != nil {
		log.Info("metrics", "url", "http://"+o.listener.Addr().String()+"/metrics")
		o.wg.Go(func() {
			if err := o.metrics.Serve(ctx, o.listener); err != nil {
				log.Error("metrics server", "err", err)
			}
		})
	}
	if o.tap != nil {
		o.wg.Go(func() {
			if err := o.tap.Run(ctx); err != nil {
				log.Error("dnstap", "err", err)
			}
		})
	}
}

// stop ends the metrics server and writes out the tap's queue.
func (o *observers) stop() {
	if o.cancel != nil {
		o.cancel()
	}
	o.wg.Wait()
	if o.listener != nil {
		o.listener.Close()
	}
}
