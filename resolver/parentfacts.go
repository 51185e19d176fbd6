package resolver

// What the parent side of a zone cut said, kept apart from the cache, where
// the child's own records may replace it: the glue addresses of name
// servers and when each delegation runs out. Both are kept for
// InfraCacheHosts names in namelru maps, which the garbage collector does
// not scan (golang-lru's entries were most of what a collection cycle
// marked during a cold run, docs/architecture.md).

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/internal/dnsname"
	"github.com/recursor-dns/recursor/internal/namelru"
)

// glueMap maps a name server's canonical name to the addresses a referral
// gave for it, each stored as its length (4 or 16) and its bytes.
type glueMap struct{ m *namelru.Map }

func newGlueMap(limit int) glueMap { return glueMap{namelru.New(limit)} }

// glueInline is how many glue records rememberParentGlue groups by name
// without a map: a referral's glue is a few records a name, and comparing
// each with those before it costs less than a map up to a few dozen.
const glueInline = 32

// rememberParentGlue keeps the addresses a referral gave for its servers,
// replacing what earlier referrals gave for the same names.
func (r *Resolver) rememberParentGlue(glue []dns.RR) {
	if len(glue) > glueInline {
		byName := map[string][]byte{}
		for _, g := range glue {
			name := cache.Canonical(g.Header().Name)
			byName[name] = appendGlueAddr(byName[name], g)
		}
		for name, addrs := range byName {
			r.parentGlue.m.Add(name, addrs)
		}
		return
	}
	var buf [glueInline * 17]byte
next:
	for i, g := range glue {
		name := g.Header().Name
		for _, earlier := range glue[:i] {
			if dnsname.EqualFold(earlier.Header().Name, name) {
				continue next // added with it
			}
		}
		addrs := buf[:0]
		for _, same := range glue[i:] {
			if dnsname.EqualFold(same.Header().Name, name) {
				addrs = appendGlueAddr(addrs, same)
			}
		}
		r.parentGlue.m.Add(cache.Canonical(name), addrs)
	}
}

// appendGlueAddr appends the address of an A or AAAA record to b.
func appendGlueAddr(b []byte, rr dns.RR) []byte {
	a, ok := rrAddr(rr)
	if !ok {
		return b
	}
	if a.Is4() {
		v := a.As4()
		return append(append(b, 4), v[:]...)
	}
	v := a.As16()
	return append(append(b, 16), v[:]...)
}

// each calls f with each address the referrals gave for name, canonical.
func (g glueMap) each(name string, f func(netip.Addr)) {
	var buf [8 * 17]byte
	b, _ := g.m.Get(name, buf[:0])
	for len(b) > 0 {
		n := int(b[0])
		if len(b) < 1+n {
			return
		}
		if a, ok := netip.AddrFromSlice(b[1 : 1+n]); ok {
			f(a)
		}
		b = b[1+n:]
	}
}

// deadlineMap maps a zone's canonical name to when the parent's
// delegation of it runs out, in Unix nanoseconds.
type deadlineMap struct{ m *namelru.Map }

func newDeadlineMap(limit int) deadlineMap { return deadlineMap{namelru.New(limit)} }

func (d deadlineMap) add(zone string, end time.Time) {
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], uint64(end.UnixNano()))
	d.m.Add(zone, buf[:])
}

// get returns zone's deadline and makes it the most recently used.
func (d deadlineMap) get(zone string) (time.Time, bool) {
	var buf [8]byte
	return decodeDeadline(d.m.Get(zone, buf[:0]))
}

// peek is get without touching the LRU order.
func (d deadlineMap) peek(zone string) (time.Time, bool) {
	var buf [8]byte
	return decodeDeadline(d.m.Peek(zone, buf[:0]))
}

func decodeDeadline(b []byte, ok bool) (time.Time, bool) {
	if !ok || len(b) != 8 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.LittleEndian.Uint64(b))), true
}
