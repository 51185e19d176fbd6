package fleettest

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/redis/go-redis/v9"

	recursor "github.com/recursor-dns/recursor"
	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/peertest"
	"github.com/recursor-dns/recursor/sharedcache"
	"github.com/recursor-dns/recursor/testnet"
)

const secret = "the fleet test's secret, 40 bytes long.."

// question is a client question of the sandbox and the rcode it gets.
type question struct {
	name  string
	qtype uint16
	rcode int
}

// shared are the questions asked of the first instance, then of the
// second: answers, NODATA, NXDOMAIN, CNAME chains (within a zone, out of
// it, to a missing name), a wildcard, a subzone, a glueless zone.
var shared = []question{
	{"www.example.com.", dns.TypeA, dns.RcodeSuccess},
	{"www.example.com.", dns.TypeAAAA, dns.RcodeSuccess},
	{"example.com.", dns.TypeMX, dns.RcodeSuccess},
	{"v4only.example.com.", dns.TypeAAAA, dns.RcodeSuccess},
	{"nothing.example.com.", dns.TypeA, dns.RcodeNameError},
	{"x.wild.example.com.", dns.TypeA, dns.RcodeSuccess},
	{"chain1.example.com.", dns.TypeA, dns.RcodeSuccess},
	{"alias.example.com.", dns.TypeA, dns.RcodeSuccess},
	{"dangling.example.com.", dns.TypeA, dns.RcodeNameError},
	{"www.shop.example.com.", dns.TypeA, dns.RcodeSuccess},
	{"www.example.org.", dns.TypeA, dns.RcodeSuccess},
	{"nosuch.example.org.", dns.TypeA, dns.RcodeNameError},
	{"www.alpha.lab.", dns.TypeA, dns.RcodeSuccess},
	{"deep.a.b.alpha.lab.", dns.TypeA, dns.RcodeSuccess},
	{"www.sub.beta.lab.", dns.TypeA, dns.RcodeSuccess},
	{"nosuch.lab.", dns.TypeA, dns.RcodeNameError},
}

// tampered is resolved by the first instance, then forged in Redis before
// the second asks.
var tampered = question{"www.beta.lab.", dns.TypeA, dns.RcodeSuccess}

type fleet struct {
	net     *testnet.Network
	redis   *peertest.Daemon
	members []*peertest.Recursor
	metrics []string // each member's --metrics-listen
	lb      *peertest.Daemon
}

func startFleet(t *testing.T) *fleet {
	t.Helper()
	if _, ok := peertest.LookPath("dnsdist"); !ok {
		t.Skip("dnsdist is not installed (apt-get install dnsdist; .ci/run does)")
	}
	f := &fleet{redis: peertest.StartRedis(t)}
	sub, err := fs.Sub(recursor.Sandbox, "testdata/sandbox")
	if err != nil {
		t.Fatal(err)
	}
	if f.net, err = testnet.Start(testnet.Config{FS: sub}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.net.Close() })
	dir := t.TempDir()
	hints := peertest.WriteHints(t, dir, f.net.RootHints())
	anchors := filepath.Join(dir, "anchors")
	var text strings.Builder
	for _, rr := range f.net.TrustAnchor() {
		text.WriteString(rr.String() + "\n")
	}
	secretFile := filepath.Join(dir, "secret")
	for path, data := range map[string]string{anchors: text.String(), secretFile: secret + "\n"} {
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		m := "127.0.0.1:" + strconv.Itoa(peertest.FreePort(t))
		f.metrics = append(f.metrics, m)
		f.members = append(f.members, peertest.StartRecursorProcess(t,
			"--root-hints", hints, "--upstream-port", strconv.Itoa(int(f.net.Port())), "--dont-query", "none",
			"--trust-anchor-file", anchors, "--metrics-listen", m,
			"--shared-cache", "redis://"+f.redis.Addr+"/0", "--shared-cache-secret-file", secretFile,
			// A wide read deadline: on a loaded test machine a 20 ms
			// read may time out, and the test asserts what a read found.
			"--shared-cache-timeout", "1s"))
	}
	f.lb = peertest.StartDNSDist(t, f.members[0].Addr, f.members[1].Addr)
	return f
}

func ask(addr string, q question) (*dns.Msg, time.Duration, error) {
	m := new(dns.Msg)
	m.SetQuestion(q.name, q.qtype)
	c := &dns.Client{Timeout: 3 * time.Second}
	return c.ExchangeContext(context.Background(), m, addr)
}

// answerText is what a client sees of an answer: rcode and records, TTLs
// aside (they count down between two instances).
func answerText(m *dns.Msg) string {
	var lines []string
	for _, rr := range m.Answer {
		h := *rr.Header()
		cp := dns.Copy(rr)
		*cp.Header() = h
		cp.Header().Ttl = 0
		lines = append(lines, cp.String())
	}
	slices.Sort(lines)
	return dns.RcodeToString[m.Rcode] + " " + strings.Join(lines, " ; ")
}

// scrape reads the member's metrics whose names start with prefix.
func scrape(t *testing.T, addr, prefix string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	s := bufio.NewScanner(resp.Body)
	for s.Scan() {
		name, value, ok := strings.Cut(s.Text(), " ")
		if !ok || !strings.HasPrefix(name, prefix) {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] = v
		}
	}
	return out
}

// waitForWrites waits until the member queued at least n writes and sent
// or dropped every write it queued (the writes are behind the answers,
// queued before each answer went out), failing after 10 s.
func waitForWrites(t *testing.T, addr string, n float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		st := scrape(t, addr, "recursor_shared_cache_writes")
		queued := st["recursor_shared_cache_writes_queued_total"]
		if queued >= n && st["recursor_shared_cache_writes_total"]+st["recursor_shared_cache_writes_dropped_total"] == queued {
			if st["recursor_shared_cache_writes_dropped_total"] > 0 {
				t.Fatalf("writes dropped: %v", st)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("fewer than %v writes to Redis after 10 s: %v", n, scrape(t, addr, "recursor_shared_cache"))
}

func TestFleetSharesOneCache(t *testing.T) {
	f := startFleet(t)
	first, second := f.members[0], f.members[1]
	want := map[question]string{}
	for _, q := range append(slices.Clone(shared), tampered) {
		m, _, err := ask(first.Addr, q)
		if err != nil {
			t.Fatal(err)
		}
		if m.Rcode != q.rcode {
			t.Fatalf("%s %s from the first instance: %s", q.name, dns.TypeToString[q.qtype], m)
		}
		want[q] = answerText(m)
	}
	// Every question leaves at least one entry (most leave one or two).
	waitForWrites(t, f.metrics[0], float64(len(shared)+1))

	t.Run("second instance answers with no upstream query", func(t *testing.T) {
		fromTier := 0
		for _, q := range shared {
			f.net.ResetQueries()
			m, _, err := ask(second.Addr, q)
			if err != nil {
				t.Fatal(err)
			}
			if got := answerText(m); got != want[q] {
				t.Errorf("%s %s: the second instance answers %s, the first %s", q.name, dns.TypeToString[q.qtype], got, want[q])
			}
			if n := f.net.QueryCount(); n != 0 {
				t.Errorf("%s %s: the second instance sent %d upstream queries: %v", q.name, dns.TypeToString[q.qtype], n, f.net.Queries())
				continue
			}
			fromTier++
		}
		st := scrape(t, f.metrics[1], "recursor_shared_cache")
		reads := st["recursor_shared_cache_reads_total"]
		t.Logf("FIGURE second instance: %d of %d questions answered from the shared tier with 0 upstream queries (hit ratio %.0f%%); keys read %v found %v",
			fromTier, len(shared), 100*float64(fromTier)/float64(len(shared)), st["recursor_shared_cache_hits_total"]+st["recursor_shared_cache_misses_total"], st["recursor_shared_cache_hits_total"])
		if reads > 0 {
			t.Logf("FIGURE latency added by a shared-cache read (MGET of 3 keys, real redis-server on loopback, in the server): %.0f µs on average over %v reads",
				1e6*st["recursor_shared_cache_read_seconds_total"]/reads, reads)
		}
	})

	t.Run("sizes in Redis", func(t *testing.T) { logSizes(t, f) })

	t.Run("tampered entry is rejected", func(t *testing.T) {
		forge(t, f, tampered, "198.51.100.66")
		f.net.ResetQueries()
		m, _, err := ask(second.Addr, tampered)
		if err != nil {
			t.Fatal(err)
		}
		if got := answerText(m); got != want[tampered] {
			t.Errorf("after the entry was forged in Redis the second instance answers %s, want %s", got, want[tampered])
		}
		if f.net.QueryCount() == 0 {
			t.Error("the second instance answered without asking upstream: it took the forged entry")
		}
		if st := scrape(t, f.metrics[1], "recursor_shared_cache_rejected_total"); st["recursor_shared_cache_rejected_total"] != 1 {
			t.Errorf("rejected %v, want 1", st)
		}
	})

	t.Run("Redis killed mid-load", func(t *testing.T) { loadWhileRedisDies(t, f, want) })
}

// logSizes reports what the entries take in Redis, for sizing maxmemory.
func logSizes(t *testing.T, f *fleet) {
	c := redis.NewClient(&redis.Options{Addr: f.redis.Addr})
	defer c.Close()
	keys, err := c.Keys(t.Context(), sharedcache.KeyPrefix+"*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys in Redis: %v %v", keys, err)
	}
	var value, usage int64
	for _, k := range keys {
		v, _ := c.StrLen(t.Context(), k).Result()
		u, _ := c.MemoryUsage(t.Context(), k).Result()
		value, usage = value+v, usage+u
	}
	t.Logf("FIGURE %d entries in Redis: values of %d bytes on average (records, RRSIGs, proofs, seal), %d bytes of Redis memory each (MEMORY USAGE)",
		len(keys), value/int64(len(keys)), usage/int64(len(keys)))
}

// forge writes, where the fleet looks for q, an entry that answers
// addr, sealed with a secret that is not the fleet's: what an attacker
// with write access to Redis but not the secret can do.
func forge(t *testing.T, f *fleet, q question, addr string) {
	t.Helper()
	attacker, err := sharedcache.New(sharedcache.Config{URL: "redis://" + f.redis.Addr + "/0", Secret: []byte("the attacker's guess at a secret")})
	if err != nil {
		t.Fatal(err)
	}
	defer attacker.Close()
	fleetTier, err := sharedcache.New(sharedcache.Config{URL: "redis://" + f.redis.Addr + "/0", Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	defer fleetTier.Close()
	rr, _ := dns.NewRR(q.name + " 3600 IN A " + addr)
	k := cache.Key{Name: q.name, Type: q.qtype, Class: dns.ClassINET}
	_, value, err := attacker.Seal(k, cache.Entry{RRs: []dns.RR{rr}, Rank: cache.RankAuthAnswer, Security: cache.Secure, TTL: 3600, OriginalTTL: 3600, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: f.redis.Addr})
	defer c.Close()
	key := fleetTier.Key(k)
	if n, err := c.Exists(t.Context(), key).Result(); err != nil || n != 1 {
		t.Fatalf("the first instance's entry for %s is not in Redis (%v, %v)", q.name, n, err)
	}
	if err := c.Set(t.Context(), key, value, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
}

// loadWhileRedisDies sends a bounded load through dnsdist, kills Redis a
// third of the way, and checks that every query is answered as it should
// be: no query lost, no SERVFAIL added.
func loadWhileRedisDies(t *testing.T, f *fleet, want map[question]string) {
	const total, workers = 2000, 16
	load := make([]question, total)
	for i := range load {
		switch i % 4 {
		case 0:
			load[i] = shared[i/4%len(shared)]
		case 1, 2:
			load[i] = question{fmt.Sprintf("n%d.wild.example.com.", i), dns.TypeA, dns.RcodeSuccess}
		default:
			load[i] = question{fmt.Sprintf("u%d.alpha.lab.", i), dns.TypeA, dns.RcodeNameError}
		}
	}
	var (
		next, done, lost, servfail, wrong atomic.Int64
		kill                              sync.Once
		mu                                sync.Mutex
		before, after                     []time.Duration
		redisDown                         atomic.Bool
		wg                                sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= total {
					return
				}
				q := load[i]
				down := redisDown.Load()
				m, rtt, err := ask(f.lb.Addr, q)
				switch {
				case err != nil:
					lost.Add(1)
				case m.Rcode == dns.RcodeServerFailure:
					servfail.Add(1)
				case m.Rcode != q.rcode || want[q] != "" && answerText(m) != want[q]:
					wrong.Add(1)
				}
				mu.Lock()
				if down {
					after = append(after, rtt)
				} else {
					before = append(before, rtt)
				}
				mu.Unlock()
				if done.Add(1) == total/3 {
					kill.Do(func() { f.redis.Kill(); redisDown.Store(true) })
				}
			}
		})
	}
	wg.Wait()
	if lost.Load() != 0 || servfail.Load() != 0 || wrong.Load() != 0 {
		t.Errorf("of %d queries through dnsdist with Redis killed after %d: %d lost, %d SERVFAIL, %d wrong answers", total, total/3, lost.Load(), servfail.Load(), wrong.Load())
	}
	var opened, errs, skipped float64
	for _, m := range f.metrics {
		st := scrape(t, m, "recursor_shared_cache")
		opened += st["recursor_shared_cache_breaker_opened_total"]
		errs += st["recursor_shared_cache_errors_total"]
		skipped += st["recursor_shared_cache_skipped_total"]
	}
	if opened == 0 {
		t.Error("no member's circuit breaker opened with Redis dead")
	}
	t.Logf("FIGURE Redis killed after %d of %d queries (16 in flight, through dnsdist to 2 members): %d lost, %d SERVFAIL; Redis errors %v, breaker opened %v times, %v key reads skipped; latency before p50 %v p99 %v, after p50 %v p99 %v",
		total/3, total, lost.Load(), servfail.Load(), errs, opened, skipped, pct(before, 50), pct(before, 99), pct(after, 50), pct(after, 99))
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(d))
	return s[min(len(s)-1, len(s)*p/100)].Round(time.Microsecond)
}
