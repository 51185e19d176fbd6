package replay

import (
	"encoding/asn1"
	"encoding/base64"
	"math/big"
	"slices"

	"github.com/miekg/dns"
)

// normalize turns a record as the files write it into one that packs as
// its peer's parser would have packed it.
func normalize(rr dns.RR) {
	switch rr := rr.(type) {
	case *dns.RRSIG:
		fixDSASignature(rr)
	case *dns.NSEC:
		rr.TypeBitMap = sortedTypes(rr.TypeBitMap)
	case *dns.NSEC3:
		rr.TypeBitMap = sortedTypes(rr.TypeBitMap)
	}
}

// sortedTypes orders a type bitmap: the files list types in any order
// ("SOA NS DNSKEY"), which the wire form (a bitmap) cannot keep, and
// miekg refuses to pack a list out of order.
func sortedTypes(types []uint16) []uint16 {
	slices.Sort(types)
	return slices.Compact(types)
}

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
func fixDSASignature(sig *dns.RRSIG) {
	if sig.Algorithm != dns.DSA && sig.Algorithm != dns.DSANSEC3SHA1 {
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
