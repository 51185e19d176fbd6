//go:build linux && (amd64 || arm64)

package resolver

import (
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
		n, err := conn.(writeReader).WriteRead(pack(t, q), buf)
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
