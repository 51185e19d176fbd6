// Command delayproxy sits between a resolver and authoritative servers on
// loopback and adds a fixed delay to every DNS round trip, over UDP and TCP,
// so that make bench can measure cold-resolution latency as a resolver
// would see it across a network. It forwards only between loopback
// addresses and refuses anything else.
//
//	delayproxy -delay 10ms -source 127.0.0.2 \
//	    -map 127.53.0.1:15354=127.53.0.1:15353,127.53.1.1:15354=127.53.1.1:15353
//
// It prints "ready" on stdout once every listener is open and runs until
// interrupted.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// route is one listening address and the server it forwards to.
type route struct {
	listen, upstream netip.AddrPort
}

// parseRoutes reads "LISTEN=UPSTREAM,..." and insists on loopback at both
// ends: the proxy is a bench tool and must never reach past this machine.
func parseRoutes(s string) ([]route, error) {
	var routes []route
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		l, u, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("route %q: want LISTEN=UPSTREAM", item)
		}
		var r route
		var err error
		if r.listen, err = netip.ParseAddrPort(l); err != nil {
			return nil, fmt.Errorf("route %q: listen address: %w", item, err)
		}
		if r.upstream, err = netip.ParseAddrPort(u); err != nil {
			return nil, fmt.Errorf("route %q: upstream address: %w", item, err)
		}
		if !r.listen.Addr().IsLoopback() || !r.upstream.Addr().IsLoopback() {
			return nil, fmt.Errorf("route %q: both ends must be loopback addresses", item)
		}
		if r.listen == r.upstream {
			return nil, fmt.Errorf("route %q: forwards to itself", item)
		}
		routes = append(routes, r)
	}
	if len(routes) == 0 {
		return nil, fmt.Errorf("no routes: give -map LISTEN=UPSTREAM[,...]")
	}
	return routes, nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "delayproxy:", err)
		os.Exit(1)
	}
}

func run() error {
	mapping := flag.String("map", "", "LISTEN=UPSTREAM[,...]: loopback address:port pairs")
	delay := flag.Duration("delay", 10*time.Millisecond, "delay added to every round trip")
	source := flag.String("source", "", "local address of the sockets towards upstream (loopback)")
	timeout := flag.Duration("timeout", 5*time.Second, "bound on one upstream exchange")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	routes, err := parseRoutes(*mapping)
	if err != nil {
		return err
	}
	if *delay < 0 {
		return fmt.Errorf("-delay %v: must not be negative", *delay)
	}
	p := &Proxy{Delay: *delay, Timeout: *timeout}
	if *source != "" {
		if p.Source, err = netip.ParseAddr(*source); err != nil || !p.Source.IsLoopback() {
			return fmt.Errorf("-source %q: want a loopback address", *source)
		}
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	type server struct {
		pc net.PacketConn
		ln net.Listener
		r  route
	}
	var servers []server
	for _, r := range routes {
		pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(r.listen))
		if err != nil {
			return err
		}
		ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(r.listen))
		if err != nil {
			return err
		}
		servers = append(servers, server{pc, ln, r})
	}
	errs := make(chan error, 2*len(servers))
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(func() { errs <- p.ServeUDP(ctx, s.pc, s.r.upstream) })
		wg.Go(func() { errs <- p.ServeTCP(ctx, s.ln, s.r.upstream) })
	}
	fmt.Println("ready")
	var first error
	select {
	case <-ctx.Done():
	case first = <-errs:
		cancel()
	}
	wg.Wait()
	return first
}
