package resolver

// Trust anchors: where chains of trust start (DS or DNSKEY records of any
// zone), and negative trust anchors (RFC 7646), under which nothing is
// validated.

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/internal/dnsname"
)

// maxAnchorFileBytes bounds what a trust anchor file may cost to read.
const maxAnchorFileBytes = 1 << 20

// anchor is the trust of one zone: the DS records and the DNSKEYs
// configured for it; either may be empty.
type anchor struct {
	zone string
	ds   []*dns.DS
	keys []*dns.DNSKEY
}

// anchors are the configured trust anchors by zone, and the negative ones.
type anchors struct {
	byZone map[string]*anchor
	// insecure: canonical names, nothing at or below is validated. The
	// slice is never changed in place: run-time changes
	// (AddNegativeTrustAnchor) store a new one, so readers take no lock.
	insecure   atomic.Pointer[[]string]
	insecureMu sync.Mutex // serialises the writers of insecure
}

func newAnchors(rrs []dns.RR, insecure []string) (*anchors, error) {
	a := &anchors{byZone: map[string]*anchor{}}
	for _, rr := range rrs {
		zone, err := dnsname.Canonical(rr.Header().Name)
		if err != nil {
			return nil, fmt.Errorf("trust anchor %q: %w", rr.Header().Name, err)
		}
		an := a.byZone[zone]
		if an == nil {
			an = &anchor{zone: zone}
			a.byZone[zone] = an
		}
		switch t := rr.(type) {
		case *dns.DS:
			an.ds = append(an.ds, t)
		case *dns.DNSKEY:
			if t.Flags&dns.ZONE == 0 {
				return nil, fmt.Errorf("trust anchor %s: DNSKEY without the zone key flag", zone)
			}
			an.keys = append(an.keys, t)
		default:
			return nil, fmt.Errorf("trust anchor %s: type %s, want DS or DNSKEY", zone, dns.TypeToString[rr.Header().Rrtype])
		}
	}
	var nta []string
	for _, d := range insecure {
		c, err := dnsname.Canonical(d)
		if err != nil {
			return nil, fmt.Errorf("insecure domain %q: %w", d, err)
		}
		nta = append(nta, c)
	}
	a.insecure.Store(&nta)
	return a, nil
}

// empty reports whether there is nothing to validate from.
func (a *anchors) empty() bool { return a == nil || len(a.byZone) == 0 }

// at returns the anchor configured for zone itself, if any.
func (a *anchors) at(zone string) *anchor { return a.byZone[zone] }

// covers reports whether some anchor lies at or above name: only then can
// name's data be proven secure or bogus (otherwise it is indeterminate).
func (a *anchors) covers(name string) bool {
	for n := name; ; n = parentZone(n) {
		if a.byZone[n] != nil {
			return true
		}
		if n == "." {
			return false
		}
	}
}

// negative reports whether name lies at or below a negative trust anchor.
func (a *anchors) negative(name string) bool {
	for _, d := range *a.insecure.Load() {
		if inZone(name, d) {
			return true
		}
	}
	return false
}

// ParseTrustAnchor reads one trust anchor in presentation form: a DS or a
// DNSKEY record of any zone ("example. DS 12345 13 2 ABCD...").
func ParseTrustAnchor(s string) (dns.RR, error) {
	rr, err := dns.NewRR(s)
	if err != nil {
		return nil, fmt.Errorf("trust anchor %q: %w", s, err)
	}
	if rr == nil {
		return nil, fmt.Errorf("trust anchor %q: no record", s)
	}
	if _, err := newAnchors([]dns.RR{rr}, nil); err != nil {
		return nil, err
	}
	return rr, nil
}

// ReadTrustAnchors reads trust anchors in zone-file format (as Unbound's
// trust-anchor-file): DS and DNSKEY records, comments and $ORIGIN/$TTL
// lines allowed. A file with no anchor is an error: it would turn
// validation off without a word.
func ReadTrustAnchors(r io.Reader, file string) ([]dns.RR, error) {
	zp := dns.NewZoneParser(io.LimitReader(r, maxAnchorFileBytes), ".", file)
	zp.SetIncludeAllowed(false)
	var out []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		out = append(out, rr)
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("trust anchor file %s: %w", file, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("trust anchor file %s: %w", file, errNoAnchor)
	}
	if _, err := newAnchors(out, nil); err != nil {
		return nil, fmt.Errorf("trust anchor file %s: %w", file, err)
	}
	return out, nil
}

var errNoAnchor = errors.New("no DS or DNSKEY record")

// anchorSummary names the zones anchored, for the log line that says
// validation is on.
func (a *anchors) summary() string {
	var zones []string
	for z := range a.byZone {
		zones = append(zones, z)
	}
	return strings.Join(zones, " ")
}
