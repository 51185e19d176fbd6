package resolver

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/testnet"
)

// coldNet is make bench's zone tree in memory: a root, the TLD com. and
// any number of domains dN.com., each with servers ns1 and ns2 on shared
// addresses and a www A record. Replies go through the wire format as in
// fakeNet, so the figures include packing them (the same for every run).
type coldNet struct{}

func (coldNet) Exchange(_ context.Context, q *dns.Msg, server netip.AddrPort) (*dns.Msg, time.Duration, error) {
	qn := strings.ToLower(q.Question[0].Name)
	m := new(dns.Msg)
	m.SetReply(q)
	hdr := func(name string, t uint16, ttl uint32) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	}
	ns := func(zone, host string, ttl uint32) dns.RR { return &dns.NS{Hdr: hdr(zone, dns.TypeNS, ttl), Ns: host} }
	a := func(name, addr string, ttl uint32) dns.RR {
		return &dns.A{Hdr: hdr(name, dns.TypeA, ttl), A: netip.MustParseAddr(addr).AsSlice()}
	}
	soa := func(zone string) dns.RR {
		return &dns.SOA{Hdr: hdr(zone, dns.TypeSOA, 900), Ns: "ns." + zone, Mbox: "h." + zone, Serial: 1, Refresh: 2, Retry: 3, Expire: 4, Minttl: 300}
	}
	labels := dns.SplitDomainName(qn)
	switch server.Addr() {
	case netip.MustParseAddr("127.53.0.1"): // the root
		if qn == "." {
			m.Authoritative = true
			m.Answer = append(m.Answer, ns(".", "a.root.lab.", 518400))
			m.Extra = append(m.Extra, a("a.root.lab.", "127.53.0.1", 518400))
			break
		}
		m.Ns = append(m.Ns, ns("com.", "ns.com.", 172800))
		m.Extra = append(m.Extra, a("ns.com.", "127.53.1.1", 172800))
	case netip.MustParseAddr("127.53.1.1"): // com.
		if len(labels) < 2 {
			m.Authoritative = true
			m.Ns = append(m.Ns, soa("com."))
			break
		}
		d := strings.Join(labels[len(labels)-2:], ".") + "."
		m.Ns = append(m.Ns, ns(d, "ns1."+d, 86400), ns(d, "ns2."+d, 86400))
		m.Extra = append(m.Extra, a("ns1."+d, "127.53.2.1", 86400), a("ns2."+d, "127.53.2.2", 86400))
	default: // every domain
		m.Authoritative = true
		d := strings.Join(labels[len(labels)-2:], ".") + "."
		switch {
		case qn == "www."+d && q.Question[0].Qtype == dns.TypeA:
			m.Answer = append(m.Answer, a(qn, "192.0.2.1", 3600))
		case qn == d && q.Question[0].Qtype == dns.TypeNS:
			m.Answer = append(m.Answer, ns(d, "ns1."+d, 86400), ns(d, "ns2."+d, 86400))
		default:
			m.Ns = append(m.Ns, soa(d))
		}
	}
	wire, err := m.Pack()
	if err != nil {
		return nil, 0, err
	}
	resp, err := parseReply(q, wire)
	return resp, 50 * time.Microsecond, err
}

// coldResolver is a resolver over coldNet.
func coldResolver(b *testing.B) *Resolver {
	r, err := New(Config{
		RootHints:   testHints(),
		Transport:   testnet.LoopbackOnly(b, coldNet{}),
		DontQuery:   []netip.Prefix{},
		DisableIPv6: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkResolveCold resolves a never-seen www.dN.com. A per iteration
// with com. cached, as make bench's cold phase does: two upstream queries,
// the referral and the answer, through the in-memory coldNet. Run runs,
// as under server.Serve.
func BenchmarkResolveCold(b *testing.B) {
	r := coldResolver(b)
	ctx := context.Background()
	runCtx, stop := context.WithCancel(ctx)
	var run sync.WaitGroup
	run.Go(func() { _ = r.Run(runCtx) })
	b.Cleanup(func() { stop(); run.Wait() })
	if _, err := r.Resolve(ctx, "www.d0.com.", dns.TypeA); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		resp, err := r.Resolve(ctx, fmt.Sprintf("www.d%d.com.", i), dns.TypeA)
		if err != nil || len(resp.Answer) != 1 {
			b.Fatalf("www.d%d.com.: %v, %v", i, resp, err)
		}
	}
}

// BenchmarkGCAfterColdNames times a forced collection once 30,000 cold
// names have been resolved: what a mark phase finds of the engine's
// per-name state (cache, infrastructure and delegation facts) when it is
// full. The collector's work per cycle is what bunched the cold tail
// (docs/architecture.md); run it with -cpu 1, as the bench pins us.
func BenchmarkGCAfterColdNames(b *testing.B) {
	r := coldResolver(b)
	ctx := context.Background()
	for i := range 30_000 {
		if _, err := r.Resolve(ctx, fmt.Sprintf("www.d%d.com.", i), dns.TypeA); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		runtime.GC()
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/gc")
	runtime.KeepAlive(r)
}

// BenchmarkExchangeUDP is one upstream exchange over loopback UDP through
// NetTransport: a fresh socket, the query, the reply, the close. The
// responder runs in the same process.
func BenchmarkExchangeUDP(b *testing.B) {
	srv := udpServer(b, func(q *dns.Msg) [][]byte { return [][]byte{pack(b, answerFor(b, q))} })
	q := new(dns.Msg)
	q.SetQuestion("www.example.com.", dns.TypeA)
	tr := &NetTransport{}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := tr.Exchange(ctx, q, srv); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExchangeUDPTimed is BenchmarkExchangeUDP as the engine makes
// it: under a context with a deadline (Resolve's) and with a per-server
// timeout, so that the socket's wait has a deadline to keep.
func BenchmarkExchangeUDPTimed(b *testing.B) {
	srv := udpServer(b, func(q *dns.Msg) [][]byte { return [][]byte{pack(b, answerFor(b, q))} })
	q := new(dns.Msg)
	q.SetQuestion("www.example.com.", dns.TypeA)
	tr := &NetTransport{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := tr.ExchangeTimed(ctx, q, srv, time.Second); err != nil {
			b.Fatal(err)
		}
	}
}

// ExchangeTimed makes coldNet a TimedTransport, as NetTransport is, so
// that the engine derives no context per upstream query here either (once
// its exchange goes through exchangeVia): the figures are then those of
// the real transport's path.
func (n coldNet) ExchangeTimed(ctx context.Context, q *dns.Msg, server netip.AddrPort, _ time.Duration) (*dns.Msg, time.Duration, bool, error) {
	resp, rtt, err := n.Exchange(ctx, q, server)
	return resp, rtt, false, err
}

// BenchmarkUnpackReply unpacks a referral with glue, the commonest reply
// on the way down.
func BenchmarkUnpackReply(b *testing.B) {
	raw := pack(b, buildReply(b, msgSpec{qname: "www.example.com.", qtype: dns.TypeA,
		ns:    []string{"example.com. 172800 IN NS ns1.example.com.", "example.com. 172800 IN NS ns2.example.com."},
		extra: []string{"ns1.example.com. 172800 IN A 192.0.2.1", "ns2.example.com. 172800 IN A 192.0.2.2", "ns1.example.com. 172800 IN AAAA 2001:db8::1"}}))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := UnpackReply(raw); err != nil {
			b.Fatal(err)
		}
	}
}
