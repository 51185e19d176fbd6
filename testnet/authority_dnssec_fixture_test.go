package testnet

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// The signed fixtures of the DNSSEC authority tests: small zones signed at
// test time by an independent signer, so that what the authority serves is
// what a zone file signed for NSD holds.

// chainMode is how a fixture's zones deny existence.
type chainMode string

const (
	chainNSEC   chainMode = "nsec"   // ldns-signzone, ECDSA P-256
	chainNSEC3  chainMode = "nsec3"  // ldns-signzone -n, RSA/SHA-256, salt, 2 iterations
	chainOptOut chainMode = "optout" // dnssec-signzone -3 -A: opt-out, insecure delegations left out
)

var chainModes = []chainMode{chainNSEC, chainNSEC3, chainOptOut}

// parentText is the zone the tests ask about; %s is the child's DS.
const parentText = `$ORIGIN example.
$TTL 3600
@ SOA ns1 hostmaster 1 7200 3600 1209600 300
@ NS ns1
ns1 A 127.53.210.2
www A 192.0.2.1
*.w A 192.0.2.2
*.wc CNAME www
a.b.ent TXT "deep"
alias CNAME www
dn DNAME sec.example.
sec NS ns.sec
sec DS %s
ns.sec A 127.53.210.3
insec NS ns.insec
ns.insec A 127.53.210.4
a.optent NS ns.insec
`

// childText is sec.example., signed with keys of its own.
const childText = `$ORIGIN sec.example.
$TTL 3600
@ SOA ns hostmaster 1 7200 3600 1209600 600
@ NS ns
ns A 127.53.210.3
www A 192.0.2.3
`

// signedTree is example. and its signed child sec.example., as zone files
// and loaded.
type signedTree struct {
	mode                  chainMode
	parent, child         *zone
	parentFile, childFile string
	keys                  map[uint16]*dns.DNSKEY // both zones' keys by tag
}

// signedTrees keeps the trees signed so far, one per mode: signing costs
// a second or two (RSA keys), the trees are only read.
var signedTrees = struct {
	sync.Mutex
	byMode map[chainMode]*signedTree
}{byMode: map[chainMode]*signedTree{}}

// buildTree signs the fixture zones in mode, or skips the test when the
// signer is not installed.
func buildTree(tb testing.TB, mode chainMode) *signedTree {
	tb.Helper()
	signedTrees.Lock()
	defer signedTrees.Unlock()
	if tr := signedTrees.byMode[mode]; tr != nil {
		return tr
	}
	tr := signTree(tb, mode)
	signedTrees.byMode[mode] = tr
	return tr
}

func signTree(tb testing.TB, mode chainMode) *signedTree {
	tb.Helper()
	tr := &signedTree{mode: mode, keys: map[uint16]*dns.DNSKEY{}}
	tr.childFile = signFixture(tb, mode, "sec.example.", childText)
	tr.child = tr.load(tb, "sec.example.", tr.childFile)
	var ds string
	for _, rr := range tr.child.nodes["sec.example."].rrsets[dns.TypeDNSKEY] {
		if k := rr.(*dns.DNSKEY); k.Flags&dns.SEP != 0 {
			d := k.ToDS(dns.SHA256)
			ds = fmt.Sprintf("%d %d %d %s", d.KeyTag, d.Algorithm, d.DigestType, d.Digest)
		}
	}
	tr.parentFile = signFixture(tb, mode, "example.", fmt.Sprintf(parentText, ds))
	tr.parent = tr.load(tb, "example.", tr.parentFile)
	return tr
}

func (tr *signedTree) load(tb testing.TB, origin, text string) *zone {
	tb.Helper()
	z, err := parseZone(origin, origin, strings.NewReader(text))
	if err != nil {
		tb.Fatalf("signed %s: %v", origin, err)
	}
	for _, rr := range z.nodes[origin].rrsets[dns.TypeDNSKEY] {
		k := rr.(*dns.DNSKEY)
		tr.keys[k.KeyTag()] = k
	}
	return z
}

// signFixture signs text as origin with a fresh KSK and ZSK and returns the
// signed zone file.
func signFixture(tb testing.TB, mode chainMode, origin, text string) string {
	tb.Helper()
	dir := tb.TempDir()
	in := filepath.Join(dir, "in.zone")
	out := filepath.Join(dir, "signed.zone")
	if err := os.WriteFile(in, []byte(text), 0o600); err != nil {
		tb.Fatal(err)
	}
	if mode == chainOptOut {
		// ldns-signzone -p flags every NSEC3 opt-out but still gives each
		// insecure delegation one, so no span is ever opted out; BIND's
		// signer leaves them out.
		run(tb, dir, "dnssec-keygen", "-q", "-K", dir, "-a", "ECDSAP256SHA256", "-f", "KSK", origin)
		run(tb, dir, "dnssec-keygen", "-q", "-K", dir, "-a", "ECDSAP256SHA256", origin)
		run(tb, dir, "dnssec-signzone", "-q", "-S", "-K", dir, "-3", "c0ffee", "-H", "1", "-A", "-o", origin, "-f", out, in)
	} else {
		keygen, chain := []string{"-a", "ECDSAP256SHA256"}, []string{}
		if mode == chainNSEC3 {
			keygen = []string{"-a", "RSASHA256", "-b", "2048"}
			chain = []string{"-n", "-s", "beef", "-t", "2"}
		}
		ksk := strings.TrimSpace(run(tb, dir, "ldns-keygen", append(keygen, "-k", origin)...))
		zsk := strings.TrimSpace(run(tb, dir, "ldns-keygen", append(keygen, origin)...))
		args := append(chain, "-f", out, in, ksk, zsk)
		run(tb, dir, "ldns-signzone", args...)
	}
	signed, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	return string(signed)
}

// run runs a signer's command in dir and returns its output; a missing
// tool skips the test.
func run(tb testing.TB, dir, tool string, args ...string) string {
	tb.Helper()
	path, err := exec.LookPath(tool)
	if err != nil {
		tb.Skipf("skipping: %s not installed (Debian ldnsutils, bind9-utils): %v", tool, err)
	}
	cmd := exec.CommandContext(tb.Context(), path, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		tb.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, stderr)
	}
	return string(out)
}
