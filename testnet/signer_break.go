package testnet

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// unknownAlgorithm is the DNSSEC algorithm number the unknown-alg breakage
// gives keys and signatures: unassigned, so validators treat the zone as
// insecure (RFC 6840 section 5.2).
const unknownAlgorithm = 100

// breakage is a named way to break a signed zone, applied after signing
// so it breaks the output of any signer alike.
type breakage struct {
	name string
	// delegate, when set, is the DS the parent holds for the child's KSK
	// instead of the true one.
	delegate func(ds *dns.DS, ksk *dns.DNSKEY) *dns.DS
	// apply, when set, changes the signed zone.
	apply func(z *zone, b *breakEnv) error
}

// breakEnv is what a breakage may use: the zone's keys, the clock and the
// sandbox's files.
type breakEnv struct {
	keys zoneKeys
	now  time.Time
	fsys fs.FS
}

// breakages are the breakages signing.conf can name.
var breakages = map[string]*breakage{}

func init() {
	for _, b := range []*breakage{
		{name: "expired", apply: func(z *zone, b *breakEnv) error {
			return resignAll(z, b.keys, period{
				inception:  uint32(b.now.Add(-2 * SignatureLifetime).Unix()),
				expiration: uint32(b.now.Add(-SignatureLifetime).Unix()),
			})
		}},
		{name: "not-yet-valid", apply: func(z *zone, b *breakEnv) error {
			return resignAll(z, b.keys, period{
				inception:  uint32(b.now.Add(SignatureLifetime).Unix()),
				expiration: uint32(b.now.Add(2 * SignatureLifetime).Unix()),
			})
		}},
		{name: "bad-sig", apply: corruptWWW},
		{name: "ds-mismatch", delegate: mismatchDS},
		{name: "no-dnskey", apply: func(z *zone, _ *breakEnv) error {
			z.removeType(z.origin, dns.TypeDNSKEY)
			return nil
		}},
		{name: "no-rrsigs", apply: func(z *zone, _ *breakEnv) error {
			for _, n := range z.nodes {
				n.rrsets[dns.TypeRRSIG] = slices.DeleteFunc(n.rrsets[dns.TypeRRSIG], func(rr dns.RR) bool {
					return rr.(*dns.RRSIG).TypeCovered != dns.TypeDNSKEY
				})
			}
			return nil
		}},
		{name: "unknown-alg", delegate: unknownAlgDS, apply: unknownAlgZone},
		{name: "no-denial", apply: removeDenial},
		{name: "keytrap", apply: keyTrap},
	} {
		breakages[b.name] = b
	}
}

// resignAll signs every signed RRset of z again with the key that signed
// it, for the validity period valid.
func resignAll(z *zone, keys zoneKeys, valid period) error {
	for name, n := range z.nodes {
		sigs := n.rrsets[dns.TypeRRSIG]
		for i, rr := range sigs {
			old := rr.(*dns.RRSIG)
			k, ok := keys.byTag(old.Algorithm, old.KeyTag)
			if !ok {
				return fmt.Errorf("zone %s: %s: no private key of tag %d", z.origin, name, old.KeyTag)
			}
			sig, err := signRRset(n.rrsets[old.TypeCovered], k, old.SignerName, valid)
			if err != nil {
				return fmt.Errorf("zone %s: %s: %w", z.origin, name, err)
			}
			sigs[i] = sig
		}
	}
	return nil
}

// corruptWWW flips one bit of each signature over www's A RRset.
func corruptWWW(z *zone, _ *breakEnv) error {
	n := z.nodes["www."+trimRoot(z.origin)]
	if n == nil {
		return fmt.Errorf("zone %s: bad-sig needs a www name", z.origin)
	}
	found := false
	for _, rr := range n.rrsets[dns.TypeRRSIG] {
		sig := rr.(*dns.RRSIG)
		if sig.TypeCovered != dns.TypeA {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(sig.Signature)
		if err != nil || len(raw) == 0 {
			return fmt.Errorf("zone %s: www: unreadable signature", z.origin)
		}
		raw[len(raw)/2] ^= 0x01
		sig.Signature = base64.StdEncoding.EncodeToString(raw)
		found = true
	}
	if !found {
		return fmt.Errorf("zone %s: bad-sig: www has no signed A RRset", z.origin)
	}
	return nil
}

// mismatchDS keeps the DS's key tag and algorithm and spoils its digest.
func mismatchDS(ds *dns.DS, _ *dns.DNSKEY) *dns.DS {
	digest, _ := hex.DecodeString(ds.Digest)
	for i := range digest {
		digest[i] = ^digest[i]
	}
	ds.Digest = strings.ToUpper(hex.EncodeToString(digest))
	return ds
}

// unknownAlgKey is k with the algorithm the unknown-alg breakage gives it.
func unknownAlgKey(k *dns.DNSKEY) *dns.DNSKEY {
	c := dns.Copy(k).(*dns.DNSKEY)
	c.Algorithm = unknownAlgorithm
	return c
}

func unknownAlgDS(ds *dns.DS, ksk *dns.DNSKEY) *dns.DS {
	out := unknownAlgKey(ksk).ToDS(ds.DigestType)
	out.Hdr = ds.Hdr
	return out
}

// unknownAlgZone gives every key and signature of z the unknown algorithm,
// each signature the new tag of its key.
func unknownAlgZone(z *zone, _ *breakEnv) error {
	apex := z.nodes[z.origin]
	tags := map[uint16]uint16{}
	for i, rr := range apex.rrsets[dns.TypeDNSKEY] {
		k := unknownAlgKey(rr.(*dns.DNSKEY))
		tags[rr.(*dns.DNSKEY).KeyTag()] = k.KeyTag()
		apex.rrsets[dns.TypeDNSKEY][i] = k
	}
	for _, n := range z.nodes {
		for _, rr := range n.rrsets[dns.TypeRRSIG] {
			sig := rr.(*dns.RRSIG)
			sig.Algorithm, sig.KeyTag = unknownAlgorithm, tags[sig.KeyTag]
		}
	}
	return nil
}

// removeDenial removes every NSEC and NSEC3 record of z, their signatures
// and the NSEC3 owner names they leave empty.
func removeDenial(z *zone, _ *breakEnv) error {
	for name, n := range z.nodes {
		hadNSEC3 := n.has(dns.TypeNSEC3)
		z.removeType(name, dns.TypeNSEC)
		z.removeType(name, dns.TypeNSEC3)
		if hadNSEC3 && len(z.ownTypes(name)) == 0 {
			delete(z.nodes, name)
		}
	}
	return nil
}

// removeType removes name's RRset of type t and the signatures over it.
func (z *zone) removeType(name string, t uint16) {
	n := z.nodes[name]
	if n == nil {
		return
	}
	delete(n.rrsets, t)
	n.rrsets[dns.TypeRRSIG] = slices.DeleteFunc(n.rrsets[dns.TypeRRSIG], func(rr dns.RR) bool {
		return rr.(*dns.RRSIG).TypeCovered == t
	})
	if len(n.rrsets[dns.TypeRRSIG]) == 0 {
		delete(n.rrsets, dns.TypeRRSIG)
	}
}

// keyTrap is the shape of CVE-2023-50387: it adds the keys of
// keys/<zone>collisions, which share the ZSK's tag, to the DNSKEY RRset
// (signed again, validly, by the KSK), and replaces every other signature
// with one garbage signature per key of that tag, so a validator without
// limits tries every key against every signature.
func keyTrap(z *zone, b *breakEnv) error {
	extra, err := readCollisions(b.fsys, z.origin)
	if err != nil {
		return fmt.Errorf("zone %s: keytrap: %w", z.origin, err)
	}
	zsks := b.keys.zsks()
	if len(extra) == 0 || len(zsks) != 1 || extra[0].KeyTag() != zsks[0].dnskey.KeyTag() {
		return fmt.Errorf("zone %s: keytrap: want colliding keys with the tag of the one ZSK", z.origin)
	}
	tag := zsks[0].dnskey.KeyTag()
	for _, k := range extra {
		if k.KeyTag() != tag {
			return fmt.Errorf("zone %s: keytrap: key tag %d, want %d", z.origin, k.KeyTag(), tag)
		}
		k.Hdr.Ttl = z.soa.Hdr.Ttl
		z.add(z.origin, k)
	}
	if err := resignDNSKEY(z, b.keys, b.now); err != nil {
		return err
	}
	copies := len(extra) + 1
	for name, n := range z.nodes {
		var sigs []dns.RR
		for _, rr := range n.rrsets[dns.TypeRRSIG] {
			sig := rr.(*dns.RRSIG)
			if sig.TypeCovered == dns.TypeDNSKEY {
				sigs = append(sigs, sig)
				continue
			}
			for i := range copies {
				bad := dns.Copy(sig).(*dns.RRSIG)
				bad.KeyTag, bad.Signature = tag, garbageSignature(name, sig.TypeCovered, i, sig.Signature)
				sigs = append(sigs, bad)
			}
		}
		if len(sigs) > 0 {
			n.rrsets[dns.TypeRRSIG] = sigs
		}
	}
	return nil
}

// resignDNSKEY replaces the signatures over z's DNSKEY RRset with fresh
// ones by its KSKs.
func resignDNSKEY(z *zone, keys zoneKeys, now time.Time) error {
	apex := z.nodes[z.origin]
	apex.rrsets[dns.TypeRRSIG] = slices.DeleteFunc(apex.rrsets[dns.TypeRRSIG], func(rr dns.RR) bool {
		return rr.(*dns.RRSIG).TypeCovered == dns.TypeDNSKEY
	})
	ksks := keys.ksks()
	if len(ksks) == 0 {
		return errors.New("no KSK")
	}
	for _, k := range ksks {
		sig, err := signRRset(apex.rrsets[dns.TypeDNSKEY], k, z.origin, periodAround(now, SignatureInceptionSkew, SignatureLifetime))
		if err != nil {
			return fmt.Errorf("zone %s: %w", z.origin, err)
		}
		apex.rrsets[dns.TypeRRSIG] = append(apex.rrsets[dns.TypeRRSIG], sig)
	}
	return nil
}

// garbageSignature is a signature as long as like that verifies under no
// key, the same for the same name, type and index.
func garbageSignature(name string, t uint16, i int, like string) string {
	size := base64.StdEncoding.DecodedLen(len(like))
	if raw, err := base64.StdEncoding.DecodeString(like); err == nil {
		size = len(raw)
	}
	var seed [2 + 8]byte
	binary.BigEndian.PutUint16(seed[:], t)
	binary.BigEndian.PutUint64(seed[2:], uint64(i))
	var out []byte
	block := sha256.Sum256(append([]byte(name), seed[:]...))
	for len(out) < size {
		out = append(out, block[:]...)
		block = sha256.Sum256(block[:])
	}
	return base64.StdEncoding.EncodeToString(out[:size])
}
