//go:build unix

package server

import (
	"syscall"
	"time"
)

// processCPU is the CPU time the test process has used, user and system:
// on a loaded machine it measures a benchmark's cost where wall time also
// counts the waits for a core.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
