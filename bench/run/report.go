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

// row is one line of the table: a metric id from session, its label and
// how to print it.
type row struct {
	id, label, format string
}

type section struct {
	title string
	rows  []row
}

func sections(s settings) []section {
	delay := s.delay.String()
	all := []section{
		{"Cache hits", []row{
			{"hit_qps", "throughput, QPS (max) ↑", "%.0f"},
			{"hit_cpu_us", fmt.Sprintf("resolver CPU per query at %d QPS, µs ↓", s.cpuRate), "%.2f"},
			{"hit_p50_ms", fmt.Sprintf("latency p50 at %d QPS, ms ↓", s.cpuRate), "%.3f"},
			{"hit_p99_ms", fmt.Sprintf("latency p99 at %d QPS, ms ↓", s.cpuRate), "%.3f"},
		}},
		{"Cold resolution (never-seen names, 100 in flight)", []row{
			{"cold_qps", "throughput, QPS ↑", "%.0f"},
			{"cold_p50_ms", "latency p50, ms ↓", "%.2f"},
			{"cold_p99_ms", "latency p99, ms ↓", "%.2f"},
			{"cold_cpu_us", "resolver CPU per name, µs ↓", "%.0f"},
			{"cold_user_pct", "of which user time, % (ticks)", "%.0f"},
			{"cold_switches_per_name", "context switches per name ↓", "%.2f"},
			{"cold_faults_per_name", "minor page faults per name ↓", "%.2f"},
			{"cold_upstream_per_name", "upstream queries per name ↓", "%.2f"},
			{"cold_answered_pct", "answered NOERROR, %", "%.2f"},
		}},
		{fmt.Sprintf("Cold latency, unloaded, +%s per upstream round trip", delay), []row{
			{"delay_p50_ms", fmt.Sprintf("median of %d names, ms ↓", s.delayNames), "%.1f"},
			{"delay_mean_ms", "mean, ms ↓", "%.2f"},
			{"delay_p99_ms", "p99, ms ↓", "%.2f"},
			{"delay_floor_ms", fmt.Sprintf("floor: upstream queries × %s, ms", delay), "%.1f"},
			{"delay_upstream_per_name", "upstream queries per name ↓", "%.2f"},
			{"delay_failed", "names that failed (timeout, SERVFAIL)", "%.0f"},
		}},
		{"Memory", []row{
			{"rss_start_mb", "RSS at start, MiB ↓", "%.1f"},
			{"mem_names", "distinct names cached (www A + AAAA)", "%.0f"},
			{"mem_rss_mb", "RSS after caching them, MiB ↓", "%.1f"},
			{"mem_bytes_per_rrset", "RSS growth per cached RRset, bytes ↓", "%.0f"},
		}},
		{"Checks on the load generator", []row{
			{"hit_loadgen_cpu_pct", "dnsperf CPU during the throughput run, % of a core", "%.0f"},
			{"hit_answered_pct", "throughput run answered NOERROR, %", "%.2f"},
			{"fixed_qps", fmt.Sprintf("achieved QPS of the %d QPS run", s.cpuRate), "%.0f"},
		}},
	}
	if s.coldOnly {
		return all[1:3]
	}
	return all
}

type report struct {
	b          *bench
	loadStart  string
	contenders []contender
	signed     []contender                     // the signed variant's, if it ran
	values     map[string]map[string][]float64 // resolver -> metric -> per-round values
	errors     map[string][]string
	notes      []string
	started    time.Time
	// floorCPU is bench/floor's CPU per cache hit, a round each.
	floorCPU []float64
}

func newReport(b *bench, contenders, signed []contender) *report {
	r := &report{b: b, contenders: contenders, signed: signed, values: map[string]map[string][]float64{},
		errors: map[string][]string{}, started: time.Now(), loadStart: loadAverage(), notes: slices.Clone(b.notes)}
	for _, c := range contenders {
		r.values[c.name] = map[string][]float64{}
	}
	return r
}

// warner returns what records a problem of name's in round without
// ending anything: it goes to stderr and under the table.
func (r *report) warner(name string, round int) func(string) {
	return func(msg string) {
		fmt.Fprintf(os.Stderr, "bench: %s round %d: %s\n", name, round+1, msg)
		r.errors[name] = append(r.errors[name], fmt.Sprintf("round %d: %s", round+1, msg))
	}
}

func (r *report) add(name string, m metrics) {
	for id, v := range m {
		r.values[name][id] = append(r.values[name][id], v)
	}
}

func (r *report) cell(name, id, format string) (string, float64) {
	v := median(r.values[name][id])
	if math.IsNaN(v) {
		return "n/a", v
	}
	return fmt.Sprintf(format, v), v
}

// markdown renders the report; env lists the machine and versions.
func (r *report) markdown(env []string) string {
	var b strings.Builder
	s := r.b.s
	mode := "full"
	if s.quick {
		mode = "quick (BENCH_QUICK=1)"
	}
	if s.coldOnly {
		mode += ", cold phases only (-cold)"
	}
	fmt.Fprintf(&b, "# recursor vs Unbound: make bench, %s\n\n", mode)
	for _, line := range env {
		fmt.Fprintf(&b, "- %s\n", line)
	}
	fmt.Fprintf(&b, "- zone tree: root, %d TLDs, %d second-level domains (each with its own ns1/ns2 and in-bailiwick glue); NSD on 127.53.x.y:%d, one instance per layer, rrl-ratelimit 0\n",
		len(zonetree.TLDs), s.domains, nsdPort)
	fmt.Fprintf(&b, "- network: a private namespace with loopback only; both resolvers query port 53, which nftables rewrites statelessly to NSD's port (or the delay proxy's) and counts\n")
	fmt.Fprintf(&b, "- figures: median of %d round(s); the resolvers alternate within each round; each session starts a fresh resolver\n", s.rounds)
	if r.b.pin {
		fmt.Fprintf(&b, "- CPUs: resolver pinned to CPU %d; dnsperf, NSD and the delay proxy to CPU %d (taskset)\n", resolverCPU, loadCPU)
	} else {
		fmt.Fprintf(&b, "- CPUs: one CPU only, nothing pinned\n")
	}
	r.settingsLines(&b, r.contenders)
	r.table(&b, sections(s))
	b.WriteString("\n↑ higher is better, ↓ lower is better. The ratio is ours divided by Unbound's figure.\n")
	r.problems(&b, r.contenders)
	for _, n := range r.unsignedNotes() {
		fmt.Fprintf(&b, "\nNote: %s\n", n)
	}
	r.perRound(&b, sections(s))
	if len(r.signed) > 0 {
		r.signedMarkdown(&b)
	}
	fmt.Fprintf(&b, "\nRun took %s; load average at start %s, at end %s (other work on the machine skews every figure but CPU per query least).\n",
		time.Since(r.started).Round(time.Second), r.loadStart, loadAverage())
	return b.String()
}

func (r *report) settingsLines(b *strings.Builder, cs []contender) {
	for _, c := range cs {
		if c.settings != "" {
			fmt.Fprintf(b, "- %s: %s\n", c.name, c.settings)
		}
	}
}

// table writes the side-by-side table of secs.
func (r *report) table(b *strings.Builder, secs []section) {
	fmt.Fprintf(b, "\n| metric | %s | %s | ours/Unbound |\n|---|---:|---:|---:|\n", r.contenders[0].name, r.contenders[1].name)
	for _, sec := range secs {
		fmt.Fprintf(b, "| **%s** | | | |\n", sec.title)
		for _, row := range sec.rows {
			theirs, tv := r.cell(r.contenders[0].name, row.id, row.format)
			ours, ov := r.cell(r.contenders[1].name, row.id, row.format)
			q := "" // a ratio means something only for figures with a better direction
			if strings.ContainsAny(row.label, "↑↓") {
				q = "n/a"
				if x := ratio(ov, tv); !math.IsNaN(x) && !math.IsInf(x, 0) {
					q = fmt.Sprintf("%.2f", x)
				}
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s |\n", row.label, theirs, ours, q)
		}
	}
}

// problems lists why a contender could not run and what went wrong.
func (r *report) problems(b *strings.Builder, cs []contender) {
	for _, c := range cs {
		if c.unavailable != "" {
			fmt.Fprintf(b, "\n%s: n/a: %s\n", c.label(), c.unavailable)
		}
		for _, e := range r.errors[c.label()] {
			fmt.Fprintf(b, "\n%s: %s\n", c.label(), e)
		}
	}
}

// unsignedNotes are the notes under the first table.
func (r *report) unsignedNotes() []string {
	s := r.b.s
	notes := slices.Clone(r.notes)
	if s.quick {
		notes = append(notes, "quick run: with this few names cached, RSS per RRset is mostly each process's fixed growth (allocator arenas, first cache chunks); quote the full run's figure")
	}
	for _, e := range r.errors["floor"] { // the floor is no column: its problems go with the notes
		notes = append(notes, "floor: "+e)
	}
	if floor := median(r.floorCPU); !math.IsNaN(floor) {
		line := fmt.Sprintf("Go floor: bench/floor, a Go responder that reads and writes as recursor does (recvmmsg and sendmmsg through the Go poller) but does no DNS work, used %.2f µs per query in the same CPU slices", floor)
		for _, c := range r.contenders {
			if v := median(r.values[c.name]["hit_cpu_us"]); v > 0 {
				line += fmt.Sprintf("; %.2f of %s's", floor/v, c.name)
			}
		}
		notes = append(notes, line)
	}
	for _, c := range r.contenders {
		if v := median(r.values[c.name]["hit_loadgen_cpu_pct"]); v >= 80 {
			notes = append(notes, fmt.Sprintf("during %s's throughput run dnsperf used %.0f%% of its core: the cache-hit QPS is what one dnsperf core can offer, a floor of %s's capacity; the CPU-per-query row is the better comparison", c.name, v, c.name))
		}
	}
	return notes
}

// perRound writes every round's value of secs, when there were rounds.
func (r *report) perRound(b *strings.Builder, secs []section) {
	if r.b.s.rounds < 2 {
		return
	}
	b.WriteString("\n<details><summary>per-round values</summary>\n\n| metric | " + r.contenders[0].name + " | " + r.contenders[1].name + " |\n|---|---|---|\n")
	for _, sec := range secs {
		for _, row := range sec.rows {
			fmt.Fprintf(b, "| %s | %s | %s |\n", row.id, r.rounds(r.contenders[0].name, row), r.rounds(r.contenders[1].name, row))
		}
	}
	b.WriteString("\n</details>\n")
}

func (r *report) rounds(name string, row row) string {
	var parts []string
	for _, v := range r.values[name][row.id] {
		parts = append(parts, fmt.Sprintf(row.format, v))
	}
	if len(parts) == 0 {
		return "n/a"
	}
	return strings.Join(parts, " / ")
}

// environment names the machine and the versions of everything measured.
func (r *report) environment() []string {
	ctx := context.Background()
	first := func(argv ...string) string {
		out, _, err := runOutput(ctx, 10*time.Second, argv)
		if err != nil && out == "" {
			return "unknown"
		}
		for _, line := range strings.Split(out, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				return line
			}
		}
		return "unknown"
	}
	last := func(argv ...string) string {
		out, _, _ := runOutput(ctx, 10*time.Second, argv)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		return strings.TrimSpace(lines[len(lines)-1])
	}
	return []string{
		"date: " + time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		fmt.Sprintf("machine: %d CPUs online, %s, kernel %s", onlineCPUs(), cpuModel(), first("uname", "-r")),
		"unbound: " + first(r.b.o.unbound, "-V"),
		"nsd: " + first(r.b.o.nsd, "-v"),
		"dnsperf: " + last(r.b.o.dnsperf, "-h"),
		"go: " + first("go", "version"),
		"recursor: " + first("git", "describe", "--always", "--dirty", "--tags"),
	}
}

func cpuModel() string {
	raw, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// loadAverage is the 1-minute load average of the machine.
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(raw))
	if len(f) == 0 {
		return "unknown"
	}
	return f[0]
}
