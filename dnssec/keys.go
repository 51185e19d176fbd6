package dnssec

import (
	"bytes"
	"crypto/dsa" //nolint:staticcheck // DSA (algs 3, 6) is verified only under Limits.AllowWeak, for tests.
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"math/big"

	"github.com/cloudflare/circl/sign/ed448"

	"github.com/miekg/dns"
)

// DNSKEY flag bits (RFC 4034 2.1.1, RFC 5011 7).
const (
	flagZone   = 0x0100
	flagRevoke = 0x0080
)

// Key is a DNSKEY with its tag and parsed public key, parsed once:
// RRSIG.Verify re-parses and allocates on every call, a Key is kept with the
// zone's validated key set.
type Key struct {
	DNSKEY *dns.DNSKEY
	Tag    uint16

	owner string // canonical owner name
	pub   any    // *rsa.PublicKey, *rsaKey, *ecdsa.PublicKey, ed25519.PublicKey, *dsa.PublicKey, ed448.PublicKey; nil when unusable
	weak  bool   // RSA under 1024 bits or DSA: verifies only with Limits.AllowWeak
	rdata []byte // the RDATA in wire form, for the tag and DS digests; nil when the key does not decode
}

// usable reports whether k may verify signatures under l.
func (k *Key) usable(l Limits) bool {
	return k.pub != nil && (!k.weak || l.AllowWeak)
}

// ParseKeys returns the DNSKEY records of rrs (others skipped) that have the
// zone-key bit set and protocol 3. Keys that cannot be parsed, of an
// unsupported algorithm or revoked (RFC 5011) are kept but never verify.
func ParseKeys(rrs []dns.RR) []*Key {
	var keys []*Key
	for _, rr := range rrs {
		d, ok := rr.(*dns.DNSKEY)
		if !ok || d.Flags&flagZone == 0 || d.Protocol != 3 {
			continue
		}
		keys = append(keys, parseKey(d))
	}
	return keys
}

func parseKey(d *dns.DNSKEY) *Key {
	k := &Key{DNSKEY: d, owner: dns.CanonicalName(d.Hdr.Name)}
	raw, err := base64.StdEncoding.DecodeString(d.PublicKey)
	if err != nil {
		return k // tag 0, as miekg/dns's KeyTag gives a key that does not pack
	}
	k.rdata = append([]byte{byte(d.Flags >> 8), byte(d.Flags), d.Protocol, d.Algorithm}, raw...)
	k.Tag = keyTag(k.rdata)
	if d.Flags&flagRevoke != 0 {
		return k
	}
	switch d.Algorithm {
	case dns.RSASHA1, dns.RSASHA1NSEC3SHA1, dns.RSASHA256, dns.RSASHA512:
		if pub := parseRSA(raw); pub != nil {
			k.pub, k.weak = pub, pub.N.BitLen() < 1024
		} else if pub := parseRSALargeExponent(raw); pub != nil {
			k.pub, k.weak = pub, pub.n.BitLen() < 1024
		}
	case dns.ECDSAP256SHA256:
		if pub := parseECDSA(elliptic.P256(), raw, 32); pub != nil {
			k.pub = pub
		}
	case dns.ECDSAP384SHA384:
		if pub := parseECDSA(elliptic.P384(), raw, 48); pub != nil {
			k.pub = pub
		}
	case dns.ED25519:
		if len(raw) == ed25519.PublicKeySize {
			k.pub = ed25519.PublicKey(raw)
		}
	case dns.ED448:
		if len(raw) == ed448.PublicKeySize {
			k.pub = ed448.PublicKey(raw)
		}
	case dns.DSA, dns.DSANSEC3SHA1:
		if pub := parseDSA(raw); pub != nil {
			k.pub, k.weak = pub, true
		}
	}
	return k
}

// keyTag is RFC 4034 Appendix B's checksum of a DNSKEY's RDATA (what
// miekg/dns's KeyTag computes, without packing the key into a fresh 4 KB
// buffer on every call).
func keyTag(rdata []byte) uint16 {
	var sum uint32
	for i, b := range rdata {
		if i&1 == 0 {
			sum += uint32(b) << 8
		} else {
			sum += uint32(b)
		}
	}
	return uint16(sum + sum>>16)
}

// matchesDS reports whether d's digest is that of k (RFC 4034 section
// 5.1.4): the hash of the owner name in wire form and the RDATA. Digest
// types other than SupportedDigest's never match.
func (k *Key) matchesDS(d *dns.DS) bool {
	if k.rdata == nil {
		return false
	}
	want, err := hex.DecodeString(d.Digest)
	if err != nil {
		return false
	}
	var h hash.Hash
	switch d.DigestType {
	case dns.SHA1:
		h = sha1.New()
	case dns.SHA256:
		h = sha256.New()
	case dns.SHA384:
		h = sha512.New384()
	default:
		return false
	}
	var owner [256]byte
	n, err := dns.PackDomainName(k.owner, owner[:], 0, nil, false)
	if err != nil {
		return false
	}
	h.Write(owner[:n])
	h.Write(k.rdata)
	return bytes.Equal(h.Sum(nil), want)
}

// parseRSA reads RFC 3110 section 2: exponent length (one octet, or zero
// and two octets), exponent, modulus. Moduli over 4096 bits are refused, and
// exponents over 2^31-1, which crypto/rsa refuses (parseRSALargeExponent).
func parseRSA(raw []byte) *rsa.PublicKey {
	e, n := rsaFields(raw)
	if e == nil || e.BitLen() > 31 {
		return nil
	}
	return &rsa.PublicKey{N: n, E: int(e.Int64())}
}

// rsaKey is an RSA key whose public exponent crypto/rsa refuses: over
// 2^31-1 (RFC 3110 allows up to 4096 bits; nic.cz's key signing key of 2015
// had 2^32+1). Exponents are kept to 64 bits, a bounded cost per signature.
type rsaKey struct{ n, e *big.Int }

func parseRSALargeExponent(raw []byte) *rsaKey {
	e, n := rsaFields(raw)
	if e == nil || e.BitLen() <= 31 || e.BitLen() > 64 {
		return nil
	}
	return &rsaKey{n: n, e: e}
}

// rsaFields splits raw into exponent and modulus, nil when malformed: an
// even exponent or one under 3, a modulus outside 512 to 4096 bits.
func rsaFields(raw []byte) (e, n *big.Int) {
	if len(raw) < 3 {
		return nil, nil
	}
	explen, off := int(raw[0]), 1
	if explen == 0 {
		explen, off = int(raw[1])<<8|int(raw[2]), 3
	}
	if explen == 0 || explen > 8 || off+explen >= len(raw) {
		return nil, nil
	}
	e = new(big.Int).SetBytes(raw[off : off+explen])
	n = new(big.Int).SetBytes(raw[off+explen:])
	if e.Cmp(big.NewInt(3)) < 0 || e.Bit(0) == 0 || n.BitLen() < 512 || n.BitLen() > 4096 {
		return nil, nil
	}
	return e, n
}

func parseECDSA(curve elliptic.Curve, raw []byte, size int) *ecdsa.PublicKey {
	if len(raw) != 2*size {
		return nil
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, append([]byte{4}, raw...))
	if err != nil {
		return nil
	}
	return pub
}

// parseDSA reads RFC 2536 section 2: T, Q (20 octets), P, G, Y (64+8T each).
func parseDSA(raw []byte) *dsa.PublicKey {
	if len(raw) < 1 || raw[0] > 8 {
		return nil
	}
	size := 64 + 8*int(raw[0])
	if len(raw) != 1+20+3*size {
		return nil
	}
	field := func(off, n int) *big.Int { return new(big.Int).SetBytes(raw[off : off+n]) }
	pub := &dsa.PublicKey{Y: field(1+20+2*size, size)}
	pub.Q = field(1, 20)
	pub.P = field(21, size)
	pub.G = field(21+size, size)
	return pub
}

// SupportedAlgorithm reports whether DNSKEY/RRSIG algorithm alg is validated
// here: 5, 7, 8, 10, 13, 14, 15 and 16. DSA (3, 6) verifies only under
// Limits.AllowWeak and is not reported as supported.
func SupportedAlgorithm(alg uint8) bool {
	switch alg {
	case dns.RSASHA1, dns.RSASHA1NSEC3SHA1, dns.RSASHA256, dns.RSASHA512,
		dns.ECDSAP256SHA256, dns.ECDSAP384SHA384, dns.ED25519, dns.ED448:
		return true
	}
	return false
}

// SupportedDigest reports whether DS digest type t is validated here: 1, 2 and 4.
func SupportedDigest(t uint8) bool {
	switch t {
	case dns.SHA1, dns.SHA256, dns.SHA384:
		return true
	}
	return false
}
