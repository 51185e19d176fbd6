// Command recursor is an iterative recursive DNS resolver: `recursor
// resolve` answers one question from the command line, `recursor serve`
// answers clients on UDP and TCP.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Exit codes, as dig's: 0 when an answer came (NXDOMAIN and NODATA
// included), exitUsage for a bad command line or config value (and any
// other error), exitNoAnswer when no answer could be had (SERVFAIL: no
// reachable server, a limit, a validation failure), in --json mode too.
const (
	exitUsage    = 1
	exitNoAnswer = 9
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		var se silentExit
		if !errors.As(err, &se) {
			fmt.Fprintln(os.Stderr, "recursor:", err)
		}
		os.Exit(exitCode(err))
	}
}

// exitCode is the exit status for a command's error.
func exitCode(err error) int {
	var se silentExit
	var na noAnswer
	switch {
	case err == nil:
		return 0
	case errors.As(err, &se):
		return se.code
	case errors.As(err, &na):
		return exitNoAnswer
	}
	return exitUsage
}

// silentExit ends the program with code, the output having said why.
type silentExit struct{ code int }

func (e silentExit) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// noAnswer is a resolution that failed (SERVFAIL): the command line was
// right, the name could not be resolved.
type noAnswer struct{ err error }

func (e noAnswer) Error() string { return e.err.Error() }
func (e noAnswer) Unwrap() error { return e.err }

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "recursor",
		Short:         "An iterative recursive DNS resolver",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newResolveCommand(), newVersionCommand())
	for _, extra := range extraCommands {
		root.AddCommand(extra())
	}
	registerCompletion(root)
	return root
}

// extraCommands are added by other files of this package (serve).
var extraCommands []func() *cobra.Command

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "recursor", version())
		},
	}
}

// version is the module version of the build and the Go that built it.
// Built from a git checkout (make build), Go writes the commit into the
// version (v0.0.0-DATE-COMMIT, +dirty for local changes); a build without
// VCS stamping gets the revision appended when Go recorded one.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	v := info.Main.Version
	if v == "" || v == "(devel)" {
		v = "(devel)"
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
	}
	return v + " " + info.GoVersion
}
