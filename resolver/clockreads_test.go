package resolver

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/testnet"
)

// TestClockReadsPerColdName counts the reads of the injected clock per
// cold name over coldNet (BenchmarkResolveCold's path): time.Now is a
// vDSO call, slow on a KVM guest, and a cold name reads it many times.
// The real transport's own reads (NetTransport, udpSocket) are not
// counted here. maxClockReadsPerColdName is the count when it was cut
// from 23: a change that reads the clock more fails here.
func TestClockReadsPerColdName(t *testing.T) {
	var reads atomic.Int64
	r, err := New(Config{
		RootHints:   testHints(),
		Transport:   testnet.LoopbackOnly(t, coldNet{}),
		DontQuery:   []netip.Prefix{},
		DisableIPv6: true,
		Now:         func() time.Time { reads.Add(1); return time.Now() },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	runCtx, stop := context.WithCancel(ctx)
	var run sync.WaitGroup
	run.Go(func() { _ = r.Run(runCtx) })
	t.Cleanup(func() { stop(); run.Wait() })
	if _, err := r.Resolve(ctx, "www.d0.com.", dns.TypeA); err != nil {
		t.Fatal(err)
	}
	const names = 200
	reads.Store(0)
	for i := 1; i <= names; i++ {
		if _, err := r.Resolve(ctx, fmt.Sprintf("www.d%d.com.", i), dns.TypeA); err != nil {
			t.Fatal(err)
		}
	}
	perName := float64(reads.Load()) / names
	t.Logf("%.1f clock reads per cold name", perName)
	if perName > maxClockReadsPerColdName {
		t.Errorf("%.1f clock reads per cold name, more than %d", perName, maxClockReadsPerColdName)
	}
}

const maxClockReadsPerColdName = 11
