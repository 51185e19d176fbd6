//go:build linux && (amd64 || arm64)

package server

import (
	"net/netip"
	"syscall"
	"testing"
	"unsafe"

	"github.com/recursor-dns/recursor/internal/sockaddr"
)

// A link-local client's scope must survive the trip from the kernel's
// address to the one answers are sent back to, and must not stop the
// allow list from matching it.
func TestLinkLocalClient(t *testing.T) {
	var sa syscall.RawSockaddrInet6
	sa.Family = syscall.AF_INET6
	sa.Addr = netip.MustParseAddr("fe80::1").As16()
	sa.Scope_id = 3
	port := (*[2]byte)(unsafe.Pointer(&sa.Port))
	port[0], port[1] = 0x14, 0xe9 // 5353

	from, ok := sockaddr.ToAddrPort(&sa, syscall.SizeofSockaddrInet6)
	if !ok || from != netip.MustParseAddrPort("[fe80::1%3]:5353") {
		t.Fatalf("sockaddr.ToAddrPort = %v, %v; want [fe80::1%%3]:5353", from, ok)
	}
	sa.Scope_id = 0
	if from, _ := sockaddr.ToAddrPort(&sa, syscall.SizeofSockaddrInet6); from.Addr().Zone() != "" {
		t.Errorf("no scope: got zone %q", from.Addr().Zone())
	}

	s, err := New(Config{Backend: newFakeBackend(t), Allow: []netip.Prefix{netip.MustParsePrefix("fe80::/10")}})
	if err != nil {
		t.Fatal(err)
	}
	if !s.allowed(netip.MustParseAddr("fe80::1%3")) || !s.allowed(netip.MustParseAddr("fe80::1%eth0")) {
		t.Error("a zoned link-local client is refused by an allow list of fe80::/10")
	}
	if s.allowed(netip.MustParseAddr("2001:db8::1%3")) {
		t.Error("2001:db8::1%3 allowed by fe80::/10")
	}
}
