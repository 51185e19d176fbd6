//go:build pprof

package main

// An execution trace of the first seconds of a process, for the cold
// path's scheduling under `make bench` (GOFLAGS=-tags=pprof): built only
// with the pprof tag, taken only when RECURSOR_TRACE names a file prefix.
// The trace goes to PREFIX.PID; RECURSOR_TRACE_SECONDS (default 5) bounds
// it. `go tool trace -pprof=sched PREFIX.PID` then says where goroutines
// waited to run.

import (
	"fmt"
	"os"
	"runtime/trace"
	"strconv"
	"time"
)

func init() {
	prefix := os.Getenv("RECURSOR_TRACE")
	if prefix == "" {
		return
	}
	secs, err := strconv.Atoi(os.Getenv("RECURSOR_TRACE_SECONDS"))
	if err != nil || secs <= 0 {
		secs = 5
	}
	f, err := os.Create(fmt.Sprintf("%s.%d", prefix, os.Getpid()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "recursor: trace:", err)
		return
	}
	if err := trace.Start(f); err != nil {
		fmt.Fprintln(os.Stderr, "recursor: trace:", err)
		return
	}
	time.AfterFunc(time.Duration(secs)*time.Second, func() {
		trace.Stop()
		f.Close()
	})
}
