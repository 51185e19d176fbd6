package zonetree

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func ldnsTools(t *testing.T) (keygen, signer, verify string) {
	t.Helper()
	var paths []string
	for _, name := range []string{"ldns-keygen", "ldns-signzone", "ldns-verify-zone"} {
		p, err := exec.LookPath(name)
		if err != nil {
			t.Skipf("%s not installed (Debian: ldnsutils)", name)
		}
		paths = append(paths, p)
	}
	return paths[0], paths[1], paths[2]
}

func readZone(t *testing.T, path, origin string) []dns.RR {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseZone(t, origin, string(raw))
}

// The signed tree must verify zone by zone (ldns-verify-zone), chain from
// the anchor down through the DS records, keep unsigned domains unsigned,
// and break exactly the one domain it says it broke.
func TestSignChainsFromTheAnchor(t *testing.T) {
	keygen, signer, verify := ldnsTools(t)
	tr, err := Plan(Spec{Domains: 9, Port: 15353, Block: 10})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s, err := tr.Sign(context.Background(), dir, SignSpec{Keygen: keygen, Signer: signer, KeyPool: 2, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 2, 4, 6}; !slices.Equal(s.Secure, want) || s.Broken != 8 || !slices.Equal(s.Insecure, []int{1, 3, 5, 7}) {
		t.Fatalf("secure %v, insecure %v, broken %d; want secure %v, broken 8", s.Secure, s.Insecure, s.Broken, want)
	}
	if !s.NSEC3["d000002.bench."] || s.NSEC3["d000000.com."] || !s.NSEC3["net."] || s.NSEC3["com."] {
		t.Errorf("NSEC3 zones %v: want d000002.bench. and net., not d000000.com. or com.", s.NSEC3)
	}
	file := func(l Layer, zone string) string { return filepath.Join(dir, l.Name, "zones", zoneFileName(zone)) }
	checkVerifies := func(path string, want bool) {
		t.Helper()
		out, err := exec.Command(verify, path).CombinedOutput()
		if (err == nil) != want {
			t.Errorf("ldns-verify-zone %s: %v, want success %v\n%s", path, err, want, out)
		}
	}
	checkVerifies(file(tr.Root, "."), true)
	for _, tld := range TLDs {
		checkVerifies(file(tr.TLD, tld), true)
	}
	for _, i := range s.Secure {
		checkVerifies(file(tr.Domain, tr.Domains[i]), true)
	}
	checkVerifies(file(tr.Domain, tr.Domains[s.Broken]), false)

	anchor, err := dns.NewRR(s.Anchor)
	if err != nil {
		t.Fatal(err)
	}
	checkDS(t, anchor.(*dns.DS), readZone(t, file(tr.Root, "."), "."))
	parents := map[string][]dns.RR{}
	for _, tld := range TLDs {
		parents[tld] = readZone(t, file(tr.TLD, tld), tld)
		checkDS(t, findDS(t, readZone(t, file(tr.Root, "."), "."), tld), parents[tld])
	}
	for i, zone := range tr.Domains {
		rrs := readZone(t, file(tr.Domain, zone), zone)
		tld := TLDs[i%len(TLDs)]
		if slices.Contains(s.Insecure, i) {
			if hasType(rrs, dns.TypeRRSIG) || hasType(parents[tld], dns.TypeDS, zone) {
				t.Errorf("unsigned domain %s has signatures or a DS", zone)
			}
			continue
		}
		checkDS(t, findDS(t, parents[tld], zone), rrs)
	}
	raw, _ := os.ReadFile(s.AnchorFile)
	if strings.TrimSpace(string(raw)) != s.Anchor {
		t.Errorf("anchor file holds %q, want %q", raw, s.Anchor)
	}
}

func hasType(rrs []dns.RR, qtype uint16, owner ...string) bool {
	for _, rr := range rrs {
		if rr.Header().Rrtype == qtype && (len(owner) == 0 || rr.Header().Name == owner[0]) {
			return true
		}
	}
	return false
}

func findDS(t *testing.T, rrs []dns.RR, owner string) *dns.DS {
	t.Helper()
	for _, rr := range rrs {
		if ds, ok := rr.(*dns.DS); ok && ds.Hdr.Name == owner {
			return ds
		}
	}
	t.Fatalf("no DS for %s in its parent", owner)
	return nil
}

// checkDS fails unless ds matches a key-signing key of the zone in rrs.
func checkDS(t *testing.T, ds *dns.DS, rrs []dns.RR) {
	t.Helper()
	for _, rr := range rrs {
		if k, ok := rr.(*dns.DNSKEY); ok && k.Flags&dns.SEP != 0 && k.Hdr.Name == ds.Hdr.Name {
			if got := k.ToDS(ds.DigestType); got != nil && strings.EqualFold(got.Digest, ds.Digest) && got.KeyTag == ds.KeyTag {
				return
			}
		}
	}
	t.Errorf("DS %v matches no key-signing key of its zone", ds)
}
