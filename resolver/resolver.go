// Package resolver owns the engine: iterative resolution from the root hints
// down to the authoritative servers, the delegation points and server choice,
// the upstream transport, and the library API (New, Resolve, NetResolver).
// It knows no listeners, flags or output formats.
package resolver

import (
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/miekg/dns"
	"golang.org/x/sync/singleflight"

	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/cookie"
	"github.com/recursor-dns/recursor/dnssec"
	"github.com/recursor-dns/recursor/internal/dnsname"
	"github.com/recursor-dns/recursor/internal/workers"
	"github.com/recursor-dns/recursor/localdata"
	"github.com/recursor-dns/recursor/roothints"
)

// Resolver is an iterative resolver. It is safe for concurrent use.
type Resolver struct {
	cookies    *cookie.Jar // client cookies (cookies.go); nil when off
	hints      *roothints.Hints
	port       uint16
	noIPv6     bool
	no0x20     bool
	qmin       QNAMEMinimisation
	qminType   uint16
	nonMinimal bool
	authNS     bool // keep the authority NS set of answers
	verifyGlue bool // look up sibling glue
	private    []netip.Prefix
	privateOK  []string
	stubs      map[string]delegation
	// localZones: the default local zones but those Config turned off
	localZones []string
	transport  Transport
	cache      *cache.Cache
	cacheOnNow bool // cache reads r.now: a reading of r.now is one of its clock
	now        func() time.Time
	log        *slog.Logger
	limits     Limits
	dontQuery  []netip.Prefix
	infra      *infra
	failed     *failCache // client questions that failed lately
	// deadZones: zones whose every server failed lately; their names
	// are failed at once, without a query, until the hold ends.
	deadZones  *failCache
	msgRefs    *lru.Cache[string, *sectionRefs] // non-minimal responses only
	parentGlue glueMap                          // name server addresses as referrals gave them
	// delegationEnds: when the parent's delegation of each zone runs out
	delegationEnds deadlineMap
	flight         flightGroup[result]           // client questions (walk)
	priming        flightGroup[struct{}]         // the root's NS set (rootDelegation)
	walkers        workers.Pool                  // where walks run; kept while Run runs
	asks           singleflight.Group            // questions to a zone's servers (ask)
	val            *validator                    // nil when not validating
	metrics        Metrics                       // never nil: noMetrics when off
	tap            Tap                           // nil when off
	stale          StaleConfig                   // with defaults
	staleHolds     *lru.Cache[string, time.Time] // until when a failed refresh holds a key
	prefetch       bool
	after          func(time.Duration) <-chan time.Time
	bg             background // prefetch and stale refreshes (prefetch.go)
	policy         Policy     // nil when none (policy.go)

	localData atomic.Pointer[localdata.Table] // nil: none (localdata.go)

	shared SharedCache // the fleet's tier, nil when none (shared.go)
}

// New returns a resolver for cfg. It starts no goroutines.
func New(cfg Config) (*Resolver, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Resolver{
		hints:      cfg.RootHints,
		port:       cfg.UpstreamPort,
		noIPv6:     cfg.DisableIPv6,
		no0x20:     cfg.Disable0x20,
		qmin:       cfg.QNAMEMinimisation,
		qminType:   cfg.MinimisedQtype,
		nonMinimal: cfg.NonMinimalResponses,
		authNS:     cfg.AcceptAuthorityNS,
		verifyGlue: cfg.VerifySiblingGlue,
		private:    cfg.PrivateAddress,
		transport:  cfg.Transport,
		cache:      cfg.Cache,
		now:        cfg.Now,
		log:        cfg.Logger,
		limits:     cfg.Limits.withDefaults(),
		dontQuery:  cfg.DontQuery,
		infra:      newInfra(),
		failed:     newFailCache(),
		deadZones:  newFailCache(),
		metrics:    cfg.Metrics,
		tap:        cfg.Tap,
		shared:     cfg.SharedCache,
	}
	if r.metrics == nil {
		r.metrics = noMetrics{}
	}
	r.cookies = newCookieJar(cfg)
	r.stale, r.prefetch, r.after = cfg.Stale.withDefaults(), !cfg.Prefetch.Disable, cfg.After
	r.staleHolds, _ = lru.New[string, time.Time](failureEntries)
	r.bg.max = cfg.Prefetch.MaxBackground
	if r.bg.max == 0 {
		r.bg.max = DefaultMaxBackground
	}
	if r.after == nil {
		r.after = time.After
	}
	if r.hints == nil {
		r.hints = roothints.Default()
	}
	if r.port == 0 {
		r.port = DefaultUpstreamPort
	}
	if r.transport == nil {
		r.transport = &NetTransport{}
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.qminType == 0 {
		r.qminType = dns.TypeNS
	}
	if r.cache == nil {
		r.cache = cache.New(cache.Config{Now: r.now})
		r.cacheOnNow = true
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.dontQuery == nil {
		r.dontQuery = DefaultDontQuery()
	}
	if r.nonMinimal {
		r.msgRefs, _ = lru.New[string, *sectionRefs](cache.DefaultMaxEntries)
	}
	r.policy = cfg.Policy
	r.parentGlue = newGlueMap(InfraCacheHosts)
	r.delegationEnds = newDeadlineMap(InfraCacheHosts)
	for _, st := range cfg.StubZones {
		if r.stubs == nil {
			r.stubs = map[string]delegation{}
		}
		zone, _ := dnsname.Canonical(st.Zone) // validate checked it
		r.stubs[zone] = delegation{zone: zone, servers: []nameServer{{name: zone, addrs: st.Addrs}}}
	}
	r.setUpConfiguredZones(cfg) // forward.go
	for _, d := range cfg.PrivateDomain {
		d, _ = dnsname.Canonical(d) // validate checked it
		r.privateOK = append(r.privateOK, d)
	}
	if err := r.setUpValidation(cfg); err != nil {
		return nil, err
	}
	r.localData.Store(cfg.LocalData)
	if !cfg.DisableLocalZones {
		var off []string
		for _, z := range cfg.NoDefaultZones {
			z, _ = dnsname.Canonical(z) // validate checked it
			off = append(off, z)
		}
		for _, z := range localZones {
			if !slices.Contains(off, z) {
				r.localZones = append(r.localZones, z)
			}
		}
	}
	return r, nil
}

// Cache returns the resolver's cache.
func (r *Resolver) Cache() *cache.Cache { return r.cache }

// setUpValidation turns validation on, with the configured trust anchors
// and, for the IANA root hints, the root's own.
func (r *Resolver) setUpValidation(cfg Config) error {
	dc := cfg.DNSSEC
	if dc.Disable {
		return nil
	}
	rrs := slices.Clone(dc.TrustAnchors)
	rootGiven := slices.ContainsFunc(rrs, func(rr dns.RR) bool { return rr.Header().Name == "." })
	if r.hints.IsDefault() && !rootGiven {
		rrs = append(rrs, roothints.TrustAnchors()...)
	}
	a, err := newAnchors(rrs, dc.InsecureDomains)
	if err != nil {
		return fmt.Errorf("resolver: %w", err)
	}
	if a.empty() {
		r.log.Info("DNSSEC validation is off: the root hints are not the IANA ones and no trust anchor is configured")
		return nil
	}
	v := &validator{anchors: a, limits: dnssecLimits(dc.Limits), bogusTTL: dc.BogusTTL, aggressive: !dc.DisableAggressiveNSEC}
	if v.bogusTTL == 0 {
		v.bogusTTL = DefaultBogusTTL
	}
	v.keys, _ = lru.New[string, *zoneKeys](keyCacheZones)
	v.whys, _ = lru.New[string, string](keyCacheZones)
	v.nsecs = newNSECCache()
	v.verified, _ = lru.New[[sha256.Size]byte, dnssec.Verdict](verifiedSets)
	r.val = v
	return nil
}

// Validating reports whether the resolver validates DNSSEC.
func (r *Resolver) Validating() bool { return r.val != nil }

// dnssecLimits fills the zero fields of l from dnssec.DefaultLimits.
func dnssecLimits(l dnssec.Limits) dnssec.Limits {
	d := dnssec.DefaultLimits
	for _, f := range []struct {
		v   *int
		def int
	}{
		{&l.MaxVerificationsPerRRset, d.MaxVerificationsPerRRset}, {&l.MaxVerificationsPerQuery, d.MaxVerificationsPerQuery},
		{&l.MaxKeysPerDS, d.MaxKeysPerDS}, {&l.MaxNSEC3Iterations, d.MaxNSEC3Iterations},
		{&l.MaxNSEC3PerReply, d.MaxNSEC3PerReply}, {&l.MaxHashesPerQuery, d.MaxHashesPerQuery},
	} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	return l
}
