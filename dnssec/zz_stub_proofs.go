package dnssec

// TEMPORARY, uncommitted: the proofs land from the dnssec-pkg branch.

import "github.com/miekg/dns"

func ProveNXDomain(qname, zone string, nsecs []dns.RR, b *Budget) Verdict { panic("stub") }
func ProveNoData(qname string, qtype uint16, zone string, nsecs []dns.RR, b *Budget) Verdict {
	panic("stub")
}
func ProveWildcardAnswer(qname, wildcard, zone string, nsecs []dns.RR, b *Budget) Verdict {
	panic("stub")
}
func ProveNoDS(child, zone string, nsecs []dns.RR, b *Budget) Verdict { panic("stub") }
