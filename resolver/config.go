package resolver

// Configuration: Config, Limits and their defaults.

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/dnssec"
	"github.com/recursor-dns/recursor/internal/dnsname"
	"github.com/recursor-dns/recursor/localdata"
	"github.com/recursor-dns/recursor/roothints"
)

// Default limits of one client query. They sit close to Unbound's and are
// documented in the README; each can be changed in Config.Limits.
const (
	// DefaultMaxUpstreamQueries: queries sent upstream for one client query,
	// sub-queries for name server addresses included.
	DefaultMaxUpstreamQueries = 200
	// DefaultMaxReferrals: delegations followed for one name (Unbound
	// allows 130 referrals; real trees are under 10 deep).
	DefaultMaxReferrals = 30
	// DefaultMaxCNAMEs: CNAME and DNAME restarts (Unbound: 11).
	DefaultMaxCNAMEs = 11
	// DefaultMaxDepth: how deep name server address lookups may nest
	// (a name server whose name needs a name server that needs ...).
	DefaultMaxDepth = 7
	// DefaultMaxGluelessLookups: name server address lookups started for one
	// client query, and DefaultMaxParallelGlueless of them at a time.
	DefaultMaxGluelessLookups  = 10
	DefaultMaxParallelGlueless = 3
	// DefaultMaxNSRecords: the NS records of a delegation or NS answer
	// that are used; the rest, and their addresses, are dropped (as
	// Unbound's iter-scrub-ns: a long NS set only multiplies lookups).
	DefaultMaxNSRecords = 20
	// DefaultMaxNXNameServers: name servers whose lookups come back
	// NXDOMAIN after which a client query looks up no more (the NXNS
	// attack; Unbound's MAX_TARGET_NX). Cached answers do not count.
	DefaultMaxNXNameServers = 6
	// DefaultMaxQueriesPerName: upstream queries about one name within one
	// client query (a name asked of server after server, lame or silent).
	DefaultMaxQueriesPerName = 50
	// MaxNSConsidered: the servers of one delegation that are used, and
	// MaxAddrsPerNS: the addresses of one server name that are used. An NS
	// set of a hundred names, or a name with a hundred addresses, then
	// amplifies no more than a modest one.
	MaxNSConsidered = 13
	MaxAddrsPerNS   = 6
	// DefaultMaxFailures: failed exchanges (timeouts, errors, lame answers)
	// after which a client query gives up.
	DefaultMaxFailures = 16
	// DefaultTimeout: the overall deadline of one client query.
	DefaultTimeout = 10 * time.Second
	// DefaultUpstreamPort is where authoritative servers listen.
	DefaultUpstreamPort = 53
	// EDNSBufferSize is advertised upstream (the DNS flag day 2020 value).
	EDNSBufferSize = 1232
)

// StubZone is a zone whose authoritative servers are configured.
type StubZone struct {
	Zone  string
	Addrs []netip.Addr
	// Servers are more addresses, each with its port (0: UpstreamPort),
	// as --stub-zone ZONE=ADDR:PORT gives them.
	Servers []netip.AddrPort
}

// QNAMEMinimisation is a QNAME minimisation mode (RFC 9156).
type QNAMEMinimisation uint8

const (
	// QminRelaxed minimises, and falls back to the full name when a server
	// mishandles a minimised question (the default).
	QminRelaxed QNAMEMinimisation = iota
	// QminStrict minimises and trusts the answers: an NXDOMAIN for a
	// parent name ends the query (RFC 8020).
	QminStrict
	// QminOff sends the full name to every server.
	QminOff
)

// MaxMinimisedQueries caps the minimised questions of one name (as
// Unbound's MAX_MINIMISE_COUNT); the rest go out with the full name.
const MaxMinimisedQueries = 10

// ParseQNAMEMinimisation reads "off", "relaxed" or "strict".
func ParseQNAMEMinimisation(s string) (QNAMEMinimisation, error) {
	switch s {
	case "relaxed", "":
		return QminRelaxed, nil
	case "strict":
		return QminStrict, nil
	case "off":
		return QminOff, nil
	}
	return 0, fmt.Errorf("QNAME minimisation %q: want off, relaxed or strict", s)
}

func (m QNAMEMinimisation) String() string {
	return [...]string{"relaxed", "strict", "off"}[m]
}

// Limits bound the work of one client query. Zero fields take the defaults.
type Limits struct {
	MaxUpstreamQueries  int
	MaxReferrals        int
	MaxCNAMEs           int
	MaxDepth            int
	MaxGluelessLookups  int
	MaxParallelGlueless int
	MaxNXNameServers    int
	MaxNSRecords        int
	MaxFailures         int
	MaxQueriesPerName   int
	Timeout             time.Duration
}

// Config configures a Resolver. Every field is optional.
type Config struct {
	// RootHints: where iteration starts; default the embedded IANA hints.
	RootHints *roothints.Hints
	// UpstreamPort: the port of every authoritative server; default 53.
	// Tests and the sandbox set it to the testnet's port.
	UpstreamPort uint16
	// DisableIPv6: never send queries to IPv6 addresses.
	DisableIPv6 bool
	// Disable0x20 turns off letter-case randomisation of upstream
	// questions (on by default; servers that do not echo the case are
	// detected and asked without it).
	Disable0x20 bool
	// Transport sends queries upstream; default a UDP transport with EDNS0
	// that retries over TCP when the answer is truncated.
	Transport Transport
	// Cache holds what is learned; default a new cache with the same clock.
	Cache *cache.Cache
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives per-step debug lines and warnings; nil discards.
	Logger *slog.Logger
	// Limits bound each client query.
	Limits Limits
	// QNAMEMinimisation says how much of the name each server is told
	// (RFC 9156); the zero value is QminRelaxed.
	QNAMEMinimisation QNAMEMinimisation
	// MinimisedQtype is the type of minimised questions; default NS (as
	// Knot Resolver; Unbound uses A).
	MinimisedQtype uint16
	// NonMinimalResponses adds to positive answers the NS set of the zone
	// and its servers' addresses (Unbound's minimal-responses: no). Off by
	// default: minimal answers are smaller and leak less.
	NonMinimalResponses bool
	// AcceptAuthorityNS keeps the NS set that servers add to the
	// authority section of answers and negative answers, with its
	// addresses: cached, and repeated in non-minimal responses (Unbound's
	// iter-scrub-promiscuous: no). Off by default: the answer does not
	// need them, and they are how a server poisons the delegation of a
	// zone above the name it answers for (iter_scrub_promiscuous).
	AcceptAuthorityNS bool
	// VerifySiblingGlue looks up the addresses of a delegation's servers
	// whose names lie outside the delegated zone (sibling glue) instead
	// of trusting the addresses the parent gave for them, which are used
	// only when the lookup fails (Unbound's harden-unverified-glue). Off
	// by default, as in Unbound: it costs a lookup per such delegation,
	// and the glue has passed the bailiwick check against the parent.
	VerifySiblingGlue bool
	// DisableLocalZones sends queries for special-use names (localhost.,
	// test., invalid., onion., the private and loopback reverse zones;
	// DefaultLocalZones lists them) upstream like any other, instead of
	// answering them locally (RFC 6761, RFC 6303). For a test network
	// that serves such names; a stub zone inside one already wins.
	DisableLocalZones bool
	// NoDefaultZones turns single zones of DefaultLocalZones off, as
	// Unbound's "local-zone: name nodefault".
	NoDefaultZones []string
	// StubZones send the queries for names in a zone straight to the
	// servers given, as a delegation that overrides what the cache knows
	// of the zone itself (Unbound's stub-zone).
	StubZones []StubZone
	// PrivateAddress lists networks whose addresses are removed from the
	// A and AAAA records of answers (DNS rebinding protection, as
	// Unbound's private-address); off by default.
	PrivateAddress []netip.Prefix
	// PrivateDomain lists domains whose answers may hold private
	// addresses all the same (an intranet zone, say).
	PrivateDomain []string
	// DontQuery lists networks never sent a query. Nil means
	// DefaultDontQuery(): loopback, private and special-purpose ranges. A
	// non-nil empty slice allows every address (tests and the sandbox,
	// whose servers live on loopback).
	DontQuery []netip.Prefix
	// DNSSEC configures validation (RFC 4033-4035): on by default with
	// the root's trust anchors when RootHints are the IANA ones.
	DNSSEC DNSSECConfig
	// Metrics receives the engine's counts (package metrics); nil
	// counts nothing.
	Metrics Metrics
	// Tap receives every upstream query and reply (package tap, for
	// dnstap); nil logs nothing.
	Tap Tap
	// Stale configures serve-stale (RFC 8767): on by default.
	Stale StaleConfig
	// Prefetch configures the refresh of popular cached answers before
	// they expire: on by default, while Run runs.
	Prefetch PrefetchConfig
	// After is the timer of the serve-stale client timeout; default
	// time.After. Tests inject one that follows their Now.
	After func(time.Duration) <-chan time.Time

	// LocalData answers the names of its local zones (Unbound's
	// local-zone, local-data and hosts files) before the cache and
	// iteration, authoritatively, and is never cached. Its zones replace
	// the built-in local zones of the same names. Nil: none.
	// SetLocalData swaps it for another while the resolver runs.
	LocalData *localdata.Table

	// Policy rewrites answers (response policy zones, package rpz):
	// asked before the cache and before iteration about the qname, then
	// about the CNAME targets and addresses of the answer. Its answers
	// are never cached. Nil: none. Built-in local zones come first.
	Policy Policy

	// ForwardZones send the questions for names in a zone to recursive
	// resolvers, with RD set, instead of iterating (Unbound's
	// forward-zone; see ForwardZone and forward.go).
	ForwardZones []ForwardZone
	// ForwardTLS is the TLS configuration forward zones with TLS start
	// from: its RootCAs (nil: the system's roots) check the forwarders'
	// certificates; ServerName is set per forwarder. Nil: the defaults.
	ForwardTLS *tls.Config

	// DisableCookies sends no DNS cookies upstream (RFC 7873; see
	// cookies.go): by default every EDNS query carries one.
	DisableCookies bool

	// SharedCache is a cache tier shared by a fleet (package
	// sharedcache): read when a client's question misses the cache,
	// before iterating, and given what iteration learned (written while
	// Run runs). Nil: none.
	SharedCache SharedCache
}

// Defaults of StaleConfig, Unbound's (serve-expired-client-timeout,
// serve-expired-reply-ttl) and RFC 8767's (serve-expired-ttl, one to
// three days advised; one here).
const (
	DefaultStaleClientTimeout = 1800 * time.Millisecond
	DefaultStaleReplyTTL      = 30 * time.Second
	DefaultStaleMaxAge        = 24 * time.Hour
	// StaleRefreshHold: after a refresh of a name fails, no other is
	// tried for this long and the stale answer is given at once (RFC
	// 8767 section 5's failure-recheck timer; Unbound's NORR_TTL).
	StaleRefreshHold = 5 * time.Second
)

// StaleConfig configures serving expired answers when their refresh
// fails or is slow (RFC 8767). A stale answer has the TTL ReplyTTL and
// the Extended DNS Error 3 (Stale Answer), or 19 (Stale NXDOMAIN Answer)
// for a stale NXDOMAIN, and keeps the DNSSEC status it was cached with:
// a stale secure answer has AD, as in Unbound; bogus data is never
// served stale. Data is served stale only if it expired while its zone's
// delegation was still alive (see Answer.Stale).
type StaleConfig struct {
	// Disable turns serve-stale off: expired data is never answered.
	Disable bool
	// ClientTimeout is how long a client waits for the refresh of an
	// expired answer before it gets the stale one (Unbound's
	// serve-expired-client-timeout); default DefaultStaleClientTimeout.
	// Negative: the stale answer at once, the refresh in the background
	// (Unbound's 0).
	ClientTimeout time.Duration
	// ReplyTTL is the TTL of the records of a stale answer (Unbound's
	// serve-expired-reply-ttl); default DefaultStaleReplyTTL.
	ReplyTTL time.Duration
	// MaxAge is how long past its expiry data may be served (Unbound's
	// serve-expired-ttl); default DefaultStaleMaxAge.
	MaxAge time.Duration
}

// Defaults of PrefetchConfig (Unbound's: TTL at least 10 s, the last
// tenth of it).
const (
	// MinPrefetchTTL: records stored with a shorter TTL are not prefetched.
	MinPrefetchTTL = 10
	// DefaultMaxBackground: refreshes (prefetches and the background
	// refreshes of stale answers) running at once; more are skipped.
	DefaultMaxBackground = 64
)

// PrefetchConfig configures prefetch: a cache hit on data stored with a
// TTL of at least MinPrefetchTTL seconds, in the last tenth of it, starts
// one background refresh of the name and type (one at a time per name
// and type, at most MaxBackground in all, each with the budget of a
// client query), and the client gets the cached answer at once. Prefetch
// and the background refreshes of stale answers run only while Run runs.
type PrefetchConfig struct {
	// Disable turns prefetch off.
	Disable bool
	// MaxBackground caps the background refreshes at once; default
	// DefaultMaxBackground.
	MaxBackground int
}

// DNSSECConfig configures DNSSEC validation. The zero value validates
// from the root's trust anchors (roothints.TrustAnchors) when RootHints
// are the IANA hints, and does not validate with other root hints unless
// TrustAnchors are given.
type DNSSECConfig struct {
	// Disable turns validation off: answers never carry AD, nothing is
	// bogus, upstream queries go without the DO bit.
	Disable bool
	// TrustAnchors are DS or DNSKEY records of any zones, where chains of
	// trust start (Unbound's trust-anchor). With the IANA root hints the
	// root's own anchors are added unless one for "." is given.
	TrustAnchors []dns.RR
	// InsecureDomains are negative trust anchors (RFC 7646): nothing at
	// or below them is validated (Unbound's domain-insecure).
	InsecureDomains []string
	// Limits bound the work of validation; zero fields take
	// dnssec.DefaultLimits.
	Limits dnssec.Limits
	// BogusTTL is how long a bogus answer is kept and answered SERVFAIL
	// without asking again; default DefaultBogusTTL.
	BogusTTL time.Duration
	// DisableAggressiveNSEC stops NXDOMAIN and NODATA answers from being
	// synthesised from cached, validated NSEC and NSEC3 records (RFC 8198).
	DisableAggressiveNSEC bool
}

// DefaultBogusTTL is how long bogus data is kept (Unbound's val-bogus-ttl).
const DefaultBogusTTL = 60 * time.Second

// MaxBogusRetries: servers of a zone asked again after a reply that does
// not validate, before the zone's data counts as bogus (Unbound retries
// up to 5 times): one broken or spoofed server must not fail a zone.
const MaxBogusRetries = 5

// Transport is the seam between the engine and the network: it sends m to
// server and returns the reply and the round-trip time. Implementations
// check that the reply comes from server and carries m's ID.
type Transport interface {
	Exchange(ctx context.Context, m *dns.Msg, server netip.AddrPort) (*dns.Msg, time.Duration, error)
}

func (cfg *Config) validate() error {
	l := cfg.Limits
	for _, f := range []struct {
		name string
		v    int
	}{
		{"MaxUpstreamQueries", l.MaxUpstreamQueries}, {"MaxReferrals", l.MaxReferrals},
		{"MaxCNAMEs", l.MaxCNAMEs}, {"MaxDepth", l.MaxDepth},
		{"MaxGluelessLookups", l.MaxGluelessLookups}, {"MaxParallelGlueless", l.MaxParallelGlueless},
		{"MaxNXNameServers", l.MaxNXNameServers}, {"MaxNSRecords", l.MaxNSRecords},
		{"MaxFailures", l.MaxFailures}, {"MaxQueriesPerName", l.MaxQueriesPerName},
	} {
		if f.v < 0 {
			return fmt.Errorf("resolver: Limits.%s is %d, want 0 (default) or more", f.name, f.v)
		}
	}
	if l.Timeout < 0 {
		return fmt.Errorf("resolver: Limits.Timeout is %v, want 0 (default) or more", l.Timeout)
	}
	if cfg.QNAMEMinimisation > QminOff {
		return fmt.Errorf("resolver: unknown QNAMEMinimisation %d", cfg.QNAMEMinimisation)
	}
	for _, st := range cfg.StubZones {
		if _, err := dnsname.Canonical(st.Zone); err != nil || len(st.Addrs)+len(st.Servers) == 0 {
			return fmt.Errorf("resolver: stub zone %q: want a domain name and at least one address", st.Zone)
		}
	}
	if err := cfg.validateConfiguredZones(); err != nil {
		return err
	}
	for _, z := range cfg.NoDefaultZones {
		if c, err := dnsname.Canonical(z); err != nil || !slices.Contains(localZones, c) {
			return fmt.Errorf("resolver: NoDefaultZones: %q is not one of DefaultLocalZones", z)
		}
	}
	for _, d := range cfg.PrivateDomain {
		if _, err := dnsname.Canonical(d); err != nil {
			return fmt.Errorf("resolver: private domain %q: %w", d, err)
		}
	}
	if _, err := newAnchors(cfg.DNSSEC.TrustAnchors, cfg.DNSSEC.InsecureDomains); err != nil {
		return fmt.Errorf("resolver: %w", err)
	}
	if cfg.DNSSEC.BogusTTL < 0 {
		return fmt.Errorf("resolver: DNSSEC.BogusTTL is %v, want 0 (default) or more", cfg.DNSSEC.BogusTTL)
	}
	if cfg.Stale.ReplyTTL < 0 || cfg.Stale.MaxAge < 0 || cfg.Prefetch.MaxBackground < 0 {
		return fmt.Errorf("resolver: Stale.ReplyTTL, Stale.MaxAge and Prefetch.MaxBackground want 0 (default) or more")
	}
	if cfg.RootHints != nil && len(cfg.RootHints.Servers) == 0 {
		return fmt.Errorf("resolver: RootHints has no servers")
	}
	return nil
}

func (c StaleConfig) withDefaults() StaleConfig {
	if c.ClientTimeout == 0 {
		c.ClientTimeout = DefaultStaleClientTimeout
	}
	if c.ReplyTTL == 0 {
		c.ReplyTTL = DefaultStaleReplyTTL
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultStaleMaxAge
	}
	return c
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.MaxUpstreamQueries, DefaultMaxUpstreamQueries)
	def(&l.MaxReferrals, DefaultMaxReferrals)
	def(&l.MaxCNAMEs, DefaultMaxCNAMEs)
	def(&l.MaxDepth, DefaultMaxDepth)
	def(&l.MaxGluelessLookups, DefaultMaxGluelessLookups)
	def(&l.MaxParallelGlueless, DefaultMaxParallelGlueless)
	def(&l.MaxNXNameServers, DefaultMaxNXNameServers)
	def(&l.MaxNSRecords, DefaultMaxNSRecords)
	def(&l.MaxFailures, DefaultMaxFailures)
	def(&l.MaxQueriesPerName, DefaultMaxQueriesPerName)
	if l.Timeout == 0 {
		l.Timeout = DefaultTimeout
	}
	return l
}
