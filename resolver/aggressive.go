package resolver

// Aggressive use of the cache (RFC 8198): NXDOMAIN and NODATA answers
// synthesised, with no upstream query, from NSEC records that validated
// as secure. Each signed zone's NSEC records are kept in canonical order,
// so that the one covering a name is found by binary search.

import (
	"context"
	"slices"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/dnssec"
	"github.com/recursor-dns/recursor/internal/dnsname"
)

// Bounds of the NSEC memory: zones kept, and NSEC records per zone. A
// random-subdomain flood at one zone fills its slots and then recycles
// the ones closest to expiry.
const (
	nsecZones       = 1_000
	nsecPerZone     = 2_000
	nsecSynthesised = "synthesised from cached NSEC (RFC 8198)"
)

// nsecCache is the validated NSEC records of signed zones.
type nsecCache struct {
	zones *lru.Cache[string, *nsecZone]
}

// nsecZone is one zone's validated NSEC records and its SOA.
type nsecZone struct {
	mu      sync.Mutex
	soa     []dns.RR // the SOA and its RRSIGs, as the last negative answer gave them
	entries []nsecEntry
}

// nsecEntry is one NSEC record with its RRSIGs.
type nsecEntry struct {
	owner   string // canonical
	nsec    *dns.NSEC
	rrs     []dns.RR // the NSEC then its RRSIGs
	expires time.Time
}

func newNSECCache() *nsecCache {
	z, _ := lru.New[string, *nsecZone](nsecZones)
	return &nsecCache{zones: z}
}

// learnDenial keeps the NSEC records of a secure negative answer from
// signer's zone. Their lifetime is the least of their TTL and the SOA's
// negative TTL (RFC 8198 section 5.4).
func (r *Resolver) learnDenial(rep reply, signer string) {
	if r.val == nil || !r.val.aggressive || rep.sec.Status != dnssec.Secure || rep.soa == nil {
		return
	}
	now := r.now()
	negTTL := time.Duration(min(rep.soa.Hdr.Ttl, rep.soa.Minttl)) * time.Second
	var fresh []nsecEntry
	for _, rr := range rep.denial {
		n, ok := rr.(*dns.NSEC)
		if !ok || !inZone(n.Hdr.Name, signer) {
			continue
		}
		sigs := sigsFor(rep.sigs, n.Hdr.Name, dns.TypeNSEC)
		if len(sigs) == 0 {
			continue
		}
		ttl := min(time.Duration(n.Hdr.Ttl)*time.Second, negTTL)
		for _, s := range sigs {
			ttl = min(ttl, time.Duration(s.Hdr.Ttl)*time.Second)
		}
		if ttl <= 0 {
			continue
		}
		rrs := append([]dns.RR{n}, sigsRRs(sigs)...)
		fresh = append(fresh, nsecEntry{owner: dnsname.Lower(n.Hdr.Name), nsec: n, rrs: rrs, expires: now.Add(ttl)})
	}
	if len(fresh) == 0 {
		return
	}
	z, ok := r.val.nsecs.zones.Get(signer)
	if !ok {
		z = &nsecZone{}
		if prev, found, _ := r.val.nsecs.zones.PeekOrAdd(signer, z); found {
			z = prev
		}
	}
	soa := append([]dns.RR{rep.soa}, sigsRRs(sigsFor(rep.sigs, rep.soa.Hdr.Name, dns.TypeSOA))...)
	z.add(fresh, soa, now)
}

func (z *nsecZone) add(fresh []nsecEntry, soa []dns.RR, now time.Time) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.soa = soa
	for _, e := range fresh {
		i, found := slices.BinarySearchFunc(z.entries, e.owner, func(have nsecEntry, owner string) int {
			return dnssec.CompareNames(have.owner, owner)
		})
		if found {
			z.entries[i] = e
			continue
		}
		if len(z.entries) >= nsecPerZone {
			z.entries = slices.DeleteFunc(z.entries, func(e nsecEntry) bool { return !now.Before(e.expires) })
			if len(z.entries) >= nsecPerZone {
				z.entries = z.entries[:len(z.entries)-1] // the last in order: arbitrary, bounded
			}
			i, _ = slices.BinarySearchFunc(z.entries, e.owner, func(have nsecEntry, owner string) int {
				return dnssec.CompareNames(have.owner, owner)
			})
		}
		z.entries = slices.Insert(z.entries, i, e)
	}
}

// around returns the live NSEC record that matches or covers name: the
// one with the greatest owner at or before it in canonical order (the
// last record of the chain covers the names after it).
func (z *nsecZone) around(name string, now time.Time) (nsecEntry, bool) {
	if len(z.entries) == 0 {
		return nsecEntry{}, false
	}
	i, found := slices.BinarySearchFunc(z.entries, name, func(have nsecEntry, owner string) int {
		return dnssec.CompareNames(have.owner, owner)
	})
	if !found {
		i-- // the one before
	}
	if i < 0 {
		i = len(z.entries) - 1
	}
	e := z.entries[i]
	return e, now.Before(e.expires)
}

// synthesise answers qname and qtype from the NSEC records of the closest
// signed zone above it, if they prove an NXDOMAIN or a NODATA.
func (r *Resolver) synthesise(ctx context.Context, q *query, qname string, qtype uint16) (result, bool) {
	if r.val == nil || !r.val.aggressive || q.keyOf != "" || r.val.nsecs.zones.Len() == 0 {
		return result{}, false
	}
	var zone string
	var z *nsecZone
	for n := qname; ; n = parentZone(n) {
		if found, ok := r.val.nsecs.zones.Get(n); ok {
			zone, z = n, found
			break
		}
		if n == "." {
			return result{}, false
		}
	}
	if r.val.anchors.negative(qname) {
		return result{}, false
	}
	now := r.now()
	z.mu.Lock()
	at, ok := z.around(qname, now)
	var wild nsecEntry
	wildOK := false
	if ok {
		wild, wildOK = z.around(wildcardAt(closestEncloser(qname, at.nsec)), now)
	}
	soa := z.soa
	z.mu.Unlock()
	if !ok || len(soa) == 0 {
		return result{}, false
	}
	proof := at.rrs
	denial := []dns.RR{at.nsec}
	if wildOK && wild.owner != at.owner {
		proof = append(slices.Clone(proof), wild.rrs...)
		denial = append(denial, wild.nsec)
	}
	res := result{ns: append(slices.Clone(soa), proof...), sec: secure}
	if v := dnssec.ProveNXDomain(qname, zone, denial, q.budget.sec); v.Status == dnssec.Secure {
		res.rcode = dns.RcodeNameError
	} else if v := dnssec.ProveNoData(qname, qtype, zone, denial, q.budget.sec); v.Status != dnssec.Secure {
		return result{}, false
	}
	r.traceCheck(ctx, q, qname, qtype, zone, check{Verdict: dnssec.Verdict{Status: dnssec.Secure, Why: nsecSynthesised}})
	return res, true
}

// closestEncloser is the longest ancestor of qname that the NSEC record
// around it shows to exist: the longer of qname's common ancestors with
// the NSEC's owner and with its next name (RFC 4035 section 5.4).
func closestEncloser(qname string, n *dns.NSEC) string {
	a, b := commonAncestor(qname, n.Hdr.Name), commonAncestor(qname, n.NextDomain)
	if dns.CountLabel(b) > dns.CountLabel(a) {
		return b
	}
	return a
}

func commonAncestor(a, b string) string {
	n := dns.CompareDomainName(a, b)
	labels := dns.SplitDomainName(a)
	if n >= len(labels) {
		return dnsname.Lower(dns.Fqdn(a))
	}
	return dnsname.Lower(dns.Fqdn(joinLabels(labels[len(labels)-n:])))
}

func joinLabels(labels []string) string {
	if len(labels) == 0 {
		return "."
	}
	out := ""
	for _, l := range labels {
		out += l + "."
	}
	return out
}

func wildcardAt(name string) string {
	if name == "." {
		return "*."
	}
	return "*." + name
}
