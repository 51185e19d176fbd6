//go:build linux && (amd64 || arm64)

package resolver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// WriteRead waits for the reply only after sending, with the readiness
// reset before the send: a reply that comes back at once is never missed.
// A variant that reset readiness after the send (a Write, then a Read
// whose first call skips the read) loses such replies and runs into the
// deadline here.
func TestWriteReadCatchesImmediateReplies(t *testing.T) {
	srv := udpServer(t, func(q *dns.Msg) [][]byte { return [][]byte{pack(t, answerFor(t, q))} })
	buf := make([]byte, 512)
	for i := range 300 {
		conn, err := openUDP(srv)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		q := new(dns.Msg).SetQuestion("www.example.com.", dns.TypeA)
		n, err := conn.(writeReader).WriteRead(t.Context(), time.Time{}, pack(t, q), buf)
		conn.Close()
		if err != nil {
			t.Fatalf("exchange %d: %v", i, err)
		}
		var resp dns.Msg
		if err := resp.Unpack(buf[:n]); err != nil || resp.Id != q.Id {
			t.Fatalf("exchange %d: reply %v, %v", i, resp.Id, err)
		}
	}
}

// A token in the socket's wake channel that no datagram backs (a wake
// meant for an earlier socket on the same descriptor, or a deadline that
// moved) sends the reader back to wait after an EAGAIN: it neither
// returns EAGAIN nor misses the deadline.
func TestStaleWakeKeepsWaiting(t *testing.T) {
	srv := udpServer(t, func(*dns.Msg) [][]byte { return nil }) // never answers
	conn, err := openUDP(srv)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s := conn.(*udpSocket)
	s.SetDeadline(time.Now().Add(100 * time.Millisecond))
	s.notify()
	q := new(dns.Msg).SetQuestion("www.example.com.", dns.TypeA)
	_, err = s.WriteRead(t.Context(), time.Time{}, pack(t, q), make([]byte, 512))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("WriteRead after a stale wake: %v, want the deadline", err)
	}
}

// A context cancelled while an exchange waits ends the wait at once, with
// the context's error: the transport moves the socket's deadline into the
// past, and the socket wakes its waiter for it.
func TestCancelEndsUpstreamWait(t *testing.T) {
	asked := make(chan struct{}, 1)
	srv := udpServer(t, func(*dns.Msg) [][]byte {
		asked <- struct{}{}
		return nil // never answers
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		q := new(dns.Msg).SetQuestion("www.example.com.", dns.TypeA)
		_, _, _, err := (&NetTransport{}).ExchangeTimed(ctx, q, srv, time.Hour)
		done <- err
	}()
	<-asked
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("exchange: %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the cancelled exchange still waits")
	}
}

// Many exchanges in flight at once share the one upstream epoll instance:
// each gets the reply to its own query.
func TestManyUpstreamExchangesInFlight(t *testing.T) {
	srv := udpServer(t, func(q *dns.Msg) [][]byte { return [][]byte{pack(t, answerFor(t, q))} })
	tr := &NetTransport{}
	errs := make(chan error, 200)
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			q := new(dns.Msg).SetQuestion(fmt.Sprintf("n%d.example.com.", i), dns.TypeA)
			resp, _, _, err := tr.ExchangeTimed(t.Context(), q, srv, 10*time.Second)
			if err == nil && resp.Question[0].Name != q.Question[0].Name {
				err = fmt.Errorf("reply to %s for %s", resp.Question[0].Name, q.Question[0].Name)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// BenchmarkOpenUDP is an upstream socket's life without its exchange:
// socket, connect, the upstream epoll instance's epoll_ctl, close.
func BenchmarkOpenUDP(b *testing.B) {
	srv := udpServer(b, func(*dns.Msg) [][]byte { return nil })
	b.ReportAllocs()
	for b.Loop() {
		conn, err := openUDP(srv)
		if err != nil {
			b.Fatal(err)
		}
		conn.Close()
	}
}

// A closed socket goes back to udpSockets without its last life's wake
// token or deadline, and a second Close does not give it back twice,
// which would hand one socket to two exchanges.
func TestClosedSocketIsReusedClean(t *testing.T) {
	srv := udpServer(t, func(*dns.Msg) [][]byte { return nil })
	conn, err := openUDP(srv)
	if err != nil {
		t.Fatal(err)
	}
	s := conn.(*udpSocket)
	s.SetDeadline(time.Now().Add(time.Hour))
	s.notify()
	conn.Close()
	if len(s.wake) != 0 || s.fd != -1 || s.deadline.Load() != 0 {
		t.Fatalf("closed socket: %d tokens, fd %d, deadline %d", len(s.wake), s.fd, s.deadline.Load())
	}
	conn.Close()
	a, err := openUDP(srv)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := openUDP(srv)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a == b {
		t.Fatal("two open sockets share one udpSocket")
	}
}
