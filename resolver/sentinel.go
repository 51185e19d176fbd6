package resolver

// The root key trust anchor sentinel (RFC 8509): a client learns which
// root keys a validating resolver trusts by asking for A or AAAA at names
// whose first label is root-key-sentinel-is-ta-NNNNN or
// root-key-sentinel-not-ta-NNNNN (NNNNN a key tag, five decimal digits).

import (
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/dnssec"
)

const (
	sentinelIsTA  = "root-key-sentinel-is-ta-"
	sentinelNotTA = "root-key-sentinel-not-ta-"
)

// sentinelLabel reads name's first label as a sentinel: the key tag, and
// whether it asks "is a trust anchor" (true) or "is not" (false).
func sentinelLabel(name string) (tag uint16, isTA, ok bool) {
	first, _, _ := strings.Cut(name, ".")
	first = strings.ToLower(first)
	var digits string
	switch {
	case strings.HasPrefix(first, sentinelIsTA):
		digits, isTA = first[len(sentinelIsTA):], true
	case strings.HasPrefix(first, sentinelNotTA):
		digits = first[len(sentinelNotTA):]
	default:
		return 0, false, false
	}
	if len(digits) != 5 || strings.Trim(digits, "0123456789") != "" {
		return 0, false, false
	}
	n, err := strconv.ParseUint(digits, 10, 16)
	if err != nil {
		return 0, false, false
	}
	return uint16(n), isTA, true
}

// sentinelFailure is the bogus verdict RFC 8509 section 3.2 gives a secure
// A or AAAA answer at a sentinel name whose key tag is not (is-ta) or is
// (not-ta) one of the root's configured trust anchors, whatever the answer
// was (an NXDOMAIN too, as Unbound and Knot).
func (r *Resolver) sentinelFailure(name string, qtype uint16, sec check) (check, bool) {
	if r.val == nil || sec.Status != dnssec.Secure || (qtype != dns.TypeA && qtype != dns.TypeAAAA) {
		return check{}, false
	}
	tag, isTA, ok := sentinelLabel(name)
	if !ok {
		return check{}, false
	}
	trusted := slices.Contains(r.rootAnchorTags(), tag)
	switch {
	case isTA && !trusted:
		return bogus(dns.ExtendedErrorCodeDNSBogus, false, "root key sentinel: key %d is not a trust anchor of the root (RFC 8509)", tag), true
	case !isTA && trusted:
		return bogus(dns.ExtendedErrorCodeDNSBogus, false, "root key sentinel: key %d is a trust anchor of the root (RFC 8509)", tag), true
	}
	return check{}, false
}

// rootAnchorTags are the key tags of the root's trust anchors, DS or DNSKEY.
func (r *Resolver) rootAnchorTags() []uint16 {
	an := r.val.anchors.at(".")
	if an == nil {
		return nil
	}
	var tags []uint16
	for _, ds := range an.ds {
		tags = append(tags, ds.KeyTag)
	}
	for _, k := range an.keys {
		tags = append(tags, k.KeyTag())
	}
	return tags
}
