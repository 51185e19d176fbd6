package testnet

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Signature validity around the clock a sandbox is signed by.
const (
	// SignatureInceptionSkew is how long before the clock signatures
	// become valid, so a validator whose clock lags a little accepts them.
	SignatureInceptionSkew = time.Hour
	// SignatureLifetime is how long after the clock signatures stay valid.
	SignatureLifetime = 30 * 24 * time.Hour
)

// Signer says what signs the zones of a sandbox that signing.conf lists.
type Signer int

const (
	// SignerBuiltin is this package's signer (the zero value).
	SignerBuiltin Signer = iota
	// SignerLDNS is ldns-signzone, run on each zone with the same keys,
	// salt, iterations and opt-out; the breakages apply to its output.
	SignerLDNS
)

func (s Signer) String() string {
	if s == SignerLDNS {
		return "ldns-signzone"
	}
	return "builtin"
}

// nsec3paramTTL is the TTL of NSEC3PARAM records, ldns-signzone's default
// TTL: only signers and secondaries read them.
const nsec3paramTTL = 3600

// period is a signature validity period, as RRSIG fields.
type period struct{ inception, expiration uint32 }

// periodAround is valid from now-from to now+to.
func periodAround(now time.Time, from, to time.Duration) period {
	return period{inception: uint32(now.Add(-from).Unix()), expiration: uint32(now.Add(to).Unix())}
}

// signZone signs z as p says with keys: it adds the DNSKEY RRset, the
// NSEC or NSEC3 chain (and NSEC3PARAM), and an RRSIG over every
// authoritative RRset, what loading the output of a signer gives. The DS
// records of signed children must already be at their cuts.
func signZone(z *zone, p *policy, keys zoneKeys, valid period) error {
	for _, k := range keys {
		key := dns.Copy(k.dnskey)
		key.Header().Ttl = z.soa.Hdr.Ttl // as ldns-signzone does
		z.add(z.origin, key)
	}
	switch p.denial {
	case NSEC:
		addNSECChain(z)
	case NSEC3:
		addNSEC3Chain(z, p)
	}
	for _, name := range z.sortedNames() {
		if z.occluded(name) {
			continue
		}
		n := z.nodes[name]
		for _, t := range sortedTypes(n) {
			if t == dns.TypeRRSIG || z.isCut(name) && t != dns.TypeDS && t != dns.TypeNSEC {
				continue // a cut's NS set and glue are the child's, unsigned here
			}
			signers := keys.zsks()
			if t == dns.TypeDNSKEY {
				signers = keys.ksks()
			}
			for _, k := range signers {
				sig, err := signRRset(n.rrsets[t], k, z.origin, valid)
				if err != nil {
					return fmt.Errorf("zone %s: sign %s %s: %w", z.origin, name, dns.TypeToString[t], err)
				}
				z.add(name, sig)
			}
		}
	}
	return nil
}

// signRRset signs rrset with k for the zone signer.
func signRRset(rrset []dns.RR, k zoneKey, signer string, valid period) (*dns.RRSIG, error) {
	sig := &dns.RRSIG{
		Hdr:        dns.RR_Header{Ttl: rrset[0].Header().Ttl},
		Algorithm:  k.dnskey.Algorithm,
		KeyTag:     k.dnskey.KeyTag(),
		SignerName: signer,
		Inception:  valid.inception,
		Expiration: valid.expiration,
	}
	if err := sig.Sign(k.signer, rrset); err != nil {
		return nil, err
	}
	return sig, nil
}

// negativeTTL is the TTL of NSEC and NSEC3 records: the lesser of the SOA's
// TTL and MINIMUM (RFC 9077).
func (z *zone) negativeTTL() uint32 { return min(z.soa.Hdr.Ttl, z.soa.Minttl) }

// isCut says whether name is a delegation point of z.
func (z *zone) isCut(name string) bool {
	n := z.nodes[name]
	return name != z.origin && n != nil && n.has(dns.TypeNS)
}

// occluded says whether name lies below a cut or a DNAME of z: glue and
// other data the zone holds but is not authoritative for.
func (z *zone) occluded(name string) bool {
	for _, up := range ancestors(name, z.origin) {
		if up == z.origin {
			return false
		}
		if n := z.nodes[up]; n != nil && (n.has(dns.TypeNS) || n.has(dns.TypeDNAME)) {
			return true
		}
	}
	return false
}

// sortedNames lists z's names in canonical order (RFC 4034 section 6.1).
func (z *zone) sortedNames() []string {
	names := make([]string, 0, len(z.nodes))
	for name := range z.nodes {
		names = append(names, name)
	}
	slices.SortFunc(names, canonicalCompare)
	return names
}

// ownTypes are the types a denial record lists for name (before RRSIG and
// NSEC): at a cut only NS and DS, the rest being the child's glue.
func (z *zone) ownTypes(name string) []uint16 {
	n := z.nodes[name]
	var types []uint16
	for _, t := range sortedTypes(n) {
		if t == dns.TypeRRSIG || t == dns.TypeNSEC || !n.has(t) {
			continue
		}
		if z.isCut(name) && t != dns.TypeNS && t != dns.TypeDS {
			continue
		}
		types = append(types, t)
	}
	return types
}

// addNSECChain links the authoritative names that hold records, cuts
// included, in canonical order, the last back to the apex.
func addNSECChain(z *zone) {
	var owners []string
	for _, name := range z.sortedNames() {
		if !z.occluded(name) && len(z.ownTypes(name)) > 0 {
			owners = append(owners, name)
		}
	}
	ttl := z.negativeTTL()
	for i, name := range owners {
		types := append(z.ownTypes(name), dns.TypeRRSIG, dns.TypeNSEC)
		slices.Sort(types)
		z.add(name, &dns.NSEC{
			Hdr:        dns.RR_Header{Name: name, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: ttl},
			NextDomain: owners[(i+1)%len(owners)],
			TypeBitMap: types,
		})
	}
}

// addNSEC3Chain adds NSEC3PARAM at the apex and an NSEC3 record for every
// authoritative name, empty non-terminals included and, with opt-out,
// delegations without DS left out, linked in hash order.
func addNSEC3Chain(z *zone, p *policy) {
	var flags uint8
	if p.optOut {
		flags = 1 // RFC 5155 section 3.1.2.1
	}
	z.add(z.origin, &dns.NSEC3PARAM{
		Hdr:  dns.RR_Header{Name: z.origin, Rrtype: dns.TypeNSEC3PARAM, Class: dns.ClassINET, Ttl: nsec3paramTTL},
		Hash: dns.SHA1, Iterations: p.iterations, SaltLength: uint8(len(p.salt) / 2), Salt: p.salt,
	})
	type hashed struct {
		hash  string
		types []uint16
	}
	var chain []hashed
	for _, name := range z.sortedNames() {
		if z.occluded(name) {
			continue
		}
		cut, signed := z.isCut(name), z.nodes[name].has(dns.TypeDS)
		if cut && !signed && p.optOut {
			continue
		}
		types := z.ownTypes(name)
		if len(types) > 0 && (!cut || signed) {
			types = append(types, dns.TypeRRSIG)
			slices.Sort(types)
		}
		chain = append(chain, hashed{dns.HashName(name, dns.SHA1, p.iterations, p.salt), types})
	}
	slices.SortFunc(chain, func(a, b hashed) int { return bytes.Compare([]byte(a.hash), []byte(b.hash)) })
	ttl := z.negativeTTL()
	for i, h := range chain {
		owner := canonical(h.hash + "." + trimRoot(z.origin))
		z.add(owner, &dns.NSEC3{
			Hdr:  dns.RR_Header{Name: owner, Rrtype: dns.TypeNSEC3, Class: dns.ClassINET, Ttl: ttl},
			Hash: dns.SHA1, Flags: flags, Iterations: p.iterations,
			SaltLength: uint8(len(p.salt) / 2), Salt: p.salt,
			HashLength: 20, NextDomain: strings.ToLower(chain[(i+1)%len(chain)].hash),
			TypeBitMap: h.types,
		})
	}
}
