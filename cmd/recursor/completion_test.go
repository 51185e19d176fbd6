package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// completions runs the hidden __complete command, as the shell scripts
// do, and returns the words offered (descriptions cut) and the directive
// line.
func completions(t *testing.T, args ...string) (words []string, directive string) {
	t.Helper()
	out, err := runCommand(t, append([]string{"__complete"}, args...)...)
	if err != nil {
		t.Fatalf("__complete %v: %v\n%s", args, err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		switch {
		case strings.HasPrefix(line, ":"):
			directive = line
		case strings.HasPrefix(line, "Completion ended"):
		default:
			word, _, _ := strings.Cut(line, "\t")
			words = append(words, word)
		}
	}
	return words, directive
}

func TestCompletion(t *testing.T) {
	const noFiles = ":4" // cobra.ShellCompDirectiveNoFileComp
	for _, tc := range []struct {
		name      string
		args      []string
		want      []string // all offered, in this order
		has, lack []string // among those offered, or not
		directive string
	}{
		{name: "type by prefix", args: []string{"resolve", "example.com", "AA"}, want: []string{"AAAA"}, directive: noFiles},
		{name: "lower case stays lower", args: []string{"resolve", "example.com", "mx", "i"}, want: []string{"in"}, directive: noFiles},
		{name: "types and the class before the name", args: []string{"resolve", ""},
			has: []string{"A", "AAAA", "MX", "TXT", "HTTPS", "ANY", "PTR", "IN"}, lack: []string{"AXFR", "IXFR", "OPT", "TSIG", "None", "Reserved", "NXNAME"}, directive: noFiles},
		{name: "no second type", args: []string{"resolve", "MX", "example.com", ""}, want: []string{"IN"}, directive: noFiles},
		{name: "nothing after type and class", args: []string{"resolve", "example.com", "A", "IN", ""}, want: nil, directive: noFiles},
		{name: "-x gives the type", args: []string{"resolve", "-x", "192.0.2.1", ""}, want: []string{"IN"}, directive: noFiles},
		{name: "qname-minimisation values", args: []string{"resolve", "--qname-minimisation", ""}, want: []string{"off", "relaxed", "strict"}, directive: noFiles},
		{name: "serve's too", args: []string{"serve", "--qname-minimisation", "s"}, want: []string{"strict"}, directive: noFiles},
		{name: "control commands", args: []string{"control", "flush-"}, has: []string{"flush-bogus", "flush-zone"}, lack: []string{"stats"}, directive: noFiles},
		{name: "a file flag completes files", args: []string{"resolve", "--root-hints", ""}, want: nil, directive: ":0"},
		{name: "a directory flag completes directories", args: []string{"resolve", "--sandbox-dir", ""}, want: nil, directive: ":16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, directive := completions(t, tc.args...)
			if tc.has == nil && tc.lack == nil && !slices.Equal(got, tc.want) {
				t.Errorf("offered %q, want %q", got, tc.want)
			}
			for _, w := range tc.has {
				if !slices.Contains(got, w) {
					t.Errorf("%q not offered among %q", w, got)
				}
			}
			for _, w := range tc.lack {
				if slices.Contains(got, w) {
					t.Errorf("%q offered", w)
				}
			}
			if directive != tc.directive {
				t.Errorf("directive %s, want %s", directive, tc.directive)
			}
		})
	}
}

// TestCompletionScripts: `recursor completion SHELL` prints a script
// that calls back into recursor's __complete.
func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		out, err := runCommand(t, "completion", shell)
		if err != nil || !strings.Contains(out, "recursor") || !strings.Contains(out, "__complete") {
			t.Errorf("completion %s: %v\n%.300s", shell, err, out)
		}
	}
}

// TestCompletionOfLaterFlags: an enum flag listed in enumFlags completes
// on any command that defines it (--log-format comes with serve's logging
// options).
func TestCompletionOfLaterFlags(t *testing.T) {
	root := &cobra.Command{Use: "recursor"}
	sub := &cobra.Command{Use: "serve", Run: func(*cobra.Command, []string) {}}
	sub.Flags().String("log-format", "text", "")
	root.AddCommand(sub)
	registerCompletion(root)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"__complete", "serve", "--log-format", ""})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "text\t") || !strings.Contains(out.String(), "\njson\t") {
		t.Errorf("--log-format offers:\n%s", out.String())
	}
}
