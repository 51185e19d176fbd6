package cookie

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"time"
)

// The client side (RFC 7873 section 5.1, RFC 9018 section 3): the client
// cookie for a server is SipHash-2-4 of the server's address under a
// client secret of our own, so each server sees another one and none can
// tell it from the cookie it sees that it talks to the same resolver as
// another. The secret is replaced every ClientSecretLifetime, which
// changes every client cookie; the server cookies learnt for the old ones
// are dropped with it. The client's own address is left out (RFC 9018
// drops it): a resolver sends from many.

// DefaultClientSecretLifetime is how long a Jar keeps a client secret.
const DefaultClientSecretLifetime = 24 * time.Hour

// DefaultJarSize caps the server cookies a Jar remembers.
const DefaultJarSize = 10_000

// Jar holds the client side's cookies: the client secret and the server
// cookie each upstream server address gave last. It is safe for
// concurrent use.
type Jar struct {
	now      func() time.Time
	lifetime time.Duration
	max      int

	mu      sync.Mutex
	secret  Key
	since   time.Time           // when secret was made
	servers map[netip.Addr]seen // server cookies, for the current secret
}

type seen struct {
	n      uint8
	cookie [MaxServerLen]byte
}

// NewJar returns an empty Jar whose client secret lives lifetime
// (DefaultClientSecretLifetime when zero or less) by the clock now
// (time.Now when nil).
func NewJar(now func() time.Time, lifetime time.Duration) *Jar {
	if now == nil {
		now = time.Now
	}
	if lifetime <= 0 {
		lifetime = DefaultClientSecretLifetime
	}
	return &Jar{now: now, lifetime: lifetime, max: DefaultJarSize}
}

// rotateLocked replaces an expired client secret, and forgets the server
// cookies learnt for the old client cookies, by now, a reading of j's
// clock. A reading older than the secret (taken before another caller
// rotated it) is replaced by a fresh one: only a clock that went back
// makes a new secret early. j.mu is held.
func (j *Jar) rotateLocked(now time.Time) {
	if j.servers != nil && now.Before(j.since) {
		now = j.now()
	}
	if j.servers != nil && now.Sub(j.since) < j.lifetime && !now.Before(j.since) {
		return
	}
	j.secret, j.since = RandomKey(), now
	j.servers = map[netip.Addr]seen{}
}

// Option appends to dst the COOKIE option data to send to server: our
// client cookie for it and, when it gave one, its last server cookie.
func (j *Jar) Option(dst []byte, server netip.Addr) []byte {
	return j.OptionAt(dst, server, j.now())
}

// OptionAt is Option with now, a reading of the jar's clock the caller
// has already taken (within the exchange the option is for).
func (j *Jar) OptionAt(dst []byte, server netip.Addr, now time.Time) []byte {
	server = server.Unmap()
	j.mu.Lock()
	defer j.mu.Unlock()
	j.rotateLocked(now)
	dst = j.appendClient(dst, server)
	if s, ok := j.servers[server]; ok {
		dst = append(dst, s.cookie[:s.n]...)
	}
	return dst
}

// Client returns our client cookie for server.
func (j *Jar) Client(server netip.Addr) [ClientLen]byte {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.rotateLocked(j.now())
	var c [ClientLen]byte
	j.appendClient(c[:0], server.Unmap())
	return c
}

func (j *Jar) appendClient(dst []byte, server netip.Addr) []byte {
	a := server.As16()
	return binary.LittleEndian.AppendUint64(dst, SipHash24(&j.secret, a[:]))
}

// Learn keeps the server cookie of data, the COOKIE option of a reply
// from server, when its client cookie is ours for server. It reports
// whether the client cookie was ours (data malformed: false).
func (j *Jar) Learn(server netip.Addr, data []byte) bool {
	server = server.Unmap()
	client, sc, ok := Split(data)
	if !ok {
		return false
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.servers == nil {
		j.rotateLocked(j.now())
	}
	// No rotation here, nor its clock read: a reply to a client cookie
	// of an expired secret is learnt and dropped with it by the next
	// Option or Client, which rotate; one to a secret since replaced
	// does not match.
	var want [ClientLen]byte
	if string(j.appendClient(want[:0], server)) != string(client) {
		return false
	}
	if len(sc) == 0 {
		delete(j.servers, server)
		return true
	}
	if _, ok := j.servers[server]; !ok && len(j.servers) >= j.max {
		for k := range j.servers { // map order: one at random
			delete(j.servers, k)
			break
		}
	}
	var s seen
	s.n = uint8(copy(s.cookie[:], sc))
	j.servers[server] = s
	return true
}

// Forget drops the server cookie server gave, as when it answers without
// a COOKIE option (it no longer supports cookies).
func (j *Jar) Forget(server netip.Addr) {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.servers, server.Unmap())
}
