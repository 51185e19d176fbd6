// Package cookie owns DNS cookies (RFC 7873, RFC 9018): SipHash-2-4, the
// interoperable server cookie of RFC 9018 (made and checked against a
// current and a previous secret), the COOKIE option's layout, and the
// client side's jar (one client cookie per upstream server address, and
// the server cookie each server last gave). It does no I/O.
package cookie

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// Lengths of the COOKIE option's parts (RFC 7873 section 4).
const (
	ClientLen    = 8  // the client cookie
	MinServerLen = 8  // the shortest server cookie
	MaxServerLen = 32 // the longest server cookie
	// ServerLen is the length of an RFC 9018 server cookie: version,
	// three reserved bytes, a 32-bit timestamp and an 8-byte hash.
	ServerLen = 16
)

// Split reads the data of a COOKIE option into its client cookie and its
// server cookie (empty when the client has none yet). ok is false for a
// length RFC 7873 5.2.2 calls malformed (answered FORMERR): not 8, and not
// 16 to 40.
func Split(data []byte) (client, server []byte, ok bool) {
	n := len(data)
	if n != ClientLen && (n < ClientLen+MinServerLen || n > ClientLen+MaxServerLen) {
		return nil, nil, false
	}
	return data[:ClientLen], data[ClientLen:], true
}

// ParseKey reads a secret written as 32 hex digits (16 bytes).
func ParseKey(s string) (Key, error) {
	var k Key
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != len(k) {
		return k, fmt.Errorf("cookie secret %q: want 32 hex digits (16 bytes)", s)
	}
	copy(k[:], b)
	return k, nil
}

// RandomKey returns a fresh random secret.
func RandomKey() Key {
	var k Key
	rand.Read(k[:]) // never fails (crypto/rand, Go 1.24)
	return k
}
