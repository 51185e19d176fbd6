package main

// The signed variant: a second tree, signed with Debian's ldns tools and
// served by three more NSD instances beside the unsigned one, and both
// resolvers validating from its root's DS.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/recursor-dns/recursor/bench/zonetree"
)

// spotNames is how many secure and insecure names the spot checks ask.
const spotNames = 3

// prepareSigned signs the signed tree, writes its lists and serves it.
func (b *bench) prepareSigned(ctx context.Context) error {
	for _, bin := range []string{b.o.keygen, b.o.signer} {
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("%s is missing (Debian: ldnsutils; bench/bench.sh installs it)", bin)
		}
	}
	tree, err := zonetree.Plan(zonetree.Spec{Domains: b.s.signedDomains, Port: nsdPort, Block: signedBlock})
	if err != nil {
		return err
	}
	dir := filepath.Join(b.work, "signed")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	workers := onlineCPUs()
	spec := zonetree.SignSpec{Keygen: b.o.keygen, Signer: b.o.signer, Workers: workers}
	if b.pin {
		// Nothing is measured yet: signing may use every CPU.
		spec.Prefix = []string{"taskset", "-c", fmt.Sprintf("0-%d", workers-1)}
	}
	fmt.Fprintf(os.Stderr, "bench: signing %d of %d domains, the TLDs and the root in %s\n", (b.s.signedDomains+1)/2, b.s.signedDomains, dir)
	start := time.Now()
	signed, err := tree.Sign(ctx, dir, spec)
	if err != nil {
		return err
	}
	sig := &signedTree{tree: tree, signed: signed, hints: filepath.Join(dir, "named.root"), took: time.Since(start)}
	if len(signed.Secure) < spotNames || len(signed.Insecure) < spotNames || signed.Broken < 0 {
		return fmt.Errorf("%d signed domains are too few", b.s.signedDomains)
	}
	if sig.lists, err = writeSignedLists(dir, tree, signed, b.s.hotNames); err != nil {
		return err
	}
	all := filepath.Join(dir, "all.txt")
	if err := concatFiles(all, sig.lists["secure"], sig.lists["insecure"]); err != nil {
		return err
	}
	if err := b.serve(ctx, tree, dir, "nsd-signed-", all, true); err != nil {
		return err
	}
	b.sig = sig
	return nil
}

// writeSignedLists writes the cold lists (www A of every secure domain,
// of every insecure one) and the hot list (the first hot secure names).
func writeSignedLists(dir string, tree *zonetree.Tree, signed *zonetree.Signed, hot int) (map[string]string, error) {
	lists := map[string]string{}
	for _, l := range []struct {
		name    string
		domains []int
	}{{"secure", signed.Secure}, {"insecure", signed.Insecure}, {"hot", signed.Secure[:min(hot, len(signed.Secure))]}} {
		var sb strings.Builder
		for _, i := range l.domains {
			fmt.Fprintf(&sb, "www.%s A\n", tree.Domains[i])
		}
		path := filepath.Join(dir, l.name+".txt")
		if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
			return nil, err
		}
		lists[l.name] = path
	}
	return lists, nil
}

func concatFiles(dst string, srcs ...string) error {
	var all []byte
	for _, src := range srcs {
		raw, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		all = append(all, raw...)
	}
	return os.WriteFile(dst, all, 0o644)
}

// signedSession starts a fresh validating instance of c and measures it:
// the signed domains cold, then the unsigned ones, the RSS after, then the
// spot checks. Like session, it returns the resolver still running.
func (b *bench) signedSession(ctx context.Context, c contender, round int, warn func(string)) (m metrics, kept *proc, err error) {
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
	for _, pass := range []struct{ list, prefix string }{{"secure", "sig_secure"}, {"insecure", "sig_insecure"}} {
		if _, err := b.coldPass(ctx, c, p, pass.list, pass.prefix, m, warn); err != nil {
			return m, nil, err
		}
	}
	rss, err := rssBytes(p.pid())
	if err != nil {
		return m, nil, err
	}
	m["sig_rss_mb"] = float64(rss) / (1 << 20)
	if _, err := b.dnsperf(ctx, c, "warm", []string{"-d", b.sig.lists["hot"], "-n", "1", "-q", "100", "-l", "20"}); err != nil {
		return m, nil, err
	}
	b.spotChecks(ctx, c, m, warn)
	if done, werr := p.exited(); done {
		return m, nil, fmt.Errorf("%s exited (%v); see its log in %s", c.label(), werr, b.o.logs)
	}
	return m, p, nil
}

// spotCheck is one kdig query and what a validating resolver must answer.
type spotCheck struct {
	metric string // counts the names that passed
	qname  string
	flags  []string // kdig options
	rcode  string
	ad     bool
}

// spotChecks asks c, with kdig, for a few names of each kind and counts
// those answered as a validating resolver must: secure names with AD when
// the query sets DO or AD (RFC 6840 §5.7), insecure ones without, the
// broken name SERVFAIL (and its data, without AD, under CD). Each
// exchange goes to a log of its own.
func (b *bench) spotChecks(ctx context.Context, c contender, m metrics, warn func(string)) {
	if _, err := os.Stat(b.o.kdig); err != nil {
		warn(fmt.Sprintf("spot checks skipped: %s is missing (Debian: knot-dnsutils)", b.o.kdig))
		return
	}
	var checks []spotCheck
	for n := range spotNames {
		secure := "www." + b.sig.tree.Domains[b.sig.signed.Secure[n]]
		insecure := "www." + b.sig.tree.Domains[b.sig.signed.Insecure[n]]
		checks = append(checks,
			spotCheck{"sig_check_do_ad", secure, []string{"+dnssec"}, "NOERROR", true},
			spotCheck{"sig_check_adflag_ad", secure, []string{"+adflag"}, "NOERROR", true},
			spotCheck{"sig_check_insecure_noad", insecure, []string{"+dnssec"}, "NOERROR", false})
	}
	broken := "www." + b.sig.tree.Domains[b.sig.signed.Broken]
	checks = append(checks,
		spotCheck{"sig_check_broken_servfail", broken, []string{"+dnssec"}, "SERVFAIL", false},
		spotCheck{"sig_check_broken_cd", broken, []string{"+dnssec", "+cdflag"}, "NOERROR", false})
	var log strings.Builder
	for _, ch := range checks {
		m[ch.metric] += 0 // present even when every check fails
		argv := append([]string{b.o.kdig, "@127.0.0.1", "-p", strconv.Itoa(int(c.port)), "+retry=0", "+timeout=8"}, ch.flags...)
		argv = append(argv, ch.qname, "A")
		out, _, err := runOutput(ctx, 20*time.Second, argv)
		rcode, flags, perr := parseKdig(out)
		if err == nil {
			err = perr
		}
		verdict := "ok"
		switch {
		case err != nil:
			verdict = "FAILED: " + err.Error()
		case rcode != ch.rcode || flags["ad"] != ch.ad:
			verdict = fmt.Sprintf("FAILED: want %s with AD %v", ch.rcode, ch.ad)
		default:
			m[ch.metric]++
		}
		line := fmt.Sprintf("%s %s: %s, flags %s: %s", ch.qname, strings.Join(ch.flags, " "), rcode, flagList(flags), verdict)
		fmt.Fprintf(&log, "=== %s\n$ %s\n%s\n", line, strings.Join(argv, " "), out)
		fmt.Fprintf(os.Stderr, "bench: %s check: %s\n", c.label(), line)
		if verdict != "ok" {
			warn("spot check " + line)
		}
	}
	os.WriteFile(b.logPath(c.slug()+"-checks"), []byte(log.String()), 0o644)
}

// parseKdig reads the status and the header flags of kdig's output:
// ";; ->>HEADER<<- opcode: QUERY; status: NOERROR; id: 4711" and
// ";; Flags: qr rd ra ad; QUERY: 1; ANSWER: 2; ...".
func parseKdig(out string) (string, map[string]bool, error) {
	var rcode string
	var flags map[string]bool
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, ";; ->>HEADER<<-"); ok {
			for _, part := range strings.Split(rest, ";") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(part), "status:"); ok {
					rcode = strings.TrimSpace(v)
				}
			}
		}
		if rest, ok := strings.CutPrefix(line, ";; Flags:"); ok {
			list, _, _ := strings.Cut(rest, ";")
			flags = map[string]bool{}
			for _, f := range strings.Fields(list) {
				flags[f] = true
			}
		}
	}
	if rcode == "" || flags == nil {
		return rcode, flags, fmt.Errorf("no reply in kdig's output")
	}
	return rcode, flags, nil
}

func flagList(flags map[string]bool) string {
	var out []string
	for _, f := range []string{"qr", "aa", "tc", "rd", "ra", "ad", "cd"} {
		if flags[f] {
			out = append(out, f)
		}
	}
	return "[" + strings.Join(out, " ") + "]"
}
