package dnssec

import (
	"bytes"
	"crypto"
	"crypto/dsa" //nolint:staticcheck // DSA is verified only under Limits.AllowWeak, for tests.
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	_ "crypto/sha1" // registers crypto.SHA1 for algs 5 and 7
	_ "crypto/sha256"
	_ "crypto/sha512"
	"math/big"

	"github.com/cloudflare/circl/sign/ed448"
	"github.com/miekg/dns"
)

// hashOf is the digest an RRSIG algorithm signs (RFC 3110, 5702, 6605).
func hashOf(alg uint8) crypto.Hash {
	switch alg {
	case dns.RSASHA1, dns.RSASHA1NSEC3SHA1, dns.DSA, dns.DSANSEC3SHA1:
		return crypto.SHA1
	case dns.RSASHA256, dns.ECDSAP256SHA256:
		return crypto.SHA256
	case dns.ECDSAP384SHA384:
		return crypto.SHA384
	case dns.RSASHA512:
		return crypto.SHA512
	}
	return 0
}

// verifySignature checks sig over data with k, the key of algorithm alg.
func verifySignature(k *Key, alg uint8, data, sig []byte) bool {
	switch pub := k.pub.(type) {
	case ed25519.PublicKey:
		return ed25519.Verify(pub, data, sig)
	case ed448.PublicKey:
		return len(sig) == ed448.SignatureSize && ed448.Verify(pub, data, sig, "")
	}
	h := hashOf(alg)
	if h == 0 {
		return false
	}
	hasher := h.New()
	hasher.Write(data)
	digest := hasher.Sum(nil)
	switch pub := k.pub.(type) {
	case *rsa.PublicKey:
		if k.weak {
			return verifyRawRSA(pub.N, big.NewInt(int64(pub.E)), h, digest, sig)
		}
		return rsa.VerifyPKCS1v15(pub, h, digest, sig) == nil
	case *rsaKey:
		return verifyRawRSA(pub.n, pub.e, h, digest, sig)
	case *ecdsa.PublicKey:
		size := (pub.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		r := new(big.Int).SetBytes(sig[:size])
		s := new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(pub, digest, r, s)
	case *dsa.PublicKey:
		// RFC 2536 section 3: T, R (20 octets), S (20 octets).
		if len(sig) != 41 {
			return false
		}
		r := new(big.Int).SetBytes(sig[1:21])
		s := new(big.Int).SetBytes(sig[21:])
		return dsa.Verify(pub, digest, r, s)
	}
	return false
}

// digestInfo prefixes the hash in an EMSA-PKCS1-v1_5 encoding (RFC 8017 9.2).
var digestInfo = map[crypto.Hash][]byte{
	crypto.SHA1:   {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14},
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

// verifyRawRSA is RSASSA-PKCS1-v1_5 verification for what crypto/rsa
// refuses: moduli under 1024 bits (reached only under Limits.AllowWeak) and
// exponents over 2^31-1. Public values only, so variable time is fine.
func verifyRawRSA(n, e *big.Int, h crypto.Hash, digest, sig []byte) bool {
	k := (n.BitLen() + 7) / 8
	prefix, ok := digestInfo[h]
	if !ok || len(sig) != k || k < len(prefix)+len(digest)+11 {
		return false
	}
	s := new(big.Int).SetBytes(sig)
	if s.Cmp(n) >= 0 {
		return false
	}
	em := new(big.Int).Exp(s, e, n).FillBytes(make([]byte, k))
	want := make([]byte, k)
	want[1] = 1
	pad := k - len(prefix) - len(digest) - 1
	for i := 2; i < pad; i++ {
		want[i] = 0xff
	}
	copy(want[pad+1:], prefix)
	copy(want[pad+1+len(prefix):], digest)
	return bytes.Equal(em, want)
}
