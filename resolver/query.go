package resolver

// The query: one question's state on the walk and the budget that all
// the sub-queries of one client question share.

import (
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/dnssec"
)

// budget is the work one client query may cause, shared by its sub-queries.
type budget struct {
	limits    Limits
	sent      atomic.Int32
	glueless  atomic.Int32
	nxServers atomic.Int32 // name servers found not to exist
	failures  atomic.Int32
	// sec counts signature verifications and NSEC3 hashes (nil when not
	// validating): KeyTrap and NSEC3 floods end here.
	sec *dnssec.Budget

	mu sync.Mutex // guards perName
	// perName counts upstream queries about each name. A walk asks about
	// a handful of names, so a scan of a slice, first in the budget's own
	// array, costs less than a map (which was 5% of a cold resolution's
	// allocated bytes); MaxUpstreamQueries bounds its length.
	perName []nameCount
	names   [6]nameCount
}

type nameCount struct {
	name string
	n    int
}

// spendOn counts an upstream query about name and reports whether it stays
// within Limits.MaxQueriesPerName.
func (b *budget) spendOn(name string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.perName {
		if b.perName[i].name == name {
			b.perName[i].n++
			return b.perName[i].n <= b.limits.MaxQueriesPerName
		}
	}
	b.perName = append(b.perName, nameCount{name, 1})
	return 1 <= b.limits.MaxQueriesPerName
}

// query is one question on the walk: the client's, or a lookup of a name
// server's address made for another query, its parent (as Knot Resolver's
// kr_query). The queries of one client question share one budget.
type query struct {
	qname  string
	qtype  uint16
	depth  int    // 0 for the client's question, the parent's + 1 for a lookup
	parent *query // nil for the client's question
	budget *budget
	// keyOf is the zone whose DS or DNSKEY this query fetches for
	// validation (keys.go); "" for the client's question and address
	// lookups.
	keyOf string
	// unvalidated: the priming query, whose reply is not validated.
	unvalidated bool
	// keyTrust: for a DNSKEY question of keyOf, what its answer is
	// checked against (the DS set or the anchor's keys).
	keyTrust *keyTrust
	// leads is the key of the shared ask this query leads (ask): the
	// key lookups of its reply's validation must not wait on it.
	leads string
	// refresh: a prefetch or a stale answer's refresh, which asks
	// upstream for the client's name even when the cache holds it.
	refresh bool
}

// keyTrust is what a zone's DNSKEY set must match: the parent's DS set,
// or a trust anchor's DS records and keys.
type keyTrust struct {
	ds   []*dns.DS
	keys []*dns.DNSKEY
}

// newQuery is a client's question, with a fresh budget: one allocation
// for both.
func newQuery(qname string, qtype uint16, l Limits) *query {
	qb := &struct {
		q query
		b budget
	}{q: query{qname: qname, qtype: qtype}, b: budget{limits: l}}
	qb.b.perName = qb.b.names[:0]
	qb.q.budget = &qb.b
	return &qb.q
}

// lookup is the query for a name server's address that q needs.
func (q *query) lookup(name string, qtype uint16) *query {
	return &query{qname: name, qtype: qtype, depth: q.depth + 1, parent: q, budget: q.budget}
}

// keyLookup is the query for zone's DS or DNSKEY that validating q's data
// needs. It nests no deeper than q: the zones it climbs are strictly
// above the data's, so the chain ends at a trust anchor.
func (q *query) keyLookup(zone string, qtype uint16) *query {
	return &query{qname: zone, qtype: qtype, depth: q.depth, parent: q, budget: q.budget, keyOf: zone}
}

// isLookup reports whether q looks up a name server's address.
func (q *query) isLookup() bool { return q.parent != nil && q.keyOf == "" }

// keying reports whether zone's keys are being fetched on the way to q:
// validating them with themselves would never end.
func (q *query) keying(zone string) bool {
	for c := q; c != nil; c = c.parent {
		if c.keyOf == zone {
			return true
		}
	}
	return false
}

// leading reports whether an ask that waits for q, synchronously, leads
// key. The chain stops at an address lookup: it runs on a goroutine of
// its own, whose ask is not waited for without a deadline.
func (q *query) leading(key string) bool {
	for c := q; c != nil; c = c.parent {
		if c.leads == key {
			return true
		}
		if c.isLookup() {
			return false
		}
	}
	return false
}

// looksUp reports whether name is being looked up on the way to q: a name
// server whose address lookup needs that very address is a loop. q may
// be nil (no lookups on the way).
func (q *query) looksUp(name string) bool {
	for c := q; c != nil && c.parent != nil; c = c.parent {
		if c.keyOf == "" && c.qname == name {
			return true
		}
	}
	return false
}
