package main

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/pflag"

	recursor "github.com/recursor-dns/recursor"
	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/internal/dnsname"
	"github.com/recursor-dns/recursor/resolver"
	"github.com/recursor-dns/recursor/roothints"
	"github.com/recursor-dns/recursor/sharedcache"
	"github.com/recursor-dns/recursor/testnet"
)

// engineFlags are the flags every command that runs the engine takes.
type engineFlags struct {
	rootHints      string
	upstreamPort   uint16
	noIPv6         bool
	sandbox        bool
	sandboxDir     string
	dontQuery      []string
	privateAddr    []string
	privateDomain  []string
	noLocalZones   bool
	noDefaultZones []string
	qmin           string
	timeout        time.Duration
	maxUpstream    int
	maxCNAMEs      int
	maxDepth       int
	cacheEntries   int
	cacheMaxBytes  string
	maxTTL         time.Duration
	maxNegativeTTL time.Duration
	// DNSSEC
	trustAnchors     []string
	trustAnchorFiles []string
	insecureDomains  []string
	noDNSSEC         bool
	loopbackOnly     bool

	// serve-stale (RFC 8767) and prefetch
	serveStale                bool
	serveExpiredClientTimeout time.Duration
	serveExpiredReplyTTL      time.Duration
	serveExpiredTTL           time.Duration
	prefetch                  bool

	local localDataFlags // --local-zone, --local-data, --local-data-ptr, --hosts
	fwd   forwardFlags   // forward and stub zones (forward.go)

	// What a reload keeps of the running engine (nil: build afresh).
	keepCache   *cache.Cache
	keepNetwork *testnet.Network

	// the fleet's shared cache tier (sharedcache.go), and a reload's
	shared     sharedFlags
	keepShared resolver.SharedCache
	// hooks: the observers serve sets up (metrics, dnstap); not flags
	hooks engineHooks

	// Response policy zones (rpz.go)
	rpz rpzFlags

	sendCookie bool // DNS cookies upstream (cookies.go)
}

// engineHooks are the observation interfaces of the engine.
type engineHooks struct {
	Metrics resolver.Metrics
	Tap     resolver.Tap
}

func (f *engineFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.rootHints, "root-hints", "", "root hints file in named.root format (default: the embedded IANA hints)")
	fs.Uint16Var(&f.upstreamPort, "upstream-port", resolver.DefaultUpstreamPort, "port of the authoritative servers")
	fs.BoolVar(&f.noIPv6, "no-ipv6", false, "never query IPv6 server addresses")
	fs.BoolVar(&f.sandbox, "sandbox", false, "resolve through the built-in loopback testnet (offline)")
	fs.BoolVar(&f.loopbackOnly, "upstream-loopback-only", false, "send upstream queries to loopback addresses only, refusing (and logging) any other: for test labs on 127.0.0.0/8 (--sandbox implies it)")
	fs.StringVar(&f.sandboxDir, "sandbox-dir", "", "with --sandbox: serve this zone tree directory instead of the built-in one")
	fs.StringSliceVar(&f.dontQuery, "dont-query", nil, "network never queried upstream (repeatable; 'none' clears the default private and special-use list)")
	fs.StringSliceVar(&f.privateAddr, "private-address", nil, "remove addresses in this network from answers, against DNS rebinding (repeatable)")
	fs.StringSliceVar(&f.privateDomain, "private-domain", nil, "domain whose answers may hold private addresses (repeatable)")
	fs.BoolVar(&f.noLocalZones, "no-local-zones", false, "send special-use names (localhost., test., invalid., private reverse zones) upstream instead of answering them locally")
	fs.StringSliceVar(&f.noDefaultZones, "no-default-zone", nil, "do not answer this built-in local zone locally, e.g. 10.in-addr.arpa (repeatable)")
	fs.StringVar(&f.qmin, "qname-minimisation", "relaxed", "QNAME minimisation (RFC 9156): off, relaxed or strict")
	fs.DurationVar(&f.timeout, "timeout", resolver.DefaultTimeout, "overall deadline of one query")
	fs.IntVar(&f.maxUpstream, "max-upstream-queries", resolver.DefaultMaxUpstreamQueries, "upstream queries one client query may cause")
	fs.IntVar(&f.maxCNAMEs, "max-cnames", resolver.DefaultMaxCNAMEs, "CNAME and DNAME restarts one query may follow")
	fs.IntVar(&f.maxDepth, "max-depth", resolver.DefaultMaxDepth, "nesting of name server address lookups")
	fs.IntVar(&f.cacheEntries, "cache-entries", cache.DefaultMaxEntries, "entries the cache keeps at most")
	fs.StringVar(&f.cacheMaxBytes, "cache-max-bytes", "256MiB", "estimated bytes the cache keeps at most (RRsets, signatures, proofs and their index): a number with an optional k, m or g suffix (KiB, MiB, GiB), up to 16GiB")
	fs.DurationVar(&f.maxTTL, "max-ttl", cache.DefaultMaxTTL, "cap on cached TTLs")
	fs.DurationVar(&f.maxNegativeTTL, "max-negative-ttl", cache.DefaultMaxNegativeTTL, "cap on cached negative TTLs")
	fs.StringArrayVar(&f.trustAnchors, "trust-anchor", nil, "DNSSEC trust anchor, a DS or DNSKEY record in presentation form, any zone (repeatable)")
	fs.StringArrayVar(&f.trustAnchorFiles, "trust-anchor-file", nil, "file of DNSSEC trust anchors in zone-file format, as Unbound's trust-anchor-file (repeatable)")
	fs.StringSliceVar(&f.insecureDomains, "insecure-domain", nil, "negative trust anchor: do not validate this zone and below (repeatable)")
	fs.BoolVar(&f.noDNSSEC, "no-dnssec", false, "do not validate DNSSEC (default: validate with the root's trust anchors when the IANA root hints are used)")
	f.registerStale(fs)
	f.local.register(fs)
	f.rpz.register(fs)
	f.fwd.register(fs)
	f.registerCookies(fs)
	f.shared.register(fs)
}

// registerStale registers the serve-stale and prefetch flags (Unbound's
// names).
func (f *engineFlags) registerStale(fs *pflag.FlagSet) {
	fs.BoolVar(&f.serveStale, "serve-stale", true, "answer with expired data when its refresh fails or is slow (RFC 8767)")
	fs.DurationVar(&f.serveExpiredClientTimeout, "serve-expired-client-timeout", resolver.DefaultStaleClientTimeout, "how long a client waits for the refresh of expired data before it gets the stale answer; 0: at once, refreshing in the background")
	fs.DurationVar(&f.serveExpiredReplyTTL, "serve-expired-reply-ttl", resolver.DefaultStaleReplyTTL, "TTL of the records of a stale answer")
	fs.DurationVar(&f.serveExpiredTTL, "serve-expired-ttl", resolver.DefaultStaleMaxAge, "how long past its expiry data may be served stale")
	fs.BoolVar(&f.prefetch, "prefetch", true, "refresh a cached answer asked for in the last tenth of its TTL (TTLs of 10 s or more), in the background")
}

// staleConfig reads the serve-stale and prefetch flags.
func (f *engineFlags) staleConfig() (resolver.StaleConfig, resolver.PrefetchConfig, error) {
	for _, v := range []struct {
		name string
		d    time.Duration
	}{{"--serve-expired-client-timeout", f.serveExpiredClientTimeout}, {"--serve-expired-reply-ttl", f.serveExpiredReplyTTL}, {"--serve-expired-ttl", f.serveExpiredTTL}} {
		if v.d < 0 {
			return resolver.StaleConfig{}, resolver.PrefetchConfig{}, fmt.Errorf("%s %v: must not be negative", v.name, v.d)
		}
	}
	if f.serveExpiredReplyTTL > 0 && f.serveExpiredReplyTTL < time.Second {
		return resolver.StaleConfig{}, resolver.PrefetchConfig{}, fmt.Errorf("--serve-expired-reply-ttl %v: TTLs are whole seconds, want 0 or at least 1s", f.serveExpiredReplyTTL)
	}
	sc := resolver.StaleConfig{
		Disable:       !f.serveStale,
		ClientTimeout: f.serveExpiredClientTimeout,
		ReplyTTL:      f.serveExpiredReplyTTL,
		MaxAge:        f.serveExpiredTTL,
	}
	if sc.ClientTimeout == 0 {
		sc.ClientTimeout = -1 // the resolver's "at once"
	}
	return sc, resolver.PrefetchConfig{Disable: !f.prefetch}, nil
}

// dnssecConfig reads the DNSSEC flags.
func (f *engineFlags) dnssecConfig() (resolver.DNSSECConfig, error) {
	dc := resolver.DNSSECConfig{Disable: f.noDNSSEC, InsecureDomains: f.insecureDomains}
	if f.noDNSSEC && (len(f.trustAnchors) > 0 || len(f.trustAnchorFiles) > 0) {
		return dc, fmt.Errorf("--no-dnssec with a trust anchor: choose one")
	}
	for _, s := range f.trustAnchors {
		rr, err := resolver.ParseTrustAnchor(s)
		if err != nil {
			return dc, fmt.Errorf("--trust-anchor: %w", err)
		}
		dc.TrustAnchors = append(dc.TrustAnchors, rr)
	}
	for _, name := range f.trustAnchorFiles {
		file, err := os.Open(name)
		if err != nil {
			return dc, fmt.Errorf("--trust-anchor-file: %w", err)
		}
		rrs, err := resolver.ReadTrustAnchors(file, name)
		file.Close()
		if err != nil {
			return dc, fmt.Errorf("--trust-anchor-file: %w", err)
		}
		dc.TrustAnchors = append(dc.TrustAnchors, rrs...)
	}
	for _, d := range f.insecureDomains {
		if _, ok := dns.IsDomainName(d); !ok {
			return dc, fmt.Errorf("--insecure-domain %q: not a domain name", d)
		}
	}
	return dc, nil
}

// engine is a configured resolver and what must be closed with it.
type engine struct {
	resolver *resolver.Resolver
	network  *testnet.Network // the sandbox, when --sandbox

	shared *sharedcache.Tier // the shared cache tier, when new (closed with it)
}

func (e *engine) Close() {
	if e.network != nil {
		e.network.Close()
	}
	if e.shared != nil {
		e.shared.Close()
	}
}

// build validates the flags and returns the engine they describe.
func (f *engineFlags) build(log *slog.Logger) (*engine, error) {
	for _, v := range []struct {
		name string
		n    int
	}{{"--max-upstream-queries", f.maxUpstream}, {"--max-cnames", f.maxCNAMEs}, {"--max-depth", f.maxDepth}, {"--cache-entries", f.cacheEntries}} {
		if v.n < 1 {
			return nil, fmt.Errorf("%s %d: must be at least 1", v.name, v.n)
		}
	}
	for _, v := range []struct {
		name string
		d    time.Duration
	}{{"--timeout", f.timeout}, {"--max-ttl", f.maxTTL}, {"--max-negative-ttl", f.maxNegativeTTL}} {
		if v.d <= 0 {
			return nil, fmt.Errorf("%s %v: must be positive", v.name, v.d)
		}
	}
	if f.upstreamPort == 0 {
		return nil, fmt.Errorf("--upstream-port 0: must be 1 to 65535")
	}
	dontQuery, err := parseDontQuery(f.dontQuery)
	if err != nil {
		return nil, err
	}
	qmin, err := resolver.ParseQNAMEMinimisation(f.qmin)
	if err != nil {
		return nil, fmt.Errorf("--qname-minimisation: %w", err)
	}
	var private []netip.Prefix
	for _, v := range f.privateAddr {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return nil, fmt.Errorf("--private-address %q: not a CIDR prefix", v)
		}
		private = append(private, p.Masked())
	}
	for _, z := range f.noDefaultZones {
		if c, err := dnsname.Canonical(z); err != nil || !slices.Contains(resolver.DefaultLocalZones(), c) {
			return nil, fmt.Errorf("--no-default-zone %q: not a built-in local zone (they are: %s)", z, strings.Join(resolver.DefaultLocalZones()[:6], ", ")+", and private reverse zones")
		}
	}
	for _, d := range f.privateDomain {
		if _, ok := dns.IsDomainName(d); !ok {
			return nil, fmt.Errorf("--private-domain %q: not a domain name", d)
		}
	}
	dnssecCfg, err := f.dnssecConfig()
	if err != nil {
		return nil, err
	}
	staleCfg, prefetchCfg, err := f.staleConfig()
	if err != nil {
		return nil, err
	}
	localData, err := f.local.table()
	if err != nil {
		return nil, err
	}
	cfg := resolver.Config{
		DNSSEC:            dnssecCfg,
		UpstreamPort:      f.upstreamPort,
		DisableIPv6:       f.noIPv6,
		Logger:            log,
		DontQuery:         dontQuery,
		QNAMEMinimisation: qmin,
		PrivateAddress:    private,
		PrivateDomain:     f.privateDomain,
		DisableLocalZones: f.noLocalZones,
		NoDefaultZones:    f.noDefaultZones,
		Metrics:           f.hooks.Metrics,
		Tap:               f.hooks.Tap,
		Cache:             f.keepCache,
		Limits: resolver.Limits{
			MaxUpstreamQueries: f.maxUpstream, MaxCNAMEs: f.maxCNAMEs, MaxDepth: f.maxDepth, Timeout: f.timeout,
		},
		Stale:    staleCfg,
		Prefetch: prefetchCfg,
	}
	cfg.LocalData = localData
	cfg.DisableCookies = !f.sendCookie
	if cfg.Cache == nil {
		maxBytes, err := parseSize(f.cacheMaxBytes)
		if err != nil {
			return nil, fmt.Errorf("--cache-max-bytes: %w", err)
		}
		if maxBytes < 1<<20 || maxBytes > 16<<30 {
			return nil, fmt.Errorf("--cache-max-bytes %s: must be 1MiB to 16GiB", f.cacheMaxBytes)
		}
		cfg.Cache = cache.New(cache.Config{MaxEntries: f.cacheEntries, MaxBytes: maxBytes, MaxTTL: f.maxTTL, MaxNegativeTTL: f.maxNegativeTTL})
	}
	if f.rootHints != "" {
		file, err := os.Open(f.rootHints)
		if err != nil {
			return nil, fmt.Errorf("--root-hints: %w", err)
		}
		defer file.Close()
		if cfg.RootHints, err = roothints.Parse(file); err != nil {
			return nil, fmt.Errorf("--root-hints %s: %w", f.rootHints, err)
		}
	}
	e := &engine{}
	if cfg.SharedCache, e.shared, err = f.shared.build(f.keepShared, log); err != nil {
		return nil, err
	}
	if f.sandbox {
		if f.rootHints != "" {
			return nil, fmt.Errorf("--sandbox and --root-hints: choose one")
		}
		if e.network = f.keepNetwork; e.network == nil {
			if e.network, err = startSandbox(f.sandboxDir, log); err != nil {
				return nil, err
			}
		}
		cfg.RootHints = e.network.RootHints()
		cfg.UpstreamPort = e.network.Port()
		if !f.noDNSSEC && !slices.ContainsFunc(cfg.DNSSEC.TrustAnchors, func(rr dns.RR) bool { return rr.Header().Name == "." }) {
			// The sandbox's root signs with keys of its own.
			cfg.DNSSEC.TrustAnchors = append(cfg.DNSSEC.TrustAnchors, e.network.TrustAnchor()...)
		}
		if f.dontQuery == nil {
			cfg.DontQuery = []netip.Prefix{} // the sandbox lives on loopback
		}
		// And it stays there: whatever a zone file says, no query of the
		// sandbox leaves the machine.
		f.loopbackOnly = true
	}
	if err := f.fwd.apply(&cfg, f.loopbackOnly); err != nil {
		if f.keepNetwork == nil {
			e.Close()
		}
		return nil, err
	}
	cfg.Transport = f.transport(log)
	if cfg.Policy, err = f.rpz.policy(log, f.hooks.Metrics); err != nil {
		return nil, err
	}
	if e.resolver, err = resolver.New(cfg); err != nil {
		if f.keepNetwork == nil { // a reload's failure leaves the running sandbox be
			e.Close()
		}
		return nil, err
	}
	return e, nil
}

// parseDontQuery turns --dont-query values into prefixes: nil keeps the
// default list, "none" clears it.
func parseDontQuery(vals []string) ([]netip.Prefix, error) {
	if vals == nil {
		return nil, nil
	}
	out := []netip.Prefix{}
	for _, v := range vals {
		if strings.EqualFold(v, "none") {
			out = out[:0]
			continue
		}
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				return nil, fmt.Errorf("--dont-query %q: not a CIDR prefix or address", v)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// startSandbox serves the sandbox zone tree (dir, or the embedded one) on
// loopback.
func startSandbox(dir string, log *slog.Logger) (*testnet.Network, error) {
	cfg := testnet.Config{Dir: filepath.Clean(dir), Logger: log}
	if dir == "" {
		sub, err := fs.Sub(recursor.Sandbox, "testdata/sandbox")
		if err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
		cfg = testnet.Config{FS: sub, Logger: log}
	}
	n, err := testnet.Start(cfg)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	return n, nil
}

// transport is the engine's upstream transport: nil (the resolver's own)
// unless queries must stay on loopback.
func (f *engineFlags) transport(log *slog.Logger) resolver.Transport {
	if !f.loopbackOnly {
		return nil
	}
	return loopbackOnly{next: &resolver.NetTransport{}, log: log}
}

// loopbackOnly refuses to send queries anywhere but loopback addresses,
// and says so in the log: a test lab that leaks shows it. It passes on
// ExchangeTimed too, so the engine still learns which exchanges went over
// TCP (the upstream metrics' transport label) and times each try itself.
type loopbackOnly struct {
	next *resolver.NetTransport
	log  *slog.Logger
}

var _ resolver.TimedTransport = loopbackOnly{}

func (l loopbackOnly) Exchange(ctx context.Context, m *dns.Msg, server netip.AddrPort) (*dns.Msg, time.Duration, error) {
	if err := l.check(server); err != nil {
		return nil, 0, err
	}
	return l.next.Exchange(ctx, m, server)
}

func (l loopbackOnly) ExchangeTimed(ctx context.Context, m *dns.Msg, server netip.AddrPort, timeout time.Duration) (*dns.Msg, time.Duration, bool, error) {
	if err := l.check(server); err != nil {
		return nil, 0, false, err
	}
	return l.next.ExchangeTimed(ctx, m, server, timeout)
}

// check refuses, and logs, a server that is not on loopback.
func (l loopbackOnly) check(server netip.AddrPort) error {
	if server.Addr().Unmap().IsLoopback() {
		return nil
	}
	err := fmt.Errorf("%s is not a loopback address: not sent", server)
	if l.log != nil {
		l.log.Error("upstream query refused", "err", err)
	}
	return err
}
