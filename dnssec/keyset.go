package dnssec

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// VerifyKeySet validates zone's DNSKEY RRset (dnskeys with their sigs)
// against its trust: ds (the parent's validated DS set, or DS trust anchors)
// and/or anchorKeys (DNSKEY trust anchors).
//
// Secure: a usable DS matches a DNSKEY of the set (or an anchor key is in the
// set) and that key signs the set; the whole parsed key set is returned.
// SHA-1 DS records are ignored for a key (tag and algorithm) that also has a
// SHA-256 or SHA-384 DS (RFC 4509 section 3). At most MaxKeysPerDS keys are
// tried per DS.
// Insecure, EDE 1 or 2: no DS or anchor has a supported algorithm and digest
// type (RFC 4035 5.2, RFC 6840 5.2).
// Bogus: EDE 9 when no DNSKEY matches any DS or anchor, else the signature's
// reason. Indeterminate when neither ds nor anchorKeys is given.
func VerifyKeySet(zone string, dnskeys []dns.RR, sigs []*dns.RRSIG, ds []*dns.DS, anchorKeys []*dns.DNSKEY, now time.Time, b *Budget) (Verdict, []*Key) {
	b = b.orDefault()
	zone = dns.CanonicalName(zone)
	var set []dns.RR
	for _, rr := range dnskeys {
		if d, ok := rr.(*dns.DNSKEY); ok && dns.CanonicalName(d.Hdr.Name) == zone {
			set = append(set, d)
		}
	}
	keys := ParseKeys(set)
	weak := b.limits.AllowWeak
	usableDS, seen, dsEDE := usableDS(zone, ds, weak)
	anchors := usableAnchors(zone, anchorKeys, weak)
	if len(usableDS) == 0 && len(anchors) == 0 {
		if seen == 0 && !anyAnchorOf(zone, anchorKeys) {
			return Verdict{Status: Indeterminate, Why: "no DS or trust anchor for " + zone}, nil
		}
		if dsEDE == 0 {
			dsEDE = dns.ExtendedErrorCodeUnsupportedDNSKEYAlgorithm
		}
		return Verdict{Status: Insecure, EDE: dsEDE, Why: zone + ": no DS or anchor of a supported algorithm and digest"}, nil
	}
	trusted := trustedKeys(keys, usableDS, anchors, b.limits.MaxKeysPerDS)
	if len(trusted) == 0 {
		return bogus(dns.ExtendedErrorCodeDNSKEYMissing, fmt.Sprintf("%s: no DNSKEY matches the DS or anchor (%s)", zone, describeDS(usableDS))), nil
	}
	v := VerifyRRset(set, sigs, zone, trusted, now, b)
	if v.Status != Secure {
		return v, nil
	}
	v.Why = zone + " DNSKEY set: " + v.Why
	return v, keys
}

// usableDS returns the DS records of zone with a supported algorithm and
// digest, SHA-1 dropped for keys with a stronger digest; the number of DS
// records of zone; and the EDE for when none is usable: 2 if some DS had a
// supported algorithm, else 1.
func usableDS(zone string, ds []*dns.DS, weak bool) ([]*dns.DS, int, uint16) {
	// RFC 4509 section 3: SHA-1 digests are ignored when the set has a
	// stronger one usable (for any key: an attacker who can forge SHA-1
	// could otherwise add a SHA-1 DS of a key of its own).
	strong := false
	var out []*dns.DS
	seen, ede := 0, uint16(0)
	for _, d := range ds {
		if d == nil || dns.CanonicalName(d.Hdr.Name) != zone {
			continue
		}
		seen++
		if !validatable(d.Algorithm, weak) {
			if ede == 0 {
				ede = dns.ExtendedErrorCodeUnsupportedDNSKEYAlgorithm
			}
			continue
		}
		if !SupportedDigest(d.DigestType) {
			ede = dns.ExtendedErrorCodeUnsupportedDSDigestType
			continue
		}
		if d.DigestType != dns.SHA1 {
			strong = true
		}
		out = append(out, d)
	}
	kept := out[:0]
	for _, d := range out {
		if d.DigestType == dns.SHA1 && strong {
			continue
		}
		kept = append(kept, d)
	}
	return kept, seen, ede
}

// validatable is SupportedAlgorithm, plus DSA under Limits.AllowWeak.
func validatable(alg uint8, weak bool) bool {
	return SupportedAlgorithm(alg) || (weak && (alg == dns.DSA || alg == dns.DSANSEC3SHA1))
}

func anyAnchorOf(zone string, anchors []*dns.DNSKEY) bool {
	for _, a := range anchors {
		if a != nil && dns.CanonicalName(a.Hdr.Name) == zone {
			return true
		}
	}
	return false
}

func usableAnchors(zone string, anchors []*dns.DNSKEY, weak bool) []*dns.DNSKEY {
	var out []*dns.DNSKEY
	for _, a := range anchors {
		if a != nil && validatable(a.Algorithm, weak) && dns.CanonicalName(a.Hdr.Name) == zone {
			out = append(out, a)
		}
	}
	return out
}

// trustedKeys returns the keys of the set that a DS or an anchor vouches for.
func trustedKeys(keys []*Key, ds []*dns.DS, anchors []*dns.DNSKEY, maxPerDS int) []*Key {
	var out []*Key
	add := func(k *Key) {
		for _, t := range out {
			if t == k {
				return
			}
		}
		out = append(out, k)
	}
	for _, d := range ds {
		tried := 0
		for _, k := range keys {
			if k.Tag != d.KeyTag || k.DNSKEY.Algorithm != d.Algorithm {
				continue
			}
			if tried++; tried > maxPerDS {
				break
			}
			if k.matchesDS(d) {
				add(k)
			}
		}
	}
	for _, a := range anchors {
		for _, k := range keys {
			if sameKey(k.DNSKEY, a) {
				add(k)
			}
		}
	}
	return out
}

// sameKey compares the RDATA of two DNSKEYs, the public key as decoded bytes.
func sameKey(a, b *dns.DNSKEY) bool {
	if a.Flags != b.Flags || a.Protocol != b.Protocol || a.Algorithm != b.Algorithm {
		return false
	}
	ka, err1 := base64.StdEncoding.DecodeString(a.PublicKey)
	kb, err2 := base64.StdEncoding.DecodeString(b.PublicKey)
	return err1 == nil && err2 == nil && bytes.Equal(ka, kb)
}

func describeDS(ds []*dns.DS) string {
	if len(ds) == 0 {
		return "anchor keys only"
	}
	parts := make([]string, 0, len(ds))
	for _, d := range ds {
		parts = append(parts, fmt.Sprintf("DS %d alg %d digest %d", d.KeyTag, d.Algorithm, d.DigestType))
	}
	return strings.Join(parts, ", ")
}
