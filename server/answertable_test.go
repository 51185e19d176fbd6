package server

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func tableAnswer(question string, variant uint8, storedN int64, ttl uint32) *packedAnswer {
	return &packedAnswer{question: question, variant: variant, storedN: storedN, minTTL: ttl}
}

func TestAnswerTable(t *testing.T) {
	// Four slots: every key's window is the whole table.
	c := newAnswerCache(4)
	now := time.Now().UnixNano()
	c.store(tableAnswer("q1", 0, now, 300))
	c.store(tableAnswer("q1", 1, now, 300)) // another variant: another entry
	if a := c.lookup(0, []byte("q1")); a == nil || a.variant != 0 {
		t.Fatalf("lookup(0, q1) = %+v", a)
	}
	if a := c.lookup(1, []byte("q1")); a == nil || a.variant != 1 {
		t.Fatalf("lookup(1, q1) = %+v", a)
	}
	if a := c.lookup(2, []byte("q1")); a != nil {
		t.Errorf("variant 2 got variant %d's answer", a.variant)
	}
	newer := tableAnswer("q1", 0, now, 300)
	c.store(newer) // the same key: replaced in place
	if c.lookup(0, []byte("q1")) != newer || c.len() != 2 {
		t.Errorf("after storing q1 again: lookup %p (want %p), len %d (want 2)", c.lookup(0, []byte("q1")), newer, c.len())
	}
	// Full, with one answer expired: the next store takes its slot.
	c.store(tableAnswer("expired", 0, now-int64(time.Hour), 60))
	c.store(tableAnswer("q2", 0, now, 300))
	c.store(tableAnswer("q3", 0, now, 300))
	if c.len() != 4 || c.lookup(0, []byte("expired")) != nil {
		t.Errorf("len %d, expired kept: %v", c.len(), c.lookup(0, []byte("expired")) != nil)
	}
	for _, q := range []string{"q1", "q2", "q3"} {
		if c.lookup(0, []byte(q)) == nil {
			t.Errorf("%s evicted before the expired answer", q)
		}
	}
	// Full of live answers: the one expiring first gives way.
	c.store(tableAnswer("short", 0, now, 10))
	c.store(tableAnswer("q4", 0, now, 300))
	if c.lookup(0, []byte("short")) != nil || c.lookup(0, []byte("q4")) == nil || c.len() != 4 {
		t.Errorf("short kept %v, q4 kept %v, len %d", c.lookup(0, []byte("short")) != nil, c.lookup(0, []byte("q4")) != nil, c.len())
	}
	if n := c.flush(); n != 4 || c.len() != 0 {
		t.Errorf("flush = %d, len %d after", n, c.len())
	}
}

// The table holds at most its slots, and the answer stored last is always
// found.
func TestAnswerTableBound(t *testing.T) {
	const size = 100
	c := newAnswerCache(size)
	now := time.Now().UnixNano()
	for i := range 10 * size {
		q := fmt.Sprintf("question %d", i)
		c.store(tableAnswer(q, uint8(i%8), now, 300))
		if c.lookup(i%8, []byte(q)) == nil {
			t.Fatalf("%s not found right after its store", q)
		}
	}
	if n := c.len(); n > size || n < size*9/10 {
		t.Errorf("len %d after %d stores into %d slots", n, 10*size, size)
	}
}

// Lookups and stores from many goroutines (run with -race).
func TestAnswerTableConcurrent(t *testing.T) {
	c := newAnswerCache(64)
	now := time.Now().UnixNano()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				q := fmt.Sprintf("q%d", (i*7+g)%200)
				if a := c.lookup(0, []byte(q)); a != nil && a.question != q {
					t.Errorf("lookup(%s) found %s", q, a.question)
					return
				}
				if i%4 == g%4 {
					c.store(tableAnswer(q, 0, now, 300))
				}
			}
		})
	}
	wg.Wait()
}

// Hits of the answer cache, counted in stripes, add up in Stats with the
// others.
func TestStatsCountFastHits(t *testing.T) {
	s, _ := newTestServer(t, Config{})
	query := pack(t, question(nameWWW, dns.TypeA))
	const clients = 100
	for i := range clients {
		client := netip.AddrPortFrom(clientLoopback.Addr(), uint16(40000+i))
		if s.HandlePacket(t.Context(), query, client, false, nil) == nil {
			t.Fatal("no answer")
		}
	}
	if _, ok := s.answerFast(query, clientLoopback, TransportUDP, nil); !ok {
		t.Fatal("the answer cache does not answer")
	}
	st := s.Stats()
	if st.Queries != clients+1 || st.CacheHits != clients+1 || st.Resolved != 0 {
		t.Errorf("Stats: %d queries, %d cache hits, %d resolved; want %d, %d, 0", st.Queries, st.CacheHits, st.Resolved, clients+1, clients+1)
	}
}
