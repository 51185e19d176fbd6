//go:debug rsa1024min=0

// The directive above lets the tests make and sign with RSA keys under 1024
// bits (Limits.AllowWeak); the package itself never relies on it, it checks
// key sizes on its own.

package dnssec

import (
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// now is the tests' clock; sigs are valid from a week before to a month after.
var (
	now       = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	inception = uint32(now.Add(-7 * 24 * time.Hour).Unix())
	expires   = uint32(now.Add(30 * 24 * time.Hour).Unix())
)

// signer is a zone key with its private half.
type signer struct {
	key  *dns.DNSKEY
	priv crypto.Signer
}

// rsaBits is the modulus size the tests use for an RSA algorithm: small for
// speed, but over the 1024-bit floor.
const rsaBits = 1024

// newSigner makes a zone signing key (flags 257) for zone; ed25519 keys are
// derived from seed so they are the same on every run.
func newSigner(t testing.TB, zone string, alg uint8, seed byte) *signer {
	t.Helper()
	return newSignerBits(t, zone, alg, seed, 0)
}

func newSignerBits(t testing.TB, zone string, alg uint8, seed byte, bits int) *signer {
	t.Helper()
	k := &dns.DNSKEY{
		Hdr:       dns.RR_Header{Name: dns.CanonicalName(zone), Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags:     257,
		Protocol:  3,
		Algorithm: alg,
	}
	if alg == dns.ED25519 {
		var s [ed25519.SeedSize]byte
		s[0] = seed
		priv := ed25519.NewKeyFromSeed(s[:])
		k.PublicKey = base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))
		return &signer{key: k, priv: priv}
	}
	if bits == 0 {
		switch alg {
		case dns.ECDSAP256SHA256:
			bits = 256
		case dns.ECDSAP384SHA384:
			bits = 384
		default:
			bits = rsaBits
		}
	}
	priv, err := k.Generate(bits)
	if err != nil {
		t.Fatalf("generate alg %d: %v", alg, err)
	}
	return &signer{key: k, priv: priv.(crypto.Signer)}
}

// sign signs rrset with s for zone, valid from inc to exp.
func (s *signer) signAt(t testing.TB, zone string, rrset []dns.RR, inc, exp uint32) *dns.RRSIG {
	t.Helper()
	sig := &dns.RRSIG{
		Algorithm:  s.key.Algorithm,
		Inception:  inc,
		Expiration: exp,
		KeyTag:     s.key.KeyTag(),
		SignerName: dns.CanonicalName(zone),
	}
	if err := sig.Sign(s.priv, rrset); err != nil {
		t.Fatalf("sign %s: %v", rrset[0].Header().Name, err)
	}
	return sig
}

func (s *signer) sign(t testing.TB, zone string, rrset []dns.RR) *dns.RRSIG {
	t.Helper()
	return s.signAt(t, zone, rrset, inception, expires)
}

// rrs parses records in presentation format.
func rrs(t testing.TB, lines ...string) []dns.RR {
	t.Helper()
	out := make([]dns.RR, 0, len(lines))
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatalf("parse %q: %v", l, err)
		}
		out = append(out, rr)
	}
	return out
}

func keysOf(signers ...*signer) []*Key {
	var in []dns.RR
	for _, s := range signers {
		in = append(in, s.key)
	}
	return ParseKeys(in)
}

func checkVerdict(t testing.TB, got Verdict, status Status, ede uint16) {
	t.Helper()
	if got.Status != status || got.EDE != ede {
		t.Errorf("verdict %s EDE %d (%s), want %s EDE %d", got.Status, got.EDE, got.Why, status, ede)
	}
}
