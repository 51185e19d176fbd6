//go:build linux && (amd64 || arm64)

package main

import (
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"github.com/recursor-dns/recursor/internal/sockaddr"
)

// The proxy's system calls on the path of a held query are raw. Through
// syscall.Syscall, the first call after an idle spell wakes the runtime's
// sysmon from deep sleep, and it then naps every 20 µs for a millisecond
// on the CPU the proxy shares with NSD, while NSD answers: measured, that
// added about 0.4 ms to every resolver's cold latency with two round
// trips. Waiting stays in the poller.

// rawWrite writes b to c (a connected socket) without waiting.
func rawWrite(c syscall.Conn, b []byte) error {
	return rawCall(c, false, func(fd uintptr) syscall.Errno {
		_, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		return e
	})
}

// rawRead reads one datagram from c, waiting in the poller until its
// deadline.
func rawRead(c syscall.Conn, b []byte) (int, error) {
	var n uintptr
	err := rawCall(c, true, func(fd uintptr) syscall.Errno {
		var e syscall.Errno
		n, _, e = syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		return e
	})
	return int(n), err
}

// rawSendTo sends b from c to the IPv4 address to.
func rawSendTo(c syscall.Conn, b []byte, to netip.AddrPort) error {
	if !to.Addr().Unmap().Is4() {
		return syscall.EAFNOSUPPORT
	}
	sa := sockaddr.From(to)
	return rawCall(c, false, func(fd uintptr) syscall.Errno {
		_, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)),
			0, uintptr(sa.Ptr()), sa.Len())
		return e
	})
}

// rawCall runs call on c's descriptor until it does not report EAGAIN
// (or EINTR), waiting for readiness in between.
func rawCall(c syscall.Conn, read bool, call func(fd uintptr) syscall.Errno) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	f := func(fd uintptr) bool {
		errno = call(fd)
		return errno != syscall.EAGAIN && errno != syscall.EINTR
	}
	if read {
		err = rc.Read(f)
	} else {
		err = rc.Write(f)
	}
	if err == nil && errno != 0 {
		err = os.NewSyscallError("proxy", errno)
	}
	return err
}
