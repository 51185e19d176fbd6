//go:build !(linux && (amd64 || arm64))

package main

import (
	"net"
	"net/netip"
	"syscall"
)

// Elsewhere the proxy's calls go through net (see rawio_linux.go).

func rawWrite(c syscall.Conn, b []byte) error {
	_, err := c.(net.Conn).Write(b)
	return err
}

func rawRead(c syscall.Conn, b []byte) (int, error) { return c.(net.Conn).Read(b) }

func rawSendTo(c syscall.Conn, b []byte, to netip.AddrPort) error {
	_, err := c.(*net.UDPConn).WriteToUDPAddrPort(b, to)
	return err
}
