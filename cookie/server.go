package cookie

import (
	"crypto/subtle"
	"encoding/binary"
	"net/netip"
	"sync/atomic"
)

// Server cookies of RFC 9018 section 4: version 1, three reserved bytes
// (zero in the ones we make), the time they were made in seconds since
// the epoch (modulo 2^32), and SipHash-2-4, keyed by the server secret,
// over client cookie | version | reserved | timestamp | client address.
// Any server sharing the secret (an anycast set, of any vendor) accepts
// the cookies of the others.

// Version is the server cookie version of RFC 9018.
const Version = 1

// The lifetime rules of RFC 9018 section 4.3, in seconds.
const (
	// MaxAge: a cookie made longer ago than this is no longer valid.
	MaxAge = 3600
	// RenewAge: a valid cookie older than this is answered with a fresh
	// one, so that a client in steady use never holds an expired one.
	RenewAge = 1800
	// MaxSkew: a cookie dated this far in the future (another server's
	// clock) is still valid; further is not.
	MaxSkew = 300
)

// Verdict is what a server makes of the cookie of a query.
type Verdict int

const (
	// ClientOnly: the query has a client cookie and no server cookie (a
	// first contact); the answer carries a fresh server cookie.
	ClientOnly Verdict = iota
	// Bad: the server cookie is not one of ours for this client and
	// client cookie, or has expired; the answer carries a fresh one.
	Bad
	// Renew: a valid cookie that should be replaced: older than
	// RenewAge, or made with the previous secret.
	Renew
	// Good: a valid cookie the answer may repeat as it is.
	Good
)

// Valid reports whether the query's server cookie is one of ours.
func (v Verdict) Valid() bool { return v == Renew || v == Good }

func (v Verdict) String() string {
	switch v {
	case ClientOnly:
		return "client-only"
	case Bad:
		return "bad"
	case Renew:
		return "renew"
	case Good:
		return "good"
	}
	return "unknown"
}

// Secrets makes and checks server cookies. The secrets may be replaced
// at any time (SetKeys), concurrently with use.
type Secrets struct {
	keys atomic.Pointer[keyPair]
}

type keyPair struct {
	// The secrets as SipHash's two key words.
	current, previous [2]uint64
	hasPrevious       bool
}

func keyWords(k *Key) [2]uint64 {
	return [2]uint64{binary.LittleEndian.Uint64(k[:8]), binary.LittleEndian.Uint64(k[8:])}
}

// NewSecrets returns Secrets that make cookies with current and accept,
// besides, those made with previous when it is not nil (the secret
// before a rotation).
func NewSecrets(current Key, previous *Key) *Secrets {
	s := new(Secrets)
	s.SetKeys(current, previous)
	return s
}

// SetKeys replaces the secrets, as NewSecrets sets them.
func (s *Secrets) SetKeys(current Key, previous *Key) {
	p := &keyPair{current: keyWords(&current)}
	if previous != nil {
		p.previous, p.hasPrevious = keyWords(previous), true
	}
	s.keys.Store(p)
}

// Make appends to dst a fresh server cookie (ServerLen bytes) for the
// client cookie client (ClientLen bytes) of the client at addr, dated now
// (seconds since the epoch).
func (s *Secrets) Make(dst, client []byte, addr netip.Addr, now uint32) []byte {
	var head [ClientLen + 8]byte
	copy(head[:], client)
	head[ClientLen] = Version
	binary.BigEndian.PutUint32(head[ClientLen+4:], now)
	k := &s.keys.Load().current
	h := sipHashCookie(k[0], k[1], head[:], addr.Unmap())
	dst = append(dst, head[ClientLen:]...)
	return binary.LittleEndian.AppendUint64(dst, h)
}

// Check judges the server cookie server that came with the client cookie
// client from addr, at now (seconds since the epoch). An empty server
// cookie is ClientOnly; one of another length or version than ours is
// Bad.
func (s *Secrets) Check(client, server []byte, addr netip.Addr, now uint32) Verdict {
	if len(server) == 0 {
		return ClientOnly
	}
	if len(server) != ServerLen || server[0] != Version || len(client) != ClientLen {
		return Bad
	}
	age := int32(now - binary.BigEndian.Uint32(server[4:8])) // modulo 2^32: across the wrap too
	if age > MaxAge || age < -MaxSkew {
		return Bad
	}
	var head [ClientLen + 8]byte
	copy(head[:], client)
	copy(head[ClientLen:], server[:8])
	addr = addr.Unmap()
	keys := s.keys.Load()
	var want [8]byte
	binary.LittleEndian.PutUint64(want[:], sipHashCookie(keys.current[0], keys.current[1], head[:], addr))
	if subtle.ConstantTimeCompare(want[:], server[8:]) == 1 {
		if age > RenewAge {
			return Renew
		}
		return Good
	}
	if keys.hasPrevious {
		binary.LittleEndian.PutUint64(want[:], sipHashCookie(keys.previous[0], keys.previous[1], head[:], addr))
		if subtle.ConstantTimeCompare(want[:], server[8:]) == 1 {
			return Renew
		}
	}
	return Bad
}

// Reply appends to dst the COOKIE option data of the answer to a query
// whose cookie had the verdict v: the client cookie and, for a Good one,
// the server cookie as it came, else a fresh one.
func (s *Secrets) Reply(dst, client, server []byte, v Verdict, addr netip.Addr, now uint32) []byte {
	dst = append(dst, client...)
	if v == Good {
		return append(dst, server...)
	}
	return s.Make(dst, client, addr, now)
}
