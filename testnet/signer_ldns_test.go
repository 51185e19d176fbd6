package testnet

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestLDNSVerifyZone runs ldns-verify-zone, an independent implementation,
// on every signed zone as each signer signed it (ours, and ldns-signzone's
// when installed): unbroken zones must verify, zones broken in themselves
// must not (ds-mismatch breaks the parent's DS, not the zone).
func TestLDNSVerifyZone(t *testing.T) {
	verify, err := exec.LookPath("ldns-verify-zone")
	if err != nil {
		t.Skip("skipping: ldns-verify-zone not installed (Debian package ldnsutils)")
	}
	for _, signer := range []Signer{SignerBuiltin, SignerLDNS} {
		t.Run(signer.String(), func(t *testing.T) {
			sb, policies := loadSigned(t, signer)
			dir := t.TempDir()
			for origin, z := range sb.zones {
				p := policies[origin]
				if !p.signed() {
					continue
				}
				broken := slices.ContainsFunc(p.breaks, func(b *breakage) bool { return b.apply != nil })
				t.Run(origin, func(t *testing.T) {
					t.Parallel()
					file := filepath.Join(dir, zoneFileName(origin))
					if err := writeZoneFile(file, z); err != nil {
						t.Fatal(err)
					}
					out, err := exec.CommandContext(t.Context(), verify, "-t", signClock.UTC().Format("20060102150405"), file).CombinedOutput()
					switch {
					case !broken && err != nil:
						t.Errorf("ldns-verify-zone: %v\n%s", err, out)
					case broken && err == nil:
						t.Errorf("ldns-verify-zone accepts the broken zone:\n%s", out)
					}
				})
			}
		})
	}
}

// TestSignersAgree signs the sandbox with both signers and compares: the
// same DNSKEY and DS records everywhere, the same trust anchor, the same
// NSEC and NSEC3 chains and the same RRsets signed by the same keys, but
// for one choice RFC 5155 leaves open: ldns-signzone keeps insecure
// delegations in an opt-out chain (opt-out NSEC3 records with NS alone).
func TestSignersAgree(t *testing.T) {
	ours, _ := loadSigned(t, SignerBuiltin)
	ldns, _ := loadSigned(t, SignerLDNS)
	if a, b := rrStrings(ours.anchor), rrStrings(ldns.anchor); !slices.Equal(a, b) {
		t.Errorf("trust anchors differ: %v vs %v", a, b)
	}
	for origin, z := range ours.zones {
		t.Run(origin, func(t *testing.T) {
			apexOurs, apexLDNS := z.nodes[origin], ldns.zones[origin].nodes[origin]
			if a, b := rrStrings(apexOurs.rrsets[dns.TypeDNSKEY]), rrStrings(apexLDNS.rrsets[dns.TypeDNSKEY]); !slices.Equal(a, b) {
				t.Errorf("DNSKEY RRsets differ:\n  %v\n  %v", a, b)
			}
			mine, theirs := zoneFacts(z), zoneFacts(ldns.zones[origin])
			for fact := range mine {
				if !theirs[fact] {
					t.Errorf("only the builtin signer: %s", fact)
				}
			}
			for fact := range theirs {
				if !mine[fact] && !optOutExtra(fact) {
					t.Errorf("only ldns-signzone: %s", fact)
				}
			}
		})
	}
}

// zoneFacts is what two signers of a zone should agree on: every record
// but signatures (NSEC3 hashes in lower case; opt-out NSEC3 records without
// their next hashed owner), and for signatures the owner, type covered and
// key tag.
func zoneFacts(z *zone) map[string]bool {
	facts := map[string]bool{}
	for name, n := range z.nodes {
		for _, rrs := range n.rrsets {
			for _, rr := range rrs {
				if sig, ok := rr.(*dns.RRSIG); ok {
					facts[fmt.Sprintf("%s RRSIG %s %d", name, dns.TypeToString[sig.TypeCovered], sig.KeyTag)] = true
					continue
				}
				if n3, ok := rr.(*dns.NSEC3); ok && n3.Flags&1 == 1 {
					// The chains of the signers differ here; compare the
					// records without the next hashed owner.
					n3 = dns.Copy(n3).(*dns.NSEC3)
					n3.NextDomain = "-"
					rr = n3
				}
				facts[strings.ToLower(Summarise(rr, false))] = true
			}
		}
	}
	return facts
}

// optOutExtra says whether a fact is about an NSEC3 record for an insecure
// delegation in an opt-out chain, or a signature over one.
func optOutExtra(fact string) bool {
	f := strings.Fields(fact)
	if len(f) >= 3 && f[1] == "RRSIG" && f[2] == "NSEC3" {
		return true // checked with the record itself
	}
	// owner ttl nsec3 hash flags iterations salt next types
	return len(f) == 9 && f[2] == "nsec3" && f[4] == "1" && f[8] == "ns"
}
