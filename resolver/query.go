package resolver

// The query: one question's state on the walk and the budget that all
// the sub-queries of one client question share.

import (
	"sync"
	"sync/atomic"
)

// budget is the work one client query may cause, shared by its sub-queries.
type budget struct {
	limits    Limits
	sent      atomic.Int32
	glueless  atomic.Int32
	nxServers atomic.Int32 // name servers found not to exist
	failures  atomic.Int32

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

func newBudget(l Limits) *budget {
	b := &budget{limits: l}
	b.perName = b.names[:0]
	return b
}

// spendOn counts an upstream query about name and reports whether it stays
// within DefaultMaxQueriesPerName.
func (b *budget) spendOn(name string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.perName {
		if b.perName[i].name == name {
			b.perName[i].n++
			return b.perName[i].n <= DefaultMaxQueriesPerName
		}
	}
	b.perName = append(b.perName, nameCount{name, 1})
	return 1 <= DefaultMaxQueriesPerName
}

// lookupChain lists the names whose resolution led to this one, so a name
// server whose address depends on itself is noticed.
type lookupChain struct {
	name   string
	parent *lookupChain
}

func (c *lookupChain) has(name string) bool {
	for ; c != nil; c = c.parent {
		if c.name == name {
			return true
		}
	}
	return false
}
