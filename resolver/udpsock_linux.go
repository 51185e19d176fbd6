//go:build linux && (amd64 || arm64)

package resolver

import (
	"context"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/recursor-dns/recursor/internal/sockaddr"
)

// rawUDP says openUDP is implemented here.
const rawUDP = true

// udpSocket is a connected, non-blocking UDP socket opened with raw system
// calls. A cold resolution opens one per upstream query (a fresh random
// source port each time, for spoofing resistance), so what a socket costs
// to open, watch and close is a large share of the cold path: net.Dialer
// spent a quarter of it, and os.NewFile, which registers a socket with
// Go's poller, still cost an fcntl, an epoll_ctl to add and another to
// remove, a finalizer and a poll descriptor per socket. Instead, every
// upstream socket is watched by one epoll instance of our own (upstream),
// which Go's poller watches in turn: a socket costs socket, connect,
// epoll_ctl, write, read and close, and the close drops it from the
// instance by itself.
//
// Every call is raw: the runtime's syscall entry wakes sysmon from the
// deep sleep it falls into whenever the process idles, and sysmon then
// naps every 20 µs on our CPU for a millisecond, in the middle of the
// resolution that woke it.
type udpSocket struct {
	fd int
	// wake gets a token when the socket may have become readable, and
	// when the deadline moves: every wait reads again or checks it.
	wake     chan struct{}
	deadline atomic.Int64 // Unix nanoseconds, 0 for none
	waiting  atomic.Bool  // a wait is in progress
	// timer ends a wait at the deadline; stopped between waits.
	timer *time.Timer
}

// udpSockets keeps closed udpSockets for the next exchange, with their
// wake channel and timer: making a channel and a timer for every socket
// and every wait was 0.27 s of a cold bench's 19.65 s. Only the Go
// object is reused; each exchange still opens a fresh descriptor, on a
// fresh random port.
var udpSockets = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &udpSocket{fd: -1, wake: make(chan struct{}, 1), timer: t}
}}

// openUDP connects a new socket to server; the kernel binds it to a random
// ephemeral port on connect.
func openUDP(server netip.AddrPort) (exchangeConn, error) {
	p, err := upstream.get()
	if err != nil {
		return nil, err
	}
	sa := sockaddr.From(server)
	fd, err := syscall.Socket(sa.Family(), syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_UDP)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	// A UDP connect only sets the peer (and binds a random port): it
	// never blocks.
	if _, _, errno := syscall.RawSyscall(syscall.SYS_CONNECT, uintptr(fd), uintptr(sa.Ptr()), sa.Len()); errno != 0 {
		rawClose(fd)
		return nil, os.NewSyscallError("connect", errno)
	}
	s := udpSockets.Get().(*udpSocket)
	s.fd = fd
	if err := p.watch(s); err != nil {
		s.fd = -1
		udpSockets.Put(s)
		rawClose(fd)
		return nil, err
	}
	return s, nil
}

// SetDeadline bounds the reads and writes still to come, and wakes a wait
// in progress to look at the new deadline (a cancelled context sets a
// past one). The wait sets waiting before it reads the deadline, and this
// stores the deadline before it reads waiting: either the wait sees the
// new deadline or it gets a token.
func (s *udpSocket) SetDeadline(t time.Time) error {
	var d int64
	if !t.IsZero() {
		d = t.UnixNano()
	}
	if old := s.deadline.Swap(d); old != d && s.waiting.Load() {
		s.notify()
	}
	return nil
}

// notify hands the socket's waiter a token, unless one is waiting already.
func (s *udpSocket) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Close stops watching the socket, closes it, and gives s back to
// udpSockets. Nothing may use s after Close: neither the caller, nor the
// poller (forget returns once it can no longer wake s), nor a deadline
// mover (the raw path has none, see dial). A second Close does nothing.
func (s *udpSocket) Close() error {
	if s.fd < 0 {
		return nil
	}
	upstream.forget(s)
	rawClose(s.fd)
	s.fd = -1
	s.deadline.Store(0)
	select {
	case <-s.wake: // a token for this socket's last life
	default:
	}
	udpSockets.Put(s)
	return nil
}

// Write sends one datagram. A UDP send on a fresh socket does not wait
// for room; EAGAIN is an error like any other.
func (s *udpSocket) Write(b []byte) (int, error) {
	return s.write(b, time.Now().UnixNano())
}

// write is Write with the clock read at now (UnixNano).
func (s *udpSocket) write(b []byte, now int64) (int, error) {
	if s.expired(now) {
		return 0, os.ErrDeadlineExceeded
	}
	n, err := rawIO(syscall.SYS_WRITE, uintptr(s.fd), b)
	if err != nil {
		return n, os.NewSyscallError("write", err)
	}
	return n, nil
}

// Read waits for one datagram, a zero-length one included, until the
// deadline. Errors queued on the socket, such as ECONNREFUSED after an
// ICMP port unreachable, come back as they are.
func (s *udpSocket) Read(b []byte) (int, error) {
	return s.ReadContext(context.Background(), b)
}

// ReadContext is Read, ended also when ctx is done
// (os.ErrDeadlineExceeded, as a cancelled net.Conn read).
func (s *udpSocket) ReadContext(ctx context.Context, b []byte) (int, error) {
	done := ctx.Done()
	for {
		n, err := rawIO(syscall.SYS_READ, uintptr(s.fd), b)
		if err != syscall.EAGAIN {
			if err != nil {
				return n, os.NewSyscallError("read", err)
			}
			return n, nil
		}
		if err := s.wait(done, 0); err != nil {
			return 0, err
		}
	}
}

// WriteRead sends query and waits for the first datagram back. The socket
// is watched before the send, so the reply's arrival is never missed, and
// no read is tried before the send could have been answered: a Write then
// a Read would cost one more system call per upstream query, the Read's
// first try, which all but always finds nothing yet (EAGAIN). The wait
// ends also when ctx is done: the socket watches ctx.Done() itself, which
// costs less than a context.AfterFunc per exchange to move its deadline.
//
// start, a reading of the clock taken just before (zero: read here),
// serves the send's deadline check and the wait's first timer (time.Now
// is a vDSO call, slow on a KVM guest): that timer may fire as much later
// as passed since start, microseconds on a timeout of milliseconds.
func (s *udpSocket) WriteRead(ctx context.Context, start time.Time, query, b []byte) (int, error) {
	if start.IsZero() {
		start = time.Now()
	}
	now := start.UnixNano()
	if _, err := s.write(query, now); err != nil {
		return 0, err
	}
	if err := s.wait(ctx.Done(), now); err != nil {
		return 0, err
	}
	return s.ReadContext(ctx, b)
}

// expired says whether the deadline has passed at now (UnixNano).
func (s *udpSocket) expired(now int64) bool {
	d := s.deadline.Load()
	return d != 0 && now >= d
}

// wait returns when the socket may have become readable (a token may be
// stale: the caller reads again and waits again on EAGAIN), or with
// os.ErrDeadlineExceeded once the deadline has passed or done is closed
// (a nil done never is). now, unless zero, is a reading of the clock
// (UnixNano) that its first look at the deadline uses.
func (s *udpSocket) wait(done <-chan struct{}, now int64) error {
	s.waiting.Store(true)
	defer s.waiting.Store(false)
	for {
		d := s.deadline.Load()
		if d == 0 {
			select {
			case <-s.wake:
				return nil
			case <-done:
				return os.ErrDeadlineExceeded
			}
		}
		if now == 0 {
			now = time.Now().UnixNano()
		}
		left := time.Duration(d - now)
		now = 0 // a later look reads the clock anew
		if left <= 0 {
			return os.ErrDeadlineExceeded
		}
		// Stopped timers deliver nothing stale since Go 1.23: Reset
		// needs no drain.
		s.timer.Reset(left)
		select {
		case <-s.wake:
			// Readable, or the deadline moved: the caller reads, and
			// on EAGAIN waits again, looking at the deadline anew.
			s.timer.Stop()
			return nil
		case <-done:
			s.timer.Stop()
			return os.ErrDeadlineExceeded
		case <-s.timer.C:
		}
	}
}

// upstream is the epoll instance that watches every upstream UDP socket of
// the process, opened on first use.
var upstream upstreamPoller

// upstreamPoller owns an epoll instance of its own, registered with Go's
// poller, and a goroutine that waits on it and wakes the exchanges whose
// sockets became readable. The goroutine is the process's, like the
// runtime's own poller: it starts with the first upstream exchange and
// waits in the poller, costing nothing, whenever no reply is due.
//
// Sockets are added edge-triggered for input only (Go's poller adds every
// descriptor for output too, and each send then queued a writable event
// nobody waits for); an exchange reads until EAGAIN before it waits again.
type upstreamPoller struct {
	mu      sync.Mutex
	ready   bool // epfd and file are open and run is running
	epfd    int
	file    *os.File
	waiters map[int32]*udpSocket // by descriptor; guarded by mu
}

// get opens the instance and starts its goroutine on first use.
func (p *upstreamPoller) get() (*upstreamPoller, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ready {
		return p, nil
	}
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	// Non-blocking, so that os.NewFile hands it to Go's poller.
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	file := os.NewFile(uintptr(epfd), "upstream-epoll")
	raw, err := file.SyscallConn()
	if err == nil {
		// Fails when the poller did not take the descriptor.
		err = file.SetDeadline(time.Time{})
	}
	if err != nil {
		file.Close()
		return nil, err
	}
	p.epfd, p.file, p.waiters, p.ready = epfd, file, map[int32]*udpSocket{}, true
	go p.run(raw)
	return p, nil
}

// watch adds s to the instance, edge-triggered for input.
func (p *upstreamPoller) watch(s *udpSocket) error {
	p.mu.Lock()
	p.waiters[int32(s.fd)] = s
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | epollET, Fd: int32(s.fd)}
	if _, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_CTL, uintptr(p.epfd), syscall.EPOLL_CTL_ADD,
		uintptr(s.fd), uintptr(unsafe.Pointer(&ev)), 0, 0); errno != 0 {
		p.forget(s)
		return os.NewSyscallError("epoll_ctl", errno)
	}
	return nil
}

// epollET is syscall.EPOLLET as the uint32 of an event mask (the
// constant is negative in package syscall).
const epollET = 1 << 31

// forget stops waking s. Its descriptor leaves the instance when closed.
func (p *upstreamPoller) forget(s *udpSocket) {
	p.mu.Lock()
	if p.waiters[int32(s.fd)] == s {
		delete(p.waiters, int32(s.fd))
	}
	p.mu.Unlock()
}

// run waits on the instance in Go's poller and wakes the owner of every
// socket it reports, draining the instance each time: the instance is
// itself edge-triggered in Go's poller, so it signals again only once its
// ready list has been emptied.
func (p *upstreamPoller) run(raw syscall.RawConn) {
	var events [128]syscall.EpollEvent
	raw.Read(func(uintptr) bool {
		for {
			n, errno := epollWaitNow(p.epfd, events[:])
			if errno == syscall.EINTR {
				continue
			}
			if errno != 0 || n == 0 {
				return errno != 0 && errno != syscall.EAGAIN
			}
			p.mu.Lock()
			for _, ev := range events[:n] {
				if s := p.waiters[ev.Fd]; s != nil {
					s.notify()
				}
			}
			p.mu.Unlock()
			if n < len(events) {
				return false
			}
		}
	})
	// Only a broken instance gets here: exchanges then end at their
	// deadlines, and the next ones open a new instance.
	p.mu.Lock()
	p.ready = false
	p.file.Close()
	for _, s := range p.waiters {
		s.notify()
	}
	p.mu.Unlock()
}

// epollWaitNow collects the ready events of epfd without waiting.
func epollWaitNow(epfd int, events []syscall.EpollEvent) (int, syscall.Errno) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])),
		uintptr(len(events)), 0, 0, 0)
	return int(n), errno
}

// rawClose closes fd with a raw system call: closing a UDP socket never
// blocks.
func rawClose(fd int) {
	syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(fd), 0, 0)
}

// rawIO reads or writes b on the non-blocking fd with a raw system call,
// retrying on EINTR.
func rawIO(call, fd uintptr, b []byte) (int, error) {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	for {
		n, _, errno := syscall.RawSyscall(call, fd, uintptr(p), uintptr(len(b)))
		switch errno {
		case 0:
			return int(n), nil
		case syscall.EINTR:
			continue
		}
		return 0, errno
	}
}
