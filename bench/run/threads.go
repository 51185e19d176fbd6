package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/recursor-dns/recursor/bench/zonetree"
)

// The threads mode (-threads, BENCH_THREADS=1) runs both resolvers with 1
// thread on the resolver CPU, then with 2 threads on both CPUs (Unbound's
// num-threads, our --threads), through the usual session (cold
// resolution, memory, cache-hit throughput) and CPU per cache hit at a
// fixed rate in alternating slices; no delay phase and no signed variant.
// On a 2-core machine the load generator shares a CPU with the 2-thread
// instances, and one dnsperf core caps the cache-hit QPS: CPU per hit and
// cold resolution are the figures to read.

// threadCounts are the thread counts measured, in order.
var threadCounts = []int{1, 2}

// threadsPairs returns, per thread count, Unbound and recursor with that
// many threads.
func (b *bench) threadsPairs(ctx context.Context) [][]contender {
	extra := strings.Fields(b.o.recursorArgs)
	var pairs [][]contender
	for _, n := range threadCounts {
		theirs := newUnbound(b.o.unbound, b.hints, "", unboundPort, n)
		ours := newRecursor(ctx, b.o.recursor, b.o.recursorErr, b.hints, "", recursorPort, n, extra)
		theirs.name = fmt.Sprintf("Unbound %dT", n)
		ours.name = fmt.Sprintf("recursor %dT", n)
		if n > 1 {
			cpus := fmt.Sprintf("%d,%d", loadCPU, resolverCPU)
			theirs.cpus, ours.cpus = cpus, cpus
		}
		pairs = append(pairs, []contender{theirs, ours})
	}
	return pairs
}

// measureThreads runs every round of the threads mode and returns the
// report: per round and thread count, a session of each resolver (the
// first alternating), then CPU per cache hit of both in alternating
// slices.
func (b *bench) measureThreads(ctx context.Context) *report {
	pairs := b.threadsPairs(ctx)
	r := newReport(b, slices.Concat(pairs...), nil)
	for round := range b.s.rounds {
		for _, pair := range pairs {
			order := []int{0, 1}
			if round%2 == 1 {
				order = []int{1, 0}
			}
			alive := b.sessions(ctx, r, round, pair, order, b.session)
			if ctx.Err() == nil && len(alive) > 0 {
				fmt.Fprintf(os.Stderr, "bench: round %d/%d: %s and %s: CPU per cache hit, alternating\n", round+1, b.s.rounds, pair[0].name, pair[1].name)
				b.pairedHits(ctx, alive, round, func(label string) func(string) { return r.warner(label, round) })
			}
			for _, l := range alive {
				b.ps.stop(l.p, 5*time.Second)
				r.add(l.c.name, l.m)
			}
		}
	}
	if ctx.Err() != nil {
		r.notes = append(r.notes, fmt.Sprintf("run stopped early: %v", context.Cause(ctx)))
	}
	return r
}

// threadsSections are the usual table's rows but the delay phase's,
// which the threads mode does not run.
func threadsSections(s settings) []section {
	var out []section
	for _, sec := range sections(s) {
		if !slices.ContainsFunc(sec.rows, func(r row) bool { return strings.HasPrefix(r.id, "delay_") }) {
			out = append(out, sec)
		}
	}
	return out
}

// threadsMarkdown renders the threads mode's report: one table with, per
// thread count, Unbound, ours and the ratio; then how each resolver's
// figures moved from 1 thread to 2.
func (r *report) threadsMarkdown(env []string) string {
	var b strings.Builder
	s := r.b.s
	mode := "full"
	if s.quick {
		mode = "quick (BENCH_QUICK=1)"
	}
	fmt.Fprintf(&b, "# recursor vs Unbound, 1 and 2 threads: make bench threads mode (BENCH_THREADS=1), %s\n\n", mode)
	for _, line := range env {
		fmt.Fprintf(&b, "- %s\n", line)
	}
	fmt.Fprintf(&b, "- zone tree: root, %d TLDs, %d second-level domains; NSD on 127.53.x.y:%d, one instance per layer\n", len(zonetree.TLDs), s.domains, nsdPort)
	fmt.Fprintf(&b, "- figures: median of %d round(s); within each thread count the resolvers alternate; each session starts a fresh resolver\n", s.rounds)
	if r.b.pin {
		fmt.Fprintf(&b, "- CPUs: 1T instances pinned to CPU %d; 2T instances to CPUs %d,%d, sharing CPU %d with dnsperf, NSD and the runner (taskset)\n", resolverCPU, loadCPU, resolverCPU, loadCPU)
	} else {
		fmt.Fprintf(&b, "- CPUs: one CPU only, nothing pinned: the 2T figures say nothing of scaling\n")
	}
	r.settingsLines(&b, r.contenders)

	cs := r.contenders
	b.WriteString("\n| metric |")
	for _, c := range cs {
		fmt.Fprintf(&b, " %s |", c.name)
		if strings.HasPrefix(c.name, "recursor") {
			b.WriteString(" ours/Unbound |")
		}
	}
	b.WriteString("\n|---|" + strings.Repeat("---:|", len(cs)+len(cs)/2) + "\n")
	for _, sec := range threadsSections(s) {
		fmt.Fprintf(&b, "| **%s** |%s\n", sec.title, strings.Repeat(" |", len(cs)+len(cs)/2))
		for _, row := range sec.rows {
			fmt.Fprintf(&b, "| %s |", row.label)
			for i := 0; i+1 < len(cs); i += 2 {
				theirs, tv := r.cell(cs[i].name, row.id, row.format)
				ours, ov := r.cell(cs[i+1].name, row.id, row.format)
				fmt.Fprintf(&b, " %s | %s | %s |", theirs, ours, ratioCell(row, ov, tv))
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("\n↑ higher is better, ↓ lower is better. nT: n threads. The ratio is ours divided by Unbound's figure.\n")
	r.threadsScaling(&b)
	r.problems(&b, r.contenders)
	for _, n := range r.unsignedNotes() {
		fmt.Fprintf(&b, "\nNote: %s\n", n)
	}
	fmt.Fprintf(&b, "\nRun took %s; load average at start %s, at end %s.\n", time.Since(r.started).Round(time.Second), r.loadStart, loadAverage())
	return b.String()
}

// ratioCell is a/b for rows with a better direction, blank for the rest.
func ratioCell(row row, a, b float64) string {
	if !strings.ContainsAny(row.label, "↑↓") {
		return ""
	}
	if x := ratio(a, b); !math.IsNaN(x) && !math.IsInf(x, 0) {
		return fmt.Sprintf("%.2f", x)
	}
	return "n/a"
}

// threadsScaling writes, per resolver, its 2-thread figures of cold
// throughput and CPU over its 1-thread ones.
func (r *report) threadsScaling(b *strings.Builder) {
	rows := []struct{ id, label string }{
		{"cold_qps", "cold QPS"},
		{"cold_p99_ms", "cold p99"},
		{"cold_cpu_us", "CPU per cold name"},
		{"hit_cpu_us", "CPU per cache hit"},
	}
	b.WriteString("\n| 2T / 1T | Unbound | recursor |\n|---|---:|---:|\n")
	for _, row := range rows {
		fmt.Fprintf(b, "| %s |", row.label)
		for _, name := range []string{"Unbound", "recursor"} {
			one := median(r.values[name+" 1T"][row.id])
			two := median(r.values[name+" 2T"][row.id])
			if x := ratio(two, one); !math.IsNaN(x) && !math.IsInf(x, 0) {
				fmt.Fprintf(b, " %.2f |", x)
			} else {
				b.WriteString(" n/a |")
			}
		}
		b.WriteString("\n")
	}
}
