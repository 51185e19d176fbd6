//go:build !linux

package server

import (
	"errors"
	"syscall"
)

// reusePortSpreads is false: one socket per address (Config.Threads is 1).
const reusePortSpreads = false

func setReusePort(syscall.RawConn) error {
	return errors.New("SO_REUSEPORT sockets are used on Linux only")
}
