package server

import (
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

func TestThreadsDefault(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	want := runtime.GOMAXPROCS(0)
	if !reusePortSpreads {
		want = 1
	}
	if s.cfg.Threads != want {
		t.Errorf("default Threads = %d, want %d", s.cfg.Threads, want)
	}
	if _, err := New(Config{Backend: newFakeBackend(t), Threads: -1}); err == nil {
		t.Error("Threads -1 accepted")
	}
}

// Every socket of every address is answered from, and Serve closes them
// all.
func TestServeThreads(t *testing.T) {
	const threads = 3
	s, _ := newTestServer(t, Config{Threads: threads})
	if s.cfg.Threads != threads {
		t.Skipf("one socket per address on %s", runtime.GOOS)
	}
	addrs, cancel, served := serveUntilCancelled(t, s)
	if len(s.udpConns) != threads || len(s.listeners) != threads {
		t.Fatalf("%d UDP sockets and %d TCP listeners, want %d each", len(s.udpConns), len(s.listeners), threads)
	}
	for i := range threads {
		udp := s.udpConns[i].conn.LocalAddr().(*net.UDPAddr).AddrPort()
		tcp := s.listeners[i].Addr().(*net.TCPAddr).AddrPort()
		if udp != addrs[0] || tcp != addrs[0] {
			t.Errorf("socket %d: UDP %v, TCP %v; want both on %v", i, udp, tcp, addrs[0])
		}
	}
	// Clients on many source ports: the kernel hashes them across the
	// sockets, and each must be answered whichever socket it reached.
	var wg sync.WaitGroup
	for i := range 32 {
		network := "udp"
		if i%4 == 0 {
			network = "tcp"
		}
		wg.Go(func() {
			if resp := exchange(t, network, addrs[0], question(nameWWW, dns.TypeA), netip.Addr{}); resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
				t.Errorf("%s: %v", network, resp)
			}
		})
	}
	wg.Wait()
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	for i, u := range s.udpConns {
		if _, err := u.conn.WriteToUDPAddrPort([]byte{0}, addrs[0]); err == nil {
			t.Errorf("UDP socket %d still open after Serve returned", i)
		}
	}
	for i, l := range s.listeners {
		if c, err := l.Accept(); err == nil {
			c.Close()
			t.Errorf("TCP listener %d still open after Serve returned", i)
		}
	}
}
