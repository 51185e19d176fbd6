//go:build unix

// Package cputime reads the CPU time the process has used, for benchmarks
// that report CPU per operation beside wall time: on a shared machine a
// parallel benchmark's CPU per operation shows contention (cores waiting
// on a lock or a cache line), where wall time also counts the waits for a
// core.
package cputime

import (
	"syscall"
	"time"
)

// Process is the CPU time the process has used, user and system; 0 where
// the platform does not say.
func Process() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
