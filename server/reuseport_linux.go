package server

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePortSpreads: Linux hashes each client (its addresses and ports) to
// one socket of a SO_REUSEPORT group, so several sockets on one address
// share its load. (The BSDs' SO_REUSEPORT lets the last socket take it
// all; FreeBSD's SO_REUSEPORT_LB would do, untried.)
const reusePortSpreads = true

// setReusePort sets SO_REUSEPORT on the socket c.
func setReusePort(c syscall.RawConn) error {
	var err error
	if cerr := c.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); cerr != nil {
		return cerr
	}
	return err
}
