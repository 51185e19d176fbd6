package resolver

// Zone keys: each zone's DNSKEY set validated against its DS (or a trust
// anchor), fetched through the walk when first needed and kept, parsed,
// as long as the records live (Unbound's key cache). A zone proven
// unsigned, or bogus, is kept too, so that its data is judged without
// another fetch.

import (
	"context"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/dnssec"
)

// keyCacheZones bounds the zones whose keys are kept.
const keyCacheZones = 10_000

// maxInsecureKeep bounds how long a zone's insecure verdict is kept
// without its DS proof being asked again.
const maxInsecureKeep = time.Hour

// zoneKeys is a zone's verdict: secure with its keys, insecure, bogus or
// indeterminate; until expires.
type zoneKeys struct {
	check
	keys    []*dnssec.Key
	expires time.Time
}

// keysFor returns zone's keys and verdict: from the key cache, else from
// its DS and DNSKEY sets. Concurrent walks share one fetch per zone.
func (r *Resolver) keysFor(ctx context.Context, q *query, zone string) *zoneKeys {
	if zk := r.knownKeys(q, zone); zk != nil {
		return zk
	}
	v, _, _ := r.val.keyFlight.Do(zone, func() (any, error) {
		zk := r.fetchKeys(ctx, q, zone, nil, nil)
		r.val.keys.Add(zone, zk)
		return zk, nil
	})
	return v.(*zoneKeys)
}

// knownKeys is zone's verdict when it needs no fetch: set by a (negative)
// trust anchor or the want of one, kept in the key cache, or a loop of
// zone's keys depending on themselves. Otherwise nil.
func (r *Resolver) knownKeys(q *query, zone string) *zoneKeys {
	switch {
	case r.val.anchors.negative(zone):
		return &zoneKeys{check: check{Verdict: dnssec.Verdict{Status: dnssec.Insecure, Why: "negative trust anchor"}}}
	case !r.val.anchors.covers(zone):
		return &zoneKeys{check: check{Verdict: dnssec.Verdict{Status: dnssec.Indeterminate, Why: "no trust anchor above " + zone}}}
	}
	if zk, ok := r.val.keys.Get(zone); ok && r.now().Before(zk.expires) {
		return zk
	}
	if q.keying(zone) {
		return &zoneKeys{check: bogus(dns.ExtendedErrorCodeDNSBogus, false, "the keys of %s depend on themselves", zone)}
	}
	return nil
}

// fetchKeys finds zone's trust (a trust anchor, else the parent's DS set),
// then its DNSKEY set, and checks the one against the other.
func (r *Resolver) fetchKeys(ctx context.Context, q *query, zone string, haveKeys []dns.RR, haveSigs []*dns.RRSIG) *zoneKeys {
	now := r.now()
	var ds []*dns.DS
	var anchorKeys []*dns.DNSKEY
	expires := now.Add(cache.DefaultMaxTTL) // at most as long as any cached data
	if an := r.val.anchors.at(zone); an != nil {
		ds, anchorKeys = an.ds, an.keys
	} else {
		res, err := r.lookup(ctx, q.keyLookup(zone, dns.TypeDS))
		switch {
		case err != nil:
			// The parent's servers failed: their failure's own code (no
			// reachable authority, timed out), not "DNSKEY missing": no
			// DS was seen to miss its key (RFC 8914 4.10, 4.23).
			ede, _ := ExtendedError(err)
			return r.bogusKeys(now, ede, "DS of %s: %v", zone, err)
		case res.sec.Status != dnssec.Secure:
			// The parent is insecure, indeterminate or bogus: so is
			// the child.
			return &zoneKeys{check: res.sec, expires: now.Add(r.keepFor(res.sec))}
		case res.rcode == dns.RcodeNameError:
			return r.bogusKeys(now, dns.ExtendedErrorCodeDNSBogus, "%s does not exist", zone)
		}
		dsRRs, _ := dataAndSigs(res.answer, zone, dns.TypeDS)
		if len(dsRRs) == 0 {
			signer := signerOfRecords(res.ns, parentZone(zone))
			v := dnssec.ProveNoDS(zone, signer, denialIn(res.ns), q.budget.sec)
			if v.Status == dnssec.Bogus {
				return r.bogusKeys(now, dns.ExtendedErrorCodeDNSBogus, "%s is not a zone cut of %s", zone, signer)
			}
			c := check{Verdict: dnssec.Verdict{Status: dnssec.Insecure, Why: "no DS for " + zone + ": an insecure delegation"}}
			r.traceCheck(ctx, q, zone, dns.TypeDS, signer, c)
			return &zoneKeys{check: c, expires: now.Add(maxInsecureKeep)}
		}
		for _, rr := range dsRRs {
			ds = append(ds, rr.(*dns.DS))
			expires = minTime(expires, now.Add(time.Duration(rr.Header().Ttl)*time.Second))
		}
	}
	dnskeys, sigs := haveKeys, haveSigs
	var checked check // the verdict the walk gave the fetched set, if any
	if dnskeys == nil {
		kq := q.keyLookup(zone, dns.TypeDNSKEY)
		kq.keyTrust = &keyTrust{ds: ds, keys: anchorKeys}
		res, err := r.lookup(ctx, kq)
		if err != nil {
			return r.bogusKeys(now, dns.ExtendedErrorCodeDNSKEYMissing, "DNSKEY of %s: %v", zone, err)
		}
		dnskeys, sigs = dataAndSigs(res.answer, zone, dns.TypeDNSKEY)
		checked = res.sec
	}
	if len(dnskeys) == 0 {
		return r.bogusKeys(now, dns.ExtendedErrorCodeDNSKEYMissing, "no DNSKEY at %s", zone)
	}
	var v dnssec.Verdict
	var keys []*dnssec.Key
	switch checked.Status {
	case dnssec.Secure:
		// Checked against this very trust as it came in (or read from
		// the cache, where only checked sets are secure): parse only.
		v, keys = checked.Verdict, dnssec.ParseKeys(dnskeys)
	case dnssec.Bogus, dnssec.Insecure:
		v = checked.Verdict
	default:
		v, keys = dnssec.VerifyKeySet(zone, dnskeys, sigs, ds, anchorKeys, now, q.budget.sec)
	}
	c := check{Verdict: v}
	r.traceCheck(ctx, q, zone, dns.TypeDNSKEY, zone, c)
	switch v.Status {
	case dnssec.Secure:
		expires = minTime(expires, now.Add(time.Duration(dnskeys[0].Header().Ttl)*time.Second))
		if !v.Expires.IsZero() {
			expires = minTime(expires, v.Expires)
		}
		r.cache.PutSet(cache.Set{RRs: clampedTTL(dnskeys, expires, now), Sigs: sigsRRs(sigs), Rank: cache.RankAuthAnswer, Security: cache.Secure})
		return &zoneKeys{check: c, keys: keys, expires: expires}
	case dnssec.Bogus:
		return &zoneKeys{check: c, expires: now.Add(r.val.bogusTTL)}
	}
	return &zoneKeys{check: c, expires: now.Add(maxInsecureKeep)}
}

func (r *Resolver) bogusKeys(now time.Time, ede uint16, format string, args ...any) *zoneKeys {
	return &zoneKeys{check: bogus(ede, false, format, args...), expires: now.Add(r.val.bogusTTL)}
}

// keepFor is how long a zone's verdict inherited from its parent is kept.
func (r *Resolver) keepFor(c check) time.Duration {
	if c.Status == dnssec.Bogus {
		return r.val.bogusTTL
	}
	return maxInsecureKeep
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// clampedTTL returns copies of rrs whose TTLs end no later than expires.
func clampedTTL(rrs []dns.RR, expires, now time.Time) []dns.RR {
	left := uint32(max(expires.Sub(now)/time.Second, 0))
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Copy(rr)
		if out[i].Header().Ttl > left {
			out[i].Header().Ttl = left
		}
	}
	return out
}

func sigsRRs(sigs []*dns.RRSIG) []dns.RR {
	out := make([]dns.RR, len(sigs))
	for i, s := range sigs {
		out[i] = s
	}
	return out
}

// keysWith checks dnskeys, zone's DNSKEY set as a reply brought it: with
// the zone's keys when they are known and secure, else against its DS.
func (r *Resolver) keysWith(ctx context.Context, q *query, zone string, dnskeys []dns.RR, sigs []*dns.RRSIG) check {
	if zk := r.knownKeys(q, zone); zk != nil {
		if zk.Status != dnssec.Secure {
			return zk.check
		}
		return r.verifySet(dnskeys, sigs, zone, zk.keys, q)
	}
	zk := r.fetchKeys(ctx, q.keyLookup(zone, dns.TypeDNSKEY), zone, dnskeys, sigs)
	if zk.Status != dnssec.Bogus {
		r.val.keys.Add(zone, zk)
	}
	c := zk.check
	c.fromReply = zk.Status == dnssec.Bogus
	return c
}
