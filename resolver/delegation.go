package resolver

// Zone cuts: the closest known delegation for a name, the root (primed
// from the hints), delegations built from referrals and the cache, and the
// TTL caps that keep a delegation from outliving its parent's.

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/internal/dnsname"
)

// capToParentTTL lowers the TTLs of a zone's own NS set to what is left of
// the parent's delegation, so a delegation never outlives the TTL the
// parent gave it (a removed domain stops resolving when the parent's TTL
// runs out; the "ghost domain" attack).
func (r *Resolver) capToParentTTL(zone string, ns []dns.RR, now time.Time) {
	if parent, ok := r.cache.GetMeta(zone, dns.TypeNS, dns.ClassINET); ok && parent.Rank == cache.RankReferral {
		capTTL(ns, parent.Expires.Sub(now))
		return
	}
	// The child's own NS set replaced the referral in the cache; the
	// parent's deadline is remembered apart, so that a child that keeps
	// repeating its NS set (a sold domain whose old servers still run)
	// cannot extend it (iter_domain_sale).
	// Once the deadline has passed, the child cannot renew its own
	// delegation (a reply that arrives just after it, iter_ghost_timewindow):
	// TTL 0, and the parent is asked again.
	if deadline, ok := r.delegationEnds.get(cache.Canonical(zone)); ok {
		capTTL(ns, deadline.Sub(now))
	}
}

// rememberDelegation notes when the parent's delegation of a zone ends.
func (r *Resolver) rememberDelegation(ns []dns.RR, now time.Time) {
	if len(ns) == 0 {
		return
	}
	ttl := ns[0].Header().Ttl
	for _, rr := range ns {
		ttl = min(ttl, rr.Header().Ttl)
	}
	r.delegationEnds.add(cache.Canonical(ns[0].Header().Name), now.Add(time.Duration(ttl)*time.Second))
}

// capBelowZone lowers the TTLs of an NS set below zone, learned from
// zone's servers, to what is left of zone's own delegation: a cut below a
// zone lives no longer than the zone (a subdomain of a removed domain
// must not keep it alive, iter_ghost_sub). at is a reading of c's clock
// for its lookup (zero: c reads it).
func capBelowZone(c *cache.Cache, zone string, ns []dns.RR, now, at time.Time) {
	if zone == "." || len(ns) == 0 || sameName(ns[0].Header().Name, zone) {
		return
	}
	e, ok := c.GetMetaAt(zone, dns.TypeNS, dns.ClassINET, at)
	if !ok || e.Negative != cache.Positive {
		return
	}
	capTTL(ns, e.Expires.Sub(now))
}

// capTTL lowers the TTLs of rrs to left, rounded up to a second.
func capTTL(rrs []dns.RR, left time.Duration) {
	secs := uint32(max(0, (left+time.Second-1)/time.Second))
	for i, rr := range rrs {
		if rr.Header().Ttl > secs {
			cp := dns.Copy(rr) // the reply's records may be shared
			cp.Header().Ttl = secs
			rrs[i] = cp
		}
	}
}

// delegation is a zone cut: the zone and its name servers, each with the
// addresses known for it (none for a glueless server not yet looked up).
type delegation struct {
	zone    string
	servers []nameServer
	conf    *zoneConf // a configured stub or forward zone's (forward.go)
}

type nameServer struct {
	name  string
	addrs []netip.Addr
}

// parentZone returns the zone one label above name ("." stays ".").
func parentZone(name string) string {
	if name == "." {
		return "."
	}
	i, _ := dns.NextLabel(name, 0)
	if i >= len(name) {
		return "."
	}
	return name[i:]
}

// closestDelegation returns the deepest live zone cut the cache knows for
// qname whose servers can be reached, falling back to the root.
func (r *Resolver) closestDelegation(ctx context.Context, q *query, qname string) (delegation, error) {
	if fwd, ok := r.forwardFor(qname); ok {
		return fwd, nil
	}
	return r.closestIterated(ctx, q, qname)
}

// closestIterated is closestDelegation with forward zones passed over:
// where a forward-first zone's questions go when its forwarders fail.
func (r *Resolver) closestIterated(ctx context.Context, q *query, qname string) (delegation, error) {
	for z := qname; z != "."; z = parentZone(z) {
		if stub, ok := r.stubs[z]; ok && !stub.forwards() {
			return stub, nil
		}
		d, e, ok := r.cachedDelegation(z, nil)
		if !ok || q.refresh && q.parent == nil && expiring(e) {
			// A refresh treats a cut about to expire as gone, as
			// Unbound's prefetch does: the parent renews it.
			continue
		}
		if d.reachable(q) {
			return d, nil
		}
	}
	return r.rootDelegation(ctx, q)
}

// cachedDelegation is the delegation of zone from its cached NS set (as
// delegationAt, with glue), and the NS set's cache entry without its
// records; ok is false when no NS set is cached. The names are read
// without unpacking the records.
func (r *Resolver) cachedDelegation(zone string, glue []dns.RR) (d delegation, e cache.Entry, ok bool) {
	var buf [MaxNSConsidered]string
	var now time.Time // one reading of the cache's clock, for the addresses too
	names, e, ok := r.cache.AppendNSNamesAt(buf[:0], zone, &now)
	if !ok {
		return delegation{}, e, false
	}
	return r.delegationOf(zone, names, glue, &now), e, true
}

// delegationAt builds the delegation of zone from its NS records, with the
// addresses of glue and of the cache.
func (r *Resolver) delegationAt(zone string, ns []dns.RR, glue []dns.RR) delegation {
	var buf [MaxNSConsidered]string
	names := buf[:0]
	for _, rr := range ns {
		names = append(names, rr.(*dns.NS).Ns)
	}
	var now time.Time
	return r.delegationOf(zone, names, glue, &now)
}

// delegationOf is delegationAt with the NS records' names, looking their
// addresses up in the cache by *now (cache.AppendAddrsAt: read when zero).
func (r *Resolver) delegationOf(zone string, ns []string, glue []dns.RR, now *time.Time) delegation {
	n := min(len(ns), MaxNSConsidered)
	d := delegation{zone: cache.Canonical(zone), servers: make([]nameServer, 0, n)}
	// The servers' addresses, one after the other in one array (an
	// address of each family a server, to start with): each server's are
	// a slice of it without room to append.
	perNS := 2
	if r.noIPv6 {
		perNS = 1
	}
	addrs := make([]netip.Addr, 0, perNS*n)
	for _, ns := range ns {
		name := cache.Canonical(ns)
		if slices.ContainsFunc(d.servers, func(s nameServer) bool { return s.name == name }) {
			continue // at most MaxNSConsidered to look through
		}
		// The cache first: it holds the best-ranked addresses learned,
		// this referral's glue among them. The glue given is the fallback
		// (uncacheable glue, or the root hints).
		start := len(addrs)
		addrs = r.appendCachedAddrs(addrs, name, now)
		if len(addrs) == start {
			for _, g := range glue {
				if strings.EqualFold(g.Header().Name, name) && (!r.noIPv6 || g.Header().Rrtype == dns.TypeA) {
					addrs = appendAddr(addrs, g)
				}
			}
		}
		addrs = addrs[:min(len(addrs), start+MaxAddrsPerNS)]
		s := nameServer{name: name}
		if len(addrs) > start {
			s.addrs = addrs[start:len(addrs):len(addrs)]
		}
		d.servers = append(d.servers, s)
		if len(d.servers) == MaxNSConsidered {
			break
		}
	}
	return d
}

// reachable reports whether some server has an address, or a name that can
// be looked up for q without this delegation's own servers.
func (d delegation) reachable(q *query) bool {
	for _, s := range d.servers {
		if len(s.addrs) > 0 || !inZone(s.name, d.zone) && !q.looksUp(s.name) {
			return true
		}
	}
	return false
}

// appendCachedAddrs appends to addrs the addresses the cache holds for
// name: its A records, then its AAAA records unless IPv6 is off, live at
// *now (cache.AppendAddrsAt: read when zero).
func (r *Resolver) appendCachedAddrs(addrs []netip.Addr, name string, now *time.Time) []netip.Addr {
	addrs, _ = r.cache.AppendAddrsAt(addrs, name, dns.TypeA, now)
	if !r.noIPv6 {
		addrs, _ = r.cache.AppendAddrsAt(addrs, name, dns.TypeAAAA, now)
	}
	return addrs
}

func appendAddr(addrs []netip.Addr, rr dns.RR) []netip.Addr {
	if a, ok := rrAddr(rr); ok {
		return append(addrs, a)
	}
	return addrs
}

// rrAddr is the address of an A or AAAA record, unmapped.
func rrAddr(rr dns.RR) (netip.Addr, bool) {
	var a netip.Addr
	switch rr := rr.(type) {
	case *dns.A:
		a, _ = netip.AddrFromSlice(rr.A.To4())
	case *dns.AAAA:
		a, _ = netip.AddrFromSlice(rr.AAAA.To16())
	}
	return a.Unmap(), a.IsValid()
}

// rootDelegation returns the root servers: the primed NS set from the cache,
// priming it first when it is missing or expired (RFC 8109), and the hints
// themselves when priming fails.
func (r *Resolver) rootDelegation(ctx context.Context, q *query) (delegation, error) {
	if d, _, ok := r.cachedDelegation(".", r.hints.Glue()); ok && d.reachable(nil) {
		return d, nil
	}
	hints, err := r.queryableHints()
	if err != nil {
		return delegation{}, err
	}
	// Only hints with addresses are asked: the priming query never looks
	// a server up, which would lead back here and wait on its own flight.
	f := r.priming.do(&r.walkers, "", func() (struct{}, error) {
		// Not validated: the root's keys are fetched from the servers this
		// finds, so checking it would wait on itself. Only iteration uses
		// the primed set; answers are validated on their own.
		prime := &query{qname: ".", qtype: dns.TypeNS, budget: q.budget, unvalidated: true}
		rep, err := r.ask(ctx, prime, hints, ".", dns.TypeNS, nil)
		if err != nil {
			return struct{}{}, err
		}
		if rep.kind != kindAnswer {
			return struct{}{}, fmt.Errorf("priming: %s reply", rep.kind)
		}
		return struct{}{}, nil
	})
	select {
	case <-ctx.Done():
		return delegation{}, &Error{Zone: ".", Err: ctx.Err()}
	case <-f.Done():
		_, err = f.Result()
	}
	if err != nil {
		if ctx.Err() != nil {
			return delegation{}, err
		}
		r.log.Warn("root priming failed, using the hints", "question", ". NS", "err", err)
		return hints, nil
	}
	if d, _, ok := r.cachedDelegation(".", r.hints.Glue()); ok && d.reachable(nil) {
		return d, nil
	}
	return hints, nil
}

// queryableHints is the root hints' delegation, with only the servers
// that have an address we may query; an error says why none has.
func (r *Resolver) queryableHints() (delegation, error) {
	hints := r.delegationAt(".", r.hints.NS(), r.hints.Glue())
	var usable []nameServer
	var excluded []string
	for _, s := range hints.servers {
		if slices.ContainsFunc(s.addrs, r.allowed) {
			usable = append(usable, s)
			continue
		}
		for _, a := range s.addrs {
			excluded = append(excluded, a.String())
		}
	}
	if len(usable) == 0 {
		why := "every root server address is excluded by dont-query"
		if r.noIPv6 {
			why += " or by IPv6 being off"
		}
		return delegation{}, &Error{Zone: ".", Err: fmt.Errorf("%w: %s: %s", ErrNoReachableServer, why, strings.Join(excluded, " "))}
	}
	hints.servers = usable
	return hints, nil
}

// delegationFromReferral builds the child delegation of a referral.
func (r *Resolver) delegationFromReferral(rep *reply) delegation {
	return r.delegationAt(rep.child, rep.ns, rep.glue)
}

// addParentGlue adds to cands the addresses that referrals gave as glue
// for d's servers, where not among cands already, and reports how many.
func (r *Resolver) addParentGlue(d delegation, cands *[]*candidate) int {
	have := map[netip.Addr]bool{}
	for _, c := range *cands {
		have[c.addr] = true
	}
	added := 0
	for _, s := range d.servers {
		r.parentGlue.each(s.name, func(a netip.Addr) {
			if !have[a] && r.allowed(a) {
				have[a] = true
				*cands = append(*cands, &candidate{ns: s.name, addr: a})
				added++
			}
		})
	}
	return added
}

// inZone reports whether name is zone or below it, for fully qualified
// names in presentation format, as dns.IsSubDomain does, without its
// allocations (it ran a dozen times per resolution): zone must be a suffix
// of name, case aside, that starts at a label boundary, a dot that is not
// escaped.
func inZone(name, zone string) bool {
	if zone == "." {
		return true
	}
	cut := len(name) - len(zone)
	if cut < 0 || !dnsname.EqualFold(name[cut:], zone) {
		return false
	}
	if cut == 0 {
		return true
	}
	if name[cut-1] != '.' {
		return false
	}
	slashes := 0
	for i := cut - 2; i >= 0 && name[i] == '\\'; i-- {
		slashes++
	}
	return slashes%2 == 0
}

func sameName(a, b string) bool { return dnsname.EqualFold(a, b) }
