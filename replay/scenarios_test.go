package replay

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

var (
	scenariosDir = flag.String("scenarios", "../../shared/scenarios", "folder of the peer resolvers' .rpl suites")
	scenarioSets = flag.String("set", "iter,dnssec,ops", "which sub-folders of -scenarios to run, comma-separated (iter, dnssec, ops)")
	update       = flag.Bool("update", false, "rewrite "+expectationsFile+" from this run's failures")
	events       = flag.Bool("events", false, "log every harness and engine event of each file")
	stream       = flag.Bool("stream", false, "write every event to stderr as it happens (for a run that stops the test binary)")
	force        = flag.Bool("force", false, "run files whose config the engine does not support, to see what fails next (they still fail)")
	fileTimeout  = flag.Duration("filetimeout", 10*time.Second, "wall-clock limit of one file; past it the test binary stops with a FAIL line")
)

// expectationsFile lists the files that do not pass yet, one per line:
// "<name>: <reason>".
const expectationsFile = "expectations.txt"

func loadExpectations(tb testing.TB, path string) map[string]string {
	tb.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}
	}
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, reason, ok := strings.Cut(line, ": ")
		if !ok {
			tb.Fatalf("%s:%d: want \"name: reason\"", path, n)
		}
		out[name] = reason
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// whySep starts the hand-written part of a reason (what we do, what the
// suite expects, and why); -update keeps it and renews the failure before it.
const whySep = " -- "

func writeExpectations(tb testing.TB, path string, exp map[string]string) {
	tb.Helper()
	var b strings.Builder
	b.WriteString("# Scenario files (and Deckard QNAME-minimisation variants) that do not pass yet,\n")
	b.WriteString("# with the first failure. Rewritten by: go test ./replay/ -run Scenarios -update\n")
	b.WriteString("# After \"" + strings.TrimSpace(whySep) + "\": why, written by hand and kept by -update.\n")
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range exp {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(&b, "%s: %s\n", name, exp[name])
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// shortReason is the one-line, bounded form of a failure kept in the
// expectations file.
func shortReason(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	const max = 240
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}

type fileResult struct {
	name   string
	reason string // "" when it passed
}

// TestScenarios replays every .rpl file of -set and checks the outcome
// against expectations.txt: a listed file that passes, or an unlisted
// file that fails, fails the test.
func TestScenarios(t *testing.T) {
	sets := strings.Split(*scenarioSets, ",")
	var files []string
	for _, set := range sets {
		root := filepath.Join(*scenariosDir, set)
		if _, err := os.Stat(root); err != nil {
			t.Skipf("no scenarios at %s (flag -scenarios): %v", root, err)
		}
		for _, d := range []string{"deckard", "unbound"} {
			m, err := filepath.Glob(filepath.Join(root, d, "*.rpl"))
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, m...)
		}
	}
	if len(files) == 0 {
		t.Skipf("no .rpl files under %s for -set %s", *scenariosDir, *scenarioSets)
	}
	expected := loadExpectations(t, expectationsFile)

	var mu sync.Mutex
	var results []fileResult
	t.Run("files", func(t *testing.T) {
		for _, path := range files {
			rel, _ := filepath.Rel(*scenariosDir, path)
			rel = filepath.ToSlash(rel)
			sc, parseErr := ParseFile(path)
			variants := []Variant{{}}
			if parseErr == nil {
				variants = Variants(sc)
			}
			for _, v := range variants {
				name := rel
				// One set: subtests are named dialect/file, as the
				// -run filters in the docs expect; several: set/dialect/file.
				sub := rel
				if len(sets) == 1 {
					sub = strings.TrimPrefix(rel, sets[0]+"/")
				}
				if v.Name != "" {
					name += " [" + v.Name + "]"
					sub += "/" + v.Name
				}
				t.Run(sub, func(t *testing.T) {
					t.Parallel()
					// Recorded even when synctest stops the subtest
					// (a deadlock in the bubble calls FailNow).
					reason := "the run did not finish (goroutines deadlocked in the synctest bubble)"
					defer func() {
						mu.Lock()
						results = append(results, fileResult{name, reason})
						mu.Unlock()
					}()
					err, events := parseErr, ""
					if err == nil {
						err, events = runFile(t, name, sc, v)
					}
					reason = ""
					if err != nil {
						reason = shortReason(err)
					}
					if *update {
						return
					}
					want, listed := expected[name]
					switch {
					case reason == "" && listed:
						t.Errorf("%s now passes: remove it from %s (was: %s)", name, expectationsFile, want)
					case reason != "" && !listed:
						t.Errorf("%s fails and is not in %s: %s\n%s", name, expectationsFile, reason, lastLines(events, 60))
					}
				})
			}
		}
	})

	slices.SortFunc(results, func(a, b fileResult) int { return strings.Compare(a.name, b.name) })
	passed, failed := 0, 0
	type tally struct{ passed, failed int }
	bySuite := map[string]*tally{} // "set/dialect"
	for _, r := range results {
		parts := strings.SplitN(r.name, "/", 3)
		suite := strings.Join(parts[:min(2, len(parts))], "/")
		if bySuite[suite] == nil {
			bySuite[suite] = &tally{}
		}
		if r.reason == "" {
			passed++
			bySuite[suite].passed++
			fmt.Printf("PASS %s\n", r.name)
		} else {
			failed++
			bySuite[suite].failed++
			fmt.Printf("FAIL %s: %s\n", r.name, r.reason)
		}
	}
	for _, suite := range slices.Sorted(maps.Keys(bySuite)) {
		fmt.Printf("%s: %d passed, %d failed\n", suite, bySuite[suite].passed, bySuite[suite].failed)
	}
	fmt.Printf("%d passed, %d failed\n", passed, failed)

	if *update {
		// Keep entries of files this run did not cover (other sets, -run
		// filters); replace the rest.
		ran := map[string]bool{}
		for _, r := range results {
			ran[r.name] = true
			_, why, _ := strings.Cut(expected[r.name], whySep)
			delete(expected, r.name)
			if r.reason != "" {
				expected[r.name] = r.reason
				if why != "" {
					expected[r.name] += whySep + why
				}
			}
		}
		for name := range expected {
			set, _, _ := strings.Cut(name, "/")
			if !ran[name] && slices.Contains(sets, set) && !slices.ContainsFunc(files, func(f string) bool {
				return strings.HasSuffix(filepath.ToSlash(f), strings.SplitN(name, " ", 2)[0])
			}) {
				delete(expected, name) // the file is gone
			}
		}
		writeExpectations(t, expectationsFile, expected)
	}
}

// runFile replays one variant of one file in a synctest bubble, under a
// wall-clock watchdog: a file that spins instead of finishing stops the
// test binary with a FAIL line rather than hang it.
func runFile(t *testing.T, name string, sc *Scenario, v Variant) (error, string) {
	t.Helper()
	watchdog := time.AfterFunc(*fileTimeout, func() {
		fmt.Printf("FAIL %s: still running after %v of wall-clock time (the engine spins?)\n", name, *fileTimeout)
		panic("replay: " + name + " hung")
	})
	defer watchdog.Stop()

	var log strings.Builder
	var logMu sync.Mutex
	logf := func(format string, args ...any) {
		logMu.Lock()
		fmt.Fprintf(&log, format+"\n", args...)
		if *stream {
			fmt.Fprintf(os.Stderr, format+"\n", args...)
		}
		logMu.Unlock()
	}
	var err error
	synctest.Test(t, func(t *testing.T) {
		err = Run(t.Context(), sc, v, Options{Settle: synctest.Wait, Log: logf, RunUnsupported: *force})
	})
	if *events {
		t.Logf("%s:\n%s", name, log.String())
	}
	return err, log.String()
}

// lastLines keeps the end of a run's events for a failure report.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) <= n {
		return "events:\n" + strings.Join(lines, "\n")
	}
	return fmt.Sprintf("last %d of %d events:\n%s", n, len(lines), strings.Join(lines[len(lines)-n:], "\n"))
}
