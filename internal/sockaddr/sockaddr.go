//go:build linux

// Package sockaddr owns the raw socket addresses that recursor's raw
// system calls take (connect, sendto) and give (recvmmsg), so that the
// byte order, the family's length and the IPv6 scope are written once.
package sockaddr

import (
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"unsafe"
)

// Raw is a socket address as the kernel reads it, room for either family.
type Raw struct {
	sa  syscall.RawSockaddrInet6
	len uintptr
}

// From encodes ap: AF_INET for an IPv4 (or IPv4-mapped) address, AF_INET6
// otherwise.
func From(ap netip.AddrPort) Raw {
	var r Raw
	port := (*[2]byte)(unsafe.Pointer(&r.sa.Port)) // network byte order
	port[0], port[1] = byte(ap.Port()>>8), byte(ap.Port())
	if addr := ap.Addr().Unmap(); addr.Is4() {
		sa4 := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&r.sa))
		sa4.Family, sa4.Addr = syscall.AF_INET, addr.As4()
		r.len = syscall.SizeofSockaddrInet4
	} else {
		r.sa.Family, r.sa.Addr = syscall.AF_INET6, addr.As16()
		r.sa.Scope_id = scopeID(addr.Zone())
		r.len = syscall.SizeofSockaddrInet6
	}
	return r
}

// ToAddrPort reads an address as the kernel wrote it (recvmmsg's sender),
// and reports false when namelen is short for its family. An IPv6 scope
// comes back as the zone, the interface index in decimal, which From
// turns back into the scope: a link-local client can then be answered.
func ToAddrPort(sa *syscall.RawSockaddrInet6, namelen uint32) (netip.AddrPort, bool) {
	port := func(p uint16) uint16 {
		b := (*[2]byte)(unsafe.Pointer(&p)) // network byte order
		return uint16(b[0])<<8 | uint16(b[1])
	}
	switch sa.Family {
	case syscall.AF_INET:
		sa4 := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port(sa4.Port)), namelen >= syscall.SizeofSockaddrInet4
	case syscall.AF_INET6:
		a := netip.AddrFrom16(sa.Addr).Unmap()
		if sa.Scope_id != 0 && a.Is6() {
			a = a.WithZone(strconv.FormatUint(uint64(sa.Scope_id), 10))
		}
		return netip.AddrPortFrom(a, port(sa.Port)), namelen >= syscall.SizeofSockaddrInet6
	}
	return netip.AddrPort{}, false
}

// scopeID is the interface index a zone names: a link-local address
// means nothing without it. Zones come as the kernel's index in decimal
// (from a received datagram) or as an interface name (from net); one that
// names no interface gives 0, and the kernel refuses a link-local
// destination without a scope.
func scopeID(zone string) uint32 {
	if zone == "" {
		return 0
	}
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n)
	}
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index)
	}
	return 0
}

// Family is AF_INET or AF_INET6.
func (r *Raw) Family() int { return int(r.sa.Family) }

// Ptr points at the address. Convert it to uintptr in the system call's
// argument list itself, as in syscall.RawSyscall(SYS_CONNECT, fd,
// uintptr(sa.Ptr()), sa.Len()): only there does the compiler keep r alive
// and in place for the call (unsafe.Pointer rule 4). A uintptr made
// earlier would point at a variable the compiler may keep on a goroutine
// stack, which moves when the stack grows.
func (r *Raw) Ptr() unsafe.Pointer { return unsafe.Pointer(&r.sa) }

// Len is the address's length for its family, the next argument.
func (r *Raw) Len() uintptr { return r.len }
