package testnet

import (
	"github.com/miekg/dns"
)

// The denial proofs of RFC 4035 section 3.1.3 (NSEC) and RFC 5155
// section 7.2 (NSEC3), each record followed by its RRSIGs. A zone without
// a chain yields none; a broken chain yields what it has.

// nxDomain proves that qname does not exist and that no wildcard could
// have made it: the NSEC covering qname and the one covering the wildcard
// at the closest encloser, or the NSEC3 closest encloser proof and the
// NSEC3 covering that wildcard.
func (s *dnssecReply) nxDomain() []dns.RR {
	if s.hashed() {
		ce, next := s.closestProvable(s.qname)
		return concat(s.nsec3Match(ce), s.nsec3Cover(next), s.nsec3Cover(wildcardOf(ce)))
	}
	ce := s.z.closestEncloser(s.qname)
	return concat(s.nsecCover(s.qname), s.nsecCover(wildcardOf(ce)))
}

// noData proves that name exists without the type asked: its own NSEC or
// NSEC3. An empty non-terminal has no NSEC, so the one covering it serves.
// Without a matching NSEC3 (a DS question at an opt-out delegation) the
// closest provable encloser proof does, its next closer covered by an
// opt-out NSEC3 (RFC 5155 section 7.2.4).
func (s *dnssecReply) noData(name string) []dns.RR {
	if s.hashed() {
		if rr, exact := s.d.nsec3At(name); exact {
			return s.signed(rr)
		}
		ce, next := s.closestProvable(name)
		return concat(s.nsec3Match(ce), s.nsec3Cover(next))
	}
	if rr, _ := s.d.nsecAt(name); rr != nil {
		return s.signed(rr)
	}
	return nil
}

// wildcardNoData proves that qname does not exist and that the wildcard
// standing in for it lacks the type (RFC 4035 section 3.1.3.4, RFC 5155
// section 7.2.5).
func (s *dnssecReply) wildcardNoData() []dns.RR {
	if s.hashed() {
		ce, next := s.closestProvable(s.qname)
		return concat(s.nsec3Match(ce), s.nsec3Cover(next), s.nsec3Match(wildcardOf(ce)))
	}
	ce := s.z.closestEncloser(s.qname)
	return concat(s.nsecCover(s.qname), s.nsecMatch(wildcardOf(ce)))
}

// wildcardAnswerProof proves that qname itself does not exist, so the
// wildcard's expansion is the right answer: the NSEC covering qname, or
// the NSEC3 covering the next closer name (RFC 4035 section 3.1.3.3, RFC
// 5155 section 7.2.6; the RRSIG's labels field names the encloser).
func (s *dnssecReply) wildcardAnswerProof() []dns.RR {
	if s.hashed() {
		_, next := s.closestProvable(s.qname)
		return s.nsec3Cover(next)
	}
	return s.nsecCover(s.qname)
}

// closestProvable returns the nearest ancestor of name that an NSEC3
// matches, and the next closer name: its child on the way to name.
func (s *dnssecReply) closestProvable(name string) (ce, next string) {
	next = name
	for _, up := range ancestors(name, s.z.origin) {
		if _, exact := s.d.nsec3At(up); exact {
			return up, next
		}
		next = up
	}
	return s.z.origin, next
}

// hashed reports whether the zone's chain is NSEC3.
func (s *dnssecReply) hashed() bool { return len(s.d.nsec3) > 0 }

func (s *dnssecReply) nsecCover(name string) []dns.RR {
	if rr, exact := s.d.nsecAt(name); rr != nil && !exact {
		return s.signed(rr)
	}
	return nil
}

func (s *dnssecReply) nsecMatch(name string) []dns.RR {
	if rr, exact := s.d.nsecAt(name); exact {
		return s.signed(rr)
	}
	return nil
}

func (s *dnssecReply) nsec3Cover(name string) []dns.RR {
	if rr, exact := s.d.nsec3At(name); rr != nil && !exact {
		return s.signed(rr)
	}
	return nil
}

func (s *dnssecReply) nsec3Match(name string) []dns.RR {
	if rr, exact := s.d.nsec3At(name); exact {
		return s.signed(rr)
	}
	return nil
}

// signed returns a copy of rr's RRset with its RRSIGs.
func (s *dnssecReply) signed(rr dns.RR) []dns.RR {
	return s.z.withSigs(canonical(rr.Header().Name), rr.Header().Rrtype)
}

func wildcardOf(name string) string { return "*." + trimRoot(name) }

func concat(parts ...[]dns.RR) []dns.RR {
	var out []dns.RR
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
