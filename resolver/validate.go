package resolver

// The validate stage (RFC 4035 section 5): every reply's RRsets are
// checked against the keys of the zone that signed them, negative answers
// and wildcard answers against their NSEC or NSEC3 proofs, and referrals'
// DS sets against the parent's keys. The rules live in package dnssec;
// this stage finds what they need (keys.go fetches DS and DNSKEY sets
// through the walk) and leaves its verdict on the reply, which learn.go
// keeps with the data.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/miekg/dns"
	"golang.org/x/sync/singleflight"

	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/dnssec"
	"github.com/recursor-dns/recursor/internal/dnsname"
)

// maxCutProbes bounds the DS questions asked to find the insecure zone
// cut that an unsigned answer from a signed zone's servers may lie below
// (a server that serves a signed parent and its unsigned child answers
// for the child without a referral).
const maxCutProbes = 6

// validator is the state of validation: the anchors, the limits, and the
// zones' validated keys.
type validator struct {
	anchors    *anchors
	limits     dnssec.Limits
	bogusTTL   time.Duration
	aggressive bool
	keys       *lru.Cache[string, *zoneKeys]
	keyFlight  singleflight.Group
	// whys: the reasons of bogus data in the cache, which keeps only the
	// EDE, so that an answer from the cache says as much as a fresh one.
	whys *lru.Cache[string, string]
	// nsecs: validated NSEC records for aggressive use (aggressive.go)
	nsecs *nsecCache
	// verified: RRsets whose signatures verified, and till when
	verified *lru.Cache[[sha256.Size]byte, dnssec.Verdict]
}

func bogusKey(name string, t uint16) string { return dnsname.Lower(name) + "/" + dns.TypeToString[t] }

// check is a verdict with where it came from: fromReply says that the
// reply itself failed (its signatures or proofs), so another server of
// the zone may give a good one; a verdict on the zone's keys, already
// known, would not change.
type check struct {
	dnssec.Verdict
	fromReply bool
	// deferred: a DNSKEY set fetched to validate its own zone's keys;
	// keys.go checks it against the DS and stores it.
	deferred bool
}

// secure is where a reply's verdict starts before its RRsets are checked.
var secure = check{Verdict: dnssec.Verdict{Status: dnssec.Secure}}

// worse returns the weaker of two verdicts: bogus, then indeterminate,
// then insecure, then secure.
func worse(a, b check) check {
	rank := func(s dnssec.Status) int {
		return [...]int{dnssec.Indeterminate: 2, dnssec.Insecure: 1, dnssec.Secure: 0, dnssec.Bogus: 3}[s]
	}
	if rank(b.Status) > rank(a.Status) {
		return b
	}
	if rank(b.Status) == rank(a.Status) && b.Status == dnssec.Secure && !b.Expires.IsZero() && (a.Expires.IsZero() || b.Expires.Before(a.Expires)) {
		a.Expires = b.Expires // a secure answer lives as long as its first signature to expire
	}
	return a
}

func bogus(ede uint16, fromReply bool, format string, args ...any) check {
	return check{Verdict: dnssec.Verdict{Status: dnssec.Bogus, EDE: ede, Why: fmt.Sprintf(format, args...)}, fromReply: fromReply}
}

// validate sets rep.sec: the verdict on the reply of zone's servers to q.
func (r *Resolver) validate(ctx context.Context, q *query, zone string, rep *reply) {
	if r.val == nil || q.unvalidated {
		return
	}
	switch rep.kind {
	case kindReferral:
		rep.sec = r.validateReferral(ctx, q, zone, rep)
	case kindAnswer, kindCNAME, kindNXDomain, kindNoData:
		rep.sec = r.validateData(ctx, q, zone, rep)
		if r.nonMinimal && rep.kind == kindAnswer && rep.sec.Status == dnssec.Secure {
			rep.secured = r.checkSections(q, zone, rep)
		}
	}
	if rep.sec.Status == dnssec.Secure {
		clampToOrigTTL(rep)
	}
}

// clampToOrigTTL lowers the TTL of each signed record of a secure rep to
// its RRSIGs' original TTL (RFC 4035 section 5.3.3): the signature does
// not cover the TTL, so a server or a spoofer replaying genuine signatures
// could otherwise make the set live longer than its signer allowed. The
// smallest original TTL of the set's signatures counts. Records are
// copied where changed: they may be shared with other walks.
func clampToOrigTTL(rep *reply) {
	if len(rep.sigs) == 0 {
		return
	}
	clamp := func(rrs []dns.RR) []dns.RR {
		var out []dns.RR
		for i, rr := range rrs {
			h := rr.Header()
			limit, ok := uint32(0), false
			for _, s := range rep.sigs {
				if s.TypeCovered == h.Rrtype && sameName(s.Hdr.Name, h.Name) && (!ok || s.OrigTtl < limit) {
					limit, ok = s.OrigTtl, true
				}
			}
			if !ok || h.Ttl <= limit {
				continue
			}
			if out == nil {
				out = slices.Clone(rrs)
			}
			out[i] = dns.Copy(rr)
			out[i].Header().Ttl = limit
		}
		if out == nil {
			return rrs
		}
		return out
	}
	rep.chain, rep.answer, rep.denial, rep.ds = clamp(rep.chain), clamp(rep.answer), clamp(rep.denial), clamp(rep.ds)
	if rep.soa != nil {
		rep.soa = clamp([]dns.RR{rep.soa})[0].(*dns.SOA)
	}
	cloned := false
	for i, s := range rep.sigs {
		if s.Hdr.Ttl <= s.OrigTtl {
			continue
		}
		if !cloned {
			rep.sigs, cloned = slices.Clone(rep.sigs), true
		}
		c := dns.Copy(s).(*dns.RRSIG)
		c.Hdr.Ttl = c.OrigTtl
		rep.sigs[i] = c
	}
}

// securedSet names an RRset of a reply's authority or additional section
// whose signatures verified.
type securedSet struct {
	name string
	t    uint16
	v    check
}

// securedAs returns the verdict checkSections gave rrs, if it gave one.
func (rep *reply) securedAs(rrs []dns.RR) (check, bool) {
	h := rrs[0].Header()
	for _, s := range rep.secured {
		if s.t == h.Rrtype && sameName(s.name, h.Name) {
			return s.v, true
		}
	}
	return check{}, false
}

// checkSections verifies the signed NS set and glue that came with a
// secure answer, with the keys the answer's check left in the key cache:
// non-minimal responses repeat them, and a secure answer carries only
// secure records beside it (as Unbound cleans its sections). Unsigned
// sets, or sets whose keys are not at hand, stay unchecked; none of this
// changes the answer's verdict, and it never spends the last of the
// query's verifications, which the answer's own chain may still need.
func (r *Resolver) checkSections(q *query, zone string, rep *reply) []securedSet {
	var out []securedSet
	sets := splitRRsets(nil, rep.glue)
	if rep.authNS != nil {
		sets = append([][]dns.RR{rep.authNS}, sets...)
	}
	for _, set := range sets {
		b := q.budget.sec
		if b == nil || b.Verifications()+r.val.limits.MaxVerificationsPerRRset > r.val.limits.MaxVerificationsPerQuery {
			break
		}
		h := set[0].Header()
		sigs := sigsFor(rep.sigs, h.Name, h.Rrtype)
		signer, ok := signerOf(sigs, h.Name, zone)
		if !ok {
			continue
		}
		zk := r.knownKeys(q, signer)
		if zk == nil || zk.Status != dnssec.Secure {
			continue
		}
		if v := r.verifySet(set, sigs, signer, zk.keys, q); v.Status == dnssec.Secure {
			out = append(out, securedSet{name: h.Name, t: h.Rrtype, v: v})
		}
	}
	return out
}

// validateData checks the chain, the answer and, for a negative answer,
// the SOA and the denial proof.
func (r *Resolver) validateData(ctx context.Context, q *query, zone string, rep *reply) check {
	v := secure
	for i, rr := range rep.chain {
		if i > 0 && synthesisedBy(rep.chain[i-1], rr) {
			continue // synthesised by us from the DNAME: never signed
		}
		v = worse(v, r.checkSet(ctx, q, zone, rep, []dns.RR{rr}))
	}
	if len(rep.answer) > 0 && rep.answer[0].Header().Rrtype == dns.TypeRRSIG {
		// RRSIGs are not signed themselves: an answer of them is data
		// as it came, indeterminate (RFC 4035 section 5.3.1). The rest
		// of the walk (referrals, their DS sets) is validated as ever.
		return worse(v, check{})
	}
	if n := len(rep.chain); n > 0 && len(rep.answer) > 0 && synthesisedBy(rep.chain[n-1], rep.answer[0]) {
		// A CNAME question below a DNAME: the answer is ours, and the
		// DNAME's verdict is its verdict (RFC 6672 section 5.3.2 note
		// of RFC 4035: a synthesised CNAME is not validated itself).
		return v
	}
	if len(rep.answer) > 0 {
		h := rep.answer[0].Header()
		if h.Rrtype == dns.TypeDNSKEY && q.keying(dnsname.Lower(h.Name)) {
			// Fetched to be checked against the zone's DS (keys.go):
			// checking it with the zone's own keys would never end.
			// With the trust in hand it is checked here, so that a
			// server with a broken or unsigned key set is passed over
			// for another (Unbound's dnssec-lame servers).
			if t := q.keyTrust; t != nil && sameName(h.Name, q.keyOf) {
				sigs := sigsFor(rep.sigs, h.Name, dns.TypeDNSKEY)
				kv, _ := dnssec.VerifyKeySet(q.keyOf, rep.answer, sigs, t.ds, t.keys, r.now(), q.budget.sec)
				return worse(v, check{Verdict: kv, fromReply: kv.Status == dnssec.Bogus})
			}
			return check{deferred: true}
		}
		v = worse(v, r.checkSet(ctx, q, zone, rep, rep.answer))
	}
	if rep.kind != kindNXDomain && rep.kind != kindNoData {
		return v
	}
	return worse(v, r.checkDenial(ctx, q, zone, rep))
}

// synthesisedBy reports whether rr is a CNAME that follows the DNAME prev
// in a chain: synthesised by classify, never signed.
func synthesisedBy(prev, rr dns.RR) bool {
	_, ok := prev.(*dns.DNAME)
	return ok && rr.Header().Rrtype == dns.TypeCNAME
}

// checkSet verifies one RRset of rep; a wildcard expansion also needs the
// proof that the name asked does not exist.
func (r *Resolver) checkSet(ctx context.Context, q *query, zone string, rep *reply, set []dns.RR) check {
	h := set[0].Header()
	sigs := sigsFor(rep.sigs, h.Name, h.Rrtype)
	if len(sigs) == 0 {
		return r.unsignedStatus(ctx, q, zone, h.Name, h.Rrtype)
	}
	signer, ok := signerOf(sigs, h.Name, zone)
	if !ok {
		return bogus(dns.ExtendedErrorCodeDNSBogus, true, "RRSIG of %s/%s signed by %s, not by a zone between %s and the owner",
			h.Name, dns.TypeToString[h.Rrtype], sigs[0].SignerName, zone)
	}
	if h.Rrtype == dns.TypeDNSKEY && sameName(h.Name, signer) {
		// A zone's own key set is checked against its DS with the
		// records in hand: fetching them again would ask the very
		// question this reply answers, whose flight we are in.
		return r.keysWith(ctx, q, signer, set, sigs)
	}
	zk := r.keysFor(ctx, q, signer)
	if zk.Status != dnssec.Secure {
		return zk.check
	}
	v := r.verifySet(set, sigs, signer, zk.keys, q)
	r.traceCheck(ctx, q, h.Name, h.Rrtype, signer, v)
	if v.Status != dnssec.Secure {
		return v
	}
	for _, sig := range sigs {
		if wc := dnssec.WildcardOf(h.Name, sig); wc != "" && (h.Rrtype == dns.TypeNSEC || h.Rrtype == dns.TypeNSEC3) {
			// A denial record expanded from a wildcard denies nothing
			// (RFC 4035 section 5.4), and proving it would recurse.
			return bogus(dns.ExtendedErrorCodeDNSBogus, true, "%s/%s is a wildcard expansion", h.Name, dns.TypeToString[h.Rrtype])
		} else if wc != "" && h.Rrtype == dns.TypeDNAME {
			// A DNAME owned by a wildcard is to be rejected (RFC 4592
			// section 4.4: caches would synthesise differently);
			// Unbound calls such an answer bogus too.
			return bogus(dns.ExtendedErrorCodeDNSBogus, true, "%s/DNAME is a wildcard expansion of %s", h.Name, wc)
		} else if wc != "" {
			proof := r.secureDenial(ctx, q, zone, rep)
			if proof.Status != dnssec.Secure {
				return proof.check
			}
			p := check{Verdict: dnssec.ProveWildcardAnswer(h.Name, wc, signer, proof.records, q.budget.sec), fromReply: true}
			r.traceCheck(ctx, q, h.Name, h.Rrtype, signer, p)
			return worse(v, p)
		}
	}
	return v
}

// checkDenial checks a negative answer: its SOA, then the NSEC or NSEC3
// records that prove the name or type absent. A zone proven unsigned
// needs no proof.
func (r *Resolver) checkDenial(ctx context.Context, q *query, zone string, rep *reply) check {
	var v check
	switch {
	case rep.soa != nil:
		v = r.checkSet(ctx, q, zone, rep, []dns.RR{rep.soa})
	case q.qtype == dns.TypeDS && sameName(q.qname, rep.target):
		// A DS NODATA without SOA: the DS lives on the parent side, so
		// zone is the one that must be signed. (Probing the cut at the
		// owner would ask this very DS again and wait on itself.)
		if v = r.keysFor(ctx, q, zone).check; v.Status == dnssec.Secure {
			v = secure // the proof decides
		}
	case len(rep.denial) > 0:
		v = secure // denial records without SOA: their own signatures and the proof decide
	default:
		v = r.unsignedStatus(ctx, q, zone, rep.target, dns.TypeSOA)
		if v.Status == dnssec.Bogus && v.EDE == dns.ExtendedErrorCodeRRSIGsMissing {
			// Neither SOA nor proof in a signed zone: no signature is
			// missing, the answer is malformed (EDE 6, as Unbound).
			v = bogus(dns.ExtendedErrorCodeDNSBogus, v.fromReply, "negative answer for %s from the signed zone %s without SOA, NSEC or NSEC3", rep.target, zone)
		}
	}
	if v.Status != dnssec.Secure {
		return v
	}
	signer := zone
	if rep.soa != nil {
		if sigs := sigsFor(rep.sigs, rep.soa.Hdr.Name, dns.TypeSOA); len(sigs) > 0 {
			signer = dnsname.Lower(sigs[0].SignerName)
		}
	} else if len(rep.denial) > 0 {
		h := rep.denial[0].Header()
		if s, ok := signerOf(sigsFor(rep.sigs, h.Name, h.Rrtype), h.Name, zone); ok {
			signer = s
		}
	}
	proof := r.secureDenial(ctx, q, zone, rep)
	if proof.Status != dnssec.Secure {
		return proof.check
	}
	var p dnssec.Verdict
	if rep.kind == kindNXDomain {
		p = dnssec.ProveNXDomain(rep.target, signer, proof.records, q.budget.sec)
		if p.Status != dnssec.Secure {
			// An NXDOMAIN whose proof shows the name exists with no data
			// (an empty non-terminal): the proof is what counts, not the
			// rcode (Unbound corrects it too).
			if nd := dnssec.ProveNoData(rep.target, q.qtype, signer, proof.records, q.budget.sec); nd.Status == dnssec.Secure {
				rep.kind, rep.rcode, p = kindNoData, dns.RcodeSuccess, nd
			}
		}
	} else {
		p = dnssec.ProveNoData(rep.target, q.qtype, signer, proof.records, q.budget.sec)
	}
	c := check{Verdict: p, fromReply: true}
	r.traceCheck(ctx, q, rep.target, q.qtype, signer, c)
	return worse(v, c)
}

// provenRecords are the denial records of a reply whose signatures
// verified.
type provenRecords struct {
	check
	records []dns.RR
}

// secureDenial verifies the NSEC and NSEC3 RRsets of rep.
// None at all is a missing proof (EDE 12).
func (r *Resolver) secureDenial(ctx context.Context, q *query, zone string, rep *reply) provenRecords {
	if len(rep.denial) == 0 {
		return provenRecords{check: bogus(dns.ExtendedErrorCodeNSECMissing, true, "no NSEC or NSEC3 records to prove %s", rep.target)}
	}
	out := provenRecords{check: secure}
	for _, set := range splitRRsets(nil, rep.denial) {
		c := r.checkSet(ctx, q, zone, rep, set)
		if c.Status == dnssec.Insecure {
			// An unsigned denial record below an insecure cut says
			// nothing of a name outside it: the name's own place decides.
			c = r.unsignedStatus(ctx, q, zone, rep.target, dns.TypeSOA)
		}
		out.check = worse(out.check, c)
		if out.Status != dnssec.Secure {
			return out
		}
		out.records = append(out.records, set...)
	}
	return out
}

// validateReferral checks what a referral says of the child's security:
// its DS set, verified with the parent's keys, or the proof that there is
// none (an insecure delegation). Either is cached for keys.go.
func (r *Resolver) validateReferral(ctx context.Context, q *query, zone string, rep *reply) check {
	if len(rep.ds) == 0 && len(rep.denial) == 0 {
		// Nothing said: the child's DS is asked for when its keys are
		// needed. The referral itself is not data to validate.
		return check{Verdict: dnssec.Verdict{Status: dnssec.Indeterminate}}
	}
	if len(rep.ds) > 0 {
		return r.checkSet(ctx, q, zone, rep, rep.ds)
	}
	signer := zone
	proof := r.secureDenial(ctx, q, zone, rep)
	if proof.Status != dnssec.Secure {
		return proof.check
	}
	if len(proof.records) > 0 {
		if sigs := sigsFor(rep.sigs, proof.records[0].Header().Name, proof.records[0].Header().Rrtype); len(sigs) > 0 {
			signer = dnsname.Lower(sigs[0].SignerName)
		}
	}
	c := check{Verdict: dnssec.ProveNoDS(rep.child, signer, proof.records, q.budget.sec), fromReply: true}
	r.traceCheck(ctx, q, rep.child, dns.TypeDS, signer, c)
	if c.Status != dnssec.Bogus {
		// The child is unsigned, proven: its data needs no DS query.
		child := dnsname.Lower(rep.child)
		why := "no DS for " + child + ": an insecure delegation"
		r.val.keys.Add(child, &zoneKeys{check: check{Verdict: dnssec.Verdict{Status: dnssec.Insecure, Why: why}}, expires: r.now().Add(r.denialLife(rep))})
	}
	if c.Status == dnssec.Secure {
		// The proof answers a DS question for the child too (RFC 8198).
		proven := *rep
		proven.sec = c
		r.learnDenial(&proven, signer)
	}
	return c
}

// unsignedStatus is the verdict on an RRset of owner that came without
// RRSIGs from zone's servers: insecure if the zone is, or if an insecure
// delegation lies between the zone and owner (found by asking for the DS
// of each name on the way, as Unbound does); bogus in a secure zone.
func (r *Resolver) unsignedStatus(ctx context.Context, q *query, zone, owner string, qtype uint16) check {
	zk := r.keysFor(ctx, q, zone)
	if zk.Status != dnssec.Secure {
		return zk.check
	}
	owner = dnsname.Lower(owner)
	for i, n := 0, childOf(owner, zone); i < maxCutProbes && n != zone; i, n = i+1, childOf(owner, n) {
		if qtype == dns.TypeDS && n == owner {
			break // a DS lives on the parent side: the zone above owner is the one
		}
		cut := r.cutAt(ctx, q, n)
		switch {
		case cut.Status == dnssec.Bogus:
			// The probe's own failure is a symptom: the data's want of
			// signatures is the cause worth naming.
			return bogus(dns.ExtendedErrorCodeRRSIGsMissing, true, "no RRSIG for %s/%s in the signed zone %s (%s)", owner, dns.TypeToString[qtype], zone, cut.Why)
		case cut.Status != dnssec.Secure:
			return cut.check
		case cut.signed:
			if zk = r.keysFor(ctx, q, n); zk.Status != dnssec.Secure {
				return zk.check
			}
		case cut.delegation:
			r.traceCheck(ctx, q, n, dns.TypeDS, zone, check{Verdict: dnssec.Verdict{Status: dnssec.Insecure, Why: "insecure delegation: no DS, proven"}})
			return check{Verdict: dnssec.Verdict{Status: dnssec.Insecure, Why: "below the insecure delegation " + n}}
		}
		if n == owner {
			break
		}
	}
	return bogus(dns.ExtendedErrorCodeRRSIGsMissing, true, "no RRSIG for %s/%s in the signed zone %s", owner, dns.TypeToString[qtype], zone)
}

// cutStatus is what the DS of a name says of it.
type cutStatus struct {
	check
	signed     bool // a DS set: a signed zone starts here
	delegation bool // no DS, and the proof shows a delegation: an insecure zone starts here
}

// cutAt asks for the DS of name (the cache first) and says what it shows.
func (r *Resolver) cutAt(ctx context.Context, q *query, name string) cutStatus {
	res, err := r.lookup(ctx, q.keyLookup(name, dns.TypeDS))
	if err != nil {
		return cutStatus{check: bogus(dns.ExtendedErrorCodeDNSBogus, false, "DS of %s: %v", name, err)}
	}
	if res.sec.Status != dnssec.Secure {
		return cutStatus{check: res.sec}
	}
	if res.rcode == dns.RcodeNameError {
		return cutStatus{check: bogus(dns.ExtendedErrorCodeDNSBogus, false, "%s does not exist", name)}
	}
	if ds, _ := dataAndSigs(res.answer, name, dns.TypeDS); len(ds) > 0 {
		return cutStatus{check: secure, signed: true}
	}
	denial := denialIn(res.ns)
	signer := signerOfRecords(res.ns, parentZone(name))
	v := dnssec.ProveNoDS(name, signer, denial, q.budget.sec)
	return cutStatus{check: secure, delegation: v.Status != dnssec.Bogus}
}

// sigsFor returns the RRSIGs of sigs that cover owner's type t.
func sigsFor(sigs []*dns.RRSIG, owner string, t uint16) []*dns.RRSIG {
	var out []*dns.RRSIG
	for _, s := range sigs {
		if s.TypeCovered == t && sameName(s.Hdr.Name, owner) {
			out = append(out, s)
		}
	}
	return out
}

// signerOf returns the signer of sigs when it is a zone that may sign
// owner's data as the reply of zone's servers: at or below zone, at or
// above owner. Signatures of other signers are not considered.
func signerOf(sigs []*dns.RRSIG, owner, zone string) (string, bool) {
	for _, s := range sigs {
		signer := dnsname.Lower(s.SignerName)
		if inZone(signer, zone) && inZone(owner, signer) {
			return signer, true
		}
	}
	return "", false
}

// signerOfRecords is the signer of the first RRSIG in rrs, or def.
func signerOfRecords(rrs []dns.RR, def string) string {
	for _, rr := range rrs {
		if s, ok := rr.(*dns.RRSIG); ok {
			return dnsname.Lower(s.SignerName)
		}
	}
	return def
}

// denialIn returns the NSEC and NSEC3 records of rrs.
func denialIn(rrs []dns.RR) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		if t := rr.Header().Rrtype; t == dns.TypeNSEC || t == dns.TypeNSEC3 {
			out = append(out, rr)
		}
	}
	return out
}

// dataAndSigs splits rrs into owner's records of type t and the RRSIGs
// covering them.
func dataAndSigs(rrs []dns.RR, owner string, t uint16) (data []dns.RR, sigs []*dns.RRSIG) {
	for _, rr := range rrs {
		h := rr.Header()
		if !sameName(h.Name, owner) {
			continue
		}
		if h.Rrtype == t {
			data = append(data, rr)
		} else if s, ok := rr.(*dns.RRSIG); ok && s.TypeCovered == t {
			sigs = append(sigs, s)
		}
	}
	return data, sigs
}

// securityOf is the cache's word for a verdict.
func securityOf(c check) cache.Security {
	switch c.Status {
	case dnssec.Secure:
		return cache.Secure
	case dnssec.Insecure:
		return cache.Insecure
	case dnssec.Bogus:
		return cache.Bogus
	}
	return cache.Indeterminate
}

// verdictOf reads back the verdict of the cached entry for name and t.
func (r *Resolver) verdictOf(name string, t uint16, e *cache.Entry) check {
	if e.Security == cache.Bogus && r.val != nil {
		why, ok := r.val.whys.Get(bogusKey(name, t))
		if !ok {
			why = "bogus data, cached"
		}
		return check{Verdict: dnssec.Verdict{Status: dnssec.Bogus, EDE: e.EDE, Why: why}}
	}
	switch e.Security {
	case cache.Secure:
		return secure
	case cache.Insecure:
		return check{Verdict: dnssec.Verdict{Status: dnssec.Insecure, EDE: e.EDE}}
	case cache.Bogus:
		return check{Verdict: dnssec.Verdict{Status: dnssec.Bogus, EDE: e.EDE, Why: "bogus data, cached"}}
	}
	return check{}
}

// traceCheck reports a verdict to the trace, if there is one.
func (r *Resolver) traceCheck(ctx context.Context, q *query, owner string, qtype uint16, zone string, c check) {
	trace := traceFrom(ctx)
	if !r.reporting(ctx, trace) {
		return
	}
	r.report(ctx, trace, Step{Depth: q.depth, Qname: owner, Qtype: qtype, Zone: zone,
		Check: &Check{Status: c.Status, KeyTag: c.KeyTag, EDE: c.EDE, Why: c.Why}})
}

// withSigs returns rrs, each RRset followed by its RRSIGs from sigs.
func withSigs(rrs []dns.RR, sigs []*dns.RRSIG) []dns.RR {
	if len(sigs) == 0 {
		return rrs
	}
	out := make([]dns.RR, 0, len(rrs)+len(sigs))
	for i, rr := range rrs {
		out = append(out, rr)
		h := rr.Header()
		if i+1 < len(rrs) {
			if n := rrs[i+1].Header(); n.Rrtype == h.Rrtype && sameName(n.Name, h.Name) {
				continue // the set goes on
			}
		}
		for _, s := range sigsFor(sigs, h.Name, h.Rrtype) {
			out = append(out, s)
		}
	}
	return out
}

// negativeSection is the authority section of a fresh negative answer:
// the SOA, its RRSIGs and the denial proof with its RRSIGs.
func (r *Resolver) negativeSection(rep *reply) []dns.RR {
	ns := r.soaRRs(rep.soa)
	if len(rep.sigs) == 0 {
		return ns
	}
	if rep.soa != nil {
		for _, s := range sigsFor(rep.sigs, rep.soa.Hdr.Name, dns.TypeSOA) {
			ns = append(ns, s)
		}
	}
	return append(ns, withSigs(rep.denial, rep.sigs)...)
}

// verifiedSets bounds the memory of RRsets already verified.
const verifiedSets = 20_000

// verifySet verifies set with signer's keys, once while its verdict
// lives: replies repeat RRsets (a DNAME on every restart, an NSEC in the
// minimised and the full question's answers), and a signature check costs
// tens of microseconds. The memory is keyed by the set and its signatures
// together, so other data under a replayed signature is checked afresh.
func (r *Resolver) verifySet(set []dns.RR, sigs []*dns.RRSIG, signer string, keys []*dnssec.Key, q *query) check {
	now := r.now()
	key, keyed := verifiedKey(set, sigs)
	if keyed {
		if v, ok := r.val.verified.Get(key); ok && now.Before(v.Expires) {
			return check{Verdict: v, fromReply: true}
		}
	}
	v := dnssec.VerifyRRset(set, sigs, signer, keys, now, q.budget.sec)
	if v.Status == dnssec.Secure && keyed {
		keep := v
		ttl := time.Duration(set[0].Header().Ttl) * time.Second
		if keep.Expires.IsZero() || now.Add(ttl).Before(keep.Expires) {
			keep.Expires = now.Add(ttl)
		}
		r.val.verified.Add(key, keep)
	}
	return check{Verdict: v, fromReply: true}
}

// verifiedKey is the memory's key of set and sigs: a SHA-256 digest of
// their records in wire form, uncompressed, owners lowercased and TTLs
// zeroed (they count down), in a fixed order. (Their presentation form,
// with base64 signatures and keys, took a tenth of a cold resolution's
// validation.) ok is false for records that do not pack.
func verifiedKey(set []dns.RR, sigs []*dns.RRSIG) (key [sha256.Size]byte, ok bool) {
	m := dns.Msg{Answer: make([]dns.RR, 0, len(set)+len(sigs))}
	m.Answer = append(m.Answer, set...)
	for _, s := range sigs {
		m.Answer = append(m.Answer, s)
	}
	wire, err := m.Pack()
	if err != nil {
		return key, false
	}
	records := make([][]byte, 0, len(m.Answer))
	for off := 12; off < len(wire); { // after the header; no question
		rec, next, ok := keyRecord(wire, off)
		if !ok {
			return key, false
		}
		records = append(records, rec)
		off = next
	}
	slices.SortFunc(records, bytes.Compare)
	h := sha256.New()
	for _, rec := range records {
		h.Write(rec)
	}
	return [sha256.Size]byte(h.Sum(nil)), true
}

// keyRecord is the uncompressed record at wire[off:] with its owner
// lowercased and its TTL zeroed, in place, and where the next one starts.
func keyRecord(wire []byte, off int) (rec []byte, next int, ok bool) {
	start := off
	for off < len(wire) && wire[off] != 0 {
		end := off + 1 + int(wire[off])
		if end > len(wire) {
			return nil, 0, false
		}
		for i := off + 1; i < end; i++ {
			if 'A' <= wire[i] && wire[i] <= 'Z' {
				wire[i] += 'a' - 'A'
			}
		}
		off = end
	}
	off++ // the root label
	if off+10 > len(wire) {
		return nil, 0, false
	}
	clear(wire[off+4 : off+8]) // the TTL, after type and class
	next = off + 10 + int(binary.BigEndian.Uint16(wire[off+8:]))
	if next > len(wire) {
		return nil, 0, false
	}
	return wire[start:next], next, true
}

// denialLife is how long a referral's proof of no DS is trusted: its
// records' TTL, at most maxInsecureKeep.
func (r *Resolver) denialLife(rep *reply) time.Duration {
	life := maxInsecureKeep
	for _, rr := range rep.denial {
		life = min(life, time.Duration(rr.Header().Ttl)*time.Second)
	}
	return life
}

// expanded reports whether set, an RRset of rep's answer section, was
// expanded from a wildcard and came with denial records to prove it.
func expanded(rep *reply, set []dns.RR) bool {
	if len(set) == 0 || len(rep.denial) == 0 {
		return false
	}
	h := set[0].Header()
	for _, s := range sigsFor(rep.sigs, h.Name, h.Rrtype) {
		if dnssec.WildcardOf(h.Name, s) != "" {
			return true
		}
	}
	return false
}
