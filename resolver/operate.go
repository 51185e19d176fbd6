package resolver

// Run-time operations for operators (the control socket): flushing what
// the engine remembers, inspecting a zone cut's servers, negative trust
// anchors added and removed while serving. Each takes the engine's own
// locks and is safe while queries run.

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/dnssec"
	"github.com/recursor-dns/recursor/internal/dnsname"
)

// FlushName drops the cache's entries for name of type qtype, or of every
// type (its NXDOMAIN entry too) when qtype is 0, and forgets failures
// remembered for questions about it. It returns the cache entries
// dropped.
func (r *Resolver) FlushName(name string, qtype uint16) int {
	name = cache.Canonical(name)
	n := r.cache.RemoveFunc(func(m cache.Meta) bool {
		return m.Name == name && (qtype == 0 || m.Type == qtype)
	})
	r.failed.forgetIf(func(key string) bool {
		q, t, _ := strings.Cut(key, "/")
		return q == name && (qtype == 0 || t == dns.TypeToString[qtype])
	})
	r.forgetBogusReasons(func(n string) bool { return n == name })
	return n
}

// FlushZone drops everything the engine holds at or below zone: cache
// entries, DNSSEC keys and NSEC records, remembered failures and dead
// zones, and the parent's delegation data. It returns the cache entries
// dropped.
func (r *Resolver) FlushZone(zone string) int {
	zone = cache.Canonical(zone)
	below := func(name string) bool { return inZone(name, zone) }
	n := r.cache.RemoveFunc(func(m cache.Meta) bool { return below(m.Name) })
	r.failed.forgetIf(func(key string) bool {
		q, _, _ := strings.Cut(key, "/")
		return below(q)
	})
	r.deadZones.forgetIf(below)
	r.parentGlue.m.RemoveIf(below)
	r.delegationEnds.m.RemoveIf(below)
	if r.msgRefs != nil {
		r.msgRefs.Purge() // keyed by question, their records may be anywhere
	}
	if v := r.val; v != nil {
		removeKeysIf(v.keys.Keys(), v.keys.Remove, below)
		removeKeysIf(v.nsecs.zones.Keys(), v.nsecs.zones.Remove, below)
		v.verified.Purge() // keyed by RRset digest: no name to go by
		r.forgetBogusReasons(below)
	}
	return n
}

// FlushNegative drops every NXDOMAIN and NODATA entry of the cache and
// the NSEC records kept for aggressive use. It returns the entries
// dropped.
func (r *Resolver) FlushNegative() int {
	if r.val != nil {
		r.val.nsecs.zones.Purge()
	}
	return r.cache.RemoveFunc(func(m cache.Meta) bool { return m.Negative != cache.Positive })
}

// FlushBogus drops every cache entry that failed validation, and zone
// keys whose verdict was bogus. It returns the cache entries dropped.
func (r *Resolver) FlushBogus() int {
	n := r.cache.RemoveFunc(func(m cache.Meta) bool { return m.Security == cache.Bogus })
	if v := r.val; v != nil {
		for _, z := range v.keys.Keys() {
			if zk, ok := v.keys.Peek(z); ok && zk.Status == dnssec.Bogus {
				v.keys.Remove(z)
			}
		}
		v.whys.Purge()
	}
	return n
}

// FlushInfra forgets what server selection learned of addr (RTT, timeouts,
// holds, quirks, zones it was lame for), or of every address when addr is
// the zero Addr, along with the zones held as dead and the client
// questions held as failed. It returns the addresses forgotten.
func (r *Resolver) FlushInfra(addr netip.Addr) int {
	r.deadZones.forgetIf(func(string) bool { return true })
	r.failed.forgetIf(func(string) bool { return true })
	r.infra.mu.Lock()
	defer r.infra.mu.Unlock()
	if !addr.IsValid() {
		n := r.infra.hosts.Len()
		r.infra.hosts.Purge()
		r.infra.v6Failures = 0
		return n
	}
	if r.infra.hosts.Remove(addr.Unmap()) || r.infra.hosts.Remove(addr) {
		return 1
	}
	return 0
}

func (r *Resolver) forgetBogusReasons(match func(name string) bool) {
	if r.val == nil {
		return
	}
	removeKeysIf(r.val.whys.Keys(), r.val.whys.Remove, func(key string) bool {
		name, _, _ := strings.Cut(key, "/")
		return match(name)
	})
}

func removeKeysIf[K any](keys []K, remove func(K) bool, match func(K) bool) {
	for _, k := range keys {
		if match(k) {
			remove(k)
		}
	}
}

// ZoneCut is the closest zone cut the engine knows for a name, as Lookup
// reports it.
type ZoneCut struct {
	Zone string
	// Source says where the delegation comes from: "cache", "stub zone",
	// "forward zone" or "root hints".
	Source  string
	Servers []ServerState
}

// ServerState is what server selection knows of one address of a name
// server.
type ServerState struct {
	NSName string
	Addr   netip.Addr // invalid when the name server's address is not cached
	Known  bool       // selection has heard of the address lately
	SRTT   time.Duration
	// Timeout is how long the next query to it waits.
	Timeout   time.Duration
	Failures  int       // consecutive
	HeldUntil time.Time // not asked until then (zero: not held)
	// PassedOverUntil: not asked about this zone until then (it was lame,
	// refused or failed for the zone); zero when it is not.
	PassedOverUntil time.Time
	NoEDNS, No0x20  bool
}

// Lookup returns the closest zone cut above (or at) name that the engine
// would start a resolution from, with what server selection knows of each
// of its servers' addresses. It sends no query.
func (r *Resolver) Lookup(name string) (ZoneCut, error) {
	qname, err := dnsname.Canonical(name)
	if err != nil {
		return ZoneCut{}, fmt.Errorf("%q: %w", name, err)
	}
	cut := ZoneCut{Zone: ".", Source: "root hints"}
	var d delegation
	found := false
	if fwd, ok := r.forwardFor(qname); ok {
		cut, d, found = ZoneCut{Zone: fwd.zone, Source: "forward zone"}, fwd, true
	}
	for z := qname; z != "." && !found; z = parentZone(z) {
		if stub, ok := r.stubs[z]; ok {
			cut, d, found = ZoneCut{Zone: z, Source: "stub zone"}, stub, true
		} else if e, ok := r.cache.Get(z, dns.TypeNS, dns.ClassINET); ok && e.Negative == cache.Positive {
			cut, d, found = ZoneCut{Zone: z, Source: "cache"}, r.delegationAt(z, e.RRs, nil), true
		}
	}
	if !found {
		if e, ok := r.cache.Get(".", dns.TypeNS, dns.ClassINET); ok && e.Negative == cache.Positive {
			cut.Source = "cache"
			d = r.delegationAt(".", e.RRs, r.hints.Glue())
		} else {
			d = r.delegationAt(".", r.hints.NS(), r.hints.Glue())
		}
	}
	now := r.now()
	for _, s := range d.servers {
		if len(s.addrs) == 0 {
			cut.Servers = append(cut.Servers, ServerState{NSName: s.name})
		}
		for _, a := range s.addrs {
			cut.Servers = append(cut.Servers, r.serverState(s.name, a, cut.Zone, now))
		}
	}
	return cut, nil
}

func (r *Resolver) serverState(nsName string, a netip.Addr, zone string, now time.Time) ServerState {
	st := ServerState{NSName: nsName, Addr: a, Timeout: UnknownServerTimeout}
	r.infra.mu.Lock()
	defer r.infra.mu.Unlock()
	s, ok := r.infra.peek(a, now)
	if !ok {
		return st
	}
	st.Known, st.SRTT, st.Failures = true, s.srtt, s.failures
	if s.rto != 0 {
		st.Timeout = s.rto
	}
	if now.Before(s.holdUntil) {
		st.HeldUntil = s.holdUntil
	}
	for _, m := range s.zoneMarks {
		if m.zone == zone && now.Before(m.until) {
			st.PassedOverUntil = m.until
		}
	}
	st.NoEDNS, st.No0x20 = s.quirks&quirkNoEDNS != 0, s.quirks&quirkNo0x20 != 0
	return st
}

// ErrNotValidating is returned by the negative trust anchor methods of a
// resolver that does not validate.
var ErrNotValidating = errors.New("DNSSEC validation is off")

// AddNegativeTrustAnchor stops validation at and below zone (RFC 7646)
// until RemoveNegativeTrustAnchor, and flushes the zone (FlushZone) so
// that no verdict reached before stays cached. It is not kept across a
// restart or a new resolver.
func (r *Resolver) AddNegativeTrustAnchor(zone string) error {
	if r.val == nil {
		return ErrNotValidating
	}
	zone, err := dnsname.Canonical(zone)
	if err != nil {
		return fmt.Errorf("negative trust anchor %q: %w", zone, err)
	}
	r.val.anchors.insecureMu.Lock()
	old := *r.val.anchors.insecure.Load()
	if !slices.Contains(old, zone) {
		r.val.anchors.insecure.Store(new(append(slices.Clip(old), zone)))
	}
	r.val.anchors.insecureMu.Unlock()
	r.FlushZone(zone)
	return nil
}

// RemoveNegativeTrustAnchor validates zone again, whether its negative
// trust anchor came from Config or from AddNegativeTrustAnchor, and
// flushes the zone. It reports whether zone had one.
func (r *Resolver) RemoveNegativeTrustAnchor(zone string) (bool, error) {
	if r.val == nil {
		return false, ErrNotValidating
	}
	zone, err := dnsname.Canonical(zone)
	if err != nil {
		return false, fmt.Errorf("negative trust anchor %q: %w", zone, err)
	}
	r.val.anchors.insecureMu.Lock()
	old := *r.val.anchors.insecure.Load()
	i := slices.Index(old, zone)
	if i >= 0 {
		r.val.anchors.insecure.Store(new(slices.Delete(slices.Clone(old), i, i+1)))
	}
	r.val.anchors.insecureMu.Unlock()
	if i >= 0 {
		r.FlushZone(zone)
	}
	return i >= 0, nil
}

// NegativeTrustAnchors returns the zones not validated, sorted.
func (r *Resolver) NegativeTrustAnchors() []string {
	if r.val == nil {
		return nil
	}
	out := slices.Clone(*r.val.anchors.insecure.Load())
	slices.Sort(out)
	return out
}
