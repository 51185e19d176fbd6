//go:build linux && (amd64 || arm64)

package mmsg

import (
	"runtime"
	"syscall"
)

// SysSendmmsg is sendmmsg's system call number.
var SysSendmmsg = map[string]uintptr{"amd64": 307, "arm64": 269}[runtime.GOARCH]

// Hdr is struct mmsghdr of <sys/socket.h>: one datagram of a recvmmsg or
// sendmmsg, and the bytes the kernel moved for it.
type Hdr struct {
	Msghdr syscall.Msghdr
	Len    uint32
	_      [4]byte
}
