package resolver

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Server selection and timeouts (the infrastructure cache). Figures follow
// Unbound's and RFC 6298's shape: an unknown server gets a generous first
// timeout, known ones a timeout from their smoothed RTT.
const (
	// UnknownServerTimeout is the first timeout for a server never heard from.
	UnknownServerTimeout = 400 * time.Millisecond
	MinServerTimeout     = 50 * time.Millisecond
	MaxServerTimeout     = 2 * time.Second
	// MaxAttemptsPerAddr: tries of one address within one client query.
	MaxAttemptsPerAddr = 3
	// InfraCacheHosts bounds the per-address memory.
	InfraCacheHosts = 10_000
	// Failure holding (RFC 9520): after failureHoldAfter consecutive
	// failures an address is not asked for a while, starting at
	// minFailureHold and doubling up to maxFailureHold.
	failureHoldAfter = 3
	// recentSuccess: a server that answered this recently is not held,
	// whatever its timeouts (it is overloaded, not gone).
	recentSuccess  = 2 * time.Second
	minFailureHold = time.Second
	maxFailureHold = 5 * time.Minute
	// rttBand: servers whose SRTT is within this of the best are chosen
	// among at random, so load spreads and new RTTs get measured.
	rttBand = 100 * time.Millisecond
	// InfraHostTTL: what is known of an address (RTT, holds, quirks,
	// zones it is lame for) is forgotten this long after it was first
	// learned, as Unbound's infra-host-ttl, so a server that mended its
	// ways is tried afresh.
	InfraHostTTL = 15 * time.Minute
	// LameHold: a server that refused a zone or was lame for it is not
	// asked about that zone again for this long while its other servers
	// answer; other zones on the same address are unaffected.
	LameHold = InfraHostTTL
	// ServfailHold: the same for a server that answered SERVFAIL, which
	// is more often passing (a zone being loaded, a backend down).
	ServfailHold = 30 * time.Second
	// CaseMismatchesToMark: questions whose reply twice in a row did not
	// echo the 0x20 case (a fresh case the second time), after which an
	// address is asked without 0x20 until its entry expires.
	CaseMismatchesToMark = 3
	// maxZoneMarks bounds the zones remembered per address.
	maxZoneMarks = 8
)

type hostStats struct {
	srtt, rttvar time.Duration // zero srtt: never measured
	rto          time.Duration // current timeout, backed off after timeouts
	failures     int           // consecutive
	holdUntil    time.Time
	holdLevel    int       // holds in a row: each doubles the next
	lastSuccess  time.Time // when it last answered
	quirks       quirk
	created      time.Time // the entry is forgotten InfraHostTTL after
	// caseMismatches counts confirmed replies that did not echo the
	// question's case; CaseMismatchesToMark of them set quirkNo0x20.
	caseMismatches int
	zoneMarks      []zoneMark // zones it refused, was lame or failed for
}

// zoneMark: an address is passed over for zone until a time.
type zoneMark struct {
	zone  string
	until time.Time
}

// quirk is something a server gets wrong that we work around.
type quirk uint8

const (
	quirkNoEDNS quirk = 1 << iota // answers EDNS queries with FORMERR/NOTIMP or not at all
	quirkNo0x20                   // does not echo the question's letter case
)

// infra remembers, per server address, what talking to it was like.
type infra struct {
	mu    sync.Mutex // guards the hostStats values and v6Failures; the LRU locks itself
	hosts *lru.Cache[netip.Addr, *hostStats]
	// v6Failures counts IPv6 timeouts since the last IPv6 reply: when
	// IPv6 is broken on this host, every IPv6 server times out, and
	// IPv4 servers are then tried first.
	v6Failures int
}

// v6BrokenAfter IPv6 timeouts in a row make IPv4 preferred.
const v6BrokenAfter = 3

func newInfra() *infra {
	h, _ := lru.New[netip.Addr, *hostStats](InfraCacheHosts)
	return &infra{hosts: h}
}

// get returns a's entry, made afresh when missing or expired.
func (in *infra) get(a netip.Addr, now time.Time) *hostStats {
	if s, ok := in.hosts.Get(a); ok && now.Sub(s.created) < InfraHostTTL {
		return s
	}
	s := &hostStats{created: now}
	in.hosts.Add(a, s)
	return s
}

// peek returns a's live entry without touching the LRU order.
func (in *infra) peek(a netip.Addr, now time.Time) (*hostStats, bool) {
	s, ok := in.hosts.Peek(a)
	if !ok || now.Sub(s.created) >= InfraHostTTL {
		return nil, false
	}
	return s, true
}

// timeout is how long to wait for a if asked now.
func (in *infra) timeout(a netip.Addr, now time.Time) time.Duration {
	in.mu.Lock()
	defer in.mu.Unlock()
	s, ok := in.peek(a, now)
	if !ok || s.rto == 0 {
		return UnknownServerTimeout
	}
	return s.rto
}

// held reports whether a failed so often lately that it is not to be asked.
func (in *infra) held(a netip.Addr, now time.Time) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	s, ok := in.peek(a, now)
	return ok && now.Before(s.holdUntil)
}

// forQuery returns what a query to a needs: its quirks and how long to
// wait for it, under one lock.
func (in *infra) forQuery(a netip.Addr, now time.Time) (quirk, time.Duration) {
	in.mu.Lock()
	defer in.mu.Unlock()
	s, ok := in.peek(a, now)
	switch {
	case !ok:
		return 0, UnknownServerTimeout
	case s.rto == 0:
		return s.quirks, UnknownServerTimeout
	}
	return s.quirks, s.rto
}

func (in *infra) quirks(a netip.Addr, now time.Time) quirk {
	in.mu.Lock()
	defer in.mu.Unlock()
	if s, ok := in.peek(a, now); ok {
		return s.quirks
	}
	return 0
}

func (in *infra) addQuirk(a netip.Addr, q quirk, now time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.get(a, now).quirks |= q
}

// caseMismatch counts a question of a's whose reply twice did not echo
// its case; CaseMismatchesToMark of them and a is asked without 0x20. One
// mismatch proves little: an off-path spoofer who guessed ID and port
// but not the case sends one too.
func (in *infra) caseMismatch(a netip.Addr, now time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := in.get(a, now)
	s.caseMismatches++
	if s.caseMismatches >= CaseMismatchesToMark {
		s.quirks |= quirkNo0x20
	}
}

// markZone passes a over for zone until until.
func (in *infra) markZone(a netip.Addr, zone string, until, now time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := in.get(a, now)
	for i, m := range s.zoneMarks {
		if m.zone == zone {
			s.zoneMarks[i].until = until
			return
		}
	}
	if len(s.zoneMarks) == maxZoneMarks {
		s.zoneMarks = slices.Delete(s.zoneMarks, 0, 1) // the oldest
	}
	s.zoneMarks = append(s.zoneMarks, zoneMark{zone, until})
}

// markedFor reports whether a is passed over for zone at now.
func (in *infra) markedFor(a netip.Addr, zone string, now time.Time) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	s, ok := in.peek(a, now)
	return ok && s.markedFor(zone, now)
}

// markedFor reports whether the address is passed over for zone at now.
func (s *hostStats) markedFor(zone string, now time.Time) bool {
	for _, m := range s.zoneMarks {
		if m.zone == zone {
			return now.Before(m.until)
		}
	}
	return false
}

// report tells the infra cache what asking a about zone came to: the
// selector's policy for each outcome lives here.
func (in *infra) report(a netip.Addr, zone string, o Outcome, rtt time.Duration, now time.Time) {
	switch o {
	case OutcomeAnswered, OutcomeEDNS:
		in.success(a, rtt, now)
	case OutcomeTimeout:
		in.failure(a, true, now) // backs the timeout off; holds a dead address
	case OutcomeNetError, OutcomeMalformed, OutcomeCaseMismatch:
		in.failure(a, false, now) // counts against the server
	case OutcomeRefused, OutcomeLame:
		// The server is up but not for this zone: other zones on the
		// same address must not suffer.
		in.success(a, rtt, now)
		in.markZone(a, zone, now.Add(LameHold), now)
	case OutcomeServfail:
		in.success(a, rtt, now)
		in.markZone(a, zone, now.Add(ServfailHold), now)
	}
}

// success records a reply after rtt (RFC 6298 smoothing).
func (in *infra) success(a netip.Addr, rtt time.Duration, now time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := in.get(a, now)
	if s.srtt == 0 {
		s.srtt, s.rttvar = rtt, rtt/2
	} else {
		diff := s.srtt - rtt
		if diff < 0 {
			diff = -diff
		}
		s.rttvar = (3*s.rttvar + diff) / 4
		s.srtt = (7*s.srtt + rtt) / 8
	}
	s.rto = min(max(s.srtt+4*s.rttvar, MinServerTimeout), MaxServerTimeout)
	s.failures, s.holdUntil, s.holdLevel = 0, time.Time{}, 0
	s.lastSuccess = now
	if a.Is6() {
		in.v6Failures = 0
	}
}

// failure records a timeout or an unusable reply at now.
func (in *infra) failure(a netip.Addr, timedOut bool, now time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := in.get(a, now)
	if timedOut {
		if s.rto == 0 {
			s.rto = UnknownServerTimeout
		}
		s.rto = min(s.rto*3/2, MaxServerTimeout)
		if a.Is6() {
			in.v6Failures++
		}
	}
	s.failures++
	// Hold only a server that looks dead, not one that is slow under
	// load: it failed several times in a row and has not answered
	// lately. Failures that arrive together (many queries in flight when
	// it stopped answering) extend the hold once, not once each.
	if s.failures >= failureHoldAfter && now.Sub(s.lastSuccess) > recentSuccess && !now.Before(s.holdUntil) {
		hold := minFailureHold << min(s.holdLevel, 12)
		s.holdUntil = now.Add(min(hold, maxFailureHold))
		s.holdLevel++
	}
}

// order sorts addrs best first: by SRTT (unknown servers count as
// UnknownServerTimeout), shuffled within rttBand of each other.
func (in *infra) order(addrs []netip.Addr, now time.Time) {
	in.orderFor(addrs, "", now)
}

// orderFor is order with the addresses marked for zone (markZone) after
// all the others. A delegation has a few addresses: the sort is an
// insertion sort over keys computed under one lock, with no map.
func (in *infra) orderFor(addrs []netip.Addr, zone string, now time.Time) {
	rand.Shuffle(len(addrs), func(i, j int) { addrs[i], addrs[j] = addrs[j], addrs[i] })
	var buf [16]int64
	keys := buf[:0]
	in.mu.Lock()
	for _, a := range addrs {
		keys = append(keys, in.rankLocked(a, zone, now))
	}
	in.mu.Unlock()
	for i := 1; i < len(addrs); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
			addrs[j], addrs[j-1] = addrs[j-1], addrs[j]
		}
	}
}

// rankLocked is a's sort key for orderFor: its RTT band, after every band
// when it is marked for zone. in.mu is held.
func (in *infra) rankLocked(a netip.Addr, zone string, now time.Time) int64 {
	score := UnknownServerTimeout
	s, ok := in.peek(a, now)
	switch {
	case ok && s.srtt != 0:
		score = s.srtt
	case ok && s.rto > 0:
		score = s.rto
	}
	if a.Is6() && in.v6Failures >= v6BrokenAfter {
		score += MaxServerTimeout
	}
	key := int64(score / rttBand)
	if ok && zone != "" && s.markedFor(zone, now) {
		key += 1 << 40 // after any band
	}
	return key
}
