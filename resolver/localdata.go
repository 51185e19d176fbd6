package resolver

// Local data (Config.LocalData): the operator's own local zones, asked
// before the built-in special-use zones, the cache and iteration, as
// Unbound consults its local-zone and local-data first. Their answers are
// built per question and never enter the cache.

import (
	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/localdata"
)

// SetLocalData replaces the local data (nil: none) for the questions
// that follow; questions under way keep the table they started with.
// Answer caches in front of the resolver must drop what they kept from
// the old table, as a reload does with server.FlushAnswers.
func (r *Resolver) SetLocalData(t *localdata.Table) { r.localData.Store(t) }

// LocalData returns the local data in use, nil when none.
func (r *Resolver) LocalData() *localdata.Table { return r.localData.Load() }

// fromLocal answers qname and qtype from the local data, else from the
// built-in local zones that no configured zone overrides. A built-in zone
// gives way to a configured zone of the same name (any type, nodefault
// included), and to one closer to qname: as in Unbound, the closest zone
// decides, and a transparent one then sends the question on to be
// resolved.
func (r *Resolver) fromLocal(qname string, qtype uint16) (result, bool) {
	t := r.localData.Load()
	v := t.Lookup(qname, qtype)
	switch v.Action {
	case localdata.Answer:
		return result{rcode: v.Rcode, answer: v.Answer, ns: v.Ns, local: true}, true
	case localdata.Drop:
		return result{rcode: dns.RcodeRefused, local: true, drop: true}, true
	}
	z := r.localZoneOf(qname)
	if z == "" || t.Has(z) || len(z) <= len(v.Zone) {
		// Both zones hold qname: the longer name is the closer zone.
		return result{}, false
	}
	return localAnswer(z, qname, qtype), true
}
