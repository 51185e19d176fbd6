// Command run is make bench's runner: it serves a generated zone tree with
// NSD on 127.53.x.y, runs Unbound and `recursor serve` one after the other
// against it, measures both with dnsperf, and prints a side-by-side table
// with the ratio ours/Unbound. It must run inside a private network
// namespace whose only interface is loopback; bench/bench.sh arranges that.
//
// Every figure is the median of the rounds (3, or 1 with -quick); within a
// round the two resolvers alternate which goes first. Each session starts a
// fresh resolver and goes through: cold resolution of never-seen names,
// AAAA for the same names (to fill the cache) and the RSS after, cache-hit
// throughput, CPU per cache hit at a fixed rate, and the unloaded latency
// of cold names through a delaying proxy.
//
// The signed variant serves a second, smaller tree, signed with ldns
// tools, beside the first; each round also starts both resolvers
// validating from its root's DS, resolves its signed and unsigned domains
// cold, spot-checks AD and a broken signature with kdig, and measures CPU
// per cache hit in the same alternating slices as the unsigned instances.
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/bench/zonetree"
)

// Ports inside the private namespace. Nothing else listens there.
const (
	nsdPort      = 15353
	proxyPort    = 15354
	unboundPort  = 5301
	recursorPort = 5302
	floorPort    = 5303
	// The signed variant's instances run beside the unsigned ones.
	unboundSignedPort  = 5311
	recursorSignedPort = 5312
)

// signedBlock is the third octet of the signed tree's root servers
// (127.53.10.x; TLDs .11, domains .12): inside the 127.53.0.0/16 that the
// port rewrite and the upstream counter cover.
const signedBlock = 10

// settings size a run.
type settings struct {
	quick           bool
	coldOnly        bool // -cold: the two cold phases only
	rounds          int
	domains         int           // second-level domains in the tree
	delayNames      int           // of them, kept out of the cold list for the delay phase
	hotNames        int           // names of the cache-hit list
	coldLimit       time.Duration // bound on each cold pass
	hitSeconds      int
	cpuSlices       int // alternating slices of the CPU-cost run, per resolver
	cpuSliceSeconds int
	cpuRate         int // offered QPS of the CPU-cost run
	hitClients      int // dnsperf -c for the throughput run
	hitInFlight     int // dnsperf -q for the throughput run
	delay           time.Duration
	deadline        time.Duration // the whole run
	signedDomains   int           // second-level domains of the signed tree (half of them signed)
}

func settingsFor(quick bool) settings {
	s := settings{
		rounds: 3, domains: 50000, delayNames: 100, hotNames: 1000,
		coldLimit: 25 * time.Second, hitSeconds: 10, cpuSlices: 5, cpuSliceSeconds: 2, cpuRate: 20000,
		hitClients: 4, hitInFlight: 500, delay: 10 * time.Millisecond, deadline: 9*time.Minute + 30*time.Second,
		signedDomains: 4000,
	}
	if quick {
		s.quick = true
		s.rounds, s.domains, s.coldLimit, s.hitSeconds, s.cpuSlices, s.delayNames = 1, 5000, 15*time.Second, 5, 3, 20
		// Still 1,000 signed domains: the signed hot list is as long as
		// the unsigned one, so that the two CPU-per-hit figures compare.
		s.signedDomains = 2000
		s.deadline = 4 * time.Minute
	}
	return s
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	recursor, recursorErr string
	recursorArgs          string
	unbound, nsd, dnsperf string
	baseline              string
	proxy                 string
	floor                 string
	out, logs             string
	keep                  bool
	signed                bool   // run the signed variant
	keygen, signer, kdig  string // ldns-keygen, ldns-signzone, kdig
}

func run() error {
	var o options
	quick := flag.Bool("quick", os.Getenv("BENCH_QUICK") == "1", "smoke run: 1 round, 5,000 domains, short phases (default from BENCH_QUICK=1)")
	flag.StringVar(&o.recursor, "recursor", "bin/recursor", "recursor binary")
	flag.StringVar(&o.recursorErr, "recursor-error", "", "why the recursor binary could not be built (its column shows n/a)")
	flag.StringVar(&o.unbound, "unbound", "/usr/sbin/unbound", "Unbound binary")
	flag.StringVar(&o.baseline, "baseline", "", "another recursor binary to run in Unbound's place, to compare two builds of ours side by side")
	flag.StringVar(&o.nsd, "nsd", "/usr/sbin/nsd", "NSD binary")
	flag.StringVar(&o.dnsperf, "dnsperf", "/usr/bin/dnsperf", "dnsperf binary")
	flag.StringVar(&o.proxy, "delayproxy", "bench/out/bin/delayproxy", "delayproxy binary")
	flag.StringVar(&o.floor, "floor", "bench/out/bin/floor", "floor binary, measured beside the resolvers for CPU per cache hit (empty: skip)")
	flag.StringVar(&o.out, "out", "bench/out/latest.md", "where the table is written as well as stdout")
	flag.StringVar(&o.logs, "logs", "bench/out/logs", "directory for process and dnsperf logs (emptied first)")
	flag.BoolVar(&o.keep, "keep", false, "keep the generated zone tree")
	flag.StringVar(&o.recursorArgs, "recursor-args", "", "extra flags for `recursor serve`, space-separated (e.g. --verbose while diagnosing)")
	flag.BoolVar(&o.signed, "signed", true, "also run the signed variant (DNSSEC validation on, a signed tree)")
	flag.StringVar(&o.keygen, "ldns-keygen", "/usr/bin/ldns-keygen", "ldns-keygen binary, for the signed tree's keys")
	flag.StringVar(&o.signer, "ldns-signzone", "/usr/bin/ldns-signzone", "ldns-signzone binary, to sign the signed tree")
	flag.StringVar(&o.kdig, "kdig", "/usr/bin/kdig", "kdig binary, for the signed variant's AD and SERVFAIL spot checks")
	threads := flag.Bool("threads", os.Getenv("BENCH_THREADS") == "1", "threads mode instead of the usual run: both resolvers with 1 thread (on the resolver CPU) and with 2 (on both CPUs), CPU per cache hit and cold resolution side by side (default from BENCH_THREADS=1)")
	delay := flag.Duration("delay", 10*time.Millisecond, "delay the proxy adds to every upstream round trip in the cold-latency phase (0 shows each resolver's own overhead)")
	coldOnly := flag.Bool("cold", false, "measure the cold phases only (cold resolution at 100 in flight, then the unloaded cold latency); no signed variant")
	delayNames := flag.Int("delay-names", 0, "names of the unloaded cold-latency phase (default 100, 20 with -quick, 400 with -cold: enough for a p99)")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	if *delay < 0 || *delay > time.Second {
		return fmt.Errorf("-delay %v: want 0 to 1s", *delay)
	}
	s := settingsFor(*quick)
	s.delay = *delay
	if *coldOnly {
		s.coldOnly, o.signed = true, false
		s.delayNames = 400
	}
	if *delayNames > 0 {
		s.delayNames = *delayNames
	}

	if err := checkIsolated(); err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ctx, cancelRun := context.WithTimeout(ctx, s.deadline)
	defer cancelRun()

	b := &bench{s: s, o: o, ps: newProcs()}
	defer func() {
		b.ps.stopAll()
		if b.work != "" && !o.keep {
			os.RemoveAll(b.work)
		}
	}()
	if *threads {
		b.o.signed = false // the threads mode measures the unsigned tree only
	}
	if err := b.prepare(ctx); err != nil {
		return err
	}
	var text string
	if *threads {
		report := b.measureThreads(ctx)
		text = report.threadsMarkdown(report.environment())
	} else {
		report := b.measure(ctx)
		text = report.markdown(report.environment())
	}
	fmt.Print(text)
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(o.out, []byte(text), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: table written to %s; logs in %s\n", o.out, o.logs)
	return ctx.Err()
}

// bench holds one run's state.
type bench struct {
	s      settings
	o      options
	ps     *procs
	work   string // generated tree and per-session directories
	tree   *zonetree.Tree
	hints  string
	pin    bool // taskset: load on CPU 0, resolver on CPU 1
	lists  map[string]string
	logSeq int
	sig    *signedTree // nil when the signed variant does not run
	notes  []string    // from preparing, for the report
}

// signedTree is the signed variant's tree, served beside the unsigned one.
type signedTree struct {
	tree   *zonetree.Tree
	signed *zonetree.Signed
	hints  string
	lists  map[string]string // "secure", "insecure" (cold passes), "hot"
	took   time.Duration     // signing
}

// listFor is the dnsperf input named name for c's variant.
func (b *bench) listFor(c contender, name string) string {
	if c.signed {
		return b.sig.lists[name]
	}
	return b.lists[name]
}

func (b *bench) logPath(name string) string {
	b.logSeq++
	return filepath.Join(b.o.logs, fmt.Sprintf("%02d-%s.log", b.logSeq, name))
}

// pinned prefixes argv with taskset when the machine has a CPU to spare.
func (b *bench) pinned(cpu int, argv []string) []string {
	if !b.pin {
		return argv
	}
	return append([]string{"taskset", "-c", strconv.Itoa(cpu)}, argv...)
}

const (
	loadCPU     = 0 // dnsperf, NSD, the proxy
	resolverCPU = 1
)

func (b *bench) prepare(ctx context.Context) error {
	for _, bin := range []string{b.o.nsd, b.o.dnsperf, b.o.proxy} {
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("%s is missing (bench/bench.sh installs and builds it)", bin)
		}
	}
	// Online CPUs, not runtime.NumCPU: bench.sh starts the runner pinned
	// to the load CPU, and NumCPU counts only the CPUs it may use.
	b.pin = onlineCPUs() >= 2
	os.RemoveAll(b.o.logs)
	if err := os.MkdirAll(b.o.logs, 0o755); err != nil {
		return err
	}
	var err error
	if b.work, err = os.MkdirTemp("", "recursor-bench-"); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: generating %d domains in %s\n", b.s.domains, b.work)
	if b.tree, err = zonetree.Plan(zonetree.Spec{Domains: b.s.domains, Port: nsdPort}); err != nil {
		return err
	}
	if err := b.tree.Write(b.work); err != nil {
		return err
	}
	b.hints = filepath.Join(b.work, "named.root")
	if err := b.writeLists(); err != nil {
		return err
	}
	if err := setupLoopback(ctx, nsdPort, []uint16{nsdPort, proxyPort}); err != nil {
		return fmt.Errorf("loopback setup: %w", err)
	}
	if err := b.serve(ctx, b.tree, b.work, "nsd-", b.lists["cold"], false); err != nil {
		return err
	}
	var routes []string
	for _, a := range b.tree.Addrs() {
		routes = append(routes, fmt.Sprintf("%s:%d=%s:%d", a, proxyPort, a, nsdPort))
	}
	// The proxy sends from 127.0.0.2, so NSD's replies to it keep their
	// port: only replies to 127.0.0.1 (the resolvers) are rewritten.
	if _, err := b.ps.start("delayproxy", b.logPath("delayproxy"), b.pinned(loadCPU, []string{
		b.o.proxy, "-delay", b.s.delay.String(), "-source", "127.0.0.2", "-map", strings.Join(routes, ","),
	})); err != nil {
		return err
	}
	if err := b.waitProxy(ctx); err != nil {
		return err
	}
	if b.o.signed {
		if err := b.prepareSigned(ctx); err != nil {
			b.sig = nil
			b.notes = append(b.notes, fmt.Sprintf("signed variant skipped: %v", err))
			fmt.Fprintf(os.Stderr, "bench: signed variant skipped: %v\n", err)
		}
	}
	return ctx.Err()
}

// serve starts NSD for each layer of tree (configured under dir), waits
// until every layer answers and has it read the names of list once.
func (b *bench) serve(ctx context.Context, tree *zonetree.Tree, dir, logPrefix, list string, dnssecOK bool) error {
	for _, l := range tree.Layers() {
		argv := b.pinned(loadCPU, []string{b.o.nsd, "-d", "-c", filepath.Join(dir, l.Name, "nsd.conf")})
		if _, err := b.ps.start(logPrefix+l.Name, b.logPath(logPrefix+l.Name), argv); err != nil {
			return err
		}
	}
	if err := waitAuthorities(ctx, tree); err != nil {
		return err
	}
	return b.warmAuthorities(ctx, tree, list, dnssecOK)
}

// writeLists writes the dnsperf input files: cold A names (the domains not
// kept for the delay phase), AAAA for the same names, and the hot list.
func (b *bench) writeLists() error {
	cold := b.s.domains - b.s.delayNames
	if cold < b.s.hotNames {
		return fmt.Errorf("%d domains leave too few cold names", b.s.domains)
	}
	b.lists = map[string]string{}
	for _, l := range []struct {
		name  string
		n     int
		qtype string
	}{{"cold", cold, "A"}, {"aaaa", cold, "AAAA"}, {"hot", b.s.hotNames, "A"}} {
		var sb strings.Builder
		for i := range l.n {
			fmt.Fprintf(&sb, "www.%s %s\n", b.tree.Domains[i], l.qtype)
		}
		path := filepath.Join(b.work, l.name+".txt")
		if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
			return err
		}
		b.lists[l.name] = path
	}
	return nil
}

// delayName is the i-th name of the delay phase, never in a dnsperf list.
func (b *bench) delayName(i int) string {
	return "www." + b.tree.Domains[b.s.domains-b.s.delayNames+i]
}

// poll asks q of addr until any reply comes or the wait runs out.
func poll(ctx context.Context, addr string, q *dns.Msg, wait time.Duration) error {
	return pollFrom(ctx, nil, addr, q, wait)
}

// pollFrom is poll from a given local address.
func pollFrom(ctx context.Context, local net.Addr, addr string, q *dns.Msg, wait time.Duration) error {
	c := &dns.Client{Timeout: time.Second, Dialer: &net.Dialer{LocalAddr: local}}
	end := time.Now().Add(wait)
	var last error
	for time.Now().Before(end) && ctx.Err() == nil {
		_, _, err := c.ExchangeContext(ctx, q, addr)
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("no answer from %s within %v: %v", addr, wait, last)
}

// waitAuthorities waits until every layer of tree answers through the
// port-53 rewrite, the way the resolvers will reach them.
func waitAuthorities(ctx context.Context, tree *zonetree.Tree) error {
	last := tree.Domains[len(tree.Domains)-1]
	for _, c := range []struct {
		addr  string
		qname string
	}{
		{tree.Root.Servers[0].Addr.String(), "."},
		{tree.TLD.Servers[0].Addr.String(), "com."},
		{tree.Domain.Servers[0].Addr.String(), last},
	} {
		q := new(dns.Msg).SetQuestion(c.qname, dns.TypeSOA)
		if err := poll(ctx, c.addr+":53", q, 60*time.Second); err != nil {
			return fmt.Errorf("NSD: %w", err)
		}
	}
	return nil
}

// warmAuthorities sends every name of list once to a TLD server and a
// domain server of tree, so that NSD has touched all its data before the
// first session: otherwise whichever resolver goes first pays for NSD's
// first pass. dnssecOK sets DO, for the signed tree's signatures.
func (b *bench) warmAuthorities(ctx context.Context, tree *zonetree.Tree, list string, dnssecOK bool) error {
	for _, s := range []zonetree.Server{tree.TLD.Servers[0], tree.Domain.Servers[0]} {
		argv := b.pinned(loadCPU, []string{b.o.dnsperf, "-s", s.Addr.String(), "-p", "53", "-d", list, "-n", "1", "-q", "200", "-l", "30"})
		if dnssecOK {
			argv = append(argv, "-D")
		}
		out, _, err := runOutput(ctx, 60*time.Second, argv)
		if werr := os.WriteFile(b.logPath("nsd-warmup"), []byte(out), 0o644); werr != nil && err == nil {
			err = werr
		}
		if err != nil {
			return fmt.Errorf("NSD warm-up: %w", err)
		}
	}
	return nil
}

func (b *bench) waitProxy(ctx context.Context) error {
	// Asked from 127.0.0.3: replies to 127.0.0.1 get their port rewritten.
	a := b.tree.Root.Servers[0].Addr.String()
	local := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 3)}
	return pollFrom(ctx, local, fmt.Sprintf("%s:%d", a, proxyPort), new(dns.Msg).SetQuestion(".", dns.TypeSOA), 20*time.Second)
}

// measure runs every round and returns the report.
func (b *bench) measure(ctx context.Context) *report {
	extra := strings.Fields(b.o.recursorArgs)
	ours := newRecursor(ctx, b.o.recursor, b.o.recursorErr, b.hints, "", recursorPort, 0, extra)
	theirs := newUnbound(b.o.unbound, b.hints, "", unboundPort, 0)
	if b.o.baseline != "" {
		theirs = newRecursor(ctx, b.o.baseline, "", b.hints, "", unboundPort, 0, extra)
		theirs.name = "baseline"
	}
	contenders := []contender{theirs, ours}
	var signed []contender // the same two, validating, on the signed tree
	if b.sig != nil {
		anchor := b.sig.signed.AnchorFile
		sigOurs := newRecursor(ctx, b.o.recursor, b.o.recursorErr, b.sig.hints, anchor, recursorSignedPort, 0, extra)
		sigTheirs := newUnbound(b.o.unbound, b.sig.hints, anchor, unboundSignedPort, 0)
		if b.o.baseline != "" {
			sigTheirs = newRecursor(ctx, b.o.baseline, "", b.sig.hints, anchor, unboundSignedPort, 0, extra)
			sigTheirs.name = "baseline"
		}
		signed = []contender{sigTheirs, sigOurs}
	}
	r := newReport(b, contenders, signed)
	for round := range b.s.rounds {
		b.round(ctx, r, round, contenders, signed)
	}
	if ctx.Err() != nil {
		r.notes = append(r.notes, fmt.Sprintf("run stopped early: %v", context.Cause(ctx)))
	}
	return r
}

// round runs one round: a session of each contender (unsigned, then
// signed), CPU per cache hit of all of them in alternating slices, and the
// delay phase of the unsigned ones.
func (b *bench) round(ctx context.Context, r *report, round int, contenders, signed []contender) {
	order := []int{0, 1}
	if round%2 == 1 {
		order = []int{1, 0}
	}
	warner := func(label string) func(string) { return r.warner(label, round) }
	alive := b.sessions(ctx, r, round, contenders, order, b.session)
	var sigAlive []live
	if len(signed) > 0 {
		sigAlive = b.sessions(ctx, r, round, signed, order, b.signedSession)
	}
	// The resolvers still run, warmed: CPU per cache hit in alternating
	// slices, so that all meet the same machine.
	if ctx.Err() == nil && len(alive)+len(sigAlive) > 0 && !b.s.coldOnly {
		fmt.Fprintf(os.Stderr, "bench: round %d/%d: CPU per cache hit, alternating\n", round+1, b.s.rounds)
		hits := interleave(alive, sigAlive)
		floor, err := b.startFloor(ctx)
		floorM := metrics{}
		if err != nil {
			r.notes = append(r.notes, fmt.Sprintf("round %d: floor: %v", round+1, err))
		} else if floor != nil {
			hits = append(hits, live{contender{name: "floor", port: floorPort}, floor, floorM})
		}
		b.pairedHits(ctx, hits, round, warner)
		if floor != nil {
			b.ps.stop(floor, 5*time.Second)
			if v, ok := floorM["hit_cpu_us"]; ok {
				r.floorCPU = append(r.floorCPU, v)
			}
		}
	}
	for _, sl := range sigAlive {
		b.ps.stop(sl.p, 5*time.Second)
		for _, l := range alive {
			if l.c.name == sl.c.name {
				sl.m["sig_hit_cpu_rel"] = ratio(sl.m["sig_hit_cpu_us"], l.m["hit_cpu_us"])
			}
		}
		r.add(sl.c.name, sl.m)
	}
	if ctx.Err() == nil && len(alive) > 0 {
		fmt.Fprintf(os.Stderr, "bench: round %d/%d: cold latency with delay, alternating\n", round+1, b.s.rounds)
		if err := b.pairedDelay(ctx, alive, round, warner); err != nil {
			r.notes = append(r.notes, fmt.Sprintf("round %d: delay phase: %v", round+1, err))
		}
	}
	for _, l := range alive {
		b.ps.stop(l.p, 5*time.Second)
		r.add(l.c.name, l.m)
	}
}

// interleave puts each resolver's signed instance right after its
// unsigned one, so that the two are measured seconds apart; the signed
// instances of resolvers without an unsigned one go last.
func interleave(alive, sigAlive []live) []live {
	var out []live
	used := make([]bool, len(sigAlive))
	for _, l := range alive {
		out = append(out, l)
		for j, sl := range sigAlive {
			if !used[j] && sl.c.name == l.c.name {
				out = append(out, sl)
				used[j] = true
			}
		}
	}
	for j, sl := range sigAlive {
		if !used[j] {
			out = append(out, sl)
		}
	}
	return out
}

// sessionFunc measures one fresh instance of a contender (session or
// signedSession).
type sessionFunc func(ctx context.Context, c contender, round int, warn func(string)) (metrics, *proc, error)

// sessions runs run for each contender in order and returns those left
// running; the figures of a session that failed go to the report at once.
func (b *bench) sessions(ctx context.Context, r *report, round int, cs []contender, order []int, run sessionFunc) []live {
	var alive []live
	for _, i := range order {
		c := cs[i]
		if c.unavailable != "" || ctx.Err() != nil {
			continue
		}
		fmt.Fprintf(os.Stderr, "bench: round %d/%d: %s\n", round+1, b.s.rounds, c.label())
		warn := r.warner(c.label(), round)
		m, p, err := run(ctx, c, round, warn)
		if err != nil {
			warn(err.Error())
		}
		if p != nil {
			alive = append(alive, live{c, p, m})
		} else {
			r.add(c.name, m)
		}
	}
	return alive
}

// startFloor starts bench/floor on the resolver's CPU and waits until it
// answers; nil, nil when there is no floor binary to run.
func (b *bench) startFloor(ctx context.Context) (*proc, error) {
	if b.o.floor == "" {
		return nil, nil
	}
	if _, err := os.Stat(b.o.floor); err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", floorPort)
	p, err := b.ps.start("floor", b.logPath("floor"), b.pinned(resolverCPU, []string{b.o.floor, "-listen", addr}))
	if err != nil {
		return nil, err
	}
	if err := poll(ctx, addr, new(dns.Msg).SetQuestion("www.example.", dns.TypeA), 10*time.Second); err != nil {
		b.ps.stop(p, 5*time.Second)
		return nil, err
	}
	return p, nil
}

// metrics of one session, by metric id (see rows in report.go).
type metrics map[string]float64

// live is a resolver left running by its session, with its metrics.
type live struct {
	c contender
	p *proc
	m metrics
}

// session starts a fresh instance of c and measures it. It returns what
// it measured before any error, and the resolver, still running and
// warmed, when the session went through (the caller stops it).
// warn records what went wrong without ending the session.
func (b *bench) session(ctx context.Context, c contender, round int, warn func(string)) (m metrics, kept *proc, err error) {
	m = metrics{}
	p, err := b.startResolver(ctx, c, round)
	if err != nil {
		return m, nil, err
	}
	defer func() {
		if err != nil {
			b.ps.stop(p, 5*time.Second)
			kept = nil
		}
	}()
	alive := func() error {
		if done, werr := p.exited(); done {
			return fmt.Errorf("%s exited (%v); see its log in %s", c.name, werr, b.o.logs)
		}
		return nil
	}
	rssStart, err := rssBytes(p.pid())
	if err != nil {
		return m, nil, err
	}
	m["rss_start_mb"] = float64(rssStart) / (1 << 20)
	cold, err := b.coldPass(ctx, c, p, "cold", "cold", m, warn)
	if err != nil {
		return m, nil, err
	}
	answeredA := cold.Rcodes["NOERROR"]
	if err := alive(); err != nil {
		return m, nil, err
	}
	if b.s.coldOnly {
		return m, p, nil
	}

	// Memory: AAAA for the same names (one upstream query each), then RSS.
	aaaa, err := b.dnsperf(ctx, c, "aaaa", []string{"-d", b.lists["aaaa"], "-n", "1", "-q", "100", "-l", secs(b.s.coldLimit)})
	if err != nil {
		return m, nil, err
	}
	rss, err := rssBytes(p.pid())
	if err != nil {
		return m, nil, err
	}
	// RRsets learned per name answered: the domain's NS set, the A of its
	// two name servers, www A; and www AAAA from the second pass.
	warnFailures(warn, "AAAA pass", aaaa)
	rrsets := 4*answeredA + aaaa.Rcodes["NOERROR"]
	m["mem_names"] = float64(answeredA + aaaa.Rcodes["NOERROR"])
	m["mem_rss_mb"] = float64(rss) / (1 << 20)
	m["mem_bytes_per_rrset"] = ratio(float64(rss-rssStart), float64(rrsets))

	// Cache hits: warm the hot list, then saturate.
	if _, err := b.dnsperf(ctx, c, "warm", []string{"-d", b.lists["hot"], "-n", "1", "-q", "100", "-l", "20"}); err != nil {
		return m, nil, err
	}
	hit, loadUse, err := b.dnsperfCPU(ctx, c, "hit", []string{"-t", "1", "-d", b.lists["hot"], "-l", strconv.Itoa(b.s.hitSeconds),
		"-c", strconv.Itoa(b.s.hitClients), "-q", strconv.Itoa(b.s.hitInFlight)})
	if err != nil {
		return m, nil, err
	}
	m["hit_qps"] = hit.QPS
	m["hit_loadgen_cpu_pct"] = 100 * loadUse
	m["hit_answered_pct"] = 100 * ratio(float64(hit.Rcodes["NOERROR"]), float64(hit.Sent))
	if err := alive(); err != nil {
		return m, nil, err
	}
	return m, p, nil
}

// startResolver starts a fresh instance of c, on the resolver CPU, and
// waits until it answers.
func (b *bench) startResolver(ctx context.Context, c contender, round int) (*proc, error) {
	dir := filepath.Join(b.work, fmt.Sprintf("%s-%d", c.slug(), round+1))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	argv, err := c.argv(dir)
	if err != nil {
		return nil, err
	}
	if c.cpus != "" && b.pin {
		argv = append([]string{"taskset", "-c", c.cpus}, argv...)
	} else {
		argv = b.pinned(resolverCPU, argv)
	}
	p, err := b.ps.start(c.label(), b.logPath(c.slug()), argv)
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", c.port)
	if err := poll(ctx, addr, new(dns.Msg).SetQuestion("bench.", dns.TypeSOA), 20*time.Second); err != nil {
		b.ps.stop(p, 5*time.Second)
		if done, werr := p.exited(); done {
			return nil, fmt.Errorf("exited at start (%v); see its log in %s", werr, b.o.logs)
		}
		return nil, err
	}
	return p, nil
}

// coldPass sends each name of c's list once, 100 in flight, and records
// under prefix (prefix_qps, prefix_cpu_us, ...) the throughput, the
// latency, the resolver's CPU time and the upstream queries per name.
func (b *bench) coldPass(ctx context.Context, c contender, p *proc, list, prefix string, m metrics, warn func(string)) (perfResult, error) {
	q0, err := upstreamQueries(ctx)
	if err != nil {
		return perfResult{}, err
	}
	cpu0, err := readThreadCPU(p.pid())
	if err != nil {
		return perfResult{}, err
	}
	split0, err := readCPUSplit(p.pid())
	if err != nil {
		return perfResult{}, err
	}
	res, err := b.dnsperf(ctx, c, prefix, []string{"-d", b.listFor(c, list), "-n", "1", "-q", "100", "-l", secs(b.s.coldLimit), "-v"})
	if err != nil {
		return res, err
	}
	cpu1, err := readThreadCPU(p.pid())
	if err != nil {
		return res, err
	}
	cpu, err := cpu1.since(cpu0)
	if err != nil {
		return res, err
	}
	split1, err := readCPUSplit(p.pid())
	if err != nil {
		return res, err
	}
	user, system := split1.user-split0.user, split1.system-split0.system
	m[prefix+"_user_pct"] = 100 * ratio(float64(user), float64(user+system))
	m[prefix+"_switches_per_name"] = ratio(float64(split1.switches-split0.switches), float64(res.Completed))
	m[prefix+"_faults_per_name"] = ratio(float64(split1.faults-split0.faults), float64(res.Completed))
	q1, err := upstreamQueries(ctx)
	if err != nil {
		return res, err
	}
	warnFailures(warn, prefix+" pass", res)
	m[prefix+"_cpu_us"] = ratio(float64(cpu.Nanoseconds())/1e3, float64(res.Completed))
	m[prefix+"_qps"] = res.QPS
	m[prefix+"_p50_ms"] = 1000 * percentile(res.Latencies, 50)
	m[prefix+"_p99_ms"] = 1000 * percentile(res.Latencies, 99)
	m[prefix+"_answered_pct"] = 100 * ratio(float64(res.Rcodes["NOERROR"]), float64(res.Sent))
	m[prefix+"_upstream_per_name"] = ratio(float64(q1-q0), float64(res.Completed))
	return res, nil
}

// pairedHits measures CPU per cache hit at a fixed offered rate below
// saturation, from the threads' run time in /proc per answered query, in
// short slices that alternate between the resolvers. Load from elsewhere
// on a shared machine comes and goes over minutes; slices a few seconds
// apart see the same of it, which one phase per session did not.
//
// Every other slice takes the responders in reverse order, so that none
// always comes right after the same neighbour or at the same point of
// the slice; each slice's figure goes to logs/NN-hits-round-R.log.
func (b *bench) pairedHits(ctx context.Context, alive []live, round int, warner func(string) func(string)) {
	type sums struct {
		cpu       time.Duration
		completed int
		qps       []float64
		latencies []float64
		failed    bool
	}
	acc := make([]sums, len(alive))
	var perSlice strings.Builder
	perSlice.WriteString("slice\tresponder\tcpu_us_per_query\tcompleted\n")
	defer func() {
		os.WriteFile(b.logPath(fmt.Sprintf("hits-round-%d", round+1)), []byte(perSlice.String()), 0o644)
	}()
	for slice := range b.s.cpuSlices {
		for k := range alive {
			i := k
			if slice%2 == 1 {
				i = len(alive) - 1 - k
			}
			l := alive[i]
			if ctx.Err() != nil || acc[i].failed {
				continue
			}
			t0, err := readThreadCPU(l.p.pid())
			var res perfResult
			if err == nil {
				res, err = b.dnsperf(ctx, l.c, fmt.Sprintf("fixed-%d", slice+1), []string{"-t", "1", "-d", b.listFor(l.c, "hot"),
					"-l", strconv.Itoa(b.s.cpuSliceSeconds), "-Q", strconv.Itoa(b.s.cpuRate), "-q", "200", "-v"})
			}
			var used time.Duration
			if err == nil {
				var t1 threadCPU
				if t1, err = readThreadCPU(l.p.pid()); err == nil {
					used, err = t1.since(t0)
				}
			}
			if err != nil {
				warner(l.c.label())(fmt.Sprintf("CPU per cache hit, slice %d: %v", slice+1, err))
				acc[i].failed = true
				continue
			}
			acc[i].cpu += used
			acc[i].completed += res.Completed
			fmt.Fprintf(&perSlice, "%d\t%s\t%.2f\t%d\n", slice+1, l.c.label(), ratio(float64(used.Nanoseconds())/1e3, float64(res.Completed)), res.Completed)
			acc[i].qps = append(acc[i].qps, res.QPS)
			acc[i].latencies = append(acc[i].latencies, res.Latencies...)
		}
	}
	for i, l := range alive {
		a := acc[i]
		if a.failed || a.completed == 0 {
			continue
		}
		l.m[l.c.metric("hit_cpu_us")] = ratio(float64(a.cpu.Nanoseconds())/1e3, float64(a.completed))
		l.m[l.c.metric("fixed_qps")] = median(a.qps)
		l.m[l.c.metric("hit_p50_ms")] = 1000 * percentile(a.latencies, 50)
		l.m[l.c.metric("hit_p99_ms")] = 1000 * percentile(a.latencies, 99)
	}
}

// pairedDelay measures the unloaded latency of cold resolutions through
// the delaying proxy. Each never-seen name goes to every resolver in turn,
// the first one alternating from name to name, so that the resolvers meet
// the same moments of the machine; the authoritative servers' counter is
// read around each query, to count each resolver's upstream queries.
func (b *bench) pairedDelay(ctx context.Context, alive []live, round int, warner func(string) func(string)) (err error) {
	if err := retarget(ctx, proxyPort); err != nil {
		return err
	}
	defer func() {
		if rerr := retarget(context.WithoutCancel(ctx), nsdPort); rerr != nil && err == nil {
			err = rerr
		}
	}()
	client := &dns.Client{Timeout: 5 * time.Second}
	lat := make([][]float64, len(alive))
	failures := make([][]string, len(alive))
	upstream := make([]int64, len(alive))
	before, err := upstreamQueries(ctx)
	if err != nil {
		return err
	}
	// Each query's latency, for comparing the resolvers name by name.
	var perQuery strings.Builder
	perQuery.WriteString("name\tresolver\tms\tupstream\n")
	defer func() {
		os.WriteFile(b.logPath(fmt.Sprintf("delay-round-%d", round+1)), []byte(perQuery.String()), 0o644)
	}()
	for i := range b.s.delayNames {
		for k := range alive {
			j := (k + i + round) % len(alive)
			l := alive[j]
			q := new(dns.Msg).SetQuestion(b.delayName(i), dns.TypeA)
			q.SetEdns0(1232, false) // so that extended errors can come back
			start := time.Now()
			resp, _, err := client.ExchangeContext(ctx, q, fmt.Sprintf("127.0.0.1:%d", l.c.port))
			elapsed := time.Since(start)
			switch {
			case ctx.Err() != nil:
				return ctx.Err()
			case err != nil:
				failures[j] = append(failures[j], fmt.Sprintf("%s: %v", q.Question[0].Name, err))
			case resp.Rcode != dns.RcodeSuccess || len(resp.Answer) == 0:
				failures[j] = append(failures[j], fmt.Sprintf("%s: %s with %d answers%s", q.Question[0].Name, dns.RcodeToString[resp.Rcode], len(resp.Answer), extendedErrors(resp)))
			default:
				lat[j] = append(lat[j], elapsed.Seconds())
			}
			after, err := upstreamQueries(ctx)
			if err != nil {
				return err
			}
			upstream[j] += after - before
			fmt.Fprintf(&perQuery, "%s\t%s\t%.3f\t%d\n", q.Question[0].Name, l.c.name, 1000*elapsed.Seconds(), after-before)
			before = after
		}
	}
	for j, l := range alive {
		l.m["delay_failed"] = float64(len(failures[j]))
		if len(failures[j]) > 0 {
			warner(l.c.name)(fmt.Sprintf("delay phase: %d of %d names failed, first: %s", len(failures[j]), b.s.delayNames, failures[j][0]))
		}
		if len(lat[j]) == 0 {
			continue
		}
		perName := ratio(float64(upstream[j]), float64(b.s.delayNames))
		l.m["delay_p50_ms"] = 1000 * median(lat[j])
		l.m["delay_mean_ms"] = 1000 * mean(lat[j])
		l.m["delay_p99_ms"] = 1000 * percentile(lat[j], 99)
		l.m["delay_upstream_per_name"] = perName
		l.m["delay_floor_ms"] = perName * float64(b.s.delay) / float64(time.Millisecond)
	}
	return nil
}

// dnsperf runs dnsperf against c on the load CPU, logs its output and
// parses it. args may set -t (the query timeout, default 5 s here).
func (b *bench) dnsperf(ctx context.Context, c contender, phase string, args []string) (perfResult, error) {
	res, _, err := b.dnsperfCPU(ctx, c, phase, args)
	return res, err
}

// dnsperfCPU is dnsperf that also returns the share of one core dnsperf
// used over its whole life (waiting for late answers included).
func (b *bench) dnsperfCPU(ctx context.Context, c contender, phase string, args []string) (perfResult, float64, error) {
	argv := []string{b.o.dnsperf, "-s", "127.0.0.1", "-p", strconv.Itoa(int(c.port))}
	if !slices.Contains(args, "-t") {
		argv = append(argv, "-t", "5")
	}
	argv = append(argv, args...)
	limit := 60 * time.Second
	for i, a := range args {
		if a == "-l" && i+1 < len(args) {
			if n, err := strconv.Atoi(args[i+1]); err == nil {
				limit = time.Duration(n)*time.Second + 20*time.Second
			}
		}
	}
	start := time.Now()
	out, cpu, err := runOutput(ctx, limit, b.pinned(loadCPU, argv))
	use := ratio(cpu.Seconds(), time.Since(start).Seconds())
	logName := b.logPath(c.slug() + "-dnsperf-" + phase)
	if werr := os.WriteFile(logName, []byte(out), 0o644); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		return perfResult{}, use, fmt.Errorf("%s phase: %w", phase, err)
	}
	res, err := parseDnsperf(strings.NewReader(out))
	if err != nil {
		return res, use, fmt.Errorf("%s phase: %w", phase, err)
	}
	if res.Completed == 0 {
		return res, use, fmt.Errorf("%s phase: no query completed (see %s)", phase, logName)
	}
	return res, use, nil
}

// warnFailures reports a pass in which more than 1% of the names sent
// were not answered NOERROR: its figures describe a resolver that failed.
func warnFailures(warn func(string), pass string, res perfResult) {
	if res.Sent == 0 || float64(res.Rcodes["NOERROR"]) >= 0.99*float64(res.Sent) {
		return
	}
	var codes []string
	for code, n := range res.Rcodes {
		if code != "NOERROR" {
			codes = append(codes, fmt.Sprintf("%s %d", code, n))
		}
	}
	slices.Sort(codes)
	if res.Lost > 0 {
		codes = append(codes, fmt.Sprintf("lost %d", res.Lost))
	}
	warn(fmt.Sprintf("%s: only %d of %d names answered NOERROR (%s)", pass, res.Rcodes["NOERROR"], res.Sent, strings.Join(codes, ", ")))
}

// extendedErrors renders the Extended DNS Errors (RFC 8914) of resp, which
// say why a resolver failed, as " (EDE 22: text)".
func extendedErrors(resp *dns.Msg) string {
	opt := resp.IsEdns0()
	if opt == nil {
		return ""
	}
	var parts []string
	for _, o := range opt.Option {
		if ede, ok := o.(*dns.EDNS0_EDE); ok {
			parts = append(parts, fmt.Sprintf("EDE %d: %s", ede.InfoCode, ede.ExtraText))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

func secs(d time.Duration) string { return strconv.Itoa(int(math.Ceil(d.Seconds()))) }

// ratio is a/b, NaN when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}
