package server

import (
	"net"
	"syscall"
)

// enablePacketInfo asks the kernel to report each datagram's destination
// address (IP_PKTINFO, IPV6_RECVPKTINFO), which miekg/dns's SessionUDP
// reads and uses as the source of the reply.
func enablePacketInfo(conn *net.UDPConn, v4 bool) error {
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		if v4 {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_PKTINFO, 1)
		} else {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_RECVPKTINFO, 1)
		}
	})
	if err != nil {
		return err
	}
	return serr
}
