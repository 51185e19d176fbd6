package replay

import (
	"encoding/asn1"
	"encoding/base64"
	"math/big"
	"slices"
	"testing"

	"github.com/miekg/dns"
)

func TestFixDSASignature(t *testing.T) {
	r, s := big.NewInt(0x0102), new(big.Int).Lsh(big.NewInt(1), 159)
	der, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
	if err != nil {
		t.Fatal(err)
	}
	sig := &dns.RRSIG{Algorithm: dns.DSA, Signature: base64.StdEncoding.EncodeToString(der)}
	fixDSASignature(sig)
	raw, _ := base64.StdEncoding.DecodeString(sig.Signature)
	if len(raw) != dsaSigLen || new(big.Int).SetBytes(raw[1:21]).Cmp(r) != 0 || new(big.Int).SetBytes(raw[21:]).Cmp(s) != 0 {
		t.Fatalf("DER signature became %x, want T, R, S of 41 octets", raw)
	}
	// DNS form, other algorithms and junk stay as they are.
	for _, keep := range []*dns.RRSIG{
		{Algorithm: dns.DSA, Signature: sig.Signature},
		{Algorithm: dns.RSASHA256, Signature: base64.StdEncoding.EncodeToString(der)},
		{Algorithm: dns.DSA, Signature: base64.StdEncoding.EncodeToString([]byte("not a DER signature"))},
	} {
		before := keep.Signature
		fixDSASignature(keep)
		if keep.Signature != before {
			t.Errorf("alg %d signature %s rewritten to %s", keep.Algorithm, before, keep.Signature)
		}
	}
}

func TestNormalizeSortsTypeBitmaps(t *testing.T) {
	rr, err := parseRR("example.com. IN NSEC abc.example.com. SOA NS DNSKEY NSEC RRSIG NS")
	if err != nil {
		t.Fatal(err)
	}
	want := []uint16{dns.TypeNS, dns.TypeSOA, dns.TypeRRSIG, dns.TypeNSEC, dns.TypeDNSKEY}
	if got := rr.(*dns.NSEC).TypeBitMap; !slices.Equal(got, want) {
		t.Fatalf("bitmap %v, want %v", got, want)
	}
	if _, err := (&dns.Msg{Answer: []dns.RR{rr}}).Pack(); err != nil {
		t.Fatalf("does not pack: %v", err)
	}
}
