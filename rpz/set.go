package rpz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/resolver"
)

// Source is where one policy zone comes from: a zone file, or a primary
// that serves it by zone transfer (as Unbound's rpz: zonefile and
// primary).
type Source struct {
	// Name is the zone's origin, and the policy's name in logs,
	// metrics and Extended DNS Error texts.
	Name string
	// File is a zone file to read (and re-read on Reload).
	File string
	// Primary is the ADDR:PORT of a server to transfer the zone from.
	Primary netip.AddrPort
}

func (s Source) String() string {
	if s.File != "" {
		return s.Name + "=file:" + s.File
	}
	return s.Name + "=axfr:" + s.Primary.String()
}

// ParseSource reads a policy zone's source as the --rpz flag gives it:
// NAME=file:PATH or NAME=axfr:ADDR[:PORT] (port 53 when absent; an IPv6
// address with a port in brackets).
func ParseSource(spec string) (Source, error) {
	name, where, ok := strings.Cut(spec, "=")
	if _, isName := dns.IsDomainName(name); !ok || name == "" || !isName {
		return Source{}, fmt.Errorf("rpz %q: want NAME=file:PATH or NAME=axfr:ADDR[:PORT]", spec)
	}
	src := Source{Name: canonical(name)}
	kind, arg, _ := strings.Cut(where, ":")
	switch kind {
	case "file":
		if arg == "" {
			return Source{}, fmt.Errorf("rpz %q: file: without a path", spec)
		}
		src.File = arg
	case "axfr":
		ap, err := netip.ParseAddrPort(arg)
		if err != nil {
			addr, aerr := netip.ParseAddr(strings.Trim(arg, "[]"))
			if aerr != nil {
				return Source{}, fmt.Errorf("rpz %q: primary %q: want ADDR or ADDR:PORT", spec, arg)
			}
			ap = netip.AddrPortFrom(addr, 53)
		}
		src.Primary = ap
	default:
		return Source{}, fmt.Errorf("rpz %q: want NAME=file:PATH or NAME=axfr:ADDR[:PORT]", spec)
	}
	return src, nil
}

// Config configures a Set.
type Config struct {
	// Zones are the policy zones in order: the first that matches a name
	// (or an address) decides, as in BIND and Unbound.
	Zones []Source
	// Logger receives load and transfer lines and, unless Quiet, one
	// Info line per hit. Nil discards.
	Logger *slog.Logger
	Quiet  bool
	// Hit counts one hit (package metrics); nil counts nothing.
	Hit func(policy string, kind resolver.PolicyKind)
	// Loaded is told every load of a zone, failed ones with err (the
	// last good policy stays): a server flushes answers it kept, tests
	// wait on it. It must not block.
	Loaded func(name string, serial uint32, err error)
	// After is the timer of transfer refreshes and retries; default
	// time.After. Tests inject their own.
	After func(time.Duration) <-chan time.Time
	// Timeout bounds one transfer; default DefaultTransferTimeout.
	Timeout time.Duration
	// Previous is the Set this one replaces (a reload's): its zones from
	// the same primaries serve until the first transfer here, so that a
	// reload leaves no moment without the policy.
	Previous *Set
}

// DefaultTransferTimeout bounds one zone transfer; DefaultRetry is the
// wait after a failed transfer before the zone's SOA says how long.
const (
	DefaultTransferTimeout = 30 * time.Second
	DefaultRetry           = 30 * time.Second
)

// Set is an ordered list of policy zones, the resolver's Policy. Each
// zone is replaced whole when it reloads; a query sees one version of it.
type Set struct {
	cfg   Config
	log   *slog.Logger
	zones []*source
}

// source is one policy zone and its current version (nil until loaded).
type source struct {
	Source
	cur atomic.Pointer[Zone]
	// mu serialises loads of the zone (Reload against Reload).
	mu sync.Mutex
}

var _ resolver.Policy = (*Set)(nil)

// New returns a Set for cfg. Zone files are read now: an error names the
// file and record. Zones from primaries are empty until Run transfers
// them.
func New(cfg Config) (*Set, error) {
	s := &Set{cfg: cfg, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.cfg.After == nil {
		s.cfg.After = time.After
	}
	if s.cfg.Timeout <= 0 {
		s.cfg.Timeout = DefaultTransferTimeout
	}
	seen := map[string]bool{}
	for _, z := range cfg.Zones {
		z.Name = canonical(z.Name)
		if seen[z.Name] {
			return nil, fmt.Errorf("rpz: zone %s given twice", z.Name)
		}
		if (z.File == "") == !z.Primary.IsValid() {
			return nil, fmt.Errorf("rpz: zone %s: want a file or a primary", z.Name)
		}
		seen[z.Name] = true
		src := &source{Source: z}
		if z.File != "" {
			if err := s.loadFile(src); err != nil {
				return nil, err
			}
		} else if cfg.Previous != nil {
			for _, old := range cfg.Previous.zones {
				if old.Source == z {
					src.cur.Store(old.cur.Load())
				}
			}
		}
		s.zones = append(s.zones, src)
	}
	return s, nil
}

// Reload re-reads every zone file. A file that fails keeps its last
// policy in place; the errors are returned, joined. Transferred zones
// are left to their refresh timers.
func (s *Set) Reload() error {
	var errs []error
	for _, src := range s.zones {
		if src.File != "" {
			errs = append(errs, s.loadFile(src))
		}
	}
	return errors.Join(errs...)
}

func (s *Set) loadFile(src *source) error {
	src.mu.Lock()
	defer src.mu.Unlock()
	f, err := os.Open(src.File)
	if err != nil {
		s.loaded(src, nil, fmt.Errorf("rpz: zone %s: %w", src.Name, err))
		return fmt.Errorf("rpz: zone %s: %w", src.Name, err)
	}
	defer f.Close()
	z, err := ParseFile(f, src.Name, src.File)
	if err != nil {
		err = fmt.Errorf("rpz: zone %s: %w", src.Name, err)
	}
	s.loaded(src, z, err)
	return err
}

// loaded puts z in place (unless err) and says so.
func (s *Set) loaded(src *source, z *Zone, err error) {
	if err != nil {
		s.log.Warn("rpz: load failed, the last policy stays", "policy", src.Name, "source", src.Source.String(), "err", err)
		if s.cfg.Loaded != nil {
			var serial uint32
			if cur := src.cur.Load(); cur != nil {
				serial = cur.Serial()
			}
			s.cfg.Loaded(src.Name, serial, err)
		}
		return
	}
	src.cur.Store(z)
	s.log.Info("rpz: policy loaded", "policy", src.Name, "serial", z.Serial(), "triggers", z.Len(), "skipped", z.Skipped)
	if s.cfg.Loaded != nil {
		s.cfg.Loaded(src.Name, z.Serial(), nil)
	}
}

// Zone returns the current version of the named policy zone, nil when
// it has none (not loaded yet, or not one of the Set's).
func (s *Set) Zone(name string) *Zone {
	name = canonical(name)
	for _, src := range s.zones {
		if src.Name == name {
			return src.cur.Load()
		}
	}
	return nil
}

// MatchName returns the action of the first zone with a trigger for
// name (resolver.Policy).
func (s *Set) MatchName(name string) (resolver.PolicyAction, bool) {
	for _, src := range s.zones {
		if z := src.cur.Load(); z != nil {
			if a, ok := z.MatchName(name); ok {
				return a, true
			}
		}
	}
	return resolver.PolicyAction{}, false
}

// MatchAddr returns the action of the first zone with a response-IP
// trigger for addr (resolver.Policy).
func (s *Set) MatchAddr(addr netip.Addr) (resolver.PolicyAction, bool) {
	for _, src := range s.zones {
		if z := src.cur.Load(); z != nil && len(z.ips) > 0 {
			if a, ok := z.MatchAddr(addr); ok {
				return a, true
			}
		}
	}
	return resolver.PolicyAction{}, false
}

// Applied counts and logs one hit (resolver.Policy).
func (s *Set) Applied(a resolver.PolicyAction, qname string, qtype uint16, client netip.Addr) {
	if s.cfg.Hit != nil {
		s.cfg.Hit(a.Policy, a.Kind)
	}
	if s.cfg.Quiet {
		return
	}
	attrs := []any{"policy", a.Policy, "trigger", a.Trigger, "action", a.Kind.String(), "qname", qname, "qtype", dns.TypeToString[qtype]}
	if client.IsValid() {
		attrs = append(attrs, "client", client.String())
	}
	s.log.Info("rpz hit", attrs...)
}

// Run transfers the zones that have primaries, and refreshes each on its
// SOA's refresh timer (retry after a failure), until ctx ends. It returns
// nil when it has nothing to do.
func (s *Set) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, src := range s.zones {
		if src.Primary.IsValid() {
			wg.Go(func() { s.follow(ctx, src) })
		}
	}
	wg.Wait()
	return nil
}

// hostPort is a primary's address as package dns dials it.
func hostPort(ap netip.AddrPort) string {
	return net.JoinHostPort(ap.Addr().String(), strconv.Itoa(int(ap.Port())))
}
