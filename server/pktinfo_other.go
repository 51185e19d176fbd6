//go:build !linux

package server

import (
	"errors"
	"net"
)

// enablePacketInfo is implemented for Linux only; elsewhere list each
// address to serve on.
func enablePacketInfo(*net.UDPConn, bool) error {
	return errors.New("wildcard listen addresses are supported on Linux only: list each address")
}
