//go:build linux

package sockaddr

import (
	"net"
	"net/netip"
	"syscall"
	"testing"
	"unsafe"
)

func TestFrom(t *testing.T) {
	for _, tc := range []struct {
		in     string
		family int
		len    uintptr
	}{
		{"127.0.0.1:53", syscall.AF_INET, syscall.SizeofSockaddrInet4},
		{"[::ffff:127.0.0.1]:53", syscall.AF_INET, syscall.SizeofSockaddrInet4},
		{"[::1]:5353", syscall.AF_INET6, syscall.SizeofSockaddrInet6},
	} {
		ap := netip.MustParseAddrPort(tc.in)
		r := From(ap)
		if r.Family() != tc.family || r.Len() != tc.len {
			t.Errorf("%s: family %d, length %d; want %d, %d", tc.in, r.Family(), r.Len(), tc.family, tc.len)
		}
		b := (*[2]byte)(unsafe.Pointer(&r.sa.Port))
		if got := uint16(b[0])<<8 | uint16(b[1]); got != ap.Port() {
			t.Errorf("%s: port %d in network order, want %d", tc.in, got, ap.Port())
		}
		var got netip.Addr
		if tc.family == syscall.AF_INET {
			got = netip.AddrFrom4((*syscall.RawSockaddrInet4)(unsafe.Pointer(&r.sa)).Addr)
		} else {
			got = netip.AddrFrom16(r.sa.Addr)
		}
		if got != ap.Addr().Unmap() {
			t.Errorf("%s: address %s", tc.in, got)
		}
	}
}

func TestFromScope(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skip("no interface named lo:", err)
	}
	for _, tc := range []struct {
		in   string
		want uint32
	}{
		{"[fe80::1%7]:53", 7},
		{"[fe80::1%lo]:53", uint32(lo.Index)},
		{"[fe80::1]:53", 0},
		{"[fe80::1%no-such-interface]:53", 0},
	} {
		r := From(netip.MustParseAddrPort(tc.in))
		if r.sa.Scope_id != tc.want {
			t.Errorf("%s: scope %d, want %d", tc.in, r.sa.Scope_id, tc.want)
		}
	}
}
