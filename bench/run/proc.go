package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procs tracks every long-running child (NSD, the resolvers, the proxy) so
// that all of them are stopped however the run ends. Children also get
// SIGKILL from the kernel if the runner dies first (Pdeathsig).
type procs struct {
	mu      sync.Mutex
	running map[int]*proc
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, valid once done is closed
	log  *os.File
}

func newProcs() *procs { return &procs{running: map[int]*proc{}} }

// start runs argv in the background with its stdout and stderr in logPath.
func (ps *procs) start(name, logPath string, argv []string) (*proc, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: log}
	go func() {
		p.err = cmd.Wait()
		log.Close()
		close(p.done)
	}()
	ps.mu.Lock()
	ps.running[cmd.Process.Pid] = p
	ps.mu.Unlock()
	return p, nil
}

// exited reports whether p has ended, and how.
func (p *proc) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop ends p: SIGTERM to its process group, SIGKILL after grace.
func (ps *procs) stop(p *proc, grace time.Duration) {
	pid := p.pid()
	syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-p.done
	}
	ps.mu.Lock()
	delete(ps.running, pid)
	ps.mu.Unlock()
}

// stopAll stops every child still running.
func (ps *procs) stopAll() {
	ps.mu.Lock()
	var all []*proc
	for _, p := range ps.running {
		all = append(all, p)
	}
	ps.mu.Unlock()
	for _, p := range all {
		ps.stop(p, 3*time.Second)
	}
}

// runOutput runs argv to completion within timeout and returns its
// combined output, and the CPU time it used (user+system).
func runOutput(ctx context.Context, timeout time.Duration, argv []string) (string, time.Duration, error) {
	return runInput(ctx, timeout, "", argv)
}

// runInput is runOutput with stdin.
func runInput(ctx context.Context, timeout time.Duration, stdin string, argv []string) (string, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	var cpu time.Duration
	if cmd.ProcessState != nil {
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if ctx.Err() != nil {
		return string(out), cpu, fmt.Errorf("%s: gave up after %v", argv[0], timeout)
	}
	if err != nil {
		return string(out), cpu, fmt.Errorf("%s: %w: %s", argv[0], err, lastLines(string(out), 3))
	}
	return string(out), cpu, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// threadCPU is the on-CPU time of each thread of a process, in
// nanoseconds, keyed by thread ID.
type threadCPU map[int]int64

// readThreadCPU reads the scheduler's own count of each thread's run time
// from /proc/PID/task/TID/schedstat. utime+stime in /proc/PID/stat is
// sampled at the timer tick (250 Hz on these machines, no
// VIRT_CPU_ACCOUNTING): a 2 s slice at 20k QPS holds ~75 samples of 4 ms,
// so ±12% from sampling alone, and that moved the CPU-per-hit ratio by
// ±0.07 from run to run.
func readThreadCPU(pid int) (threadCPU, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	t := threadCPU{}
	for _, e := range entries {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, e.Name(), "schedstat"))
		if errors.Is(err, fs.ErrNotExist) {
			continue // the thread ended between the listing and the read
		}
		if err != nil {
			return nil, err
		}
		ns, err := parseSchedstat(string(raw))
		if err != nil {
			return nil, err
		}
		t[tid] = ns
	}
	if len(t) == 0 {
		return nil, fmt.Errorf("%s: no threads", dir)
	}
	return t, nil
}

// parseSchedstat reads the first field of a schedstat line: time on the
// CPU, in nanoseconds.
func parseSchedstat(line string) (int64, error) {
	f := strings.Fields(line)
	if len(f) < 1 {
		return 0, errors.New("schedstat: empty")
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("schedstat: %w", err)
	}
	return ns, nil
}

// since is the CPU time the threads used after earlier was read. A thread
// that ended in between took its time with it: that is an error rather
// than an undercount.
func (t threadCPU) since(earlier threadCPU) (time.Duration, error) {
	var ns int64
	for tid, before := range earlier {
		now, ok := t[tid]
		if !ok {
			return 0, fmt.Errorf("thread %d ended during the measurement", tid)
		}
		ns += now - before
	}
	for tid, now := range t {
		if _, ok := earlier[tid]; !ok {
			ns += now // started during the measurement
		}
	}
	return time.Duration(ns), nil
}

// onlineCPUs counts the machine's online CPUs from sysfs ("0-1", "0,2-3"),
// or falls back to those this process may run on.
func onlineCPUs() int {
	raw, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return runtime.NumCPU()
	}
	n, err := countCPUList(strings.TrimSpace(string(raw)))
	if err != nil || n == 0 {
		return runtime.NumCPU()
	}
	return n
}

// countCPUList counts the CPUs of a kernel CPU list such as "0-3,6".
func countCPUList(list string) (int, error) {
	n := 0
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return 0, fmt.Errorf("cpu list %q: %w", list, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0, fmt.Errorf("cpu list %q: bad range %q", list, part)
			}
		}
		n += b - a + 1
	}
	return n, nil
}

// rssBytes reads VmRSS from /proc/PID/status.
func rssBytes(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseStatusRSS(string(raw))
}

func parseStatusRSS(status string) (int64, error) {
	for _, line := range strings.Split(status, "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("/proc status: odd VmRSS line %q", line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc status: %w", err)
		}
		return kb * 1024, nil
	}
	return 0, errors.New("/proc status: no VmRSS")
}

// cpuSplit is what /proc says of a process beyond its run time: user and
// system ticks (sampled at the tick, so only shares over seconds mean
// anything), its threads' context switches, voluntary and not, and its
// minor page faults.
type cpuSplit struct {
	user, system int64 // clock ticks, all threads
	switches     int64
	faults       int64 // minor page faults, all threads
}

// readCPUSplit reads pid's user and system ticks from /proc/PID/stat and
// sums its threads' context switches from /proc/PID/task/*/status.
func readCPUSplit(pid int) (cpuSplit, error) {
	var s cpuSplit
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// Fields after the command name, which may hold spaces: state is
	// field 3, minflt 10, utime 14 and stime 15.
	i := strings.LastIndexByte(string(raw), ')')
	f := strings.Fields(string(raw)[i+1:])
	if i < 0 || len(f) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: too short", pid)
	}
	if s.faults, err = strconv.ParseInt(f[7], 10, 64); err != nil {
		return s, err
	}
	if s.user, err = strconv.ParseInt(f[11], 10, 64); err != nil {
		return s, err
	}
	if s.system, err = strconv.ParseInt(f[12], 10, 64); err != nil {
		return s, err
	}
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil {
		return s, err
	}
	for _, t := range tasks {
		status, err := os.ReadFile(t)
		if err != nil {
			continue // the thread ended
		}
		for _, line := range strings.Split(string(status), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				s.switches += n
			}
		}
	}
	return s, nil
}
