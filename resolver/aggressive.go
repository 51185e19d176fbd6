package resolver

// Aggressive use of the cache (RFC 8198): NXDOMAIN and NODATA answers
// synthesised, with no upstream query, from NSEC and NSEC3 records that
// validated as secure. Each signed zone's NSEC records are kept in
// canonical order, its NSEC3 records in hash order (within the iteration
// limit only), so that the records around a name are found by binary
// search; the proof itself is package dnssec's, as for a reply.

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/dnssec"
	"github.com/recursor-dns/recursor/internal/dnsname"
)

// Bounds of the NSEC memory: zones kept, and NSEC records per zone. A
// random-subdomain flood at one zone fills its slots and then recycles
// the ones closest to expiry.
const (
	nsecZones       = 1_000
	nsecPerZone     = 2_000
	nsecSynthesised = "synthesised from cached NSEC or NSEC3 (RFC 8198)"
)

// nsecCache is the validated NSEC records of signed zones.
type nsecCache struct {
	zones *lru.Cache[string, *nsecZone]
}

// nsecZone is one zone's validated NSEC or NSEC3 records and its SOA.
type nsecZone struct {
	mu   sync.Mutex
	soa  []dns.RR // the SOA and its RRSIGs, as the last negative answer gave them
	nsec denialList[*dns.NSEC]
	// nsec3: all of the parameters of the first (a change of parameters
	// starts afresh).
	nsec3 denialList[*dns.NSEC3]
}

func newNSECZone() *nsecZone {
	return &nsecZone{nsec: denialList[*dns.NSEC]{compare: dnssec.CompareNames}, nsec3: denialList[*dns.NSEC3]{compare: strings.Compare}}
}

// denialEntry is one NSEC or NSEC3 record with its RRSIGs.
type denialEntry[R dns.RR] struct {
	key     string // canonical owner (NSEC) or the owner's hash label (NSEC3)
	rec     R
	rrs     []dns.RR // the record then its RRSIGs
	expires time.Time
}

// denialList is a zone's records of one kind in the order of their keys
// (canonical name order for NSEC, hash order for NSEC3), bounded.
type denialList[R dns.RR] struct {
	entries []denialEntry[R]
	compare func(a, b string) int
}

func (l *denialList[R]) find(key string) (int, bool) {
	return slices.BinarySearchFunc(l.entries, key, func(have denialEntry[R], k string) int { return l.compare(have.key, k) })
}

// put adds e, or replaces the record of its key. A full list drops its
// expired records first, then its last one (arbitrary, but bounded).
func (l *denialList[R]) put(e denialEntry[R], now time.Time) {
	i, found := l.find(e.key)
	if found {
		l.entries[i] = e
		return
	}
	if len(l.entries) >= nsecPerZone {
		l.entries = slices.DeleteFunc(l.entries, func(e denialEntry[R]) bool { return !now.Before(e.expires) })
		if len(l.entries) >= nsecPerZone {
			l.entries = l.entries[:len(l.entries)-1]
		}
		i, _ = l.find(e.key)
	}
	l.entries = slices.Insert(l.entries, i, e)
}

// around returns the live record that matches or covers key: the one with
// the greatest key at or before it (the last record of a chain wraps round
// to cover the keys after it).
func (l *denialList[R]) around(key string, now time.Time) (denialEntry[R], bool) {
	if len(l.entries) == 0 || key == "" {
		return denialEntry[R]{}, false
	}
	i, found := l.find(key)
	if !found {
		i--
	}
	if i < 0 {
		i = len(l.entries) - 1
	}
	e := l.entries[i]
	return e, now.Before(e.expires)
}

func newNSECCache() *nsecCache {
	z, _ := lru.New[string, *nsecZone](nsecZones)
	return &nsecCache{zones: z}
}

// learnDenial keeps the NSEC records of a secure negative answer, or of a
// referral's secure no-DS proof, from signer's zone. Their lifetime is the
// least of their TTL and the SOA's negative TTL (RFC 8198 section 5.4); a
// referral has no SOA, and answers are synthesised only once a negative
// answer has given the zone's SOA.
func (r *Resolver) learnDenial(rep *reply, signer string) {
	if r.val == nil || !r.val.aggressive || rep.sec.Status != dnssec.Secure {
		return
	}
	now := r.now()
	negTTL := time.Duration(1<<31-1) * time.Second // RFC 2181 8: the longest TTL
	if rep.soa != nil {
		negTTL = time.Duration(min(rep.soa.Hdr.Ttl, rep.soa.Minttl)) * time.Second
	}
	var fresh []denialEntry[*dns.NSEC]
	var fresh3 []denialEntry[*dns.NSEC3]
	for _, rr := range rep.denial {
		if n3, ok := rr.(*dns.NSEC3); ok {
			if e, ok := r.nsec3Entry(n3, signer, rep, negTTL, now); ok {
				fresh3 = append(fresh3, e)
			}
			continue
		}
		n, ok := rr.(*dns.NSEC)
		// An NSEC whose next name leaves the zone proves nothing: kept,
		// it could hide the record that covers a name (val_nx_overreach).
		if !ok || !inZone(n.Hdr.Name, signer) || !inZone(n.NextDomain, signer) {
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
		fresh = append(fresh, denialEntry[*dns.NSEC]{key: dnsname.Lower(n.Hdr.Name), rec: n, rrs: rrs, expires: now.Add(ttl)})
	}
	if len(fresh) == 0 && len(fresh3) == 0 {
		return
	}
	z, ok := r.val.nsecs.zones.Get(signer)
	if !ok {
		z = newNSECZone()
		if prev, found, _ := r.val.nsecs.zones.PeekOrAdd(signer, z); found {
			z = prev
		}
	}
	var soa []dns.RR
	if rep.soa != nil {
		soa = append([]dns.RR{rep.soa}, sigsRRs(sigsFor(rep.sigs, rep.soa.Hdr.Name, dns.TypeSOA))...)
	}
	z.add(fresh, soa, now)
	z.add3(fresh3, now)
}

// nsec3Entry is n3 as the NSEC3 memory keeps it, if it may be used:
// owned one label below signer, with parameters a proof would accept.
func (r *Resolver) nsec3Entry(n3 *dns.NSEC3, signer string, rep *reply, negTTL time.Duration, now time.Time) (denialEntry[*dns.NSEC3], bool) {
	if n3.Hash != dns.SHA1 || n3.Flags > 1 || int(n3.Iterations) > r.val.limits.MaxNSEC3Iterations ||
		!sameName(parentZone(n3.Hdr.Name), signer) {
		return denialEntry[*dns.NSEC3]{}, false
	}
	sigs := sigsFor(rep.sigs, n3.Hdr.Name, dns.TypeNSEC3)
	if len(sigs) == 0 {
		return denialEntry[*dns.NSEC3]{}, false
	}
	ttl := min(time.Duration(n3.Hdr.Ttl)*time.Second, negTTL)
	if ttl <= 0 {
		return denialEntry[*dns.NSEC3]{}, false
	}
	hash := dnsname.Lower(dns.SplitDomainName(n3.Hdr.Name)[0])
	return denialEntry[*dns.NSEC3]{key: hash, rec: n3, rrs: append([]dns.RR{n3}, sigsRRs(sigs)...), expires: now.Add(ttl)}, true
}

func (z *nsecZone) add3(fresh []denialEntry[*dns.NSEC3], now time.Time) {
	if len(fresh) == 0 {
		return
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	params := fresh[0].rec
	if len(z.nsec3.entries) > 0 && !sameParams(z.nsec3.entries[0].rec, params) {
		z.nsec3.entries = nil
	}
	for _, e := range fresh {
		if sameParams(e.rec, params) {
			z.nsec3.put(e, now)
		}
	}
}

func sameParams(a, b *dns.NSEC3) bool {
	return a.Hash == b.Hash && a.Iterations == b.Iterations && strings.EqualFold(a.Salt, b.Salt)
}

// nsec3Candidates picks from z the NSEC3 records a proof for qname needs:
// the one matching the closest encloser, the one covering the next closer
// name, and the one matching or covering the wildcard at the encloser
// (RFC 5155 section 8); hashes count in q's budget. z.mu is held.
func (r *Resolver) nsec3Candidates(z *nsecZone, zone, qname string, q *query, now time.Time) ([]dns.RR, []dns.RR, bool) {
	params := z.nsec3.entries[0].rec
	var denial, proof []dns.RR
	pick := func(e denialEntry[*dns.NSEC3]) {
		if !slices.ContainsFunc(denial, func(rr dns.RR) bool { return rr == dns.RR(e.rec) }) {
			denial = append(denial, e.rec)
			proof = append(proof, e.rrs...)
		}
	}
	var closer denialEntry[*dns.NSEC3] // the record around the last name hashed: the next closer's
	for c := qname; ; c = parentZone(c) {
		h := dnssec.HashNSEC3(c, params, q.budget.sec)
		e, ok := z.nsec3.around(h, now)
		if !ok {
			return nil, nil, false
		}
		if e.key == h {
			pick(e) // the closest encloser (or qname itself, for a NODATA)
			if c != qname {
				pick(closer)
				if wc, ok := z.nsec3.around(dnssec.HashNSEC3(wildcardAt(c), params, q.budget.sec), now); ok {
					pick(wc)
				}
			}
			return denial, proof, true
		}
		if c == zone {
			return nil, nil, false
		}
		closer = e
	}
}

func (z *nsecZone) add(fresh []denialEntry[*dns.NSEC], soa []dns.RR, now time.Time) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if len(soa) > 0 {
		z.soa = soa
	}
	for _, e := range fresh {
		z.nsec.put(e, now)
	}
}

// closestNSECZone is the closest zone at or above qname whose NSEC records
// are kept for aggressive use.
func (r *Resolver) closestNSECZone(qname string) (zone string, z *nsecZone, ok bool) {
	for n := qname; ; n = parentZone(n) {
		if kept, hit := r.val.nsecs.zones.Get(n); hit {
			return n, kept, true
		}
		if n == "." {
			return "", nil, false
		}
	}
}

// synthesise answers qname and qtype from the NSEC records of the closest
// signed zone above it, if they prove an NXDOMAIN or a NODATA.
func (r *Resolver) synthesise(ctx context.Context, q *query, qname string, qtype uint16) (result, bool) {
	if r.val == nil || !r.val.aggressive || q.keyOf != "" || r.val.nsecs.zones.Len() == 0 {
		return result{}, false
	}
	zone, z, found := r.closestNSECZone(qname)
	if !found {
		return result{}, false
	}
	if r.val.anchors.negative(qname) {
		return result{}, false
	}
	now := r.now()
	z.mu.Lock()
	soa := z.soa
	if len(soa) == 0 {
		// Records from referrals' no-DS proofs alone: nothing can be
		// answered before a negative answer gives the SOA, so no lookup
		// (and no NSEC3 hash) is spent on every cold query of the zone.
		z.mu.Unlock()
		return result{}, false
	}
	if len(z.nsec.entries) == 0 && len(z.nsec3.entries) > 0 {
		denial, proof, ok := r.nsec3Candidates(z, zone, qname, q, now)
		z.mu.Unlock()
		if !ok {
			return result{}, false
		}
		return r.synthesised(ctx, q, zone, qname, qtype, soa, denial, proof)
	}
	at, ok := z.nsec.around(qname, now)
	var wild denialEntry[*dns.NSEC]
	wildOK := false
	if ok {
		wild, wildOK = z.nsec.around(wildcardAt(closestEncloser(qname, at.rec)), now)
	}
	z.mu.Unlock()
	if !ok {
		return result{}, false
	}
	proof := at.rrs
	denial := []dns.RR{at.rec}
	if wildOK && wild.key != at.key {
		proof = append(slices.Clone(proof), wild.rrs...)
		denial = append(denial, wild.rec)
	}
	return r.synthesised(ctx, q, zone, qname, qtype, soa, denial, proof)
}

// synthesised is the negative answer that denial proves for qname, if it
// proves one securely.
func (r *Resolver) synthesised(ctx context.Context, q *query, zone, qname string, qtype uint16, soa, denial, proof []dns.RR) (result, bool) {
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
	return dnsname.Lower(dns.Fqdn(strings.Join(labels[len(labels)-min(n, len(labels)):], ".")))
}

func wildcardAt(name string) string {
	if name == "." {
		return "*."
	}
	return "*." + name
}

// storeWildcard keeps a copy of set, a secure answer expanded from a
// wildcard, under the wildcard's own name: with a cached NSEC that covers
// another name below the same encloser, the answer for that name is
// synthesised from it (RFC 8198 section 5.4). set's RRSIGs were made
// over the wildcard owner, so they verify there as they are.
func (r *Resolver) storeWildcard(set cache.Set) {
	if r.val == nil || !r.val.aggressive || set.Security != cache.Secure || len(set.Proof) == 0 || len(set.RRs) == 0 {
		return
	}
	owner := set.RRs[0].Header().Name
	wild := ""
	for _, rr := range set.Sigs {
		if sig, ok := rr.(*dns.RRSIG); ok {
			if wild = dnssec.WildcardOf(owner, sig); wild != "" {
				break
			}
		}
	}
	if wild == "" {
		return
	}
	w := set
	w.RRs, w.Sigs, w.Proof = renamed(set.RRs, wild), renamed(set.Sigs, wild), nil
	r.cache.PutSet(w)
}

// renamed returns copies of rrs owned by name.
func renamed(rrs []dns.RR, name string) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Copy(rr)
		out[i].Header().Name = name
	}
	return out
}

// synthesiseWildcard answers qname and qtype from a cached secure wildcard
// RRset, of qtype or a CNAME, when a cached NSEC covers qname and proves
// that wildcard the one to expand (RFC 8198 section 5.4, RFC 4035 section
// 5.3.4). next is the CNAME's target to go on at, "" when res answers.
func (r *Resolver) synthesiseWildcard(ctx context.Context, q *query, qname string, qtype uint16) (res result, next string, ok bool) {
	if r.val == nil || !r.val.aggressive || q.keyOf != "" || qtype == dns.TypeDS || r.val.nsecs.zones.Len() == 0 {
		return result{}, "", false
	}
	zone, z, found := r.closestNSECZone(qname)
	if !found {
		return result{}, "", false
	}
	if r.val.anchors.negative(qname) {
		return result{}, "", false
	}
	z.mu.Lock()
	at, found := z.nsec.around(qname, r.now())
	z.mu.Unlock()
	if !found || at.key == dnsname.Lower(qname) {
		return result{}, "", false
	}
	wild := wildcardAt(closestEncloser(qname, at.rec))
	if v := dnssec.ProveWildcardAnswer(qname, wild, zone, []dns.RR{at.rec}, q.budget.sec); v.Status != dnssec.Secure {
		return result{}, "", false
	}
	for _, t := range []uint16{qtype, dns.TypeCNAME} {
		e, ok := r.cache.Get(wild, t, dns.ClassINET)
		if !ok || e.Negative != cache.Positive || e.Security != cache.Secure || signerOfRecords(e.Sigs, "") != zone {
			continue
		}
		res = result{answer: append(renamed(e.RRs, qname), renamed(e.Sigs, qname)...), proof: at.rrs, sec: secure}
		r.traceCheck(ctx, q, qname, qtype, zone, check{Verdict: dnssec.Verdict{Status: dnssec.Secure, Why: nsecSynthesised}})
		if t == dns.TypeCNAME && qtype != dns.TypeCNAME {
			return res, cache.Canonical(e.RRs[0].(*dns.CNAME).Target), true
		}
		return res, "", true
	}
	return result{}, "", false
}
