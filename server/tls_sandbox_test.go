package server

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/resolver"
	"github.com/recursor-dns/recursor/testnet"
)

// TestSandboxCasesOverEncryptedTransports: every case of the sandbox
// (testdata/sandbox/CASES.md) is answered over DoT, DoH (GET and POST,
// HTTP/2 and HTTP/1.1) and DoQ exactly as over UDP: the same rcode and
// records.
func TestSandboxCasesOverEncryptedTransports(t *testing.T) {
	if testing.Short() {
		t.Skip("the sandbox cases take seconds (dead servers time out)")
	}
	e, cases := startSandbox(t)
	trs := e.encryptedExchanges(t)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			// A fresh message per exchange: packing one writes to it.
			q := func() *dns.Msg { return withEDNS(question(c.Qname, c.Qtype), 1232, false) }
			want := exchange(t, "udp", e.udp, q(), netip.Addr{})
			if want.Truncated {
				want = exchange(t, "tcp", e.udp, q(), netip.Addr{})
			}
			if want.Rcode != c.Rcode {
				t.Errorf("over UDP: rcode %s, the case wants %s", dns.RcodeToString[want.Rcode], dns.RcodeToString[c.Rcode])
			}
			for _, tr := range trs {
				t.Run(tr.name, func(t *testing.T) {
					t.Parallel()
					got, err := tr.exchange(t, q())
					if err != nil {
						t.Fatal(err)
					}
					sameAnswer(t, got, want)
				})
			}
		})
	}
}

// startSandbox serves the sandbox (testdata/sandbox) on every transport
// with a cold resolver, and returns its cases.
func startSandbox(t *testing.T) (*encryptedSetup, []testnet.Case) {
	t.Helper()
	const dir = "../testdata/sandbox"
	cases, err := testnet.ReadCases(dir)
	if err != nil {
		t.Fatal(err)
	}
	n, err := testnet.Start(testnet.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	r, err := resolver.New(resolver.Config{
		RootHints:    n.RootHints(),
		UpstreamPort: n.Port(),
		DontQuery:    []netip.Prefix{},
		Transport:    testnet.LoopbackOnly(t, &resolver.NetTransport{}),
	})
	if err != nil {
		t.Fatal(err)
	}
	return startEncrypted(t, Config{Backend: r}), cases
}
