// Package mmsg owns the kernel's side of batched datagram I/O on 64-bit
// Linux: struct mmsghdr and the sendmmsg system call number, which the
// syscall package lacks. The server's UDP reader and bench/floor both use
// them, so that the floor does its I/O as the server does. Elsewhere the
// package is empty.
package mmsg
