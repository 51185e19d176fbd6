package dnssec

import (
	"strconv"
	"sync/atomic"
	"time"
)

// Status is the security of an RRset, a zone or an answer (RFC 4035 section 4.3).
type Status uint8

const (
	Indeterminate Status = iota // no trust anchor covers it, or not checked
	Insecure                    // proven unsigned: insecure delegation, opt-out, unsupported algorithm or digest, NSEC3 over the iteration limit, negative trust anchor
	Secure                      // the chain verifies from an anchor
	Bogus                       // should verify and does not
)

func (s Status) String() string {
	switch s {
	case Indeterminate:
		return "indeterminate"
	case Insecure:
		return "insecure"
	case Secure:
		return "secure"
	case Bogus:
		return "bogus"
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// Verdict is the outcome of one check.
type Verdict struct {
	Status Status
	// EDE is the RFC 8914 code when not Secure (dns.ExtendedErrorCode*), 0 when Secure.
	EDE uint16
	// Why is one line for --trace and errors.
	Why string
	// KeyTag is the key that verified the set (Secure).
	KeyTag uint16
	// Expires is the earliest expiration of the signatures relied on (Secure);
	// TTLs are clamped to it.
	Expires time.Time
	// Exhausted reports that the budget ran out (Status Bogus, EDE 6).
	Exhausted bool
}

// Limits bound the work of validation (KeyTrap CVE-2023-50387, NSEC3 CVE-2023-50868).
// A zero field takes DefaultLimits' value.
type Limits struct {
	MaxVerificationsPerRRset int  // signature verifications for one RRset
	MaxVerificationsPerQuery int  // signature verifications for one client query
	MaxKeysPerDS             int  // keys with a DS's tag and algorithm tried against it
	MaxNSEC3Iterations       int  // above it a proof is Insecure with EDE 27 (RFC 9276)
	MaxNSEC3PerReply         int  // NSEC3 records considered in one proof
	MaxHashesPerQuery        int  // NSEC3 name hashes per client query
	AllowWeak                bool // test only: RSA keys under 1024 bits, DSA (algs 3, 6); never set by the binary
}

// DefaultLimits are the limits the resolver runs with.
var DefaultLimits = Limits{
	MaxVerificationsPerRRset: 8,
	MaxVerificationsPerQuery: 32,
	MaxKeysPerDS:             4,
	MaxNSEC3Iterations:       50,
	MaxNSEC3PerReply:         8,
	MaxHashesPerQuery:        600,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.MaxVerificationsPerRRset <= 0 {
		l.MaxVerificationsPerRRset = d.MaxVerificationsPerRRset
	}
	if l.MaxVerificationsPerQuery <= 0 {
		l.MaxVerificationsPerQuery = d.MaxVerificationsPerQuery
	}
	if l.MaxKeysPerDS <= 0 {
		l.MaxKeysPerDS = d.MaxKeysPerDS
	}
	if l.MaxNSEC3Iterations <= 0 {
		l.MaxNSEC3Iterations = d.MaxNSEC3Iterations
	}
	if l.MaxNSEC3PerReply <= 0 {
		l.MaxNSEC3PerReply = d.MaxNSEC3PerReply
	}
	if l.MaxHashesPerQuery <= 0 {
		l.MaxHashesPerQuery = d.MaxHashesPerQuery
	}
	return l
}

// Budget counts the work of one client query, shared by every RRset and
// proof checked for it. Safe for concurrent use: a query's parallel name
// server lookups share it. A nil *Budget is treated as a fresh budget with
// DefaultLimits for the one call it is passed to.
type Budget struct {
	limits        Limits
	verifications atomic.Int64
	hashes        atomic.Int64
	exhausted     atomic.Bool
}

// NewBudget returns an unused budget bounded by l.
func NewBudget(l Limits) *Budget {
	return &Budget{limits: l.withDefaults()}
}

// Verifications reports the signature verifications done so far.
func (b *Budget) Verifications() int { return int(b.verifications.Load()) }

// Hashes reports the NSEC3 name hashes computed so far.
func (b *Budget) Hashes() int { return int(b.hashes.Load()) }

// Exhausted reports whether some check was refused work because a limit was reached.
func (b *Budget) Exhausted() bool { return b.exhausted.Load() }

// orDefault lets every entry point accept a nil budget.
func (b *Budget) orDefault() *Budget {
	if b == nil {
		return NewBudget(DefaultLimits)
	}
	return b
}

// take reserves one unit of c under max; false (and the budget marked
// exhausted) when none is left. A compare-and-swap loop, so the counter never
// exceeds max even under concurrent use.
func (b *Budget) take(c *atomic.Int64, max int) bool {
	for {
		n := c.Load()
		if n >= int64(max) {
			b.exhausted.Store(true)
			return false
		}
		if c.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (b *Budget) takeVerification() bool {
	return b.take(&b.verifications, b.limits.MaxVerificationsPerQuery)
}

func (b *Budget) takeHash() bool {
	return b.take(&b.hashes, b.limits.MaxHashesPerQuery)
}
