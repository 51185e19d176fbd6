package control

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

// checkPeer refuses a client that runs as another user than the server
// (root aside): the socket's mode says the same, but a socket created in
// a directory others can reach must not depend on it alone.
func checkPeer(c *net.UnixConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if credErr != nil {
		return fmt.Errorf("peer credentials: %w", credErr)
	}
	if uid := os.Getuid(); cred.Uid != 0 && int(cred.Uid) != uid {
		return fmt.Errorf("permission denied: user %d may not control a server of user %d", cred.Uid, uid)
	}
	return nil
}
