package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// contender is one resolver under test.
type contender struct {
	name string // column heading
	port uint16 // where it listens on 127.0.0.1
	// unavailable, when set, says why this resolver cannot run; its column
	// then shows n/a.
	unavailable string
	// argv returns the command line for a fresh instance that keeps its
	// files in dir.
	argv func(dir string) ([]string, error)
	// settings describes the configuration, for the report.
	settings string
	// signed: this instance validates, with the signed tree's root hints
	// and trust anchor.
	signed bool
	// cpus is the taskset CPU list of the instance; empty: the resolver
	// CPU alone (the threads mode gives 2-thread instances both CPUs).
	cpus string
}

// label names c in messages: "Unbound", or "Unbound (signed)".
func (c contender) label() string {
	if c.signed {
		return c.name + " (signed)"
	}
	return c.name
}

// slug names c's log files.
func (c contender) slug() string {
	slug := strings.ReplaceAll(strings.ToLower(c.name), " ", "-")
	if c.signed {
		return slug + "-signed"
	}
	return slug
}

// metric is the id under which c's figure for id is kept: the signed
// variant's figures are prefixed, so both variants share a column.
func (c contender) metric(id string) string {
	if c.signed {
		return "sig_" + id
	}
	return id
}

// unboundConf is the Unbound configuration: threads threads (one but in
// the threads mode, each with its own SO_REUSEPORT socket, Unbound's
// default so-reuseport), iterating from
// the bench root hints, caches large enough for the whole tree, QNAME
// minimisation relaxed (Unbound's default, and ours). Without an anchor
// file it does not validate; with one it validates from that anchor only
// (no auto-trust-anchor-file, so it never looks for the real root's key).
func unboundConf(dir, hints, anchorFile string, port uint16, threads int) string {
	modules, validation, keyCache := "iterator", "", "1m"
	if anchorFile != "" {
		// Room for every zone's keys and every NSEC and NSEC3 record.
		keyCache = "64m"
		modules = "validator iterator"
		// No key-tag signalling queries (RFC 8145) upstream: they would
		// count as upstream queries of the names being resolved. Bogus
		// answers are logged with their reason.
		validation = fmt.Sprintf("\ttrust-anchor-file: %q\n\ttrust-anchor-signaling: no\n\tval-log-level: 2\n", anchorFile)
	}
	return fmt.Sprintf(`server:
	interface: 127.0.0.1
	port: %d
	access-control: 127.0.0.0/8 allow
	num-threads: %[8]d
	module-config: %[2]q
%[3]s	root-hints: %[4]q
	do-not-query-localhost: no
	do-ip6: no
	qname-minimisation: yes
	qname-minimisation-strict: no
	msg-cache-size: 512m
	rrset-cache-size: 1024m
	key-cache-size: %[5]s
	neg-cache-size: %[5]s
	chroot: ""
	username: ""
	directory: %[6]q
	pidfile: %[7]q
	use-syslog: no
	logfile: ""
	verbosity: 0
remote-control:
	control-enable: no
`, port, modules, validation, hints, keyCache, dir, filepath.Join(dir, "unbound.pid"), max(threads, 1))
}

// newUnbound is Unbound iterating from hints; validating from anchorFile
// when one is given (the signed variant); with threads threads (0: one,
// the default run).
func newUnbound(binary, hints, anchorFile string, port uint16, threads int) contender {
	c := contender{
		name:     "Unbound",
		port:     port,
		settings: "1 thread, module-config iterator, qname-minimisation relaxed, do-ip6 no, msg/rrset cache 512m/1024m",
		signed:   anchorFile != "",
	}
	if c.signed {
		c.settings = "module-config \"validator iterator\", trust-anchor-file with the bench root's DS, trust-anchor-signaling no, key/neg cache 64m; otherwise as unsigned"
	}
	if threads > 1 {
		c.settings = strings.Replace(c.settings, "1 thread", fmt.Sprintf("num-threads %d (so-reuseport: a socket per thread)", threads), 1)
	}
	if _, err := os.Stat(binary); err != nil {
		c.unavailable = fmt.Sprintf("%s not installed", binary)
	}
	c.argv = func(dir string) ([]string, error) {
		conf := filepath.Join(dir, "unbound.conf")
		if err := os.WriteFile(conf, []byte(unboundConf(dir, hints, anchorFile, port, threads)), 0o644); err != nil {
			return nil, err
		}
		if c.signed {
			if err := checkUnboundValidates(filepath.Join(filepath.Dir(binary), "unbound-checkconf"), conf); err != nil {
				return nil, err
			}
		}
		return []string{binary, "-d", "-c", conf}, nil
	}
	return c
}

// checkUnboundValidates asks unbound-checkconf whether conf is valid, has
// the validator module on and no auto-trust-anchor-file (which would
// point at the real root's key).
func checkUnboundValidates(checker, conf string) error {
	ctx := context.Background()
	if out, _, err := runOutput(ctx, 20*time.Second, []string{checker, conf}); err != nil {
		return fmt.Errorf("unbound-checkconf %s: %v: %s", conf, err, out)
	}
	modules, _, err := runOutput(ctx, 20*time.Second, []string{checker, "-o", "module-config", conf})
	if err != nil || !strings.Contains(modules, "validator") {
		return fmt.Errorf("unbound-checkconf: module-config is %q, want the validator on (%v)", strings.TrimSpace(modules), err)
	}
	auto, _, err := runOutput(ctx, 20*time.Second, []string{checker, "-o", "auto-trust-anchor-file", conf})
	if err != nil || strings.TrimSpace(auto) != "" {
		return fmt.Errorf("unbound-checkconf: auto-trust-anchor-file is %q, want none (%v)", strings.TrimSpace(auto), err)
	}
	return nil
}

// requiredServeFlags are the flags of `recursor serve` the bench needs.
var requiredServeFlags = []string{"--listen", "--root-hints", "--upstream-port", "--dont-query"}

// serveFlags lists the long flags that `serve --help` mentions.
func serveFlags(help string) map[string]bool {
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`--[a-z0-9][a-z0-9-]*`).FindAllString(help, -1) {
		flags[m] = true
	}
	return flags
}

// recursorArgs builds the serve command line from the flags the binary
// offers, or says which required flag is missing.
func recursorArgs(binary, hints string, port uint16, flags map[string]bool) ([]string, string, error) {
	for _, f := range requiredServeFlags {
		if !flags[f] {
			return nil, "", fmt.Errorf("`recursor serve` has no %s flag", f)
		}
	}
	argv := []string{binary, "serve",
		"--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--root-hints", hints,
		"--upstream-port", "53",
		"--dont-query", "none",
	}
	settings := []string{"GOMAXPROCS from the 1-CPU affinity", "QNAME minimisation: resolver default (relaxed)"}
	optional := []struct{ flag, value, note string }{
		{"--no-ipv6", "", "--no-ipv6"},
		{"--cache-entries", "4000000", "--cache-entries 4000000"},
		{"--qname-minimisation", "relaxed", "--qname-minimisation relaxed"},
		// dnsperf is one client address; Unbound has no per-client cap.
		{"--max-per-client", "4096", "--max-per-client 4096"},
		// make bench runs as root; a binary that refuses root says so.
		{"--allow-root", "", "--allow-root"},
	}
	for _, o := range optional {
		if !flags[o.flag] {
			continue
		}
		if o.value == "" {
			argv = append(argv, o.flag)
		} else {
			argv = append(argv, o.flag, o.value)
		}
		settings = append(settings, o.note)
	}
	return argv, strings.Join(settings, ", "), nil
}

// newRecursor is recursor serve iterating from hints; validating from
// anchorFile when one is given (the signed variant); with --threads
// threads when threads is not 0.
func newRecursor(ctx context.Context, binary, buildErr, hints, anchorFile string, port uint16, threads int, extra []string) contender {
	c := contender{name: "recursor", port: port, signed: anchorFile != ""}
	if buildErr != "" {
		c.unavailable = buildErr
		return c
	}
	if _, err := os.Stat(binary); err != nil {
		c.unavailable = fmt.Sprintf("%s does not exist (make build)", binary)
		return c
	}
	help, _, err := runOutput(ctx, 20*time.Second, []string{binary, "serve", "--help"})
	if err != nil {
		c.unavailable = fmt.Sprintf("`%s serve --help` failed: %v", binary, err)
		return c
	}
	flags := serveFlags(help)
	argv, settings, err := recursorArgs(binary, hints, port, flags)
	if err != nil {
		c.unavailable = err.Error()
		return c
	}
	if c.signed {
		if !flags["--trust-anchor-file"] {
			c.unavailable = "`recursor serve` has no --trust-anchor-file flag"
			return c
		}
		argv = append(argv, "--trust-anchor-file", anchorFile)
		settings = "--trust-anchor-file with the bench root's DS; otherwise as unsigned"
	}
	if threads > 0 {
		if !flags["--threads"] {
			c.unavailable = "`recursor serve` has no --threads flag"
			return c
		}
		argv = append(argv, "--threads", strconv.Itoa(threads))
		settings = strings.Replace(settings, "GOMAXPROCS from the 1-CPU affinity", fmt.Sprintf("--threads %d (GOMAXPROCS %[1]d, a socket per thread)", threads), 1)
	}
	if len(extra) > 0 {
		argv = append(argv, extra...)
		settings += ", extra: " + strings.Join(extra, " ")
	}
	c.settings = settings
	c.argv = func(string) ([]string, error) { return argv, nil }
	return c
}
