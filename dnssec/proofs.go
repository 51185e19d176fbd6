package dnssec

import (
	"github.com/miekg/dns"
)

// The denial proofs take nsecs, the NSEC or NSEC3 records of a reply's
// authority section that the caller has already found Secure with
// VerifyRRset, and zone, their signer. NSEC is used when the reply has any
// NSEC of zone, NSEC3 otherwise. Each returns Secure when proven; Insecure
// when proven only through an NSEC3 opt-out span, or when the NSEC3
// iterations exceed MaxNSEC3Iterations (EDE 27, RFC 9276); Bogus EDE 12 when
// the records prove nothing, EDE 6 when they fail and one of them is an NSEC
// whose next name leaves the zone. For NSEC3 at most MaxNSEC3PerReply records
// are considered (those of other parameters than the first are ignored),
// and every name hashed is counted in b: when MaxHashesPerQuery is reached
// the proof is Bogus EDE 6 with Exhausted set.

// ProveNXDomain proves qname does not exist: with NSEC, a record covering
// qname and one covering the wildcard at its closest encloser (RFC 4035
// 5.4); with NSEC3, a closest encloser proof and the wildcard at the closest
// encloser covered (RFC 5155 8.4).
func ProveNXDomain(qname, zone string, nsecs []dns.RR, b *Budget) Verdict {
	return prove(qname, zone, nsecs, b,
		func(c nsecChain) Verdict { return c.nxdomain(dns.CanonicalName(qname)) },
		func(c *nsec3Chain) Verdict { return c.nxdomain(dns.CanonicalName(qname)) })
}

// ProveNoData proves qname has no qtype records (RFC 4035 5.4, RFC 5155
// 8.5-8.7): a record at qname with neither qtype nor CNAME in its bitmap (for
// DS not the child's apex record, for other types not the parent side of a
// delegation: RFC 6840 4.3, 4.4); qname an empty non-terminal (NSEC); or a
// wildcard NODATA: qname denied and the wildcard at its closest encloser
// without qtype. NSEC3: a closest encloser whose next closer name lies in an
// opt-out span gives Insecure, for any qtype (an unsigned delegation may
// hide there).
func ProveNoData(qname string, qtype uint16, zone string, nsecs []dns.RR, b *Budget) Verdict {
	return prove(qname, zone, nsecs, b,
		func(c nsecChain) Verdict { return c.nodata(dns.CanonicalName(qname), qtype) },
		func(c *nsec3Chain) Verdict { return c.nodata(dns.CanonicalName(qname), qtype) })
}

// ProveWildcardAnswer proves that a positive answer for qname expanded from
// wildcard (see WildcardOf) was right to: qname itself does not exist (RFC
// 4035 5.3.4, RFC 5155 8.8). NSEC: a record covering qname whose closest
// encloser is the wildcard's parent; NSEC3: a record covering the next closer
// name below the wildcard's parent.
func ProveWildcardAnswer(qname, wildcard, zone string, nsecs []dns.RR, b *Budget) Verdict {
	w := dns.CanonicalName(wildcard)
	return prove(qname, zone, nsecs, b,
		func(c nsecChain) Verdict { return c.wildcardAnswer(dns.CanonicalName(qname), w) },
		func(c *nsec3Chain) Verdict { return c.wildcardAnswer(dns.CanonicalName(qname), w) })
}

// ProveNoDS proves that child, a delegation from zone, is unsigned (RFC 4035
// 5.2, RFC 6840 4.4): an NSEC or NSEC3 at child with NS and without DS, SOA
// and CNAME gives Secure ("no DS, proven"); an NSEC3 opt-out span over the
// next closer name gives Insecure (child is unsigned all the same).
func ProveNoDS(child, zone string, nsecs []dns.RR, b *Budget) Verdict {
	return prove(child, zone, nsecs, b,
		func(c nsecChain) Verdict { return c.noDS(dns.CanonicalName(child)) },
		func(c *nsec3Chain) Verdict { return c.noDS(dns.CanonicalName(child)) })
}

func prove(qname, zone string, nsecs []dns.RR, b *Budget, withNSEC func(nsecChain) Verdict, withNSEC3 func(*nsec3Chain) Verdict) Verdict {
	b = b.orDefault()
	zone = dns.CanonicalName(zone)
	if _, ok := dns.IsDomainName(qname); !ok || !dns.IsSubDomain(zone, dns.CanonicalName(qname)) {
		return noProof(qname + " is not in zone " + zone)
	}
	if c := nsecsOf(zone, nsecs); len(c.recs) > 0 || c.overreach != nil {
		return c.overreached(withNSEC(c))
	}
	c, v := nsec3sOf(zone, nsecs, b)
	if v != nil {
		return *v
	}
	return withNSEC3(c)
}
