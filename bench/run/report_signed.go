package main

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// signedSections are the rows of the signed variant's table.
func signedSections(s settings) []section {
	cold := func(prefix string) []row {
		return []row{
			{prefix + "_qps", "throughput, QPS ↑", "%.0f"},
			{prefix + "_p50_ms", "latency p50, ms ↓", "%.2f"},
			{prefix + "_p99_ms", "latency p99, ms ↓", "%.2f"},
			{prefix + "_cpu_us", "resolver CPU per name, µs ↓", "%.0f"},
			{prefix + "_upstream_per_name", "upstream queries per name (DS and DNSKEY included) ↓", "%.2f"},
			{prefix + "_answered_pct", "answered NOERROR, %", "%.2f"},
		}
	}
	return []section{
		{"Cache hits, secure names, queries without DO", []row{
			{"sig_hit_cpu_us", fmt.Sprintf("resolver CPU per query at %d QPS, µs ↓", s.cpuRate), "%.2f"},
			{"sig_hit_cpu_rel", "÷ the same resolver's unsigned figure (same slices) ↓", "%.3f"},
			{"sig_hit_p50_ms", fmt.Sprintf("latency p50 at %d QPS, ms ↓", s.cpuRate), "%.3f"},
			{"sig_hit_p99_ms", fmt.Sprintf("latency p99 at %d QPS, ms ↓", s.cpuRate), "%.3f"},
		}},
		{"Cold resolution, signed domains (secure; 100 in flight)", cold("sig_secure")},
		{"Cold resolution, unsigned domains under signed TLDs (insecure; 100 in flight)", cold("sig_insecure")},
		{"Memory", []row{
			{"sig_rss_mb", "RSS after both cold passes, MiB ↓", "%.1f"},
		}},
		{"Validation spot checks (kdig; the exchanges are in the *-checks.log files)", []row{
			{"sig_check_do_ad", fmt.Sprintf("secure names answered with AD, query with DO (+dnssec), of %d", spotNames), "%.0f"},
			{"sig_check_adflag_ad", fmt.Sprintf("secure names answered with AD, query with AD and no DO (+adflag), of %d", spotNames), "%.0f"},
			{"sig_check_insecure_noad", fmt.Sprintf("insecure names answered without AD, query with DO, of %d", spotNames), "%.0f"},
			{"sig_check_broken_servfail", "corrupted signature: SERVFAIL, of 1", "%.0f"},
			{"sig_check_broken_cd", "corrupted signature with CD: the data without AD, of 1", "%.0f"},
		}},
		{"Checks on the load generator", []row{
			{"sig_fixed_qps", fmt.Sprintf("achieved QPS of the %d QPS run", s.cpuRate), "%.0f"},
		}},
	}
}

// signedMarkdown writes the signed variant's part of the report.
func (r *report) signedMarkdown(b *strings.Builder) {
	s := r.b.s
	b.WriteString("\n## Signed tree: DNSSEC validation on\n\n")
	if sig := r.b.sig; sig != nil {
		fmt.Fprintf(b, "- zone tree: %d second-level domains beside the unsigned tree (NSD on 127.53.%d-%d.x); the root (RSASHA256, NSEC), com. (ECDSAP256SHA256, NSEC), net. and bench. (ECDSAP256SHA256, NSEC3, 0 iterations, no salt) and every other domain (%d; ECDSAP256SHA256, NSEC and NSEC3 in turn) signed with ldns-signzone, keys from ldns-keygen, each child's DS in its parent; the other %d are insecure delegations; signing took %s\n",
			len(sig.tree.Domains), signedBlock, signedBlock+2, len(sig.signed.Secure)+1, len(sig.signed.Insecure), sig.took.Round(100*time.Millisecond))
		fmt.Fprintf(b, "- broken on purpose: www.%s, whose A signature was corrupted after signing\n", sig.tree.Domains[sig.signed.Broken])
	}
	fmt.Fprintf(b, "- each round: a fresh validating instance of each resolver resolves the signed domains' www A cold, then the unsigned ones', then answers the spot checks; CPU per cache hit on the first %d secure names, in the same alternating slices as the unsigned instances and the floor\n", s.hotNames)
	r.settingsLines(b, r.signed)
	r.table(b, signedSections(s))
	r.problems(b, r.signed)
	b.WriteString("\nTargets (issue 12):\n\n")
	for _, t := range r.targets() {
		fmt.Fprintf(b, "- %s\n", t)
	}
	r.perRound(b, signedSections(s))
}

// targets says, for each of the targets, whether ours met it.
func (r *report) targets() []string {
	theirs, ours := r.contenders[0].name, r.contenders[1].name
	ourMedian := func(id string) float64 { return median(r.values[ours][id]) }
	verdict := func(v, limit float64) string {
		switch {
		case math.IsNaN(v):
			return "n/a"
		case v <= limit:
			return "met"
		default:
			return fmt.Sprintf("missed by %.1f%%", 100*(v/limit-1))
		}
	}
	var out []string
	rel := ourMedian("sig_hit_cpu_rel")
	out = append(out, fmt.Sprintf("%s's CPU per cache hit, signed ÷ unsigned: %.3f (at most 1.05): %s", ours, rel, verdict(rel, 1.05)))
	for _, t := range []struct{ id, what string }{
		{"sig_secure_cpu_us", "CPU per cold name, secure"},
		{"sig_insecure_cpu_us", "CPU per cold name, insecure"},
		{"sig_secure_upstream_per_name", "upstream queries per cold name, secure"},
		{"sig_insecure_upstream_per_name", "upstream queries per cold name, insecure"},
	} {
		q := ratio(ourMedian(t.id), median(r.values[theirs][t.id]))
		out = append(out, fmt.Sprintf("%s, %s/%s: %.2f (at most 1.00): %s", t.what, ours, theirs, q, verdict(q, 1)))
	}
	return out
}
