// Package dnsname owns the one spelling of a domain name that the cache,
// the resolver and the root hints compare and key on: fully qualified, in
// the presentation form miekg/dns gives a name unpacked from the wire, with
// ASCII letters in lower case.
//
// DNS names are case-insensitive in ASCII only (RFC 4343). strings.ToLower
// is not fit for them: it maps every invalid UTF-8 byte to U+FFFD, so two
// different names would share one key.
package dnsname

import (
	"errors"

	"github.com/miekg/dns"
)

// ErrBad is returned by Canonical for text that is not a domain name.
var ErrBad = errors.New("not a domain name")

// Lower folds the ASCII letters of s to lower case and leaves every other
// byte alone. It returns s itself, without allocating, when nothing changes.
func Lower(s string) string {
	i := 0
	for i < len(s) && !('A' <= s[i] && s[i] <= 'Z') {
		i++
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if 'A' <= b[i] && b[i] <= 'Z' {
			b[i] += 'a' - 'A'
		}
	}
	return string(b)
}

// EqualFold compares names as RFC 4343 does: ASCII letters without case,
// every other byte exactly (strings.EqualFold would also fold Unicode,
// and take two invalid UTF-8 bytes as the same rune).
func EqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Canonical returns name in the spelling of the package comment. Names
// typed by a person or read from a file may hold raw bytes, or escapes
// such as \065 that a packet never shows; Canonical gives them the form
// the same name has when it comes back in a reply.
func Canonical(name string) (string, error) {
	if plain(name) {
		if _, ok := dns.IsDomainName(name); !ok {
			return "", ErrBad
		}
		return Lower(dns.Fqdn(name)), nil
	}
	var wire [256]byte
	n, err := dns.PackDomainName(dns.Fqdn(name), wire[:], 0, nil, false)
	if err != nil {
		return "", ErrBad
	}
	s, _, err := dns.UnpackDomainName(wire[:n], 0)
	if err != nil {
		return "", ErrBad
	}
	return Lower(s), nil
}

// plain reports whether name has only bytes that a name unpacked from the
// wire shows as themselves: printable ASCII other than the characters
// miekg/dns escapes.
func plain(name string) bool {
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c <= ' ' || c > '~':
			return false
		case c == '\\' || c == '\'' || c == '@' || c == ';' || c == '(' || c == ')' || c == '"':
			return false
		}
	}
	return true
}
