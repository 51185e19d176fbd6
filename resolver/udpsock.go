package resolver

import (
	"errors"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// udpSocket is a connected, non-blocking UDP socket opened with raw system
// calls and registered with Go's network poller through os.NewFile. A cold
// resolution opens one per upstream query (a fresh random source port each
// time, for spoofing resistance), and net.Dialer spent a quarter of the
// cold path's CPU on it: address parsing, SO_BROADCAST, getsockname and
// getpeername, and their allocations. This opens, connects and closes with
// the fewest calls the poller allows.
type udpSocket struct {
	file *os.File
	raw  syscall.RawConn
}

// openUDP connects a new socket to server; the kernel binds it to a random
// ephemeral port on connect.
func openUDP(server netip.AddrPort) (*udpSocket, error) {
	family, sa := syscall.AF_INET, syscall.Sockaddr(nil)
	addr := server.Addr().Unmap()
	if addr.Is4() {
		sa = &syscall.SockaddrInet4{Port: int(server.Port()), Addr: addr.As4()}
	} else {
		family = syscall.AF_INET6
		sa = &syscall.SockaddrInet6{Port: int(server.Port()), Addr: addr.As16()}
	}
	fd, err := syscall.Socket(family, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_UDP)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := syscall.Connect(fd, sa); err != nil {
		syscall.Close(fd)
		return nil, os.NewSyscallError("connect", err)
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

// Close closes the socket.
func (s *udpSocket) Close() error { return s.file.Close() }

// Write sends one datagram.
func (s *udpSocket) Write(b []byte) (int, error) {
	var n int
	var werr error
	err := s.raw.Write(func(fd uintptr) bool {
		n, werr = ignoringEINTR(func() (int, error) { return syscall.Write(int(fd), b) })
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
		n, rerr = ignoringEINTR(func() (int, error) { return syscall.Read(int(fd), b) })
		return rerr != syscall.EAGAIN
	})
	if err == nil && rerr != nil {
		err = os.NewSyscallError("read", rerr)
	}
	return n, err
}

func ignoringEINTR(call func() (int, error)) (int, error) {
	for {
		n, err := call()
		if !errors.Is(err, syscall.EINTR) {
			return max(n, 0), err
		}
	}
}
