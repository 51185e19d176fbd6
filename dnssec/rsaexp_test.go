package dnssec

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"io"
	"math/big"
	"testing"

	"github.com/miekg/dns"
)

// rawRSASigner signs RSASSA-PKCS1-v1_5 with any exponent: crypto/rsa's
// keys all have 65537.
type rawRSASigner struct{ n, d *big.Int }

func (s rawRSASigner) Public() crypto.PublicKey { return nil }

func (s rawRSASigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	k := (s.n.BitLen() + 7) / 8
	prefix := digestInfo[opts.HashFunc()]
	em := make([]byte, k)
	em[1] = 1
	pad := k - len(prefix) - len(digest) - 1
	for i := 2; i < pad; i++ {
		em[i] = 0xff
	}
	copy(em[pad+1:], prefix)
	copy(em[pad+1+len(prefix):], digest)
	return new(big.Int).Exp(new(big.Int).SetBytes(em), s.d, s.n).FillBytes(make([]byte, k)), nil
}

// largeExponentKey makes an RSASHA1 key with the public exponent 2^32+1, in
// the RFC 3110 layout (a one-octet exponent length of 5).
func largeExponentKey(t *testing.T) (*dns.DNSKEY, rawRSASigner) {
	t.Helper()
	e := new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 32), big.NewInt(1))
	one := big.NewInt(1)
	for range 20 {
		priv, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			t.Fatal(err)
		}
		p, q := priv.Primes[0], priv.Primes[1]
		phi := new(big.Int).Mul(new(big.Int).Sub(p, one), new(big.Int).Sub(q, one))
		d := new(big.Int).ModInverse(e, phi)
		if d == nil {
			continue // e shares a factor with phi: another key
		}
		raw := append([]byte{byte(len(e.Bytes()))}, e.Bytes()...)
		raw = append(raw, priv.N.Bytes()...)
		key := &dns.DNSKEY{Hdr: dns.RR_Header{Name: "example.", Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
			Flags: 257, Protocol: 3, Algorithm: dns.RSASHA1, PublicKey: base64.StdEncoding.EncodeToString(raw)}
		return key, rawRSASigner{n: priv.N, d: d}
	}
	t.Fatal("no key for the exponent 2^32+1 in 20 tries")
	return nil, rawRSASigner{}
}

// TestRSALargeExponent: an RSA key whose exponent crypto/rsa refuses
// (2^32+1, as nic.cz's key signing key of 2015; Deckard's
// iter_validate_nsec_nxdomain) verifies its signatures, and not a changed set.
func TestRSALargeExponent(t *testing.T) {
	key, priv := largeExponentKey(t)
	sig := &dns.RRSIG{Algorithm: dns.RSASHA1, Inception: inception, Expiration: expires, KeyTag: key.KeyTag(), SignerName: "example."}
	set := rrs(t, "www.example. 300 IN A 192.0.2.1", "www.example. 300 IN A 192.0.2.2")
	if err := sig.Sign(priv, set); err != nil {
		t.Fatal(err)
	}
	keys := ParseKeys([]dns.RR{key})
	checkVerdict(t, VerifyRRset(set, []*dns.RRSIG{sig}, "example.", keys, now, nil), Secure, 0)
	set[1].(*dns.A).A[3] = 3
	checkVerdict(t, VerifyRRset(set, []*dns.RRSIG{sig}, "example.", keys, now, nil), Bogus, dns.ExtendedErrorCodeDNSBogus)
}
