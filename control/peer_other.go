//go:build !linux

package control

import "net"

// checkPeer relies on the socket's mode (0600) where peer credentials are
// not read.
func checkPeer(*net.UnixConn) error { return nil }
