//go:build linux && (amd64 || arm64)

package resolver

import (
	"net/netip"
	"os"
	"syscall"
	"time"
	"unsafe"

	"github.com/recursor-dns/recursor/internal/sockaddr"
)

// rawUDP says openUDP is implemented here.
const rawUDP = true

// udpSocket is a connected, non-blocking UDP socket opened with raw system
// calls and registered with Go's network poller through os.NewFile. A cold
// resolution opens one per upstream query (a fresh random source port each
// time, for spoofing resistance), and net.Dialer spent a quarter of the
// cold path's CPU on it: address parsing, SO_BROADCAST, getsockname and
// getpeername, and their allocations. This opens, connects and closes with
// the fewest calls the poller allows.
//
// Its system calls are raw, as the server's are, except the close: the
// runtime's syscall entry wakes sysmon from the deep sleep it falls into
// whenever the process idles, and sysmon then naps every 20 µs on our
// CPU for a millisecond, in the middle of the resolution that woke it.
type udpSocket struct {
	file *os.File
	raw  syscall.RawConn
}

// openUDP connects a new socket to server; the kernel binds it to a random
// ephemeral port on connect.
func openUDP(server netip.AddrPort) (exchangeConn, error) {
	sa := sockaddr.From(server)
	fd, err := syscall.Socket(sa.Family(), syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_UDP)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	// A UDP connect only sets the peer (and binds a random port): it
	// never blocks.
	if _, _, errno := syscall.RawSyscall(syscall.SYS_CONNECT, uintptr(fd), uintptr(sa.Ptr()), sa.Len()); errno != 0 {
		syscall.Close(fd)
		return nil, os.NewSyscallError("connect", errno)
	}
	file := os.NewFile(uintptr(fd), "udp")
	raw, err := file.SyscallConn()
	if err == nil {
		// Fails when the poller did not take the socket: reads could
		// then block past every deadline.
		err = file.SetDeadline(time.Time{})
	}
	if err != nil {
		file.Close()
		return nil, err
	}
	return &udpSocket{file: file, raw: raw}, nil
}

// SetDeadline bounds the reads and writes still to come.
func (s *udpSocket) SetDeadline(t time.Time) error { return s.file.SetDeadline(t) }

// Close closes the socket from a goroutine of its own, which runs once the
// caller's goroutine next waits: the close's system call then wakes sysmon
// as the process goes idle (it goes back to sleep at once) instead of in
// the middle of the work that follows. Nothing is read from or written to
// the socket after Close.
func (s *udpSocket) Close() error {
	go s.file.Close()
	return nil
}

// Write sends one datagram.
func (s *udpSocket) Write(b []byte) (int, error) {
	var n int
	var werr error
	err := s.raw.Write(func(fd uintptr) bool {
		n, werr = rawIO(syscall.SYS_WRITE, fd, b)
		return werr != syscall.EAGAIN
	})
	if err == nil && werr != nil {
		err = os.NewSyscallError("write", werr)
	}
	return n, err
}

// Read waits for one datagram, a zero-length one included, until the
// deadline. Errors queued on the socket, such as ECONNREFUSED after an
// ICMP port unreachable, come back as they are.
func (s *udpSocket) Read(b []byte) (int, error) {
	var n int
	var rerr error
	err := s.raw.Read(func(fd uintptr) bool {
		n, rerr = rawIO(syscall.SYS_READ, fd, b)
		return rerr != syscall.EAGAIN
	})
	if err == nil && rerr != nil {
		err = os.NewSyscallError("read", rerr)
	}
	return n, err
}

// WriteRead sends query and waits for the first datagram back, in one
// poller session: the read readiness is reset before the send, so the
// reply's arrival is never missed, and no read is tried before the send
// could have been answered. A Write then a Read costs one more system call
// per upstream query: the Read's first try, which all but always finds
// nothing yet (EAGAIN).
func (s *udpSocket) WriteRead(query, b []byte) (int, error) {
	var n int
	var ioErr error
	sent := false
	err := s.raw.Read(func(fd uintptr) bool {
		if !sent {
			sent = true
			if _, ioErr = rawIO(syscall.SYS_WRITE, fd, query); ioErr != nil {
				ioErr = os.NewSyscallError("write", ioErr)
				return true
			}
			return false // wait for the reply
		}
		n, ioErr = rawIO(syscall.SYS_READ, fd, b)
		if ioErr == syscall.EAGAIN {
			return false
		}
		if ioErr != nil {
			ioErr = os.NewSyscallError("read", ioErr)
		}
		return true
	})
	if err == nil {
		err = ioErr
	}
	return n, err
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
