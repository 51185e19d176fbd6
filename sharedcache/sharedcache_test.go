package sharedcache

import (
	"context"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
)

var secret = []byte("a fleet secret of 32 bytes......")

// clock is a settable Now.
type clock struct{ t atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.t.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *clock) advance(d time.Duration) { c.t.Add(int64(d)) }

func newTier(t testing.TB, addr string, clk *clock, edit func(*Config)) *Tier {
	t.Helper()
	// A read deadline far above the 20 ms default: on a loaded test
	// machine a read of miniredis may take longer, and a read that times
	// out is a miss, not the verdict a test looks for.
	cfg := Config{URL: "redis://" + addr + "/0", Secret: secret, Now: clk.now, Timeout: 2 * time.Second}
	if edit != nil {
		edit(&cfg)
	}
	tier, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tier.Close() })
	return tier
}

// drain sends what is queued now, as Run would.
func drain(t *Tier) {
	var batch []write
	for len(t.queue) > 0 {
		batch = append(batch, <-t.queue)
	}
	if len(batch) > 0 {
		t.flush(context.Background(), batch)
	}
}

func rr(t testing.TB, s string) dns.RR {
	t.Helper()
	r, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func positive(t testing.TB, clk *clock) (cache.Key, cache.Entry) {
	k := cache.Key{Name: "www.example.", Type: dns.TypeA, Class: dns.ClassINET}
	return k, cache.Entry{
		RRs:         []dns.RR{rr(t, "www.example. 300 IN A 192.0.2.1"), rr(t, "www.example. 300 IN A 192.0.2.2")},
		Sigs:        []dns.RR{rr(t, "www.example. 300 IN RRSIG A 13 2 300 20260201000000 20260101000000 12345 example. dGVzdA==")},
		Rank:        cache.RankAuthAnswer,
		Security:    cache.Secure,
		TTL:         300,
		OriginalTTL: 300,
		Expires:     clk.now().Add(300 * time.Second),
	}
}

func negative(t testing.TB, clk *clock) (cache.Key, cache.Entry) {
	soa := rr(t, "example. 60 IN SOA ns.example. host.example. 1 7200 900 1209600 60").(*dns.SOA)
	k := cache.Key{Name: "nope.example.", Type: dns.TypeNone, Class: dns.ClassINET}
	return k, cache.Entry{
		Negative:    cache.NXDomain,
		SOA:         soa,
		Proof:       []dns.RR{rr(t, "example. 60 IN NSEC www.example. A NS SOA RRSIG NSEC")},
		Rank:        cache.RankAuthAuthority,
		Security:    cache.Insecure,
		EDE:         0,
		TTL:         60,
		OriginalTTL: 60,
		Expires:     clk.now().Add(60 * time.Second),
	}
}

func TestRoundTrip(t *testing.T) {
	m := miniredis.RunT(t)
	clk := newClock()
	writer := newTier(t, m.Addr(), clk, nil)
	reader := newTier(t, m.Addr(), clk, nil)
	pk, pe := positive(t, clk)
	nk, ne := negative(t, clk)
	writer.Store(pk, pe)
	writer.Store(nk, ne)
	drain(writer)
	if got := writer.Stats().Written; got != 2 {
		t.Fatalf("written %d, want 2", got)
	}
	if ttl := m.TTL(writer.Key(pk)); ttl != 300*time.Second {
		t.Errorf("Redis TTL of the positive entry %v, want 300s (PX)", ttl)
	}
	clk.advance(100 * time.Second)
	got := reader.Lookup(t.Context(), []cache.Key{pk, {Name: "absent.example.", Type: dns.TypeA, Class: dns.ClassINET}, nk})
	if len(got) != 3 {
		t.Fatalf("%d entries, want 3", len(got))
	}
	p, miss, n := got[0], got[1], got[2]
	if p.Rank != cache.RankAuthAnswer || p.Security != cache.Secure || p.TTL != 200 || !p.Expires.Equal(pe.Expires) || p.OriginalTTL != 300 {
		t.Errorf("positive entry: rank %v security %v TTL %d expires %v original %d", p.Rank, p.Security, p.TTL, p.Expires, p.OriginalTTL)
	}
	if len(p.RRs) != 2 || len(p.Sigs) != 1 || p.RRs[1].(*dns.A).A.String() != "192.0.2.2" || p.RRs[0].Header().Ttl != 200 {
		t.Errorf("positive records: %v sigs %v", p.RRs, p.Sigs)
	}
	if miss.Rank != 0 {
		t.Errorf("absent key: %+v, want the zero Entry", miss)
	}
	if n.Rank != 0 {
		t.Errorf("negative entry expired 40s ago came back: %+v", n)
	}
	st := reader.Stats()
	if st.Hits != 1 || st.Misses != 2 || st.Rejected != 0 || st.Reads != 1 {
		t.Errorf("stats %+v: want 1 hit, 2 misses (absent, expired), 1 read", st)
	}
}

func TestNegativeRoundTrip(t *testing.T) {
	m := miniredis.RunT(t)
	clk := newClock()
	tier := newTier(t, m.Addr(), clk, nil)
	nk, ne := negative(t, clk)
	tier.Store(nk, ne)
	drain(tier)
	clk.advance(10 * time.Second)
	n := tier.Lookup(t.Context(), []cache.Key{nk})[0]
	if n.Negative != cache.NXDomain || n.SOA == nil || n.SOA.Hdr.Ttl != 50 || len(n.Proof) != 1 || n.Proof[0].Header().Ttl != 50 || n.Rank != cache.RankAuthAuthority {
		t.Errorf("negative entry: %+v", n)
	}
}

func TestTamperedEntryIsRejected(t *testing.T) {
	m := miniredis.RunT(t)
	clk := newClock()
	tier := newTier(t, m.Addr(), clk, nil)
	pk, pe := positive(t, clk)
	other := cache.Key{Name: "bank.example.", Type: dns.TypeA, Class: dns.ClassINET}
	tier.Store(pk, pe)
	drain(tier)
	good, err := m.Get(tier.Key(pk))
	if err != nil {
		t.Fatal(err)
	}
	flipped := []byte(good)
	flipped[len(flipped)-40] ^= 1 // a byte of the last record's RDATA
	forged := newTier(t, m.Addr(), clk, func(c *Config) { c.Secret = []byte("another secret, not the fleet's") })
	forgedValue, err := forged.keys.encode(tier.Key(pk), pe)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		key   cache.Key
		value string
	}{
		{"a byte changed", pk, string(flipped)},
		{"sealed with another secret", pk, string(forgedValue)},
		{"moved to another key", other, good},
		{"truncated", pk, good[:20]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tier.Stats().Rejected
			m.Set(tier.Key(tc.key), tc.value)
			if e := tier.Lookup(t.Context(), []cache.Key{tc.key})[0]; e.Rank != 0 {
				t.Fatalf("tampered entry handed out: %v", e.RRs)
			}
			if got := tier.Stats().Rejected; got != before+1 {
				t.Errorf("rejected %d, want %d", got, before+1)
			}
			drain(tier)
			if m.Exists(tier.Key(tc.key)) {
				t.Error("the tampered value was not deleted")
			}
		})
	}
}

func TestStoreRefusesWhatIsNotShared(t *testing.T) {
	m := miniredis.RunT(t)
	clk := newClock()
	tier := newTier(t, m.Addr(), clk, nil)
	pk, pe := positive(t, clk)
	nk, ne := negative(t, clk)
	bogus, glue, dying, noSOA, mismatch := pe, pe, pe, ne, pe
	bogus.Security = cache.Bogus
	glue.Rank = cache.RankGlue
	dying.Expires = clk.now().Add(500 * time.Millisecond)
	noSOA.SOA = nil
	for name, c := range map[string]struct {
		k cache.Key
		e cache.Entry
	}{
		"bogus": {pk, bogus}, "glue": {pk, glue}, "expiring": {pk, dying}, "negative without SOA": {nk, noSOA},
		"records of another name": {cache.Key{Name: "other.example.", Type: dns.TypeA, Class: dns.ClassINET}, mismatch},
		"NXDOMAIN under a type":   {cache.Key{Name: "nope.example.", Type: dns.TypeA, Class: dns.ClassINET}, ne},
	} {
		tier.Store(c.k, c.e)
		if len(tier.queue) != 0 {
			t.Errorf("%s: queued", name)
			<-tier.queue
		}
	}
}

func TestFullQueueDrops(t *testing.T) {
	m := miniredis.RunT(t)
	clk := newClock()
	tier := newTier(t, m.Addr(), clk, func(c *Config) { c.QueueSize = 2 })
	pk, pe := positive(t, clk)
	for range 5 {
		tier.Store(pk, pe)
	}
	if st := tier.Stats(); st.Dropped != 3 || st.Queued != 2 || len(tier.queue) != 2 {
		t.Errorf("dropped %d, queued %d: want 3 and 2", st.Dropped, len(tier.queue))
	}
	drain(tier)
	if st := tier.Stats(); st.Written != 2 {
		t.Errorf("written %d, want 2", st.Written)
	}
}

// switchable is a TCP proxy to a Redis that can be made to swallow
// requests (a hung Redis): reads through it then time out.
type switchable struct {
	ln     net.Listener
	target string
	hung   atomic.Bool
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

func newSwitchable(t *testing.T, target string) *switchable {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &switchable{ln: ln, target: target}
	s.wg.Go(s.serve)
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *switchable) track(c net.Conn) {
	s.mu.Lock()
	s.conns = append(s.conns, c)
	s.mu.Unlock()
}

func (s *switchable) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.track(c)
		if s.hung.Load() {
			s.wg.Go(func() { io.Copy(io.Discard, c) })
			continue
		}
		up, err := net.Dial("tcp", s.target)
		if err != nil {
			c.Close()
			continue
		}
		s.track(up)
		s.wg.Go(func() { io.Copy(up, c); up.Close() })
		s.wg.Go(func() { io.Copy(c, up); c.Close() })
	}
}

func TestBreakerOpensOnTimeoutsAndCloses(t *testing.T) {
	m := miniredis.RunT(t)
	clk := newClock()
	proxy := newSwitchable(t, m.Addr())
	tier := newTier(t, proxy.ln.Addr().String(), clk, func(c *Config) {
		c.BreakerFailures, c.BreakerPause = 3, 10*time.Second
		c.Timeout = 500 * time.Millisecond // each read of the hung Redis waits this long
	})
	pk, pe := positive(t, clk)
	tier.Store(pk, pe)
	drain(tier)
	// Redis hangs: every read times out, and the connections it had are
	// closed by the client after their timeouts.
	proxy.hung.Store(true)
	proxy.mu.Lock()
	for _, c := range proxy.conns {
		c.Close()
	}
	proxy.mu.Unlock()
	for i := range 3 {
		if e := tier.Lookup(t.Context(), []cache.Key{pk})[0]; e.Rank != 0 {
			t.Fatalf("read %d through a hung Redis found an entry", i)
		}
	}
	st := tier.Stats()
	if !st.BreakerOpen || st.BreakerOpened != 1 || st.Errors != 3 {
		t.Fatalf("after 3 timeouts: %+v, want the breaker open, 3 errors", st)
	}
	tier.Lookup(t.Context(), []cache.Key{pk})
	if st := tier.Stats(); st.Skipped != 1 || st.Reads != 3 {
		t.Errorf("open breaker: %+v, want the read skipped", st)
	}
	// A probe after the pause that fails opens it again.
	clk.advance(11 * time.Second)
	tier.Lookup(t.Context(), []cache.Key{pk})
	if st := tier.Stats(); st.Reads != 4 || !st.BreakerOpen || st.BreakerOpened != 2 {
		t.Errorf("failed probe: %+v, want 4 reads and the breaker open again", st)
	}
	// Redis is back: the next probe closes it.
	proxy.hung.Store(false)
	clk.advance(11 * time.Second)
	if e := tier.Lookup(t.Context(), []cache.Key{pk})[0]; e.Rank == 0 {
		t.Fatal("probe to a working Redis missed")
	}
	if st := tier.Stats(); st.BreakerOpen || st.Hits != 1 {
		t.Errorf("after a good probe: %+v, want the breaker closed", st)
	}
}

func TestBreakerOpenDropsWrites(t *testing.T) {
	m := miniredis.RunT(t)
	clk := newClock()
	tier := newTier(t, m.Addr(), clk, func(c *Config) { c.BreakerFailures = 2 })
	pk, pe := positive(t, clk)
	m.SetError("LOADING Redis is loading the dataset in memory")
	tier.Lookup(t.Context(), []cache.Key{pk})
	tier.Lookup(t.Context(), []cache.Key{pk})
	m.SetError("")
	tier.Store(pk, pe)
	drain(tier)
	if st := tier.Stats(); !st.BreakerOpen || st.Dropped != 1 || st.Written != 0 || m.Exists(tier.Key(pk)) {
		t.Errorf("%+v: want the write dropped while the breaker is open", st)
	}
}

func TestDeadRedisIsAMiss(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	clk := newClock()
	tier := newTier(t, addr, clk, nil)
	pk, _ := positive(t, clk)
	for range DefaultBreakerFailures + 3 {
		if e := tier.Lookup(t.Context(), []cache.Key{pk}); e[0].Rank != 0 {
			t.Fatal("hit from a dead Redis")
		}
	}
	st := tier.Stats()
	if st.Errors != DefaultBreakerFailures || st.Skipped != 3 || !st.BreakerOpen {
		t.Errorf("%+v: want %d errors, then the breaker open and 3 reads skipped", st, DefaultBreakerFailures)
	}
}

func TestKeysDependOnSecretAndQuestion(t *testing.T) {
	a, b := deriveKeys(secret), deriveKeys([]byte("another fleet's secret, 32 bytes"))
	k := cache.Key{Name: "www.example.", Type: dns.TypeA, Class: dns.ClassINET}
	keys := []string{a.redisKey(k), b.redisKey(k),
		a.redisKey(cache.Key{Name: k.Name, Type: dns.TypeAAAA, Class: k.Class}),
		a.redisKey(cache.Key{Name: "www.example.net.", Type: k.Type, Class: k.Class})}
	if len(slices.Compact(slices.Sorted(slices.Values(keys)))) != len(keys) {
		t.Errorf("keys not distinct: %q", keys)
	}
	if a.redisKey(cache.Key{Name: "WWW.Example", Type: dns.TypeA, Class: dns.ClassINET}) != keys[0] {
		t.Error("the key depends on the name's case")
	}
}

func TestNewRefusesShortSecret(t *testing.T) {
	if _, err := New(Config{URL: "redis://127.0.0.1:1/0", Secret: []byte("short")}); err == nil {
		t.Error("short secret accepted")
	}
	if _, err := New(Config{URL: "http://127.0.0.1:1/0", Secret: secret}); err == nil {
		t.Error("URL of another scheme accepted")
	}
}
