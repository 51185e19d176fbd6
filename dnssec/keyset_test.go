package dnssec

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// keyZone is a zone with a KSK (ed25519) and a ZSK (P-256), its DNSKEY set
// signed by the KSK.
type keyZone struct {
	zone     string
	ksk, zsk *signer
	set      []dns.RR
	sigs     []*dns.RRSIG
}

func newKeyZone(t testing.TB, extra ...dns.RR) keyZone {
	t.Helper()
	z := keyZone{zone: "example.com."}
	z.ksk = newSigner(t, z.zone, dns.ED25519, 1)
	z.zsk = newSigner(t, z.zone, dns.ECDSAP256SHA256, 0)
	z.zsk.key.Flags = 256
	z.set = append([]dns.RR{z.ksk.key, z.zsk.key}, extra...)
	z.sigs = []*dns.RRSIG{z.ksk.sign(t, z.zone, z.set)}
	return z
}

func dsOf(t testing.TB, k *dns.DNSKEY, digest uint8) *dns.DS {
	t.Helper()
	ds := k.ToDS(digest)
	if ds == nil {
		t.Fatalf("ToDS(%d) failed", digest)
	}
	return ds
}

func TestVerifyKeySet(t *testing.T) {
	z := newKeyZone(t)
	ksk := z.ksk.key
	wrong := func(ds *dns.DS) *dns.DS {
		c := *ds
		c.Digest = strings.Repeat("0", len(c.Digest))
		return &c
	}
	withAlg := func(ds *dns.DS, alg uint8) *dns.DS { c := *ds; c.Algorithm = alg; return &c }
	withDigest := func(ds *dns.DS, d uint8) *dns.DS { c := *ds; c.DigestType = d; return &c }
	other := newSigner(t, "example.com.", dns.ED25519, 9).key
	tests := []struct {
		name    string
		ds      []*dns.DS
		anchors []*dns.DNSKEY
		sigs    []*dns.RRSIG
		status  Status
		ede     uint16
	}{
		{"SHA-1", []*dns.DS{dsOf(t, ksk, dns.SHA1)}, nil, z.sigs, Secure, 0},
		{"SHA-256", []*dns.DS{dsOf(t, ksk, dns.SHA256)}, nil, z.sigs, Secure, 0},
		{"SHA-384", []*dns.DS{dsOf(t, ksk, dns.SHA384)}, nil, z.sigs, Secure, 0},
		{"SHA-1 ignored beside a SHA-256 of the same key", []*dns.DS{dsOf(t, ksk, dns.SHA1), wrong(dsOf(t, ksk, dns.SHA256))}, nil, z.sigs, Bogus, dns.ExtendedErrorCodeDNSKEYMissing},
		{"SHA-1 ignored beside a SHA-256 of another key (RFC 4509 3: the set has a stronger digest)", []*dns.DS{dsOf(t, ksk, dns.SHA1), dsOf(t, other, dns.SHA256)}, nil, z.sigs, Bogus, dns.ExtendedErrorCodeDNSKEYMissing},
		{"no DS matches", []*dns.DS{dsOf(t, other, dns.SHA256)}, nil, z.sigs, Bogus, dns.ExtendedErrorCodeDNSKEYMissing},
		{"DS of the ZSK, set signed by the KSK", []*dns.DS{dsOf(t, z.zsk.key, dns.SHA256)}, nil, z.sigs, Bogus, dns.ExtendedErrorCodeDNSKEYMissing},
		{"unsupported algorithm only", []*dns.DS{withAlg(dsOf(t, ksk, dns.SHA256), dns.ECCGOST)}, nil, z.sigs, Insecure, dns.ExtendedErrorCodeUnsupportedDNSKEYAlgorithm},
		{"unsupported digest only", []*dns.DS{withDigest(dsOf(t, ksk, dns.SHA256), dns.GOST94)}, nil, z.sigs, Insecure, dns.ExtendedErrorCodeUnsupportedDSDigestType},
		{"unsupported beside supported", []*dns.DS{withAlg(dsOf(t, ksk, dns.SHA256), dns.ECCGOST), dsOf(t, ksk, dns.SHA256)}, nil, z.sigs, Secure, 0},
		{"DS of another zone only", []*dns.DS{func() *dns.DS { d := dsOf(t, ksk, dns.SHA256); d.Hdr.Name = "example.net."; return d }()}, nil, z.sigs, Indeterminate, 0},
		{"no trust", nil, nil, z.sigs, Indeterminate, 0},
		{"anchor key", nil, []*dns.DNSKEY{ksk}, z.sigs, Secure, 0},
		{"anchor key not in the set", nil, []*dns.DNSKEY{other}, z.sigs, Bogus, dns.ExtendedErrorCodeDNSKEYMissing},
		{"set unsigned", []*dns.DS{dsOf(t, ksk, dns.SHA256)}, nil, nil, Bogus, dns.ExtendedErrorCodeRRSIGsMissing},
		{"set signature expired", []*dns.DS{dsOf(t, ksk, dns.SHA256)}, nil,
			[]*dns.RRSIG{z.ksk.signAt(t, z.zone, z.set, inception-30*86400, inception)}, Bogus, dns.ExtendedErrorCodeSignatureExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, keys := VerifyKeySet("Example.COM", z.set, tt.sigs, tt.ds, tt.anchors, now, nil)
			checkVerdict(t, v, tt.status, tt.ede)
			if (v.Status == Secure) != (len(keys) == 2) {
				t.Errorf("%s with %d keys", v.Status, len(keys))
			}
			if v.Status == Secure && v.KeyTag != ksk.KeyTag() {
				t.Errorf("verified by %d, want the KSK %d", v.KeyTag, ksk.KeyTag())
			}
		})
	}
}

// TestVerifyKeySetKeysPerDS: of the keys with a DS's tag and algorithm, only
// MaxKeysPerDS are hashed and tried.
func TestVerifyKeySetKeysPerDS(t *testing.T) {
	z := newKeyZone(t)
	colliding := collidingKeys(t, z.ksk.key, 6)
	ds := []*dns.DS{dsOf(t, z.ksk.key, dns.SHA256)}
	first := append(append([]dns.RR{}, colliding...), z.zsk.key) // the real KSK first
	last := append(append([]dns.RR{}, colliding[1:]...), colliding[0], z.zsk.key)
	for _, tt := range []struct {
		name   string
		set    []dns.RR
		status Status
	}{
		{"real key among the first four", first, Secure},
		{"real key sixth", last, Bogus},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sigs := []*dns.RRSIG{z.ksk.sign(t, z.zone, tt.set)}
			v, _ := VerifyKeySet(z.zone, tt.set, sigs, ds, nil, now, nil)
			if v.Status != tt.status {
				t.Errorf("%s (%s), want %s", v.Status, v.Why, tt.status)
			}
		})
	}
}

// TestKeyTagAndDS: a Key's tag and DS match agree with miekg/dns's
// KeyTag and ToDS, whatever the algorithm, flags and owner case, and a
// digest of another key, type or text never matches.
func TestKeyTagAndDS(t *testing.T) {
	var keys []*dns.DNSKEY
	for i, alg := range []uint8{dns.RSASHA256, dns.ECDSAP256SHA256, dns.ECDSAP384SHA384, dns.ED25519} {
		k := newSigner(t, "Example.COM.", alg, byte(i)).key
		keys = append(keys, k)
		revoked := *k
		revoked.Flags |= flagRevoke
		keys = append(keys, &revoked)
	}
	broken := *keys[0]
	broken.PublicKey = "not base64!"
	keys = append(keys, &broken)
	for _, d := range keys {
		k := parseKey(d)
		if k.Tag != d.KeyTag() {
			t.Errorf("alg %d flags %d: tag %d, miekg/dns %d", d.Algorithm, d.Flags, k.Tag, d.KeyTag())
		}
		for _, digest := range []uint8{dns.SHA1, dns.SHA256, dns.SHA384} {
			ds := d.ToDS(digest)
			if ds == nil {
				if d != &broken {
					t.Fatalf("alg %d: no DS of digest %d", d.Algorithm, digest)
				}
				continue
			}
			upper := *ds
			upper.Digest = strings.ToUpper(ds.Digest)
			other := *ds
			other.Digest = keys[0].ToDS(digest).Digest
			mistyped := *ds
			mistyped.DigestType = dns.SHA512
			for _, tc := range []struct {
				ds   *dns.DS
				want bool
			}{{ds, true}, {&upper, true}, {&other, d == keys[0]}, {&mistyped, false}} {
				if got := k.matchesDS(tc.ds); got != tc.want {
					t.Errorf("alg %d flags %d, DS %s: match %v, want %v", d.Algorithm, d.Flags, tc.ds, got, tc.want)
				}
			}
		}
	}
	if parseKey(&broken).matchesDS(keys[0].ToDS(dns.SHA256)) {
		t.Error("a key that does not decode matches a DS")
	}
}
