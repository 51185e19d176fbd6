package dnssec

import (
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var algorithms = []uint8{
	dns.RSASHA1, dns.RSASHA1NSEC3SHA1, dns.RSASHA256, dns.RSASHA512,
	dns.ECDSAP256SHA256, dns.ECDSAP384SHA384, dns.ED25519,
}

// mixedSet has names of mixed case in owner and RDATA, unsorted RDATA and a
// TTL other than the original: canonical form and order matter to it.
func mixedSet(t testing.TB) []dns.RR {
	return rrs(t,
		"WWW.Example.COM. 300 IN MX 20 Mail2.EXAMPLE.com.",
		"WWW.Example.COM. 300 IN MX 10 mail1.example.com.",
		"WWW.Example.COM. 300 IN MX 10 MAIL.example.com.",
	)
}

// TestVerifyRRsetAlgorithms signs with each algorithm through miekg's Sign,
// and checks that VerifyRRset agrees with miekg's RRSIG.Verify, also on a
// set changed after signing.
func TestVerifyRRsetAlgorithms(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(dns.AlgorithmToString[alg], func(t *testing.T) {
			s := newSigner(t, "example.com.", alg, 1)
			set := mixedSet(t)
			sig := s.sign(t, "example.com.", set)
			// Answers arrive with decremented TTLs.
			for _, rr := range set {
				rr.Header().Ttl = 17
			}
			if err := sig.Verify(s.key, set); err != nil {
				t.Fatalf("miekg Verify: %v", err)
			}
			v := VerifyRRset(set, []*dns.RRSIG{sig}, "EXAMPLE.com", keysOf(s), now, nil)
			checkVerdict(t, v, Secure, 0)
			if v.KeyTag != s.key.KeyTag() || !v.Expires.Equal(time.Unix(int64(expires), 0)) {
				t.Errorf("KeyTag %d Expires %v, want %d %v", v.KeyTag, v.Expires, s.key.KeyTag(), time.Unix(int64(expires), 0))
			}

			changed := mixedSet(t)
			changed[1].(*dns.MX).Preference = 11
			if sig.Verify(s.key, changed) == nil {
				t.Fatal("miekg Verify accepts a changed set")
			}
			v = VerifyRRset(changed, []*dns.RRSIG{sig}, "example.com.", keysOf(s), now, nil)
			checkVerdict(t, v, Bogus, dns.ExtendedErrorCodeDNSBogus)
		})
	}
}

// TestVerifyRRsetWeak: keys under 1024 bits verify only with AllowWeak.
func TestVerifyRRsetWeak(t *testing.T) {
	s := newSignerBits(t, "example.com.", dns.RSASHA256, 0, 512)
	set := rrs(t, "example.com. 60 IN A 192.0.2.1")
	sig := s.sign(t, "example.com.", set)
	if err := sig.Verify(s.key, set); err != nil {
		t.Fatalf("miekg Verify: %v", err)
	}
	v := VerifyRRset(set, []*dns.RRSIG{sig}, "example.com.", keysOf(s), now, nil)
	checkVerdict(t, v, Bogus, dns.ExtendedErrorCodeDNSKEYMissing)
	v = VerifyRRset(set, []*dns.RRSIG{sig}, "example.com.", keysOf(s), now, NewBudget(Limits{AllowWeak: true}))
	checkVerdict(t, v, Secure, 0)
	set[0].(*dns.A).A[3] = 2
	v = VerifyRRset(set, []*dns.RRSIG{sig}, "example.com.", keysOf(s), now, NewBudget(Limits{AllowWeak: true}))
	checkVerdict(t, v, Bogus, dns.ExtendedErrorCodeDNSBogus)
}

func TestVerifyRRsetFailures(t *testing.T) {
	zone := "example.com."
	s := newSigner(t, zone, dns.ED25519, 1)
	other := newSigner(t, zone, dns.ED25519, 2)
	set := rrs(t, "a.example.com. 60 IN A 192.0.2.1", "a.example.com. 60 IN A 192.0.2.2")
	good := s.sign(t, zone, set)
	hour := uint32(3600)
	tests := []struct {
		name   string
		sigs   func() []*dns.RRSIG
		zone   string
		keys   []*Key
		status Status
		ede    uint16
	}{
		{"good", func() []*dns.RRSIG { return []*dns.RRSIG{good} }, zone, keysOf(s), Secure, 0},
		{"no sigs", func() []*dns.RRSIG { return nil }, zone, keysOf(s), Bogus, dns.ExtendedErrorCodeRRSIGsMissing},
		{"sig of another type only", func() []*dns.RRSIG {
			return []*dns.RRSIG{s.sign(t, zone, rrs(t, "a.example.com. 60 IN TXT x"))}
		}, zone, keysOf(s), Bogus, dns.ExtendedErrorCodeRRSIGsMissing},
		{"wrong signer", func() []*dns.RRSIG {
			return []*dns.RRSIG{s.sign(t, "com.", set)}
		}, zone, keysOf(s), Bogus, dns.ExtendedErrorCodeDNSBogus},
		{"signed for a parent zone", func() []*dns.RRSIG { return []*dns.RRSIG{good} }, "a.example.com.", keysOf(s), Bogus, dns.ExtendedErrorCodeDNSBogus},
		{"labels over the owner's", func() []*dns.RRSIG {
			sig := *good
			sig.Labels = 4
			return []*dns.RRSIG{&sig}
		}, zone, keysOf(s), Bogus, dns.ExtendedErrorCodeDNSBogus},
		{"labels under the owner's, not a wildcard", func() []*dns.RRSIG {
			sig := *good
			sig.Labels = 2
			return []*dns.RRSIG{&sig}
		}, zone, keysOf(s), Bogus, dns.ExtendedErrorCodeDNSBogus},
		{"unknown key", func() []*dns.RRSIG { return []*dns.RRSIG{good} }, zone, keysOf(other), Bogus, dns.ExtendedErrorCodeDNSKEYMissing},
		{"expired", func() []*dns.RRSIG {
			return []*dns.RRSIG{s.signAt(t, zone, set, inception, uint32(now.Unix())-25*hour)}
		}, zone, keysOf(s), Bogus, dns.ExtendedErrorCodeSignatureExpired},
		{"expired within the skew", func() []*dns.RRSIG {
			return []*dns.RRSIG{s.signAt(t, zone, set, inception-13*24*hour, uint32(now.Unix())-23*hour)}
		}, zone, keysOf(s), Secure, 0},
		{"not yet valid", func() []*dns.RRSIG {
			return []*dns.RRSIG{s.signAt(t, zone, set, uint32(now.Unix())+25*hour, expires)}
		}, zone, keysOf(s), Bogus, dns.ExtendedErrorCodeSignatureNotYetValid},
		{"expired and a bad one: the bad one tells", func() []*dns.RRSIG {
			bad := *good
			bad.Signature = other.sign(t, zone, set).Signature
			return []*dns.RRSIG{s.signAt(t, zone, set, inception, uint32(now.Unix())-25*hour), &bad}
		}, zone, keysOf(s), Bogus, dns.ExtendedErrorCodeDNSBogus},
		{"one bad, one good", func() []*dns.RRSIG {
			bad := *good
			bad.Signature = other.sign(t, zone, set).Signature
			return []*dns.RRSIG{&bad, good}
		}, zone, keysOf(s), Secure, 0},
		{"revoked key", func() []*dns.RRSIG { return []*dns.RRSIG{good} }, zone, revoked(s), Bogus, dns.ExtendedErrorCodeDNSKEYMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := VerifyRRset(set, tt.sigs(), tt.zone, tt.keys, now, nil)
			checkVerdict(t, v, tt.status, tt.ede)
		})
	}
}

// revoked is s's key with the REVOKE bit and the tag that comes with it.
func revoked(s *signer) []*Key {
	k := *s.key
	k.Flags |= 0x80
	keys := ParseKeys([]dns.RR{&k})
	keys[0].Tag = s.key.KeyTag() // as if it still matched the signatures
	return keys
}

func TestVerifyRRsetWildcard(t *testing.T) {
	zone := "example.com."
	s := newSigner(t, zone, dns.ECDSAP256SHA256, 0)
	wild := rrs(t, "*.example.com. 60 IN TXT hello")
	sig := s.sign(t, zone, wild)
	expanded := rrs(t, "a.b.Example.com. 60 IN TXT hello")
	esig := *sig
	esig.Hdr.Name = "a.b.Example.com."
	if err := esig.Verify(s.key, expanded); err != nil {
		t.Fatalf("miekg Verify: %v", err)
	}
	checkVerdict(t, VerifyRRset(expanded, []*dns.RRSIG{&esig}, zone, keysOf(s), now, nil), Secure, 0)
	checkVerdict(t, VerifyRRset(wild, []*dns.RRSIG{sig}, zone, keysOf(s), now, nil), Secure, 0)
	if got := WildcardOf("a.b.Example.com.", &esig); got != "*.example.com." {
		t.Errorf("WildcardOf = %q", got)
	}
	if got := WildcardOf("*.example.com.", sig); got != "" {
		t.Errorf("WildcardOf the wildcard itself = %q, want none", got)
	}
	plain := s.sign(t, zone, rrs(t, "x.example.com. 60 IN A 192.0.2.1"))
	if got := WildcardOf("x.example.com.", plain); got != "" {
		t.Errorf("WildcardOf unexpanded = %q", got)
	}
	root := &dns.RRSIG{Labels: 0}
	if got := WildcardOf("a.", root); got != "*." {
		t.Errorf("WildcardOf under the root = %q", got)
	}
}

// TestSignatureTimeValid: the validity period widened by 10% of the
// lifetime, at least an hour and at most a day.
func TestSignatureTimeValid(t *testing.T) {
	n := uint32(now.Unix())
	const h, d = 3600, 86400
	tests := []struct {
		name     string
		inc, exp uint32
		ok       bool
		ede      uint16
	}{
		{"inside", n - h, n + h, true, 0},
		{"short lifetime, expired 59 min ago: 1 h minimum skew", n - 2*h, n - 59*60, true, 0},
		{"short lifetime, expired 61 min ago", n - 2*h, n - 61*60, false, dns.ExtendedErrorCodeSignatureExpired},
		{"short lifetime, starts in 59 min", n + 59*60, n + 5*h, true, 0},
		{"short lifetime, starts in 61 min", n + 61*60, n + 5*h, false, dns.ExtendedErrorCodeSignatureNotYetValid},
		{"20 days: 2 days is 10% but 1 day is the maximum, expired 23 h ago", n - 20*d, n - 23*h, true, 0},
		{"20 days, expired 25 h ago", n - 20*d, n - 25*h, false, dns.ExtendedErrorCodeSignatureExpired},
		{"5 days: 12 h skew, expired 11 h ago", n - 11*h - 5*d, n - 11*h, true, 0},
		{"5 days, expired 13 h ago", n - 13*h - 5*d, n - 13*h, false, dns.ExtendedErrorCodeSignatureExpired},
		{"5 days, starts in 13 h", n + 13*h, n + 13*h + 5*d, false, dns.ExtendedErrorCodeSignatureNotYetValid},
		{"expiration before inception", n + h, n - h, false, dns.ExtendedErrorCodeSignatureExpiredBeforeValid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, ede := SignatureTimeValid(&dns.RRSIG{Inception: tt.inc, Expiration: tt.exp}, now)
			if ok != tt.ok || ede != tt.ede {
				t.Errorf("got %v %d, want %v %d", ok, ede, tt.ok, tt.ede)
			}
		})
	}
	// Serial arithmetic: a 32-bit time near the wrap point.
	later := time.Unix(1<<32+1000, 0)
	sig := &dns.RRSIG{Inception: uint32(1<<32 - 1000), Expiration: 5000}
	if ok, _ := SignatureTimeValid(sig, later); !ok {
		t.Error("a signature across the 2106 wrap is not valid")
	}
}

func TestClampTTL(t *testing.T) {
	n := uint32(now.Unix())
	tests := []struct {
		ttl, orig, exp uint32
		want           uint32
	}{
		{300, 3600, n + 86400, 300},
		{7200, 3600, n + 86400, 3600},
		{7200, 86400, n + 100, 100},
		{7200, 86400, n - 100, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt), func(t *testing.T) {
			if got := ClampTTL(tt.ttl, &dns.RRSIG{OrigTtl: tt.orig, Expiration: tt.exp}, now); got != tt.want {
				t.Errorf("ClampTTL = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestKeyTrap: many keys sharing one tag and many signatures cost at most
// MaxVerificationsPerRRset per set and MaxVerificationsPerQuery per budget.
func TestKeyTrap(t *testing.T) {
	zone := "example.com."
	set := rrs(t, "example.com. 60 IN A 192.0.2.1")
	s := newSigner(t, zone, dns.ED25519, 1)
	colliding := collidingKeys(t, s.key, 20)
	keys := ParseKeys(colliding)
	good := s.sign(t, zone, set)
	bad := make([]*dns.RRSIG, 20)
	for i := range bad {
		sig := *good
		sig.Signature = s.sign(t, zone, rrs(t, fmt.Sprintf("example.com. 60 IN A 192.0.2.%d", 100+i))).Signature
		bad[i] = &sig
	}
	b := NewBudget(DefaultLimits)
	for i := range 4 {
		v := VerifyRRset(set, bad, zone, keys, now, b)
		checkVerdict(t, v, Bogus, dns.ExtendedErrorCodeDNSBogus)
		if !v.Exhausted || b.Verifications() != 8*(i+1) {
			t.Fatalf("set %d: exhausted %v after %d verifications", i, v.Exhausted, b.Verifications())
		}
	}
	// The query's 32 are spent: even the good signature is not tried.
	v := VerifyRRset(set, []*dns.RRSIG{good}, zone, keys, now, b)
	if v.Status != Bogus || !v.Exhausted || b.Verifications() != 32 || !b.Exhausted() {
		t.Errorf("after the budget: %+v, %d verifications", v, b.Verifications())
	}
	// With a fresh budget the good one verifies despite the colliding keys.
	checkVerdict(t, VerifyRRset(set, []*dns.RRSIG{good, bad[0]}, zone, keys, now, nil), Secure, 0)
}

// collidingKeys returns k and n-1 other keys with k's tag, as KeyTrap makes
// them: the tag is a ones'-complement sum of 16-bit words, so adding to the
// high octet of one word and taking as much from another keeps it.
func collidingKeys(t testing.TB, k *dns.DNSKEY, n int) []dns.RR {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(k.PublicKey)
	if err != nil || len(raw) < 4 {
		t.Fatalf("key: %v", err)
	}
	out := []dns.RR{k}
	for i := 1; i < n; i++ {
		c := *k
		p := append([]byte(nil), raw...)
		// RDATA offset 4+j: even j is a high octet. Shift p[0] up and p[2] down by i (mod 256 each, with the
		// borrow and carry of the ones'-complement sum cancelling only without wrap, so pick a safe pair).
		a, b := 0, 2
		for int(p[a])+i > 255 || int(p[b])-i < 0 {
			a, b = a+4, b+4
		}
		p[a] += byte(i)
		p[b] -= byte(i)
		c.PublicKey = base64.StdEncoding.EncodeToString(p)
		if c.KeyTag() != k.KeyTag() {
			t.Fatalf("crafted key %d has tag %d, want %d", i, c.KeyTag(), k.KeyTag())
		}
		out = append(out, &c)
	}
	return out
}
