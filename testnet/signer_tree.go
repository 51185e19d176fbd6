package testnet

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/miekg/dns"
)

// TrustAnchor returns the DS records of the sandbox root's KSKs (digest
// SHA-256): the anchor a validating resolver starts from. It is empty when
// the root is unsigned.
func (n *Network) TrustAnchor() []dns.RR { return copyRRs(n.sb.anchor) }

// TrustAnchor returns the DS records of the sandbox root's KSKs.
func (n *NSDNetwork) TrustAnchor() []dns.RR { return copyRRs(n.sb.anchor) }

// ReadTrustAnchor returns the trust anchor of the sandbox cfg names, as
// Network.TrustAnchor does, from signing.conf and the keys alone, without
// loading the zones or starting a network.
func ReadTrustAnchor(cfg Config) ([]dns.RR, error) {
	fsys := sandboxFS(cfg)
	policies, err := readPolicies(fsys)
	if err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	keys, err := readKeys(fsys)
	if err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	p := policies["."]
	if !p.signed() {
		return nil, nil
	}
	return delegationDS(".", p, keys["."], anchorTTL), nil
}

// clock returns the time the sandbox is signed at.
func (cfg Config) clock() time.Time {
	if cfg.Now != nil {
		return cfg.Now()
	}
	return time.Now()
}

// sign signs the zones of sb as signing.conf says: DS records of
// signed children into their signed parents first, then each zone by the
// signer cfg names, then the breakages. It also sets the trust anchor.
func (sb *sandbox) sign(cfg Config) error {
	policies, err := readPolicies(sb.fsys)
	if err != nil {
		return err
	}
	if len(policies) == 0 {
		return nil
	}
	keys, err := readKeys(sb.fsys)
	if err != nil {
		return err
	}
	origins := sb.origins()
	for _, origin := range slices.Sorted(maps.Keys(policies)) {
		p := policies[origin]
		if sb.zones[origin] == nil {
			return fmt.Errorf("%s: zone %s is not served", SigningFile, origin)
		}
		if p.signed() && len(keys[origin]) == 0 {
			return fmt.Errorf("%s: zone %s has no keys in %s", SigningFile, origin, KeysDir)
		}
	}
	for _, origin := range origins {
		if p := policies[origin]; p.signed() {
			sb.delegate(origin, p, keys[origin], policies)
		}
	}
	now := cfg.clock()
	valid := periodAround(now, SignatureInceptionSkew, SignatureLifetime)
	for _, origin := range origins {
		p := policies[origin]
		if !p.signed() {
			continue
		}
		if err := sb.signOne(origin, p, keys[origin], cfg.Signer, valid); err != nil {
			return err
		}
		env := &breakEnv{keys: keys[origin], now: now, fsys: sb.fsys}
		for _, b := range p.breaks {
			if b.apply == nil {
				continue
			}
			if err := b.apply(sb.zones[origin], env); err != nil {
				return fmt.Errorf("zone %s: break %s: %w", origin, b.name, err)
			}
		}
	}
	if p := policies["."]; p.signed() {
		sb.anchor = delegationDS(".", p, keys["."], anchorTTL)
	}
	return nil
}

// signOne signs the zone origin with signer.
func (sb *sandbox) signOne(origin string, p *policy, keys zoneKeys, signer Signer, valid period) error {
	if signer == SignerLDNS {
		z, err := ldnsSign(sb.zones[origin], p, keys, sb.fsys, valid)
		if err != nil {
			return err
		}
		sb.zones[origin] = z
		return nil
	}
	return signZone(sb.zones[origin], p, keys, valid)
}

// delegate puts the DS records of the signed zone origin at its cut in its
// parent zone, when that is signed too.
func (sb *sandbox) delegate(origin string, p *policy, keys zoneKeys, policies map[string]*policy) {
	parent := sb.parentOf(origin)
	if parent == nil || !policies[parent.origin].signed() {
		return
	}
	cut := parent.nodes[origin]
	if cut == nil || !cut.has(dns.TypeNS) {
		return
	}
	for _, ds := range delegationDS(origin, p, keys, cut.rrsets[dns.TypeNS][0].Header().Ttl) {
		parent.add(origin, ds)
	}
}

// delegationDS is what the parent of zone holds for its KSKs: SHA-256 DS
// records, as the zone's breakages have them.
func delegationDS(zone string, p *policy, keys zoneKeys, ttl uint32) []dns.RR {
	var out []dns.RR
	for _, k := range keys.ksks() {
		ds := k.dnskey.ToDS(dns.SHA256)
		for _, b := range p.breaks {
			if b.delegate != nil {
				ds = b.delegate(ds, k.dnskey)
			}
		}
		ds.Hdr = dns.RR_Header{Name: zone, Rrtype: dns.TypeDS, Class: dns.ClassINET, Ttl: ttl}
		out = append(out, ds)
	}
	return out
}

// parentOf is the deepest zone of sb strictly above origin, or nil.
func (sb *sandbox) parentOf(origin string) *zone {
	for _, up := range ancestors(origin, ".") {
		if z := sb.zones[up]; z != nil {
			return z
		}
	}
	return nil
}

// origins lists the zones of sb in a fixed order.
func (sb *sandbox) origins() []string {
	out := slices.Collect(maps.Keys(sb.zones))
	slices.SortFunc(out, canonicalCompare)
	return out
}
