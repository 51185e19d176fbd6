package resolver

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/recursor-dns/recursor/dnssec"
)

// Step is one upstream exchange, reported to a trace function as it happens.
type Step struct {
	Depth   int            // 0 for the client's question, 1+ for name server address lookups
	Qname   string         // the name asked (as sent)
	Qtype   uint16         //
	Zone    string         // the zone the server was asked as authority for
	NSName  string         // the server's name ("" when only its address is known)
	Server  netip.AddrPort // where the query went
	TCP     bool           // the reply came over TCP
	RTT     time.Duration  //
	Outcome Outcome        // what the exchange came to, as server selection sees it
	Detail  string         // what came back: "referral to com.", "nxdomain", "rcode REFUSED", ...
	Err     error          // why the exchange failed, if it did
	// TCPFallback says why a UDP exchange was asked again over TCP
	// ("truncated", "oversized", "wrong ID"), when NetTransport did so;
	// "" otherwise.
	TCPFallback string
	// Referral, for an exchange that came back a referral, is what the
	// referral carried; nil otherwise.
	Referral *Referral
	// Check, when set, makes the step a DNSSEC verdict rather than an
	// exchange: Qname and Qtype name the RRset (or the denial) checked,
	// Zone the zone whose keys checked it; Server and the rest are empty.
	Check *Check
}

// Referral is what one referral carried, as a trace reports it: the
// child zone, its NS names and the glue kept (addresses of those names
// within the parent's zone). GlueDropped counts the additional-section
// addresses left out: out of the zone, or of names not in the NS set.
type Referral struct {
	Zone        string
	NS          []string
	Glue        []Glue
	GlueDropped int
}

// Glue is one address a referral gave for a server name.
type Glue struct {
	Name string
	Addr netip.Addr
}

// Check is one verdict of validation, as a trace reports it.
type Check struct {
	Status dnssec.Status
	KeyTag uint16 // the key that verified a secure RRset
	EDE    uint16 // the Extended DNS Error of a verdict that is not secure
	Why    string
}

// Outcome is what one upstream exchange came to. Server selection is told
// every outcome and acts on it (see infra.report): a timeout backs off the
// address, a refusal or lameness passes the server over for that zone
// alone, a malformed reply counts against the server.
type Outcome uint8

const (
	OutcomeAnswered     Outcome = iota // a usable reply: answer, CNAME, referral, NXDOMAIN, NODATA
	OutcomeTimeout                     // no reply in time
	OutcomeNetError                    // the network said no (unreachable, connection refused)
	OutcomeRefused                     // rcode REFUSED
	OutcomeServfail                    // rcode SERVFAIL, or another error rcode
	OutcomeLame                        // not authoritative for the zone: upward or sideways referral, NOTAUTH, empty non-authoritative reply
	OutcomeEDNS                        // FORMERR, NOTIMP or BADVERS: trouble with EDNS or the query's form
	OutcomeCaseMismatch                // the reply did not echo the question's 0x20 letter case
	OutcomeMalformed                   // a reply that breaks the rules: unparsable, wrong question, bad counts
)

func (o Outcome) String() string {
	names := [...]string{"answered", "timeout", "network error", "refused", "servfail", "lame", "edns trouble", "case mismatch", "malformed"}
	if int(o) < len(names) {
		return names[o]
	}
	return "unknown"
}

// ServerError is why one server gave no usable reply: the outcome, the
// server, and the cause (the transport's error or what the reply said).
type ServerError struct {
	Outcome Outcome
	Server  netip.AddrPort
	NSName  string
	Err     error
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("%s from %s (%s): %v", e.Outcome, e.Server, e.NSName, e.Err)
}

func (e *ServerError) Unwrap() error { return e.Err }

type traceKey struct{}

// WithTrace returns a context whose resolutions report every upstream
// exchange to fn, in order, from the goroutine that made it. fn must be safe
// for concurrent use when name server lookups run in parallel.
func WithTrace(ctx context.Context, fn func(Step)) context.Context {
	return context.WithValue(ctx, traceKey{}, fn)
}

func traceFrom(ctx context.Context) func(Step) {
	fn, _ := ctx.Value(traceKey{}).(func(Step))
	return fn
}
