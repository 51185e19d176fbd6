package replay

import (
	"encoding/asn1"
	"encoding/base64"
	"math/big"

	"github.com/miekg/dns"
)

// dsaSigLen is the length of a DSA signature in DNS form (RFC 2536
// section 3): T, then R and S in 20 octets each.
const dsaSigLen = 41

// fixDSASignature rewrites the signature of a DSA RRSIG that is in ASN.1
// DER form, SEQUENCE { r INTEGER, s INTEGER }, into the DNS form. The old
// signer that made Unbound's DSA scenarios wrote DER, and Unbound verifies
// either form (it hands a signature that is not 41 octets to its crypto
// library as DER); our validator reads RFC 2536 only. T is set to 0: no
// verifier reads it, the key's T fixes the sizes. Signatures in DNS form,
// or that are not DER, are left as they are (a file may break one on
// purpose).
func fixDSASignature(rr dns.RR) {
	sig, ok := rr.(*dns.RRSIG)
	if !ok || sig.Algorithm != dns.DSA && sig.Algorithm != dns.DSANSEC3SHA1 {
		return
	}
	raw, err := base64.StdEncoding.DecodeString(sig.Signature)
	if err != nil || len(raw) == dsaSigLen {
		return
	}
	var der struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(raw, &der)
	if err != nil || len(rest) > 0 || der.R.Sign() < 0 || der.S.Sign() < 0 || der.R.BitLen() > 160 || der.S.BitLen() > 160 {
		return
	}
	out := make([]byte, dsaSigLen)
	der.R.FillBytes(out[1:21])
	der.S.FillBytes(out[21:])
	sig.Signature = base64.StdEncoding.EncodeToString(out)
}
