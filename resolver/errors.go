package resolver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// Sentinel errors that callers branch on. A *Error from Resolve unwraps to
// one of them or to a context error.
var (
	// ErrNoReachableServer: every server of a delegation timed out, failed
	// or was lame.
	ErrNoReachableServer = errors.New("no reachable authoritative server")
	// ErrLimit: the query's work budget ran out (upstream queries,
	// referrals, CNAME hops, sub-query depth, failures).
	ErrLimit = errors.New("work limit exceeded")
	// ErrLoop: a CNAME or delegation loop, or a name server whose address
	// depends on itself.
	ErrLoop = errors.New("resolution loop")
	// ErrBadName: the question cannot be asked (malformed name, class
	// other than IN, meta type).
	ErrBadName = errors.New("bad question")
	// ErrBogus: the answer failed DNSSEC validation; the *ValidationError
	// in the chain says where and why.
	ErrBogus = errors.New("DNSSEC validation failed")
)

// ValidationError says why an answer is bogus: the Extended DNS Error
// (RFC 8914) a SERVFAIL carries for it, and the reason in words.
type ValidationError struct {
	EDE uint16
	Why string
	// Verifications counts the signature checks made before failing.
	Verifications int
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("%v (%s): %s", ErrBogus, dns.ExtendedErrorCodeToString[e.EDE], e.Why)
}

func (e *ValidationError) Unwrap() error { return ErrBogus }

// Error says why no answer could be had for Qname and Qtype, and where.
type Error struct {
	Qname   string
	Qtype   uint16
	Zone    string           // the zone being asked when it failed, if any
	Servers []netip.AddrPort // the servers tried for Zone
	Err     error            // a sentinel above, or a context error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Qname != "" {
		fmt.Fprintf(&b, "resolve %s %s", e.Qname, dns.TypeToString[e.Qtype])
	}
	if e.Zone != "" {
		if b.Len() > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "at zone %s", e.Zone)
		if len(e.Servers) > 0 {
			b.WriteString(" (servers")
			for i, s := range e.Servers {
				if i == 6 {
					fmt.Fprintf(&b, " and %d more", len(e.Servers)-i)
					break
				}
				b.WriteString(" " + s.String())
			}
			b.WriteString(")")
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "%v", e.Err)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ExtendedError maps an error from Resolve to the Extended DNS Error
// (RFC 8914) that a SERVFAIL for it carries: an info code and a short text.
func ExtendedError(err error) (code uint16, text string) {
	var re *Error
	where := ""
	if errors.As(err, &re) && re.Zone != "" {
		where = " at " + re.Zone
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.EDE, ve.Why
	}
	switch {
	case errors.Is(err, ErrNoReachableServer):
		return dns.ExtendedErrorCodeNoReachableAuthority, "no reachable authority" + where
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return dns.ExtendedErrorCodeNoReachableAuthority, "timed out" + where
	case errors.Is(err, ErrLoop):
		return dns.ExtendedErrorCodeOther, "resolution loop" + where
	case errors.Is(err, ErrLimit):
		return dns.ExtendedErrorCodeOther, "work limit exceeded" + where
	case errors.Is(err, ErrBadName):
		return dns.ExtendedErrorCodeNotSupported, "question not supported"
	}
	return dns.ExtendedErrorCodeOther, "resolution failed" + where
}
