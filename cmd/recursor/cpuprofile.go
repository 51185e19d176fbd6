//go:build pprof

package main

// A CPU profile of the first seconds of a process, for diagnosing the
// cold path under `make bench` (GOFLAGS=-tags=pprof): built only with the
// pprof tag, and then only when RECURSOR_CPUPROFILE names a file prefix.
// The profile goes to PREFIX.PID, the command line to PREFIX.PID.args;
// RECURSOR_CPUPROFILE_SECONDS (default 5) bounds it, since the bench
// ends servers with a signal that leaves no time to flush one.

import (
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

func init() {
	prefix := os.Getenv("RECURSOR_CPUPROFILE")
	if prefix == "" {
		return
	}
	secs, err := strconv.Atoi(os.Getenv("RECURSOR_CPUPROFILE_SECONDS"))
	if err != nil || secs <= 0 {
		secs = 5
	}
	name := fmt.Sprintf("%s.%d", prefix, os.Getpid())
	f, err := os.Create(name)
	if err != nil {
		fmt.Fprintln(os.Stderr, "recursor: cpu profile:", err)
		return
	}
	_ = os.WriteFile(name+".args", []byte(strings.Join(os.Args, " ")+"\n"), 0o644)
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "recursor: cpu profile:", err)
		return
	}
	time.AfterFunc(time.Duration(secs)*time.Second, func() {
		pprof.StopCPUProfile()
		f.Close()
	})
}
