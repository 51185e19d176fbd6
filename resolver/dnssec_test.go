package resolver_test

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/dnssec"
	"github.com/recursor-dns/recursor/resolver"
	"github.com/recursor-dns/recursor/testnet"
)

// signedNet is a sandbox network whose root signs: a trust anchor too.
type signedNet interface {
	sandboxNet
	TrustAnchor() []dns.RR
}

// newValidatingResolver is a cold resolver over n that validates from
// n's trust anchor.
func newValidatingResolver(tb testing.TB, n signedNet, mod func(*resolver.Config)) *resolver.Resolver {
	tb.Helper()
	return newSandboxResolver(tb, n, func(cfg *resolver.Config) {
		cfg.DNSSEC.TrustAnchors = n.TrustAnchor()
		if mod != nil {
			mod(cfg)
		}
	})
}

func loadDNSSECCases(tb testing.TB) []testnet.DNSSECCase {
	tb.Helper()
	cases, err := testnet.ReadDNSSECCases(sandboxDir)
	if err != nil {
		tb.Fatal(err)
	}
	return cases
}

// verdict is what a validating resolver said of one question, in the
// terms of DNSSEC-CASES.md.
type verdict struct {
	rcode         int
	ad            bool
	ede           []uint16
	verifications int
	why           string
}

func (v verdict) String() string {
	return fmt.Sprintf("%s AD=%v EDE=%v verifications=%d (%s)", dns.RcodeToString[v.rcode], v.ad, v.ede, v.verifications, v.why)
}

// ask puts the case's question to r as a client with DO set would.
func ask(t *testing.T, r *resolver.Resolver, qname string, qtype uint16) verdict {
	t.Helper()
	a, err := r.Query(t.Context(), qname, qtype, resolver.Options{DNSSECOK: true})
	if err != nil {
		var ve *resolver.ValidationError
		if !errors.As(err, &ve) {
			return verdict{rcode: dns.RcodeServerFailure, why: err.Error()}
		}
		return verdict{rcode: dns.RcodeServerFailure, ede: []uint16{ve.EDE}, verifications: ve.Verifications, why: ve.Why}
	}
	v := verdict{rcode: a.Msg.Rcode, ad: a.Msg.AuthenticatedData, verifications: a.Verifications, why: a.Why}
	if a.EDE != 0 {
		v.ede = []uint16{a.EDE}
	}
	return v
}

func checkDNSSECCase(t *testing.T, c testnet.DNSSECCase, got verdict) {
	t.Helper()
	if got.rcode != c.Rcode || got.ad != c.AD || !c.AcceptsEDE(got.ede) {
		t.Errorf("got %v; want %s AD=%v EDE=%v", got, dns.RcodeToString[c.Rcode], c.AD, c.EDE)
	}
	if got.verifications > c.MaxVerifications {
		t.Errorf("%d signature verifications, want at most %d", got.verifications, c.MaxVerifications)
	}
}

// TestDNSSECCases resolves every row of DNSSEC-CASES.md cold, through the
// sandbox signed by testnet's signer (in process) and by ldns-signzone
// (served by NSD): rcode, AD, EDE and the work done must agree with the
// table either way.
func TestDNSSECCases(t *testing.T) {
	cases := loadDNSSECCases(t)
	run := func(t *testing.T, n signedNet) {
		// The table counts the verifications of the full questions
		// alone: minimised questions add their own NODATA proofs.
		for _, mode := range []resolver.QNAMEMinimisation{resolver.QminOff, resolver.QminRelaxed} {
			t.Run("qmin-"+mode.String(), func(t *testing.T) {
				for _, c := range cases {
					t.Run(c.Name, func(t *testing.T) {
						t.Parallel()
						r := newValidatingResolver(t, n, func(cfg *resolver.Config) { cfg.QNAMEMinimisation = mode })
						got := ask(t, r, c.Qname, c.Qtype)
						if mode != resolver.QminOff {
							got.verifications = 0
						}
						checkDNSSECCase(t, c, got)
					})
				}
			})
		}
	}
	t.Run("builtin", func(t *testing.T) {
		run(t, testnet.StartTB(t, sandboxDir))
	})
	t.Run("ldns-nsd", func(t *testing.T) {
		n, err := testnet.StartNSD(testnet.Config{Dir: sandboxDir, Signer: testnet.SignerLDNS})
		if errors.Is(err, testnet.ErrNSDNotFound) || errors.Is(err, testnet.ErrLDNSNotFound) {
			t.Skipf("no NSD or ldns-signzone to serve the independently signed tree: %v", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		run(t, n)
	})
}

// TestSandboxCasesValidating: validation changes no answer of CASES.md
// (the unsigned expectations) for a client without DO.
func TestSandboxCasesValidating(t *testing.T) {
	n := testnet.StartTB(t, sandboxDir)
	for _, c := range loadCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			checkCase(t, newValidatingResolver(t, n, nil), c)
		})
	}
}

// TestDNSSECAnswerShape: DO brings the RRSIGs and proofs, no DO strips
// them, CD returns bogus data without AD, and the verdict comes back from
// the cache as it came from the walk.
func TestDNSSECAnswerShape(t *testing.T) {
	n := testnet.StartTB(t, sandboxDir)
	r := newValidatingResolver(t, n, nil)
	ctx := t.Context()
	count := func(rrs []dns.RR, t uint16) int {
		k := 0
		for _, rr := range rrs {
			if rr.Header().Rrtype == t {
				k++
			}
		}
		return k
	}
	for _, round := range []string{"cold", "cached"} {
		a, err := r.Query(ctx, "nothing.example.com.", dns.TypeA, resolver.Options{DNSSECOK: true})
		if err != nil {
			t.Fatalf("%s: %v", round, err)
		}
		if a.Security != dnssec.Secure || !a.Msg.AuthenticatedData || count(a.Msg.Ns, dns.TypeNSEC) == 0 || count(a.Msg.Ns, dns.TypeRRSIG) < 2 {
			t.Errorf("%s NXDOMAIN with DO: %v AD=%v\n%v", round, a.Security, a.Msg.AuthenticatedData, a.Msg.Ns)
		}
		plain, err := r.Query(ctx, "nothing.example.com.", dns.TypeA, resolver.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if count(plain.Msg.Ns, dns.TypeNSEC)+count(plain.Msg.Ns, dns.TypeRRSIG) != 0 || len(plain.Msg.Ns) != 1 {
			t.Errorf("%s NXDOMAIN without DO carries DNSSEC records: %v", round, plain.Msg.Ns)
		}
		m, err := r.Resolve(ctx, "www.example.com.", dns.TypeA)
		if err != nil || !m.AuthenticatedData || count(m.Answer, dns.TypeRRSIG) != 0 {
			t.Errorf("%s Resolve: AD %v, answer %v, err %v; want AD and no RRSIG", round, m != nil && m.AuthenticatedData, m, err)
		}
		_, err = r.Query(ctx, "www.badsig.lab.", dns.TypeA, resolver.Options{DNSSECOK: true})
		if !errors.Is(err, resolver.ErrBogus) {
			t.Errorf("%s bogus answer: err %v, want ErrBogus", round, err)
		}
		if code, text := resolver.ExtendedError(err); code != dns.ExtendedErrorCodeDNSBogus || !strings.Contains(text, "www.badsig.lab") {
			t.Errorf("%s bogus answer: EDE %d %q, want 6 naming the RRset", round, code, text)
		}
		cd, err := r.Query(ctx, "www.badsig.lab.", dns.TypeA, resolver.Options{CheckingDisabled: true})
		if err != nil || cd.Security != dnssec.Bogus || cd.Msg.AuthenticatedData || count(cd.Msg.Answer, dns.TypeA) != 1 {
			t.Errorf("%s CD: %v, err %v; want the bogus A without AD", round, cd, err)
		}
	}
}

// TestAggressiveNSEC: once an NSEC proof is cached, names it covers are
// answered NXDOMAIN with no upstream query (RFC 8198); turned off, each
// name is asked.
func TestAggressiveNSEC(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprintf("aggressive=%v", on), func(t *testing.T) {
			n := testnet.StartTB(t, sandboxDir)
			r := newValidatingResolver(t, n, func(cfg *resolver.Config) { cfg.DNSSEC.DisableAggressiveNSEC = !on })
			if v := ask(t, r, "nothing.example.com.", dns.TypeA); v.rcode != dns.RcodeNameError || !v.ad {
				t.Fatalf("first NXDOMAIN: %v", v)
			}
			before := n.QueryCount()
			// Names the same NSEC covers (canonically between "nothing"
			// and the next name of the zone), and its wildcard's.
			for _, name := range []string{"nothing1.example.com.", "nothinga.example.com.", "nothingzz.example.com."} {
				if v := ask(t, r, name, dns.TypeA); v.rcode != dns.RcodeNameError || !v.ad {
					t.Errorf("%s: %v, want NXDOMAIN with AD", name, v)
				}
			}
			sent := n.QueryCount() - before
			if on && sent != 0 {
				t.Errorf("%d upstream queries for names the cached NSEC covers, want 0", sent)
			}
			if !on && sent < 3 {
				t.Errorf("%d upstream queries with aggressive NSEC off, want one per name at least", sent)
			}
		})
	}
}

// TestAggressiveNSEC3: the same from an NSEC3 zone (alpha.lab, no salt,
// 0 iterations): a second name whose hash falls where the cached records
// prove it cannot exist is answered without a query. Which names share
// the cached records depends on their hashes, so the test asks until one
// is synthesised, and then checks that names are.
func TestAggressiveNSEC3(t *testing.T) {
	n := testnet.StartTB(t, sandboxDir)
	r := newValidatingResolver(t, n, nil)
	if v := ask(t, r, "nosuch.alpha.lab.", dns.TypeA); v.rcode != dns.RcodeNameError || !v.ad {
		t.Fatalf("first NXDOMAIN: %v", v)
	}
	synthesised := 0
	for i := range 40 {
		before := n.QueryCount()
		name := fmt.Sprintf("n%d.alpha.lab.", i)
		if v := ask(t, r, name, dns.TypeA); v.rcode != dns.RcodeNameError || !v.ad {
			t.Fatalf("%s: %v, want NXDOMAIN with AD", name, v)
		}
		if n.QueryCount() == before {
			synthesised++
		}
	}
	t.Logf("%d of 40 synthesised", synthesised)
	// The zone has a handful of names: each NXDOMAIN caches records
	// covering a share of the hash space, so most later names need no
	// query at all.
	if synthesised < 20 {
		t.Errorf("%d of 40 NXDOMAINs synthesised from cached NSEC3, want most", synthesised)
	}
}

// BenchmarkKeyTrap resolves the KeyTrap case cold, each time with a new
// resolver (the whole chain from the root, then 24 keys sharing a tag and
// 24 signatures per RRset): the bound is SERVFAIL within 50 ms of
// CPU and at most 32 verifications. cpu-ms/op is the process's CPU time
// (user and system, the sandbox's servers included) per query.
func BenchmarkKeyTrap(b *testing.B) {
	n := testnet.StartTB(b, sandboxDir)
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	verifications := 0
	for b.Loop() {
		r := newValidatingResolver(b, n, nil)
		_, err := r.Query(b.Context(), "www.keytrap.lab.", dns.TypeA, resolver.Options{})
		var ve *resolver.ValidationError
		if !errors.As(err, &ve) || ve.EDE != dns.ExtendedErrorCodeDNSBogus {
			b.Fatalf("got %v, want a bogus answer with EDE 6", err)
		}
		verifications = max(verifications, ve.Verifications)
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) / time.Duration(b.N)
	b.ReportMetric(float64(cpu.Microseconds())/1000, "cpu-ms/op")
	b.ReportMetric(float64(verifications), "max-verifications")
}
