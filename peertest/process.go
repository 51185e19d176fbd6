package peertest

import (
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Recursor is a `recursor serve` process that a test stops and starts
// again (StartRecursor's processes live until the test ends).
type Recursor struct {
	Addr string // where it answers DNS
	cmd  *exec.Cmd
	out  *LockedBuffer
	done chan struct{}
}

// StartRecursorProcess runs `recursor serve --listen ADDR
// --upstream-loopback-only` with args, on a free loopback port, and
// returns the process once it answers; Stop ends it, and so does the
// test's end.
func StartRecursorProcess(tb testing.TB, args ...string) *Recursor {
	tb.Helper()
	r := &Recursor{Addr: "127.0.0.1:" + strconv.Itoa(FreePort(tb)), out: &LockedBuffer{}, done: make(chan struct{})}
	r.cmd = exec.Command(RecursorBinary(tb), append([]string{"serve", "--listen", r.Addr, "--upstream-loopback-only", "--allow-root"}, args...)...)
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		tb.Fatalf("start recursor: %v", err)
	}
	go func() { r.cmd.Wait(); close(r.done) }()
	tb.Cleanup(func() { r.Stop(tb) })
	WaitForDNS(tb, r.Addr, r.out.String)
	return r
}

// Output is what the process logged so far.
func (r *Recursor) Output() string { return r.out.String() }

// Stop sends SIGTERM and waits for the process to end (a graceful
// shutdown), failing the test after 5 s or when it queried outside
// loopback. Stopping twice is harmless.
func (r *Recursor) Stop(tb testing.TB) {
	tb.Helper()
	select {
	case <-r.done:
		return
	default:
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		r.cmd.Process.Kill()
		<-r.done
		tb.Errorf("recursor serve did not stop within 5 s of SIGTERM; output:\n%s", r.Output())
	}
	if strings.Contains(r.Output(), "not a loopback address") {
		tb.Errorf("recursor serve tried to query outside loopback; output:\n%s", r.Output())
	}
	if r.cmd.ProcessState.ExitCode() != 0 {
		tb.Errorf("recursor serve exited %d; output:\n%s", r.cmd.ProcessState.ExitCode(), r.Output())
	}
}

// Signal sends sig to the process.
func (r *Recursor) Signal(sig syscall.Signal) error { return r.cmd.Process.Signal(sig) }
