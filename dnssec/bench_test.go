package dnssec

import (
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkVerifyRRset verifies a two-record A set with keys parsed once
// (alg8: RSA 2048, alg13: P-256, alg15: Ed25519), and the same through
// miekg's RRSIG.Verify, which parses the key on every call.
func BenchmarkVerifyRRset(b *testing.B) {
	for _, tc := range []struct {
		name string
		alg  uint8
		bits int
	}{
		{"alg8", dns.RSASHA256, 2048},
		{"alg13", dns.ECDSAP256SHA256, 256},
		{"alg15", dns.ED25519, 256},
	} {
		s := newSignerBits(b, "example.com.", tc.alg, 1, tc.bits)
		set := rrs(b, "www.example.com. 300 IN A 192.0.2.1", "www.example.com. 300 IN A 192.0.2.2")
		sig := s.sign(b, "example.com.", set)
		keys := keysOf(s)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if v := VerifyRRset(set, []*dns.RRSIG{sig}, "example.com.", keys, now, nil); v.Status != Secure {
					b.Fatal(v.Why)
				}
			}
		})
		b.Run(tc.name+"-miekg", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := sig.Verify(s.key, set); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNSEC3NXDomain is RFC 5155's B.1 proof: four hashes of 12 iterations.
func BenchmarkNSEC3NXDomain(b *testing.B) {
	nsecs := nsec3Of(b, 0, 12, "x.w.example.", "example.", "a.example.")
	b.ReportAllocs()
	for b.Loop() {
		if v := ProveNXDomain("a.c.x.w.example.", "example.", nsecs, nil); v.Status != Secure {
			b.Fatal(v.Why)
		}
	}
}

// BenchmarkKeyTrust is what a DNSKEY set costs before its signature is
// checked: parsing a P-256 KSK and ZSK and finding the one the DS vouches for.
func BenchmarkKeyTrust(b *testing.B) {
	ksk := newSigner(b, "example.com.", dns.ECDSAP256SHA256, 1)
	zsk := newSigner(b, "example.com.", dns.ECDSAP256SHA256, 2)
	zsk.key.Flags = 256
	set := []dns.RR{ksk.key, zsk.key}
	ds := []*dns.DS{ksk.key.ToDS(dns.SHA256)}
	b.ReportAllocs()
	for b.Loop() {
		if trusted := trustedKeys(ParseKeys(set), ds, nil, 2); len(trusted) != 1 {
			b.Fatalf("%d trusted keys, want 1", len(trusted))
		}
	}
}
