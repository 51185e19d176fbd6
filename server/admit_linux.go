//go:build linux && (amd64 || arm64)

package server

import (
	"context"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// Admission of the UDP queries that need the engine, oldest first.
//
// When cold queries arrive faster than one CPU resolves them, starting each
// on arrival puts every walk in flight at once: Go's scheduler runs what is
// runnable, then polls the network, so each walk takes one step per pass
// over all of them and every query waits for every other one. At 100 in
// flight the first hundred names of a fresh server all finished together,
// 27-37 ms after they came, and made the whole p99. Here the readers start
// a query at once only while nothing waits; otherwise they queue it, and
// the dispatcher starts admitBatch of the oldest each time the scheduler
// finds nothing else to run: its wake-up is an eventfd in Go's poller, which
// the scheduler polls only when its run queue is empty (or from sysmon
// every 10 ms). The walks in flight then take their steps first, the
// number in flight grows until the CPU is busy, and the rest wait in
// arrival order, as in Unbound's one event loop.

// admitBatch is how many queued queries start per pass of the scheduler,
// and how many a reader's batch may start without queueing.
const admitBatch = 4

// admission is the queue of UDP queries waiting to start and the eventfd
// that wakes the dispatcher.
type admission struct {
	efd  int
	file *os.File // efd, in Go's poller
	raw  syscall.RawConn

	mu    sync.Mutex
	queue []admitted // oldest first, from head
	head  int
	// armed: the dispatcher has been told to run; the queue is its, and
	// readers append to it rather than start queries themselves.
	armed bool
}

// admitted is a query that waits for the engine, and where to answer it.
type admitted struct {
	u  *udpSocket
	q  *query
	to netip.AddrPort
}

// newAdmission opens the dispatcher's eventfd; nil when it cannot, and
// queries then start on arrival.
func newAdmission() *admission {
	fd, _, errno := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		return nil
	}
	file := os.NewFile(fd, "admission")
	raw, err := file.SyscallConn()
	if err == nil {
		// Fails when the poller did not take the descriptor.
		err = file.SetReadDeadline(time.Time{})
	}
	if err != nil {
		file.Close()
		return nil
	}
	return &admission{efd: int(fd), file: file, raw: raw}
}

// admitUDP starts q, or queues it behind the queries already waiting.
// started counts the queries the caller's batch has started itself.
func (s *Server) admitUDP(ctx context.Context, u *udpSocket, q *query, to netip.AddrPort, started *int) {
	a := s.admit
	if a == nil {
		s.answerLater(ctx, u, q, to, nil)
		return
	}
	a.mu.Lock()
	if !a.armed && *started < admitBatch {
		a.mu.Unlock()
		*started++
		s.answerLater(ctx, u, q, to, nil)
		return
	}
	if a.head > 0 && 2*a.head >= len(a.queue) {
		// Move the waiting queries down, so that the queue does not
		// grow while it never empties.
		n := copy(a.queue, a.queue[a.head:])
		clear(a.queue[n:])
		a.queue, a.head = a.queue[:n], 0
	}
	a.queue = append(a.queue, admitted{u, q, to})
	wake := !a.armed
	a.armed = true
	a.mu.Unlock()
	if wake {
		a.notify()
	}
}

// dispatch starts queued queries, admitBatch at a time, each time the
// poller reports the eventfd, until stop. The whole loop is one poller
// callback: readiness reported while a batch starts is kept for the next
// wait.
func (s *Server) dispatch(ctx context.Context) {
	a := s.admit
	var (
		count [8]byte
		batch [admitBatch]admitted
	)
	a.raw.Read(func(fd uintptr) bool {
		if s.stopping.Load() {
			return true
		}
		// The count only says that there was a wake-up; a stale one
		// finds an empty queue.
		syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&count[0])), uintptr(len(count)))
		n, more := a.next(&batch)
		for i := range n {
			s.answerLater(ctx, batch[i].u, batch[i].q, batch[i].to, nil)
			batch[i] = admitted{}
		}
		if more {
			a.notify()
		}
		return false
	})
}

// admitBusy starts admitBatch of the oldest queued queries from a reader
// whose socket did not drain. Such a reader does not wait in the poller,
// and under a flood the scheduler then polls the network only from
// sysmon, every 10 ms: 400 queries a second would start.
func (s *Server) admitBusy(ctx context.Context) {
	a := s.admit
	if a == nil {
		return
	}
	// When this empties the queue, the dispatcher's pending wake-up
	// finds nothing.
	var batch [admitBatch]admitted
	n, _ := a.next(&batch)
	for i := range n {
		s.answerLater(ctx, batch[i].u, batch[i].q, batch[i].to, nil)
	}
}

// next takes up to admitBatch of the oldest queries off the queue and
// reports whether more wait; when none do, the readers start queries
// themselves again.
func (a *admission) next(batch *[admitBatch]admitted) (n int, more bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n = copy(batch[:], a.queue[a.head:])
	clear(a.queue[a.head : a.head+n])
	a.head += n
	if a.head == len(a.queue) {
		a.queue, a.head = a.queue[:0], 0
		a.armed = false
		return n, false
	}
	return n, true
}

// startAdmission opens the queue and starts its dispatcher among the
// readers; queries start on arrival when it cannot.
func (s *Server) startAdmission(ctx context.Context, readers *sync.WaitGroup) {
	if s.admit = newAdmission(); s.admit != nil {
		readers.Go(func() { s.dispatch(ctx) })
	}
}

// stopAdmission wakes the dispatcher to stop; s.stopping is set.
func (s *Server) stopAdmission(now time.Time) {
	if s.admit != nil {
		s.admit.file.SetReadDeadline(now)
	}
}

// flushAdmission starts every query still queued, once the readers and
// the dispatcher have stopped, and closes the eventfd.
func (s *Server) flushAdmission(ctx context.Context) {
	a := s.admit
	if a == nil {
		return
	}
	a.mu.Lock()
	rest := a.queue[a.head:]
	a.queue, a.head, a.armed = nil, 0, false
	a.mu.Unlock()
	for _, p := range rest {
		s.answerLater(ctx, p.u, p.q, p.to, nil)
	}
	a.file.Close()
}

// notify makes the eventfd readable, for the poller's next pass.
func (a *admission) notify() {
	one := uint64(1)
	syscall.RawSyscall(syscall.SYS_WRITE, uintptr(a.efd), uintptr(unsafe.Pointer(&one)), 8)
}
