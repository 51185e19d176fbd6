// Package sharedcache owns the cache tier that a fleet of resolvers shares
// through Redis (or Valkey, which speaks the same protocol), as Unbound's
// cachedb: an entry one member learned is read by the others when their
// own cache misses, before they iterate.
//
// Keys are hashed from (name, type, class) with a key derived from the
// fleet secret; values carry the entry's records, absolute expiry, rank
// and DNSSEC status, sealed by an HMAC-SHA256 keyed by the fleet secret
// over key and value. A value whose seal fails is dropped, deleted and
// counted: write access to Redis alone cannot poison the fleet. The
// DNSSEC status of a sealed entry is trusted as the member that wrote it
// gave it, as the member's own cache would be: the seal says a member
// wrote it, and the members of a fleet share their validation settings.
//
// Reads are bounded by a short deadline and a circuit breaker stops them
// after failures in a row, for a pause; writes are queued (bounded, a full
// queue drops) and sent by Run: a slow or dead Redis never slows a client,
// and a client never sees its errors. Entries expire in Redis with their
// TTL (SET PX), so Redis needs no maintenance but a maxmemory policy.
//
// The client is go-redis v9: Redis's own Go client, whose per-command
// context bounds each read, with a plain connection pool and pipelines
// for the batched writes. valkey-go (rueidis) pipelines automatically and
// is faster under heavy concurrency, but a read here is one MGET per
// cache miss, which go-redis does in one round trip too.
package sharedcache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/recursor-dns/recursor/cache"
)

// Defaults of Config.
const (
	DefaultTimeout          = 20 * time.Millisecond
	DefaultQueueSize        = 10_000
	DefaultBreakerFailures  = 5
	DefaultBreakerPause     = 5 * time.Second
	DefaultWriteTimeout     = 250 * time.Millisecond
	MinSecretLen            = 16
	writeBatch              = 128
	minStoreTTL             = time.Second
	maxConcurrentRedisConns = 64
)

// Config configures a Tier. URL and Secret are required.
type Config struct {
	// URL is redis://[user:password@]host:port/db (or rediss:// for TLS,
	// unix:///path?db=N).
	URL string
	// Secret is the fleet secret, at least MinSecretLen bytes, the same
	// for every member: it names and seals the entries.
	Secret []byte
	// Timeout bounds a read (all of Lookup); default DefaultTimeout.
	Timeout time.Duration
	// WriteTimeout bounds a batch of writes; default DefaultWriteTimeout.
	WriteTimeout time.Duration
	// QueueSize bounds the writes waiting for Run; default
	// DefaultQueueSize. A write that finds it full is dropped.
	QueueSize int
	// BreakerFailures: failed requests in a row (errors, timeouts) that
	// open the breaker, for BreakerPause; defaults DefaultBreakerFailures
	// and DefaultBreakerPause.
	BreakerFailures int
	BreakerPause    time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger gets the breaker's openings; nil discards.
	Logger *slog.Logger
}

// Tier is the shared cache tier. It is safe for concurrent use.
type Tier struct {
	client  *redis.Client
	keys    keys
	timeout time.Duration
	wtime   time.Duration
	now     func() time.Time
	log     *slog.Logger
	queue   chan write
	brk     breaker

	hits, misses, errors, rejected atomic.Uint64
	skipped, queued, written       atomic.Uint64
	dropped                        atomic.Uint64
	reads, readNanos               atomic.Uint64
}

// write is a queued SET (value non-nil) or DEL.
type write struct {
	key   string
	value []byte
	ttl   time.Duration
}

// Stats are the tier's counts since New.
type Stats struct {
	Hits     uint64 // keys read and found, sealed and live
	Misses   uint64 // keys read and not found (or expired)
	Errors   uint64 // reads and write batches that failed or timed out
	Rejected uint64 // values whose seal or content failed the check
	Skipped  uint64 // reads not sent: the breaker was open
	Queued   uint64 // writes queued (values, and deletions of tampered ones)
	Written  uint64 // writes sent: values written, tampered ones deleted
	Dropped  uint64 // writes dropped: queue full, breaker open, or their batch failed
	// Reads and ReadTime: the reads sent to Redis and the time they took
	// in all, the latency a shared-cache read adds to a cache miss.
	Reads    uint64
	ReadTime time.Duration
	// BreakerOpen: Redis is not asked now (but for a probe now and then);
	// BreakerOpened counts the times it opened.
	BreakerOpen   bool
	BreakerOpened uint64
}

// New returns a tier for cfg. It connects lazily: a Redis that is down
// at start is a breaker that opens, not an error.
func New(cfg Config) (*Tier, error) {
	if len(cfg.Secret) < MinSecretLen {
		return nil, fmt.Errorf("shared cache: the fleet secret must be at least %d bytes", MinSecretLen)
	}
	opts, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("shared cache %q: %w", redactURL(cfg.URL), err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.BreakerFailures <= 0 {
		cfg.BreakerFailures = DefaultBreakerFailures
	}
	if cfg.BreakerPause <= 0 {
		cfg.BreakerPause = DefaultBreakerPause
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// The deadlines are the tier's: no retries (the breaker decides when
	// to try again), and the context's deadline bounds every socket call.
	opts.MaxRetries = -1
	opts.DialerRetries = 1
	opts.DialTimeout = max(cfg.Timeout, cfg.WriteTimeout)
	opts.ReadTimeout, opts.WriteTimeout = opts.DialTimeout, opts.DialTimeout
	opts.ContextTimeoutEnabled = true
	opts.PoolTimeout = cfg.Timeout
	opts.PoolSize = maxConcurrentRedisConns
	opts.Protocol = 2
	opts.DisableIdentity = true
	opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	quietClient.Do(func() { redis.SetLogger(discardLog{}) })
	return &Tier{
		client:  redis.NewClient(opts),
		keys:    deriveKeys(cfg.Secret),
		timeout: cfg.Timeout,
		wtime:   cfg.WriteTimeout,
		now:     cfg.Now,
		log:     cfg.Logger,
		queue:   make(chan write, cfg.QueueSize),
		brk:     breaker{threshold: cfg.BreakerFailures, pause: cfg.BreakerPause, now: cfg.Now},
	}, nil
}

// quietClient silences go-redis's own logger, which is the package's and
// prints every failed dial: with Redis down that is a line per read. The
// tier's counts and the breaker's warning say what matters.
var quietClient sync.Once

type discardLog struct{}

func (discardLog) Printf(context.Context, string, ...any) {}

// redactURL hides the password of a Redis URL in messages.
func redactURL(s string) string {
	at := strings.LastIndex(s, "@")
	scheme := strings.Index(s, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return s
	}
	return s[:scheme+3] + "…" + s[at:]
}

// Close closes the connections to Redis. Writes still queued are lost.
func (t *Tier) Close() error { return t.client.Close() }

// Key returns the Redis key of k (for tests and inspection).
func (t *Tier) Key(k cache.Key) string { return t.keys.redisKey(k) }

// Seal returns the Redis key of k and the sealed value of e, as Store
// writes them (for tools and tests: the fleet test forges an entry with
// another secret and writes it where the fleet looks).
func (t *Tier) Seal(k cache.Key, e cache.Entry) (key string, value []byte, err error) {
	key = t.keys.redisKey(k)
	value, err = t.keys.encode(key, e)
	return key, value, err
}

// errMiss: a value that is no entry to hand out, but no tampering either.
var errMiss = errors.New("miss")

// Lookup returns the live entries of keys, in their order, read in one
// round trip within the tier's deadline; a key not found is the zero
// Entry (Rank 0). Failures are misses: they are counted, never returned.
func (t *Tier) Lookup(ctx context.Context, keys []cache.Key) []cache.Entry {
	out := make([]cache.Entry, len(keys))
	if len(keys) == 0 {
		return out
	}
	if !t.brk.allow() {
		t.skipped.Add(uint64(len(keys)))
		return out
	}
	rks := make([]string, len(keys))
	for i, k := range keys {
		rks[i] = t.keys.redisKey(k)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.timeout)
	defer cancel()
	start := time.Now()
	vals, err := t.client.MGet(ctx, rks...).Result()
	t.reads.Add(1)
	t.readNanos.Add(uint64(time.Since(start)))
	t.noteOutcome(err)
	if err != nil {
		return out
	}
	now := t.now()
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			t.misses.Add(1)
			continue
		}
		e, err := t.keys.decode(rks[i], keys[i], []byte(s), now)
		switch {
		case err == nil:
			t.hits.Add(1)
			out[i] = e
		case errors.Is(err, errMiss):
			t.misses.Add(1)
		default:
			t.rejected.Add(1)
			t.enqueue(write{key: rks[i]}) // delete it: the next read misses at once
		}
	}
	return out
}

// noteOutcome reports a request's outcome to the breaker.
func (t *Tier) noteOutcome(err error) {
	if err == nil {
		t.brk.done(true)
		return
	}
	t.errors.Add(1)
	wasOpen, _ := t.brk.state()
	t.brk.done(false)
	if open, _ := t.brk.state(); open && !wasOpen {
		t.log.Warn("shared cache: Redis fails, not asked for a while", "err", err, "pause", t.brk.pause)
	}
}

// Store queues e, the entry of k, for writing by Run. It never blocks: a
// full queue drops it (counted). Entries the tier does not share (see
// shareable) and entries with less than a second to live are not queued.
func (t *Tier) Store(k cache.Key, e cache.Entry) {
	ttl := e.Expires.Sub(t.now())
	if ttl < minStoreTTL || shareable(e) != nil || check(k, e) != nil {
		return
	}
	rk := t.keys.redisKey(k)
	v, err := t.keys.encode(rk, e)
	if err != nil {
		return
	}
	t.enqueue(write{key: rk, value: v, ttl: ttl})
}

func (t *Tier) enqueue(w write) {
	select {
	case t.queue <- w:
		t.queued.Add(1)
	default:
		t.dropped.Add(1)
	}
}

// Run sends the queued writes to Redis, in pipelined batches, until ctx
// ends. Calls may overlap (a reload's new resolver starts its Run before
// the old one's ends): each takes writes off the one queue.
func (t *Tier) Run(ctx context.Context) error {
	batch := make([]write, 0, writeBatch)
	for {
		select {
		case <-ctx.Done():
			return nil
		case w := <-t.queue:
			batch = append(batch[:0], w)
		}
	more:
		for len(batch) < writeBatch {
			select {
			case w := <-t.queue:
				batch = append(batch, w)
			default:
				break more
			}
		}
		t.flush(ctx, batch)
	}
}

// flush writes batch in one pipeline, unless the breaker is open.
func (t *Tier) flush(ctx context.Context, batch []write) {
	if !t.brk.allow() {
		t.dropped.Add(uint64(len(batch)))
		return
	}
	ctx, cancel := context.WithTimeout(ctx, t.wtime)
	defer cancel()
	_, err := t.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, w := range batch {
			if w.value == nil {
				p.Del(ctx, w.key)
			} else {
				p.Set(ctx, w.key, w.value, w.ttl)
			}
		}
		return nil
	})
	t.noteOutcome(err)
	if err != nil {
		t.dropped.Add(uint64(len(batch)))
		return
	}
	t.written.Add(uint64(len(batch)))
}

// Stats returns the tier's counts.
func (t *Tier) Stats() Stats {
	open, opened := t.brk.state()
	return Stats{
		Hits: t.hits.Load(), Misses: t.misses.Load(), Errors: t.errors.Load(),
		Rejected: t.rejected.Load(), Skipped: t.skipped.Load(),
		Queued: t.queued.Load(), Written: t.written.Load(), Dropped: t.dropped.Load(),
		Reads: t.reads.Load(), ReadTime: time.Duration(t.readNanos.Load()),
		BreakerOpen: open, BreakerOpened: opened,
	}
}
