package zonetree

// Signing: the tree signed with Debian's ldns tools (ldns-keygen,
// ldns-signzone), bottom up, so that the DS of each signed child is in
// its parent before the parent is signed. The root uses RSASHA256
// (algorithm 8, as the real root); every other zone ECDSAP256SHA256
// (13). Some zones deny with NSEC, others with NSEC3 at 0 iterations and
// no salt (RFC 9276). Unsigned domains stay insecure delegations, proven
// so by their TLD's NSEC or NSEC3 records.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sync/errgroup"
)

// SignSpec says which zones of a tree to sign and with what.
type SignSpec struct {
	Keygen string // ldns-keygen
	Signer string // ldns-signzone
	// Every: domains whose index is a multiple of Every are signed, the
	// rest are insecure delegations; default 2 (half).
	Every int
	// KeyPool: key pairs that the signed domains take in turn; default
	// 16. Each domain publishes its pair under its own name, so every
	// DNSKEY set and DS differs; generating a pair per domain would take
	// longer than the benchmark itself.
	KeyPool int
	// Workers: ldns-signzone runs at once; default 1.
	Workers int
	// Prefix goes before every command line (e.g. taskset -c 0-1).
	Prefix []string
}

// Signed describes a signed tree.
type Signed struct {
	// Anchor is the DS record of the root's key-signing key, in
	// presentation form; AnchorFile holds it, for trust-anchor-file.
	Anchor     string
	AnchorFile string
	// Secure and Insecure are the indexes of the signed domains and of the
	// unsigned ones; Broken (in neither) is a signed domain whose www A
	// signature was corrupted after signing, so validation must fail.
	Secure, Insecure []int
	Broken           int
	// NSEC3 names the zones denied with NSEC3 (the rest use NSEC).
	NSEC3 map[string]bool
}

// nsec3TLDs: the TLDs that deny with NSEC3; the root and com. use NSEC.
var nsec3TLDs = map[string]bool{"net.": true, "bench.": true}

// keyPair is a zone-signing and a key-signing key: the base names ldns
// tools take (path without .key/.private) and the public keys.
type keyPair struct {
	zsk, ksk       string
	zskKey, kskKey *dns.DNSKEY
}

type signer struct {
	t    *Tree
	spec SignSpec
	dir  string // tree directory
	keys string // dir/keys
	// inception and expiration of every signature: an hour back, so that
	// no clock tick makes a fresh signature not yet valid, and a month on.
	inception, expiration string
}

// Sign writes the tree under dir, as Write does, with the root, the TLDs
// and every spec.Every-th domain signed.
func (t *Tree) Sign(ctx context.Context, dir string, spec SignSpec) (*Signed, error) {
	if spec.Every == 0 {
		spec.Every = 2
	}
	if spec.KeyPool == 0 {
		spec.KeyPool = 16
	}
	if spec.Workers < 1 {
		spec.Workers = 1
	}
	if spec.Keygen == "" || spec.Signer == "" {
		return nil, fmt.Errorf("zonetree: Sign needs ldns-keygen and ldns-signzone")
	}
	if err := t.Write(dir); err != nil {
		return nil, err
	}
	now := time.Now()
	s := &signer{t: t, spec: spec, dir: dir, keys: filepath.Join(dir, "keys"),
		inception:  strconv.FormatInt(now.Add(-time.Hour).Unix(), 10),
		expiration: strconv.FormatInt(now.Add(30*24*time.Hour).Unix(), 10)}
	if err := os.MkdirAll(s.keys, 0o755); err != nil {
		return nil, err
	}
	out := &Signed{NSEC3: map[string]bool{}, Broken: -1}
	for i := range t.Domains {
		switch {
		case i%spec.Every != 0:
			out.Insecure = append(out.Insecure, i)
		case out.Broken < 0 && i >= len(t.Domains)-spec.Every:
			out.Broken = i // the last signed domain
		default:
			out.Secure = append(out.Secure, i)
		}
	}
	childDS, err := s.signDomains(ctx, out)
	if err != nil {
		return nil, err
	}
	if out.Broken >= 0 {
		if err := corruptSignature(filepath.Join(dir, t.Domain.Name, "zones", zoneFileName(t.Domains[out.Broken])), "www."+t.Domains[out.Broken], dns.TypeA); err != nil {
			return nil, err
		}
	}
	var rootDS []string
	for _, tld := range TLDs {
		ds, err := s.signParent(ctx, tld, dns.ECDSAP256SHA256, nsec3TLDs[tld], childDS[tld])
		if err != nil {
			return nil, err
		}
		out.NSEC3[tld] = nsec3TLDs[tld]
		rootDS = append(rootDS, ds.String())
	}
	anchor, err := s.signParent(ctx, ".", dns.RSASHA256, false, rootDS)
	if err != nil {
		return nil, err
	}
	out.Anchor = anchor.String()
	out.AnchorFile = filepath.Join(dir, "root.ds")
	return out, os.WriteFile(out.AnchorFile, []byte(out.Anchor+"\n"), 0o644)
}

// usesNSEC3 says how domain i denies: signed domains alternate.
func (s *signer) usesNSEC3(i int) bool { return (i/s.spec.Every)%2 == 1 }

// signDomains signs the signed domains, a few at a time, and returns the
// DS records each TLD must publish, by TLD.
func (s *signer) signDomains(ctx context.Context, out *Signed) (map[string][]string, error) {
	pool := make([]keyPair, s.spec.KeyPool)
	for k := range pool {
		var err error
		if pool[k], err = s.newPair(ctx, fmt.Sprintf("key%d.pool.", k), dns.ECDSAP256SHA256); err != nil {
			return nil, err
		}
	}
	signed := append(append([]int{}, out.Secure...), out.Broken)
	if out.Broken < 0 {
		signed = out.Secure
	}
	var mu sync.Mutex
	childDS := map[string][]string{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.spec.Workers)
	for n, i := range signed {
		if out.NSEC3 != nil && s.usesNSEC3(i) {
			out.NSEC3[s.t.Domains[i]] = true
		}
		g.Go(func() error {
			zone := s.t.Domains[i]
			ds, err := s.signZone(gctx, s.t.Domain, zone, s.t.Zone(zone), pool[n%len(pool)], s.usesNSEC3(i))
			if err != nil {
				return err
			}
			tld := TLDs[i%len(TLDs)]
			mu.Lock()
			childDS[tld] = append(childDS[tld], ds.String())
			mu.Unlock()
			return nil
		})
	}
	return childDS, g.Wait()
}

// signParent signs a TLD or the root with a key pair of its own, after
// adding its children's DS records, and returns its own DS.
func (s *signer) signParent(ctx context.Context, zone string, alg uint8, nsec3 bool, childDS []string) (*dns.DS, error) {
	kp, err := s.newPair(ctx, zone, alg)
	if err != nil {
		return nil, err
	}
	layer := s.t.TLD
	if zone == "." {
		layer = s.t.Root
	}
	text := s.t.Zone(zone) + strings.Join(childDS, "\n") + "\n"
	return s.signZone(ctx, layer, zone, text, kp, nsec3)
}

// signZone signs text, zone's records, with kp into layer's zone file and
// returns the DS (SHA-256) of zone's key-signing key.
func (s *signer) signZone(ctx context.Context, layer Layer, zone, text string, kp keyPair, nsec3 bool) (*dns.DS, error) {
	zsk, ksk := publish(kp.zskKey, zone, s.t.Spec.TTL), publish(kp.kskKey, zone, s.t.Spec.TTL)
	text += zsk.String() + "\n" + ksk.String() + "\n"
	unsigned := filepath.Join(s.dir, layer.Name, "unsigned", zoneFileName(zone))
	if err := os.MkdirAll(filepath.Dir(unsigned), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(unsigned, []byte(text), 0o644); err != nil {
		return nil, err
	}
	argv := []string{s.spec.Signer, "-i", s.inception, "-e", s.expiration}
	if nsec3 {
		argv = append(argv, "-n", "-t", "0")
	}
	argv = append(argv, "-o", zone, "-f", filepath.Join(s.dir, layer.Name, "zones", zoneFileName(zone)), unsigned, kp.zsk, kp.ksk)
	if _, err := s.run(ctx, argv); err != nil {
		return nil, err
	}
	ds := ksk.ToDS(dns.SHA256)
	if ds == nil {
		return nil, fmt.Errorf("zonetree: no DS for the key of %s", zone)
	}
	return ds, nil
}

// publish is key under owner's name.
func publish(key *dns.DNSKEY, owner string, ttl uint32) *dns.DNSKEY {
	k := *key
	k.Hdr = dns.RR_Header{Name: owner, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: ttl}
	return &k
}

// newPair makes a zone-signing and a key-signing key for owner.
func (s *signer) newPair(ctx context.Context, owner string, alg uint8) (keyPair, error) {
	var kp keyPair
	var err error
	if kp.zsk, kp.zskKey, err = s.keygen(ctx, owner, alg, false); err != nil {
		return kp, err
	}
	kp.ksk, kp.kskKey, err = s.keygen(ctx, owner, alg, true)
	return kp, err
}

// keygen runs ldns-keygen in the keys directory and reads the key back.
func (s *signer) keygen(ctx context.Context, owner string, alg uint8, ksk bool) (string, *dns.DNSKEY, error) {
	argv := []string{s.spec.Keygen, "-a", dns.AlgorithmToString[alg]}
	if alg == dns.RSASHA256 {
		argv = append(argv, "-b", "2048")
	}
	if ksk {
		argv = append(argv, "-k")
	}
	out, err := s.run(ctx, append(argv, owner))
	if err != nil {
		return "", nil, err
	}
	base := filepath.Join(s.keys, strings.TrimSpace(out))
	raw, err := os.ReadFile(base + ".key")
	if err != nil {
		return "", nil, fmt.Errorf("zonetree: ldns-keygen for %s: %w", owner, err)
	}
	rr, err := dns.NewRR(string(raw))
	key, ok := rr.(*dns.DNSKEY)
	if err != nil || !ok {
		return "", nil, fmt.Errorf("zonetree: %s.key holds no DNSKEY: %v", base, err)
	}
	return base, key, nil
}

// run runs argv (after the prefix) in the keys directory and returns its
// standard output.
func (s *signer) run(ctx context.Context, argv []string) (string, error) {
	argv = append(append([]string{}, s.spec.Prefix...), argv...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = s.keys
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("zonetree: %s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// corruptSignature changes one byte of the signature over owner's qtype
// RRset in a signed zone file, keeping it valid base64, so that the zone
// still loads but the RRset no longer verifies.
func corruptSignature(path, owner string, qtype uint16) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := strings.Split(string(raw), "\n")
	for n, line := range lines {
		rr, err := dns.NewRR(line)
		sig, ok := rr.(*dns.RRSIG)
		if err != nil || !ok || !strings.EqualFold(sig.Hdr.Name, dns.Fqdn(owner)) || sig.TypeCovered != qtype {
			continue
		}
		b := []byte(sig.Signature)
		if b[0] == 'A' {
			b[0] = 'B'
		} else {
			b[0] = 'A'
		}
		sig.Signature = string(b)
		lines[n] = sig.String()
		return os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644)
	}
	return fmt.Errorf("zonetree: no RRSIG over %s %s in %s", owner, dns.TypeToString[qtype], path)
}
