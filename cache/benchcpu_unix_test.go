//go:build unix

package cache

import (
	"syscall"
	"time"
)

// processCPU is the CPU time the test process has used, user and system:
// on a shared machine a parallel benchmark's CPU per operation shows
// contention (cores waiting on a lock or a cache line) where wall time
// also counts the waits for a core.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
