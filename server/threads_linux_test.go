package server

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/recursor-dns/recursor/internal/ports"
)

// kernelSockets counts the sockets the kernel lists in /proc/net/FILE
// (udp, tcp, udp6, tcp6) bound to port; for TCP, the listening ones.
func kernelSockets(t *testing.T, file string, port uint16) int {
	t.Helper()
	f, err := os.Open("/proc/net/" + file)
	if err != nil {
		t.Skipf("no /proc/net/%s: %v", file, err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 {
			continue
		}
		_, hexPort, _ := strings.Cut(fields[1], ":")
		p, err := strconv.ParseUint(hexPort, 16, 16)
		const listening = "0A"
		if err == nil && uint16(p) == port && (!strings.HasPrefix(file, "tcp") || fields[3] == listening) {
			n++
		}
	}
	return n
}

// The kernel sees Threads UDP sockets and TCP listeners on the port while
// the server serves, and none once Serve has returned.
func TestThreadsKernelSockets(t *testing.T) {
	const threads = 4
	s, _ := newTestServer(t, Config{Threads: threads})
	addrs, cancel, served := serveUntilCancelled(t, s)
	port := addrs[0].Port()
	if n := kernelSockets(t, "udp", port); n != threads {
		t.Errorf("/proc/net/udp: %d sockets on port %d, want %d", n, port, threads)
	}
	if n := kernelSockets(t, "tcp", port); n != threads {
		t.Errorf("/proc/net/tcp: %d listeners on port %d, want %d", n, port, threads)
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if n := kernelSockets(t, "udp", port); n != 0 {
		t.Errorf("/proc/net/udp: %d sockets left on port %d after Serve", n, port)
	}
	if n := kernelSockets(t, "tcp", port); n != 0 {
		t.Errorf("/proc/net/tcp: %d listeners left on port %d after Serve", n, port)
	}
}

// Datagrams from many source ports reach more than one socket of a group.
func TestReusePortSpreadsClients(t *testing.T) {
	const threads, clients = 4, 64
	udps, tcps, bound, err := listenPair(netip.MustParseAddrPort("127.0.0.1:0"), threads)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, l := range tcps {
			l.Close()
		}
	})
	received := make(chan int, clients)
	var readers sync.WaitGroup
	for i, u := range udps {
		readers.Go(func() {
			buf := make([]byte, 16)
			for {
				if _, _, err := u.conn.ReadFromUDPAddrPort(buf); err != nil {
					return // closed below
				}
				received <- i
			}
		})
	}
	for range clients {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(bound))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	perSocket := make([]int, threads)
	timeout := time.After(10 * time.Second) // a lost datagram on loopback: fail, not hang
	for range clients {
		select {
		case i := <-received:
			perSocket[i]++
		case <-timeout:
			t.Fatalf("only %v of %d datagrams arrived", perSocket, clients)
		}
	}
	for _, u := range udps {
		u.conn.Close()
	}
	readers.Wait()
	used := 0
	for _, n := range perSocket {
		if n > 0 {
			used++
		}
	}
	// All 64 on one socket of 4 by chance: 4^-63.
	if used < 2 {
		t.Errorf("datagrams per socket %v: the kernel did not spread them", perSocket)
	}
}

// A port another process holds with SO_REUSEPORT is an error, as with one
// socket, not a share of that process's clients.
func TestThreadsPortHeldElsewhere(t *testing.T) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error { return setReusePort(c) }}
	pc, err := lc.ListenPacket(context.Background(), "udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	s, _ := newTestServer(t, Config{Threads: 2, Listen: []string{fmt.Sprintf("127.0.0.1:%d", port)}})
	if _, err := s.Listen(); err == nil {
		s.mu.Lock()
		s.closeListeners()
		s.mu.Unlock()
		t.Fatalf("Listen on port %d, held by another SO_REUSEPORT socket, succeeded", port)
	} else if !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("err = %v, want address already in use", err)
	}
}

// With port 0 and SO_REUSEPORT the server picks its port outside the
// kernel's ephemeral range. A port the kernel picked can be joined by any
// same-user socket that binds port 0 with SO_REUSEPORT: dig's client
// socket did, connected to the server from the server's own port, and
// read its own query back as the answer (a make test failure in CI).
func TestThreadsPortZeroOutsideEphemeralRange(t *testing.T) {
	lo, hi, ok := ports.EphemeralRange()
	if !ok {
		t.Skip("no ephemeral port range on this system")
	}
	for range 5 {
		udps, tcps, bound, err := listenPair(netip.MustParseAddrPort("127.0.0.1:0"), 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range udps {
			u.conn.Close()
		}
		for _, l := range tcps {
			l.Close()
		}
		if p := int(bound.Port()); p >= lo && p <= hi {
			t.Fatalf("bound %v: inside the ephemeral range %d-%d, where a port-0 SO_REUSEPORT socket can join the group", bound, lo, hi)
		}
	}
}
