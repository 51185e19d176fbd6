package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
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
}

// unboundConf is the Unbound configuration: one thread, no validation,
// iterating from the bench root hints, caches large enough for the whole
// tree, QNAME minimisation relaxed (Unbound's default, and ours).
func unboundConf(dir, hints string, port uint16) string {
	return fmt.Sprintf(`server:
	interface: 127.0.0.1
	port: %d
	access-control: 127.0.0.0/8 allow
	num-threads: 1
	module-config: "iterator"
	root-hints: %q
	do-not-query-localhost: no
	do-ip6: no
	qname-minimisation: yes
	qname-minimisation-strict: no
	msg-cache-size: 512m
	rrset-cache-size: 1024m
	key-cache-size: 1m
	neg-cache-size: 1m
	chroot: ""
	username: ""
	directory: %q
	pidfile: %q
	use-syslog: no
	logfile: ""
	verbosity: 0
remote-control:
	control-enable: no
`, port, hints, dir, filepath.Join(dir, "unbound.pid"))
}

func newUnbound(binary, hints string, port uint16) contender {
	c := contender{
		name:     "Unbound",
		port:     port,
		settings: "1 thread, module-config iterator, qname-minimisation relaxed, do-ip6 no, msg/rrset cache 512m/1024m",
	}
	if _, err := os.Stat(binary); err != nil {
		c.unavailable = fmt.Sprintf("%s not installed", binary)
	}
	c.argv = func(dir string) ([]string, error) {
		conf := filepath.Join(dir, "unbound.conf")
		if err := os.WriteFile(conf, []byte(unboundConf(dir, hints, port)), 0o644); err != nil {
			return nil, err
		}
		return []string{binary, "-d", "-c", conf}, nil
	}
	return c
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

func newRecursor(ctx context.Context, binary, buildErr, hints string, port uint16, extra []string) contender {
	c := contender{name: "recursor", port: port}
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
	argv, settings, err := recursorArgs(binary, hints, port, serveFlags(help))
	if err != nil {
		c.unavailable = err.Error()
		return c
	}
	if len(extra) > 0 {
		argv = append(argv, extra...)
		settings += ", extra: " + strings.Join(extra, " ")
	}
	c.settings = settings
	c.argv = func(string) ([]string, error) { return argv, nil }
	return c
}
