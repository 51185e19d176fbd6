package server

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cookie"
	"github.com/recursor-dns/recursor/dnssec"
	"github.com/recursor-dns/recursor/resolver"
)

// Backend answers questions; *resolver.Resolver is one.
type Backend interface {
	// Resolve answers name and qtype, by iteration where needed. An error
	// means no answer could be had.
	Resolve(ctx context.Context, name string, qtype uint16) (*dns.Msg, error)
	// ResolveCached answers from the cache alone; false when it cannot.
	ResolveCached(name string, qtype uint16) (*dns.Msg, bool)
}

// DNSSECBackend is a Backend that takes the client's DNSSEC flags (DO and
// CD) and says whether an answer validated (AD), as *resolver.Resolver
// does. The server uses it when its backend has it.
type DNSSECBackend interface {
	Query(ctx context.Context, name string, qtype uint16, opts resolver.Options) (resolver.Answer, error)
	QueryCached(name string, qtype uint16, opts resolver.Options) (resolver.Answer, bool)
}

// BackgroundBackend is a Backend with background work (prefetch, the
// refresh of stale answers), as *resolver.Resolver has: Serve runs it
// until its context is cancelled.
type BackgroundBackend interface {
	Run(ctx context.Context) error
}

// Defaults of Config.
const (
	DefaultMaxInFlight    = 4096
	DefaultMaxPerClient   = 1000
	DefaultMaxUDPSize     = 1232 // DNS flag day 2020
	DefaultTCPIdleTimeout = 10 * time.Second
	DefaultMaxTCPConns    = 512
	DefaultQueryTimeout   = resolver.DefaultTimeout
	DefaultShutdownGrace  = 2 * time.Second
)

// DefaultListen is where the server listens when Config.Listen is empty.
var DefaultListen = []string{"127.0.0.1:53", "[::1]:53"}

// DefaultAllow returns the clients answered when Config.Allow is empty:
// loopback only, so that a server is never an open resolver by accident.
func DefaultAllow() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// Config configures a Server. Every field but Backend is optional.
type Config struct {
	// Backend answers the questions.
	Backend Backend
	// Listen lists ADDR:PORT to serve on, UDP and TCP each; default
	// DefaultListen. Port 0 picks a free port (the same one for UDP and TCP).
	Listen []string
	// Allow lists the client networks answered; everyone else gets
	// REFUSED. Empty means DefaultAllow (loopback only).
	Allow []netip.Prefix
	// MaxInFlight caps the client queries waiting for the engine at once.
	// Beyond it a UDP query is dropped (the client retries) and a TCP
	// query gets SERVFAIL; cache hits are never capped.
	MaxInFlight int
	// MaxPerClient caps the queries one client address has waiting for
	// the engine, handled as MaxInFlight.
	MaxPerClient int
	// MaxUDPSize is the EDNS buffer size we advertise and the largest UDP
	// response we send; default 1232, at least 512.
	MaxUDPSize int
	// TCPIdleTimeout closes a TCP connection that has sent no complete
	// query for this long and has none outstanding; it also bounds each
	// write.
	TCPIdleTimeout time.Duration
	// MaxTCPConns caps open TCP connections. At the cap the connection
	// idle longest is closed to make room; with none idle, the new one is.
	MaxTCPConns int
	// QueryTimeout bounds the wait for the engine; past it the client gets
	// SERVFAIL. Default resolver.DefaultTimeout.
	QueryTimeout time.Duration
	// ShutdownGrace is how long Serve lets in-flight queries finish after
	// its context is cancelled before cancelling them.
	ShutdownGrace time.Duration
	// Threads is how many UDP sockets and TCP listeners serve each Listen
	// address, each read by goroutines of its own, so that no socket is
	// shared by every core: the kernel spreads the clients across them
	// (SO_REUSEPORT, by a hash of each client's address and port).
	// Default runtime.GOMAXPROCS; always 1 where SO_REUSEPORT does not
	// spread the load (other systems than Linux). The encrypted listeners
	// are one each.
	Threads int
	// Logger receives lifecycle lines and, with LogQueries, one line per
	// client query; nil discards.
	Logger *slog.Logger
	// LogQueries logs every client query at Info: client, name, type,
	// rcode, duration and whether the cache answered. It turns the answer
	// cache off, so that every query is seen.
	LogQueries bool
	// AnswerCacheSize caps the ready-to-send answers kept for questions
	// the engine's cache answered (see answers.go); default
	// DefaultAnswerCacheSize, negative turns the answer cache off.
	AnswerCacheSize int
	// Now is the clock of the answer cache's TTLs; default time.Now.
	// Tests inject one, together with the engine's.
	Now func() time.Time
	// Metrics receives a count per answered client query (package
	// metrics); nil counts nothing.
	Metrics Metrics
	// Tap receives every client query and answer in wire format (package
	// tap, for dnstap) that the listeners or HandlePacket see; Handle's
	// parsed messages are not logged. Nil logs nothing.
	Tap Tap

	// AccessControl gives client networks an Action, as Unbound's
	// access-control; Allow's networks are ActionAllow rules before them
	// (a later rule for the same network wins), and the longest prefix
	// holding a client decides. With neither, DefaultAllow is allowed.
	// Clients no rule holds are refused.
	AccessControl []AccessRule
	// Local reports whether a question is answered from local data,
	// which the non-local actions (ActionRefuseNonLocal,
	// ActionDenyNonLocal) and RD=0 queries of ActionAllow clients may
	// still ask. Nil: the backend's Local method when it has one (as
	// *resolver.Resolver does), else no question is local.
	Local func(name string, qtype uint16) bool
	// Identity answers the CHAOS TXT questions id.server and
	// hostname.bind; empty hides it (REFUSED, as Unbound's
	// hide-identity).
	Identity string
	// Version answers the CHAOS TXT questions version.server and
	// version.bind; empty hides it (REFUSED, as Unbound's hide-version).
	Version string
	// NSID is the name server identifier (RFC 5001) sent to queries that
	// carry the NSID option; nil sends none.
	NSID []byte
	// LogServfail logs every SERVFAIL at Info with its reason, as
	// Unbound's log-servfail (at Debug otherwise).
	LogServfail bool

	// DNS cookies (RFC 7873, RFC 9018; cookies.go).
	// NoCookies ignores the COOKIE option of queries, as a server from
	// before RFC 7873 (Unbound's answer-cookie: no).
	NoCookies bool
	// CookieSecret keys the server cookies; nil: a random one made by
	// New (cookies then last as long as the process). Servers behind one
	// anycast address share it.
	CookieSecret *cookie.Key
	// CookiePreviousSecret, when not nil, is accepted besides
	// CookieSecret: the secret before a rotation.
	CookiePreviousSecret *cookie.Key
	// CookieRateLimit, when positive, caps the UDP queries a second from
	// one client network (/24, /56) that carry no valid server cookie;
	// past it they get BADCOOKIE or, with no cookie at all, TC=1.
	// Negative is an error; 0 is off.
	CookieRateLimit int

	// Encrypted transports (tls.go, doh.go, doq.go): see EncryptedConfig.
	Encrypted EncryptedConfig
}

// Server answers DNS clients over UDP and TCP. Handle and HandlePacket may
// be used without Serve (in-process clients, tests).
type Server struct {
	cfg     Config
	backend Backend
	log     *slog.Logger
	access  accessList
	nsid    string // Config.NSID in hex, as miekg/dns carries it; "" when off

	limiter limiter
	stats   counters
	answers *answerCache // nil when off
	now     func() time.Time
	metrics Metrics // nil when off
	tap     Tap     // nil when off
	// realClock: now is time.Now, whose readings also time queries
	realClock bool
	cookies   *cookie.Secrets // nil when off
	udpLimit  *udpLimit       // Config.CookieRateLimit; nil when off

	// Set by Listen, read by Serve and Addrs.
	mu       sync.Mutex
	listened bool
	serving  bool
	// defaultListen: Config.Listen was empty, so an address of
	// DefaultListen the host lacks ([::1] without IPv6) is skipped.
	defaultListen bool
	addrs         []netip.AddrPort
	udpConns      []*udpSocket
	listeners     []*net.TCPListener

	tcp tcpConns
	enc encrypted // the encrypted listeners (tls.go)

	stopping atomic.Bool
	work     sync.WaitGroup // async queries and TCP connections
	admit    *admission     // UDP queries waiting to start; set by Serve, nil when off
}

// New checks cfg and returns a Server. It binds nothing and starts no
// goroutines: see Listen and Serve.
func New(cfg Config) (*Server, error) {
	if cfg.Backend == nil {
		return nil, errors.New("server: Config.Backend is nil")
	}
	defaultListen := len(cfg.Listen) == 0
	if defaultListen {
		cfg.Listen = DefaultListen
	}
	for _, a := range cfg.Listen {
		if _, err := ParseListen(a); err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
	}
	if len(cfg.Allow) == 0 && len(cfg.AccessControl) == 0 {
		cfg.Allow = DefaultAllow()
	}
	if l, ok := cfg.Backend.(interface{ Local(string, uint16) bool }); ok && cfg.Local == nil {
		cfg.Local = l.Local
	}
	if len(cfg.NSID) > 65535-4 {
		return nil, fmt.Errorf("server: Config.NSID is %d bytes, want at most 65531", len(cfg.NSID))
	}
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxInFlight", &cfg.MaxInFlight, DefaultMaxInFlight},
		{"MaxPerClient", &cfg.MaxPerClient, DefaultMaxPerClient},
		{"MaxUDPSize", &cfg.MaxUDPSize, DefaultMaxUDPSize},
		{"MaxTCPConns", &cfg.MaxTCPConns, DefaultMaxTCPConns},
		{"Threads", &cfg.Threads, runtime.GOMAXPROCS(0)},
	} {
		if *f.v < 0 {
			return nil, fmt.Errorf("server: Config.%s is %d, want 0 (default) or more", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if !reusePortSpreads {
		cfg.Threads = 1
	}
	if cfg.MaxUDPSize < dns.MinMsgSize || cfg.MaxUDPSize > dns.MaxMsgSize {
		return nil, fmt.Errorf("server: Config.MaxUDPSize is %d, want 512 to 65535", cfg.MaxUDPSize)
	}
	for _, f := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"TCPIdleTimeout", &cfg.TCPIdleTimeout, DefaultTCPIdleTimeout},
		{"QueryTimeout", &cfg.QueryTimeout, DefaultQueryTimeout},
		{"ShutdownGrace", &cfg.ShutdownGrace, DefaultShutdownGrace},
	} {
		if *f.v < 0 {
			return nil, fmt.Errorf("server: Config.%s is %v, want 0 (default) or more", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if err := checkEncrypted(&cfg.Encrypted); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	realClock := cfg.Now == nil
	if realClock {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, backend: cfg.Backend, log: cfg.Logger, now: cfg.Now, answers: newAnswerCache(cfg.AnswerCacheSize), defaultListen: defaultListen,
		metrics: cfg.Metrics, tap: cfg.Tap, realClock: realClock}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.access = newAccessList(accessRules(cfg))
	if len(cfg.NSID) > 0 {
		s.nsid = hex.EncodeToString(cfg.NSID)
	}
	if cfg.CookieRateLimit < 0 {
		return nil, fmt.Errorf("server: Config.CookieRateLimit is %d, want 0 (off) or more", cfg.CookieRateLimit)
	}
	s.cookies = newCookies(cfg)
	if cfg.CookieRateLimit > 0 {
		s.udpLimit = newUDPLimit(cfg.CookieRateLimit)
	}
	s.limiter = limiter{maxInFlight: cfg.MaxInFlight, maxPerClient: cfg.MaxPerClient, perClient: map[netip.Addr]int{}}
	s.tcp.conns = map[*tcpConn]struct{}{}
	return s, nil
}

// ParseListen reads a listen address: IP:PORT or [IPv6]:PORT. The
// wildcard addresses 0.0.0.0 and :: serve every local address of their
// family.
func ParseListen(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("listen address %q: want IP:PORT or [IPv6]:PORT", s)
	}
	if ap.Addr().Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("listen address %q: zones are not supported", s)
	}
	return ap, nil
}

// allowed reports whether client may query us (ActionAllow or
// ActionAllowSnoop).
func (s *Server) allowed(client netip.Addr) bool {
	a := s.access.action(client)
	return a == ActionAllow || a == ActionAllowSnoop
}

// accessRules are cfg's Allow networks as ActionAllow rules, then its
// AccessControl rules.
func accessRules(cfg Config) []AccessRule {
	rules := make([]AccessRule, 0, len(cfg.Allow)+len(cfg.AccessControl))
	for _, p := range cfg.Allow {
		rules = append(rules, AccessRule{Prefix: p, Action: ActionAllow})
	}
	return append(rules, cfg.AccessControl...)
}

// Stats are running totals of a Server.
type Stats struct {
	Queries   uint64 // client queries received (parsable or not)
	CacheHits uint64 // answered from the cache alone
	Resolved  uint64 // answered after waiting for the engine
	ServFail  uint64 // answered SERVFAIL
	Dropped   uint64 // not answered: over a limit, or a response sent to us
	Panics    uint64 // queries whose handling panicked (a bug)
	InFlight  int    // queries waiting for the engine now
	TCPConns  int    // open TCP connections now
	// CookieLimited: UDP queries past Config.CookieRateLimit without a
	// valid cookie, answered BADCOOKIE or TC=1.
	CookieLimited uint64
}

type counters struct {
	queries, cacheHits, resolved, servFail, dropped, panics atomic.Uint64
	cookieLimited                                           atomic.Uint64
	// fastHits counts the answer cache's hits, each a query and a cache
	// hit, in stripes picked by the client's port: two adds to one
	// counter that every core writes cost a cache-line transfer each
	// (BenchmarkAnswerFastParallel), while a client's queries come to
	// one socket, read on one core, and so mostly to one stripe.
	fastHits [hitStripes]stripe
}

// hitStripes is the number of stripes of counters.fastHits.
const hitStripes = 64

// stripe is a counter alone on its cache line and the next.
type stripe struct {
	n atomic.Uint64
	_ [120]byte
}

// fastHit counts an answer cache hit of client.
func (c *counters) fastHit(client netip.AddrPort) {
	c.fastHits[client.Port()%hitStripes].n.Add(1)
}

// fastHitTotal sums the stripes of fastHits.
func (c *counters) fastHitTotal() uint64 {
	var n uint64
	for i := range c.fastHits {
		n += c.fastHits[i].n.Load()
	}
	return n
}

// Stats returns the running totals.
func (s *Server) Stats() Stats {
	fast := s.stats.fastHitTotal()
	st := Stats{
		Queries:   s.stats.queries.Load() + fast,
		CacheHits: s.stats.cacheHits.Load() + fast,
		Resolved:  s.stats.resolved.Load(),
		ServFail:  s.stats.servFail.Load(),
		Dropped:   s.stats.dropped.Load(),
		Panics:    s.stats.panics.Load(),
	}
	st.CookieLimited = s.stats.cookieLimited.Load()
	st.InFlight = s.limiter.inFlight()
	st.TCPConns = s.tcp.count()
	return st
}

// limiter caps the queries waiting for the engine, overall and per client
// address.
type limiter struct {
	maxInFlight  int
	maxPerClient int

	mu        sync.Mutex
	total     int
	perClient map[netip.Addr]int
}

func (l *limiter) acquire(client netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.maxInFlight || l.perClient[client] >= l.maxPerClient {
		return false
	}
	l.total++
	l.perClient[client]++
	return true
}

func (l *limiter) release(client netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if n := l.perClient[client] - 1; n > 0 {
		l.perClient[client] = n
	} else {
		delete(l.perClient, client)
	}
}

func (l *limiter) inFlight() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// optionsOf are the DNSSEC flags of q's client, and whether the engine
// is asked next (RD) when the cache cannot answer.
func optionsOf(q *query) resolver.Options {
	return resolver.Options{DNSSECOK: q.edns != nil && q.edns.Do(), CheckingDisabled: q.req.CheckingDisabled, WillRecurse: q.req.RecursionDesired,
		Client: q.client.Addr().Unmap(), TCP: q.tcp}
}

// cachedAnswer asks the backend's cache for q's answer. A stale answer
// (RFC 8767) is marked in q: it is never kept as a fresh one.
func (s *Server) cachedAnswer(q *query) (*dns.Msg, bool) {
	question := q.req.Question[0]
	if b, ok := s.backend.(DNSSECBackend); ok {
		a, ok := b.QueryCached(question.Name, question.Qtype, optionsOf(q))
		if ok && a.Msg == nil && a.Security == dnssec.Bogus {
			// Bogus data, cached: SERVFAIL with its reason, RD or not.
			m := s.servfail(q, &resolver.ValidationError{EDE: a.EDE, Why: a.Why})
			return m, true
		}
		if ok && a.Drop {
			q.drop = true
			return nil, false
		}
		noteEDE(q, a)
		notePolicy(q, a)
		q.stale, q.prefetchAt, q.security = a.Stale, a.PrefetchAt, a.Security
		return a.Msg, ok
	}
	return s.backend.ResolveCached(question.Name, question.Qtype)
}

// resolveAnswer asks the backend for q's answer.
func (s *Server) resolveAnswer(ctx context.Context, q *query) (*dns.Msg, error) {
	question := q.req.Question[0]
	if b, ok := s.backend.(DNSSECBackend); ok {
		a, err := b.Query(ctx, question.Name, question.Qtype, optionsOf(q))
		q.drop = a.Drop
		noteEDE(q, a)
		notePolicy(q, a)
		return a.Msg, err
	}
	return s.backend.Resolve(ctx, question.Name, question.Qtype)
}

// noteEDE gives an answer that is not secure for a known reason (an
// unsupported algorithm, NSEC3 over the iteration limit, bogus data a CD
// client asked for) the Extended DNS Error that says so (RFC 8914 allows
// one in any response).
func noteEDE(q *query, a resolver.Answer) {
	if a.Msg != nil && a.EDE != 0 && (a.Security != dnssec.Secure || a.Stale) {
		q.ede = &dns.EDNS0_EDE{InfoCode: a.EDE, ExtraText: a.Why}
	}
}
