package testnet

import (
	"testing"

	"github.com/miekg/dns"
)

// TestBreakages checks that each broken zone of the sandbox is broken the
// way its breakage says, and otherwise whole.
func TestBreakages(t *testing.T) {
	sb, policies := loadSigned(t, SignerBuiltin)
	tested := map[string]bool{}
	for origin, p := range policies {
		for _, b := range p.breaks {
			tested[b.name] = true
			t.Run(b.name+"/"+origin, func(t *testing.T) { checkBroken(t, sb, sb.zones[origin], b.name) })
		}
	}
	for name := range breakages {
		if !tested[name] {
			t.Errorf("breakage %s: no zone of the sandbox has it", name)
		}
	}
}

func checkBroken(t *testing.T, sb *sandbox, z *zone, name string) {
	apex := z.nodes[z.origin]
	keys := apex.rrsets[dns.TypeDNSKEY]
	sigs := allSigs(z)
	www := z.nodes["www."+z.origin]
	switch name {
	case "expired", "not-yet-valid":
		for _, s := range sigs {
			if s.ValidityPeriod(signClock) {
				t.Errorf("%s RRSIG %s valid at the clock", s.Hdr.Name, dns.TypeToString[s.TypeCovered])
			}
			if expired := s.Expiration < uint32(signClock.Unix()); expired != (name == "expired") {
				t.Errorf("%s RRSIG %s: expired %t", s.Hdr.Name, dns.TypeToString[s.TypeCovered], expired)
			}
			if err := verifyWith(s, keys, z.nodes[canonical(s.Hdr.Name)].rrsets[s.TypeCovered]); err != nil {
				t.Errorf("%s RRSIG %s: %v (only the period should be wrong)", s.Hdr.Name, dns.TypeToString[s.TypeCovered], err)
			}
		}
	case "bad-sig":
		for _, s := range sigs {
			err := verifyWith(s, keys, z.nodes[canonical(s.Hdr.Name)].rrsets[s.TypeCovered])
			if bad := canonical(s.Hdr.Name) == "www."+z.origin && s.TypeCovered == dns.TypeA; bad != (err != nil) {
				t.Errorf("%s RRSIG %s: verify error %v", s.Hdr.Name, dns.TypeToString[s.TypeCovered], err)
			}
		}
	case "ds-mismatch":
		dsset := sb.parentOf(z.origin).nodes[z.origin].rrsets[dns.TypeDS]
		if len(dsset) == 0 || dsMatchesKey(dsset, keys) {
			t.Errorf("DS %v: want some, matching no key", dsset)
		}
	case "no-dnskey":
		if len(keys) > 0 || len(sigs) == 0 {
			t.Errorf("%d keys, %d signatures: want none and some", len(keys), len(sigs))
		}
	case "no-rrsigs":
		for _, s := range sigs {
			if s.TypeCovered != dns.TypeDNSKEY {
				t.Errorf("%s RRSIG %s left", s.Hdr.Name, dns.TypeToString[s.TypeCovered])
			}
		}
	case "unknown-alg":
		dsset := sb.parentOf(z.origin).nodes[z.origin].rrsets[dns.TypeDS]
		if len(dsset) == 0 || !dsMatchesKey(dsset, keys) || dsset[0].(*dns.DS).Algorithm != unknownAlgorithm {
			t.Errorf("DS %v: want algorithm %d, matching a key", dsset, unknownAlgorithm)
		}
		for _, s := range sigs {
			if k := keyOfTag(keys, s.KeyTag); s.Algorithm != unknownAlgorithm || k == nil || k.Algorithm != unknownAlgorithm {
				t.Errorf("%s RRSIG %s: algorithm %d, key %v", s.Hdr.Name, dns.TypeToString[s.TypeCovered], s.Algorithm, k)
			}
		}
	case "no-denial":
		for owner, n := range z.nodes {
			if n.has(dns.TypeNSEC) || n.has(dns.TypeNSEC3) {
				t.Errorf("%s keeps its denial record", owner)
			}
		}
		if www == nil || !www.has(dns.TypeRRSIG) {
			t.Errorf("www lost its signatures")
		}
	case "keytrap":
		checkKeyTrap(t, z, keys)
	default:
		t.Fatalf("no check for breakage %s", name)
	}
}

// checkKeyTrap: twenty and more ZSKs share a tag, the DNSKEY RRset verifies,
// every other RRset has as many signatures of that tag and none verifies.
func checkKeyTrap(t *testing.T, z *zone, keys []dns.RR) {
	tags := map[uint16]int{}
	for _, rr := range keys {
		tags[rr.(*dns.DNSKEY).KeyTag()]++
	}
	var tag uint16
	for k, count := range tags {
		if count > tags[tag] {
			tag = k
		}
	}
	if tags[tag] < 20 {
		t.Fatalf("key tags %v: want 20 keys or more sharing one", tags)
	}
	for name, n := range z.nodes {
		perType := map[uint16]int{}
		for _, rr := range n.rrsets[dns.TypeRRSIG] {
			s := rr.(*dns.RRSIG)
			perType[s.TypeCovered]++
			err := verifyWith(s, keys, n.rrsets[s.TypeCovered])
			if (s.TypeCovered == dns.TypeDNSKEY) != (err == nil) {
				t.Errorf("%s RRSIG %s: verify error %v", name, dns.TypeToString[s.TypeCovered], err)
			}
			if s.TypeCovered != dns.TypeDNSKEY && s.KeyTag != tag {
				t.Errorf("%s RRSIG %s: tag %d, want %d", name, dns.TypeToString[s.TypeCovered], s.KeyTag, tag)
			}
		}
		for typ, count := range perType {
			if typ != dns.TypeDNSKEY && count != tags[tag] {
				t.Errorf("%s: %d signatures over %s, want %d", name, count, dns.TypeToString[typ], tags[tag])
			}
		}
	}
}

func allSigs(z *zone) []*dns.RRSIG {
	var out []*dns.RRSIG
	for _, n := range z.nodes {
		for _, rr := range n.rrsets[dns.TypeRRSIG] {
			out = append(out, rr.(*dns.RRSIG))
		}
	}
	return out
}

func keyOfTag(keys []dns.RR, tag uint16) *dns.DNSKEY {
	for _, rr := range keys {
		if k := rr.(*dns.DNSKEY); k.KeyTag() == tag {
			return k
		}
	}
	return nil
}
