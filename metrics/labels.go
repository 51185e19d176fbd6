package metrics

// The bounded label sets of the query counters, and the collector that
// turns their atomic arrays into samples at scrape time.

import (
	"sync/atomic"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/recursor-dns/recursor/dnssec"
	"github.com/recursor-dns/recursor/resolver"
	"github.com/recursor-dns/recursor/server"
)

// qtypes are the query types counted by name; every other is "other", so
// that a client cannot make series at will.
var qtypes = []uint16{
	dns.TypeA, dns.TypeAAAA, dns.TypeNS, dns.TypeCNAME, dns.TypeSOA, dns.TypePTR, dns.TypeMX,
	dns.TypeTXT, dns.TypeSRV, dns.TypeNAPTR, dns.TypeDS, dns.TypeDNSKEY, dns.TypeSVCB,
	dns.TypeHTTPS, dns.TypeCAA, dns.TypeANY,
}

const (
	numQtypes   = 17 // len(qtypes) + "other"
	otherQtype  = numQtypes - 1
	numRcodes   = 13 // NOERROR ... NOTZONE (0-10), BADVERS, other
	badversIdx  = 11
	otherRcode  = 12
	numEDE      = 32 // codes 0-29 (RFC 8914 and later), "none", "other"
	noEDE       = 30
	otherEDE    = 31
	numOutcomes = int(resolver.OutcomeMalformed) + 1
	numStatuses = int(dnssec.Bogus) + 1
)

// qtypeSlot maps a qtype below 256 to its index in qtypes, otherQtype for
// the rest; caaSlot is CAA's (257).
var (
	qtypeSlot [256]uint8
	caaSlot   int
)

func init() {
	for i := range qtypeSlot {
		qtypeSlot[i] = otherQtype
	}
	for i, t := range qtypes {
		switch {
		case t < 256:
			qtypeSlot[t] = uint8(i)
		case t == dns.TypeCAA:
			caaSlot = i
		default:
			panic("metrics: qtype above 255 without a slot: " + dns.TypeToString[t])
		}
	}
}

func qtypeIndex(t uint16) int {
	switch {
	case t < 256:
		return int(qtypeSlot[t])
	case t == dns.TypeCAA:
		return caaSlot
	}
	return otherQtype
}

func qtypeLabel(i int) string {
	if i == otherQtype {
		return "other"
	}
	return dns.TypeToString[qtypes[i]]
}

func rcodeIndex(rcode int) int {
	switch {
	case rcode >= 0 && rcode <= dns.RcodeNotZone:
		return rcode
	case rcode == dns.RcodeBadVers:
		return badversIdx
	}
	return otherRcode
}

func rcodeLabel(i int) string {
	switch i {
	case badversIdx:
		return "BADVERS"
	case otherRcode:
		return "other"
	}
	return dns.RcodeToString[i]
}

func edeIndex(ede int) int {
	switch {
	case ede < 0:
		return noEDE
	case ede < noEDE:
		return ede
	}
	return otherEDE
}

func edeLabel(i int) string {
	switch i {
	case noEDE:
		return "none"
	case otherEDE:
		return "other"
	}
	return itoa(i)
}

// outcomeLabels name resolver.Outcome values as label values.
var outcomeLabels = [numOutcomes]string{
	resolver.OutcomeAnswered:     "answer",
	resolver.OutcomeTimeout:      "timeout",
	resolver.OutcomeNetError:     "network_error",
	resolver.OutcomeRefused:      "refused",
	resolver.OutcomeServfail:     "servfail",
	resolver.OutcomeLame:         "lame",
	resolver.OutcomeEDNS:         "edns_error",
	resolver.OutcomeCaseMismatch: "case_mismatch",
	resolver.OutcomeMalformed:    "malformed",
}

var statusLabels = [numStatuses]string{
	dnssec.Indeterminate: "indeterminate",
	dnssec.Insecure:      "insecure",
	dnssec.Secure:        "secure",
	dnssec.Bogus:         "bogus",
}

var (
	queriesDesc = prometheus.NewDesc(Namespace+"_client_queries_total",
		"Client queries answered, by transport (udp, tcp, dot, doh, doq), query type (common types, else other) and rcode.",
		[]string{"transport", "qtype", "rcode"}, nil)
	servfailDesc = prometheus.NewDesc(Namespace+"_servfail_total",
		"SERVFAIL answers by Extended DNS Error code (RFC 8914; none without one).",
		[]string{"ede"}, nil)
	upstreamDesc = prometheus.NewDesc(Namespace+"_upstream_queries_total",
		"Queries sent to authoritative servers, by outcome.",
		[]string{"outcome"}, nil)
	tcpFallbackDesc = prometheus.NewDesc(Namespace+"_upstream_tcp_fallbacks_total",
		"Upstream queries answered over TCP after UDP (truncated, oversized or suspect replies).", nil, nil)
	answersDesc = prometheus.NewDesc(Namespace+"_dnssec_answers_total",
		"Answers to clients by DNSSEC verdict, the server's ready-packed repeats of cached answers included.",
		[]string{"result"}, nil)
	staleDesc = prometheus.NewDesc(Namespace+"_cache_stale_answers_total",
		"Expired answers served (RFC 8767 serve-stale).", nil, nil)
	prefetchDesc = prometheus.NewDesc(Namespace+"_cache_prefetches_total",
		"Background refreshes of cached records near expiry.", nil, nil)
	clientTimeDesc = prometheus.NewDesc(Namespace+"_client_query_duration_seconds",
		"Time from reading a client query to its answer packed, by whether the cache answered.",
		[]string{"cached"}, nil)
)

// queryCollector exports the atomic arrays of a Registry, summing the
// stripes of those that have them.
type queryCollector Registry

func (c *queryCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{queriesDesc, servfailDesc, upstreamDesc, tcpFallbackDesc, answersDesc, staleDesc, prefetchDesc, clientTimeDesc} {
		ch <- d
	}
}

// Collect sends every series with a count (the label space of client
// queries has hundreds of combinations, most never seen) and every
// outcome and verdict, zero or not.
func (c *queryCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	r := (*Registry)(c)
	for t := range server.NumTransports {
		for q := range numQtypes {
			for rc := range numRcodes {
				if v := r.sum(func(s *queryStripe) *atomic.Uint64 { return &s.queries[t][q][rc] }); v > 0 {
					counter(queriesDesc, v, server.Transport(t).String(), qtypeLabel(q), rcodeLabel(rc))
				}
			}
		}
	}
	for i := range numEDE {
		if v := r.sum(func(s *queryStripe) *atomic.Uint64 { return &s.servfailEDE[i] }); v > 0 {
			counter(servfailDesc, v, edeLabel(i))
		}
	}
	for o, name := range outcomeLabels {
		counter(upstreamDesc, c.upstream[o].Load(), name)
	}
	counter(tcpFallbackDesc, c.tcpFallbacks.Load())
	for s, name := range statusLabels {
		counter(answersDesc, r.sum(func(st *queryStripe) *atomic.Uint64 { return &st.answers[s] }), name)
	}
	counter(staleDesc, c.stale.Load())
	counter(prefetchDesc, c.prefetches.Load())
	for cached, label := range []string{"false", "true"} {
		count, sum, buckets := r.histogram(cached)
		ch <- prometheus.MustNewConstHistogram(clientTimeDesc, count, sum, buckets, label)
	}
}
