package cache

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestGetStale: expired entries are read within the stale window only,
// with TTL 0 and their original TTL; Get never reads them.
func TestGetStale(t *testing.T) {
	tests := []struct {
		after     time.Duration
		live      bool
		stale     bool
		wantTTL   uint32
		wantOrigT uint32
	}{
		{59 * time.Second, true, true, 1, 60},
		{60 * time.Second, false, true, 0, 60},
		{60*time.Second + time.Hour - time.Nanosecond, false, true, 0, 60},
		{60*time.Second + time.Hour, false, false, 0, 0},
	}
	for _, tc := range tests {
		clk := newClock()
		c := New(Config{Now: clk.Now})
		c.Put(mustRRs(t, "www.example.com. 60 IN A 192.0.2.1"), RankAuthAnswer)
		clk.Advance(tc.after)
		if _, ok := c.Get("www.example.com.", dns.TypeA, dns.ClassINET); ok != tc.live {
			t.Errorf("+%v: Get %v, want %v", tc.after, ok, tc.live)
		}
		e, ok := c.GetStale("www.example.com.", dns.TypeA, dns.ClassINET, time.Hour)
		if ok != tc.stale || ok && (e.TTL != tc.wantTTL || e.OriginalTTL != tc.wantOrigT || e.RRs[0].Header().Ttl != tc.wantTTL || e.Expired(clk.Now()) == tc.live) {
			t.Errorf("+%v: GetStale %v, TTL %d, original %d; want %v, %d, %d", tc.after, ok, e.TTL, e.OriginalTTL, tc.stale, tc.wantTTL, tc.wantOrigT)
		}
	}
}

// TestKeepStale: a bogus set does not replace an expired good entry
// within KeepStale, and does after it; RemoveExpired drops expired
// entries only.
func TestKeepStale(t *testing.T) {
	clk := newClock()
	c := New(Config{Now: clk.Now})
	c.PutSet(Set{RRs: mustRRs(t, "www.example.com. 60 IN A 192.0.2.1"), Rank: RankAuthAnswer, Security: Secure})
	clk.Advance(61 * time.Second)
	bogus := Set{RRs: mustRRs(t, "www.example.com. 60 IN A 192.0.2.66"), Rank: RankAuthAnswer, Security: Bogus, KeepStale: time.Hour}
	if c.PutSet(bogus) {
		t.Error("bogus data replaced expired secure data within KeepStale")
	}
	clk.Advance(time.Hour)
	if !c.PutSet(bogus) {
		t.Error("bogus data did not replace secure data expired past KeepStale")
	}
	c.Put(mustRRs(t, "live.example.com. 60 IN A 192.0.2.2"), RankAuthAnswer)
	c.PutNegative("gone.example.com.", dns.TypeA, dns.ClassINET, NXDomain, nil, RankAuthAnswer)
	clk.Advance(30 * time.Second) // the NXDOMAIN (5 s) expired, the A not
	c.RemoveExpired("live.example.com.", dns.TypeA, dns.ClassINET)
	c.RemoveExpired("gone.example.com.", dns.TypeA, dns.ClassINET)
	if _, ok := c.Get("live.example.com.", dns.TypeA, dns.ClassINET); !ok {
		t.Error("RemoveExpired dropped a live entry")
	}
	if _, ok := c.GetStale("gone.example.com.", dns.TypeA, dns.ClassINET, time.Hour); ok {
		t.Error("RemoveExpired kept an expired NXDOMAIN")
	}
}
