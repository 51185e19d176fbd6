//go:build linux && (amd64 || arm64)

package server

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"github.com/recursor-dns/recursor/internal/mmsg"
	"github.com/recursor-dns/recursor/internal/sockaddr"
)

// Batched UDP I/O: one recvmmsg reads every query waiting on the socket (up
// to mmsgBatch), the cache hits among them are answered with one sendmmsg.
// On a busy server this takes the per-packet system calls, most of the cost
// of a cache hit, from two to well under one.

const (
	mmsgBatch = 32
)

// mmsgBuffers are one reader's batch: the receive slots and the replies.
type mmsgBuffers struct {
	in      [mmsgBatch]mmsg.Hdr
	inIov   [mmsgBatch]syscall.Iovec
	inAddr  [mmsgBatch]syscall.RawSockaddrInet6 // big enough for either family
	inData  []byte                              // mmsgBatch slots of mmsgQuerySize
	out     [mmsgBatch]mmsg.Hdr
	outIov  [mmsgBatch]syscall.Iovec
	outAddr [mmsgBatch]syscall.RawSockaddrInet6
	outData [mmsgBatch][]byte

	// The poller callbacks and their results, made once so that a batch
	// allocates nothing.
	sendFn       func(fd uintptr) bool
	done         int
	errno        syscall.Errno
	sent, toSend int
}

func newMmsgBuffers(replySize int) *mmsgBuffers {
	b := &mmsgBuffers{inData: make([]byte, mmsgBatch*mmsgQuerySize)}
	b.sendFn = b.sendmmsg
	for i := range mmsgBatch {
		b.inIov[i].Base = &b.inData[i*mmsgQuerySize]
		b.inIov[i].SetLen(mmsgQuerySize)
		b.outData[i] = make([]byte, 0, replySize)
	}
	return b
}

// readUDPBatch serves u with recvmmsg and sendmmsg. It returns false, having
// read nothing, when the socket does not allow it.
func (s *Server) readUDPBatch(ctx context.Context, u *udpSocket) bool {
	if mmsg.SysSendmmsg == 0 {
		return false
	}
	raw := u.raw
	b := newMmsgBuffers(s.cfg.MaxUDPSize)
	// The whole loop runs inside one raw.Read callback, which reports
	// false to wait in the poller. Each new raw.Read clears the socket's
	// readiness before its first call, so a datagram that arrived while a
	// batch was answered would be noticed only by one more recvmmsg
	// returning EAGAIN. Inside the callback, readiness set since the last
	// wait is kept: after a short batch (the socket drained) the reader
	// waits at once, which saves that call, one of four system calls per
	// query at moderate rates.
	serve := func(fd uintptr) bool {
		for {
			n, errno := b.recvmmsg(fd)
			switch {
			case errno == syscall.EAGAIN:
				return false
			case errno != 0:
				b.errno = errno
				return true
			}
			s.answerBatch(ctx, u, raw, b, n)
			if n < mmsgBatch {
				return false
			}
			s.admitBusy(ctx)
			// Shutdown wakes readers with a read deadline, which only
			// the poller's wait sees; under a flood the socket never
			// drains and the wait never comes.
			if s.stopping.Load() {
				return true
			}
		}
	}
	for {
		b.errno = 0
		err := raw.Read(serve)
		if err == nil && b.errno != 0 {
			err = b.errno
		}
		if s.stopping.Load() || errors.Is(err, net.ErrClosed) {
			return true
		}
		s.log.Warn("udp read", "addr", u.conn.LocalAddr(), "err", err)
	}
}

// answerBatch answers the n datagrams of b: cache hits and local answers
// with one sendmmsg, the rest from goroutines once resolved.
func (s *Server) answerBatch(ctx context.Context, u *udpSocket, raw syscall.RawConn, b *mmsgBuffers, n int) {
	replies, started := 0, 0
	for i := range n {
		from, ok := sockaddr.ToAddrPort(&b.inAddr[i], b.in[i].Msghdr.Namelen)
		if !ok {
			continue
		}
		query := b.inData[i*mmsgQuerySize : i*mmsgQuerySize+int(b.in[i].Len)]
		if b.in[i].Msghdr.Flags&syscall.MSG_TRUNC != 0 && len(query) > headerLen {
			query = query[:headerLen] // only the header can be trusted: FORMERR
		}
		if fast, ok := s.answerFast(query, from, TransportUDP, b.outData[replies][:0]); ok {
			b.outData[replies] = fast
			b.outAddr[replies] = b.inAddr[i]
			b.setReply(replies, b.in[i].Msghdr.Namelen)
			replies++
			continue
		}
		received := s.tapNow()
		resp, pending, hit := s.servePacket(query, from, TransportUDP)
		if pending != nil {
			pending.wire = s.keepWire(query)
			s.admitUDP(ctx, u, pending, from, &started)
			continue
		}
		if resp == nil {
			s.tapClient(from, TransportUDP, query, nil, received)
			continue
		}
		out := s.pack(resp, b.outData[replies][:0])
		if out == nil {
			continue
		}
		if hit != nil {
			s.storeAnswer(query, out, hit)
		}
		s.tapClient(from, TransportUDP, query, out, received)
		b.outData[replies] = out
		b.outAddr[replies] = b.inAddr[i]
		b.setReply(replies, b.in[i].Msghdr.Namelen)
		replies++
	}
	if replies > 0 {
		if err := b.send(raw, replies); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Debug("udp write", "addr", u.conn.LocalAddr(), "err", err)
		}
	}
}

// recvmmsg reads the datagrams queued on fd into b's slots, up to
// mmsgBatch, without waiting.
//
// Both recvmmsg and sendmmsg pass MSG_DONTWAIT and never block, so they are
// raw system calls: the runtime's syscall entry would wake sysmon from its
// deep sleep whenever the server had been idle, a futex wake and a train
// of 20 µs naps per query at moderate rates (perf: a third of our CPU per
// cache hit at 20k QPS).
func (b *mmsgBuffers) recvmmsg(fd uintptr) (int, syscall.Errno) {
	for i := range mmsgBatch {
		b.in[i] = mmsg.Hdr{}
		b.in[i].Msghdr.Name = (*byte)(unsafe.Pointer(&b.inAddr[i]))
		b.in[i].Msghdr.Namelen = uint32(unsafe.Sizeof(b.inAddr[i]))
		b.in[i].Msghdr.Iov = &b.inIov[i]
		b.in[i].Msghdr.Iovlen = 1
	}
	n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.in[0])), mmsgBatch, syscall.MSG_DONTWAIT, 0, 0)
	return int(n), errno
}

// sendmmsg is the poller callback of send: it sends b.out[b.sent:b.toSend].
func (b *mmsgBuffers) sendmmsg(fd uintptr) bool {
	n, _, errno := syscall.RawSyscall6(mmsg.SysSendmmsg, fd, uintptr(unsafe.Pointer(&b.out[b.sent])), uintptr(b.toSend-b.sent), syscall.MSG_DONTWAIT, 0, 0)
	b.done, b.errno = int(n), errno
	return errno != syscall.EAGAIN
}

func (b *mmsgBuffers) setReply(i int, namelen uint32) {
	b.outIov[i].Base = &b.outData[i][0]
	b.outIov[i].SetLen(len(b.outData[i]))
	b.out[i] = mmsg.Hdr{}
	b.out[i].Msghdr.Name = (*byte)(unsafe.Pointer(&b.outAddr[i]))
	b.out[i].Msghdr.Namelen = namelen
	b.out[i].Msghdr.Iov = &b.outIov[i]
	b.out[i].Msghdr.Iovlen = 1
}

// send writes the first n replies, in as many sendmmsg calls as it takes.
// A reply the kernel refuses (a vanished client) is skipped.
func (b *mmsgBuffers) send(raw syscall.RawConn, n int) error {
	var firstErr error
	b.sent, b.toSend = 0, n
	for b.sent < n {
		if err := raw.Write(b.sendFn); err != nil {
			return err
		}
		if b.errno != 0 {
			// The reply at b.sent failed on its own; go on with the rest.
			if firstErr == nil {
				firstErr = b.errno
			}
			b.sent++
			continue
		}
		b.sent += b.done
	}
	return firstErr
}

// writeRaw sends b to the client at to with a raw sendto, as the batched
// path does, and reports whether it could (the socket's family must be
// to's); err is set to the outcome. Answers that needed the engine go out
// this way: net's WriteTo enters the runtime's syscall path, which wakes
// sysmon from its deep sleep right before the answer leaves.
func writeRaw(u *udpSocket, b []byte, to netip.AddrPort, err *error) bool {
	if len(b) == 0 || u.is4 != to.Addr().Is4() {
		return false
	}
	sa := sockaddr.From(to)
	var errno syscall.Errno
	werr := u.raw.Write(func(fd uintptr) bool {
		_, _, errno = syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
			syscall.MSG_DONTWAIT, uintptr(sa.Ptr()), sa.Len())
		return errno != syscall.EAGAIN && errno != syscall.EINTR
	})
	switch {
	case werr != nil:
		*err = werr
	case errno != 0:
		*err = os.NewSyscallError("sendto", errno)
	}
	return true
}
