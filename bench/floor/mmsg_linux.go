//go:build linux && (amd64 || arm64)

package main

import (
	"syscall"
	"unsafe"

	"github.com/recursor-dns/recursor/internal/mmsg"
)

const (
	batch     = 32
	querySize = 4096
)

type buffers struct {
	in   [batch]mmsg.Hdr
	iov  [batch]syscall.Iovec
	addr [batch]syscall.RawSockaddrInet6
	data [batch][querySize]byte
	out  [batch]mmsg.Hdr
	oiov [batch]syscall.Iovec
}

// serve answers from inside one long raw.Read callback, as recursor's
// batched reader does: a short batch means the socket is drained, so it
// waits in the poller at once.
func serve(raw syscall.RawConn) error {
	b := new(buffers)
	return raw.Read(func(fd uintptr) bool {
		for {
			n, errno := b.recv(fd)
			if errno != 0 {
				return errno != syscall.EAGAIN && errno != syscall.EINTR
			}
			b.answer(fd, n)
			if n < batch {
				return false
			}
		}
	})
}

func (b *buffers) recv(fd uintptr) (int, syscall.Errno) {
	for i := range batch {
		b.in[i] = mmsg.Hdr{}
		b.iov[i].Base = &b.data[i][0]
		b.iov[i].SetLen(querySize)
		b.in[i].Msghdr.Name = (*byte)(unsafe.Pointer(&b.addr[i]))
		b.in[i].Msghdr.Namelen = uint32(unsafe.Sizeof(b.addr[i]))
		b.in[i].Msghdr.Iov = &b.iov[i]
		b.in[i].Msghdr.Iovlen = 1
	}
	n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.in[0])), batch, syscall.MSG_DONTWAIT, 0, 0)
	return int(n), errno
}

// answer sends the replies to the n queries just read, in one sendmmsg
// (more only if the kernel takes fewer).
func (b *buffers) answer(fd uintptr, n int) {
	out := 0
	for i := range n {
		size := int(b.in[i].Len)
		if b.in[i].Msghdr.Flags&syscall.MSG_TRUNC != 0 || !reply(b.data[i][:size]) {
			continue
		}
		b.oiov[out].Base = &b.data[i][0]
		b.oiov[out].SetLen(size)
		b.out[out] = mmsg.Hdr{}
		b.out[out].Msghdr.Name = (*byte)(unsafe.Pointer(&b.addr[i]))
		b.out[out].Msghdr.Namelen = b.in[i].Msghdr.Namelen
		b.out[out].Msghdr.Iov = &b.oiov[out]
		b.out[out].Msghdr.Iovlen = 1
		out++
	}
	for sent := 0; sent < out; {
		m, _, errno := syscall.RawSyscall6(mmsg.SysSendmmsg, fd, uintptr(unsafe.Pointer(&b.out[sent])), uintptr(out-sent), syscall.MSG_DONTWAIT, 0, 0)
		if errno != 0 || m == 0 {
			sent++ // that reply failed (a vanished client, a full buffer): skip it
			continue
		}
		sent += int(m)
	}
}
