package testnet

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// signClock is the clock the signer tests sign at, so their zones are the
// same on every run.
var signClock = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return signClock }

func loadSigned(tb testing.TB, signer Signer) (*sandbox, map[string]*policy) {
	tb.Helper()
	sb, err := loadSandboxConfig(Config{Dir: sandboxDir, Now: fixedClock, Signer: signer})
	if errors.Is(err, ErrLDNSNotFound) {
		tb.Skipf("skipping: %v", err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	policies, err := readPolicies(sb.fsys)
	if err != nil {
		tb.Fatal(err)
	}
	return sb, policies
}

func TestParsePolicies(t *testing.T) {
	tests := []struct {
		name, conf string
		want       *policy // of zone "a."
		wantErr    string
	}{
		{"nsec", "a. nsec", &policy{zone: "a.", denial: NSEC}, ""},
		{"nsec3 options", "A nsec3 salt=ab iterations=7 optout # comment",
			&policy{zone: "a.", denial: NSEC3, salt: "AB", iterations: 7, optOut: true}, ""},
		{"breakage", "a. nsec break=expired,no-dnskey",
			&policy{zone: "a.", denial: NSEC, breaks: []*breakage{breakages["expired"], breakages["no-dnskey"]}}, ""},
		{"unsigned", "a. unsigned", &policy{zone: "a.", denial: Unsigned}, ""},
		{"unknown denial", "a. nsec5", nil, "denial"},
		{"salt for nsec", "a. nsec salt=ab", nil, "for nsec3 zones"},
		{"bad salt", "a. nsec3 salt=xyz", nil, "salt"},
		{"too many iterations", "a. nsec3 iterations=2501", nil, "iterations"},
		{"unknown breakage", "a. nsec break=melted", nil, "unknown breakage"},
		{"breaking an unsigned zone", "a. unsigned break=expired", nil, "nothing to break"},
		{"twice", "a. nsec\na. nsec3", nil, "twice"},
		{"no denial", "a.", nil, "want"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePolicies(strings.NewReader(tt.conf))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := got["a."]
			if p == nil || p.denial != tt.want.denial || p.salt != tt.want.salt || p.iterations != tt.want.iterations ||
				p.optOut != tt.want.optOut || !slices.Equal(p.breaks, tt.want.breaks) {
				t.Errorf("got %+v, want %+v", p, tt.want)
			}
		})
	}
}

// TestCanonicalOrder checks the example of RFC 4034 section 6.1.
func TestCanonicalOrder(t *testing.T) {
	want := []string{"example.", "a.example.", "yljkjljk.a.example.", "Z.a.example.", "zABC.a.EXAMPLE.",
		"z.example.", `\001.z.example.`, "*.z.example.", `\200.z.example.`}
	got := slices.Clone(want)
	slices.Reverse(got)
	slices.SortStableFunc(got, canonicalCompare)
	if !slices.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

// TestSignedZonesVerify checks the builtin signer's output with miekg's
// primitives: every signature of every unbroken zone verifies under a key
// of its zone, within its validity, and every signed zone below a signed
// parent has a DS there matching one of its KSKs.
func TestSignedZonesVerify(t *testing.T) {
	sb, policies := loadSigned(t, SignerBuiltin)
	for origin, z := range sb.zones {
		p := policies[origin]
		if !p.signed() || len(p.breaks) > 0 {
			continue
		}
		t.Run(origin, func(t *testing.T) {
			keys := z.nodes[origin].rrsets[dns.TypeDNSKEY]
			signed := 0
			for name, n := range z.nodes {
				for _, rr := range n.rrsets[dns.TypeRRSIG] {
					sig := rr.(*dns.RRSIG)
					if err := verifyWith(sig, keys, n.rrsets[sig.TypeCovered]); err != nil {
						t.Errorf("%s RRSIG %s: %v", name, dns.TypeToString[sig.TypeCovered], err)
					}
					if !sig.ValidityPeriod(signClock) {
						t.Errorf("%s RRSIG %s: not valid at the signing clock", name, dns.TypeToString[sig.TypeCovered])
					}
					signed++
				}
			}
			if signed == 0 {
				t.Fatal("no signatures")
			}
			parent := sb.parentOf(origin)
			if parent == nil || !policies[parent.origin].signed() {
				return
			}
			if !dsMatchesKey(parent.nodes[origin].rrsets[dns.TypeDS], keys) {
				t.Errorf("no DS in %s matches a KSK of %s", parent.origin, origin)
			}
		})
	}
}

func verifyWith(sig *dns.RRSIG, keys []dns.RR, rrset []dns.RR) error {
	var err error = errNoKey
	for _, rr := range keys {
		k := rr.(*dns.DNSKEY)
		if k.KeyTag() == sig.KeyTag && k.Algorithm == sig.Algorithm {
			if err = sig.Verify(k, rrset); err == nil {
				return nil
			}
		}
	}
	return err
}

var errNoKey = os.ErrNotExist

func dsMatchesKey(dsset, keys []dns.RR) bool {
	for _, rr := range dsset {
		ds := rr.(*dns.DS)
		for _, k := range keys {
			key := k.(*dns.DNSKEY)
			if key.Flags&dns.SEP != 0 && strings.EqualFold(key.ToDS(ds.DigestType).Digest, ds.Digest) {
				return true
			}
		}
	}
	return false
}

// TestSignerDeterministic: the same keys and clock give the same zones,
// signatures included.
func TestSignerDeterministic(t *testing.T) {
	a, _ := loadSigned(t, SignerBuiltin)
	b, _ := loadSigned(t, SignerBuiltin)
	for origin := range a.zones {
		if x, y := zoneText(t, a.zones[origin]), zoneText(t, b.zones[origin]); x != y {
			t.Errorf("zone %s differs between two loads", origin)
		}
	}
}

func zoneText(tb testing.TB, z *zone) string {
	var buf bytes.Buffer
	if err := writeZone(&buf, z); err != nil {
		tb.Fatal(err)
	}
	return buf.String()
}

func TestTrustAnchor(t *testing.T) {
	n, err := Start(Config{Dir: sandboxDir, Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	anchor := n.TrustAnchor()
	read, err := ReadTrustAnchor(Config{Dir: sandboxDir})
	if err != nil {
		t.Fatal(err)
	}
	if len(anchor) == 0 || !slices.Equal(rrStrings(anchor), rrStrings(read)) {
		t.Fatalf("TrustAnchor %v, ReadTrustAnchor %v", anchor, read)
	}
	root := n.sb.zones["."].nodes["."].rrsets[dns.TypeDNSKEY]
	for _, rr := range anchor {
		ds, ok := rr.(*dns.DS)
		if !ok || ds.Hdr.Name != "." || ds.DigestType != dns.SHA256 || ds.Algorithm != dns.RSASHA256 {
			t.Errorf("anchor %v: want a SHA-256 DS of an algorithm 8 key of the root", rr)
		}
	}
	if !dsMatchesKey(anchor, root) {
		t.Errorf("anchor %v matches no KSK of the root", anchor)
	}
	none, err := ReadTrustAnchor(Config{Dir: hostileDir})
	if err != nil || len(none) != 0 {
		t.Errorf("unsigned tree: anchor %v, %v; want none", none, err)
	}
}

// FuzzParsePolicies: signing.conf never panics the parser, and what it
// accepts is a policy the signer can use: a denial it knows, NSEC3 options
// only on NSEC3 zones, breakages only on signed ones.
func FuzzParsePolicies(f *testing.F) {
	for _, seed := range []string{
		"a. nsec3 salt=ab iterations=7 optout break=keytrap",
		". nsec\ncom. nsec3\nx. unsigned",
		"a. nsec break=expired,no-dnskey # c",
		"a. nsec3 iterations=99999",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, conf string) {
		policies, err := parsePolicies(strings.NewReader(conf))
		if err != nil {
			return
		}
		for zone, p := range policies {
			if zone != p.zone || zone != canonical(zone) {
				t.Errorf("zone %q filed as %q", p.zone, zone)
			}
			switch {
			case p.denial != Unsigned && p.denial != NSEC && p.denial != NSEC3:
				t.Errorf("%s: denial %q", zone, p.denial)
			case p.denial != NSEC3 && (p.salt != "" || p.iterations != 0 || p.optOut):
				t.Errorf("%s: NSEC3 options on a %s zone", zone, p.denial)
			case p.denial == Unsigned && len(p.breaks) > 0:
				t.Errorf("%s: breakages on an unsigned zone", zone)
			case p.iterations > maxNSEC3Iterations || len(p.salt)%2 != 0:
				t.Errorf("%s: iterations %d, salt %q", zone, p.iterations, p.salt)
			}
		}
	})
}
