package resolver_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/resolver"
	"github.com/recursor-dns/recursor/testnet"
)

// Resolve a name by iteration through the loopback sandbox: the root
// hints and the upstream port come from the testnet. Against the real
// Internet, resolver.Config{} is all it takes.
func Example() {
	network, err := testnet.Start(testnet.Config{Dir: "../testdata/sandbox"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer network.Close()

	r, err := resolver.New(resolver.Config{
		RootHints:    network.RootHints(),
		UpstreamPort: network.Port(),
		DontQuery:    []netip.Prefix{}, // the sandbox lives on loopback
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()

	msg, err := r.Resolve(ctx, "alias.example.com.", dns.TypeA)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(dns.RcodeToString[msg.Rcode])
	for _, rr := range msg.Answer {
		fmt.Println(rr)
	}

	// The standard library's lookups, answered by the same engine.
	addrs, err := r.NetResolver().LookupHost(ctx, "www.shop.example.com.")
	fmt.Println(addrs, err)

	// Output:
	// NOERROR
	// alias.example.com.	3600	IN	CNAME	www.example.net.
	// www.example.net.	300	IN	A	198.51.100.10
	// [192.0.2.80] <nil>
}

// Validate DNSSEC from a trust anchor: the sandbox's root signs with keys
// of its own, so its DS is the anchor (against the real Internet the
// root's anchors are built in). Query returns the verdict with the
// answer; a bogus answer is an error that says why, unless the client
// disables checking.
func ExampleResolver_Query() {
	network, err := testnet.Start(testnet.Config{Dir: "../testdata/sandbox"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer network.Close()

	r, err := resolver.New(resolver.Config{
		RootHints:    network.RootHints(),
		UpstreamPort: network.Port(),
		DontQuery:    []netip.Prefix{},
		DNSSEC:       resolver.DNSSECConfig{TrustAnchors: network.TrustAnchor()},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()

	for _, name := range []string{"www.example.com.", "www.shop.example.com."} {
		a, err := r.Query(ctx, name, dns.TypeA, resolver.Options{})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(name, a.Security, "AD:", a.Msg.AuthenticatedData)
	}

	_, err = r.Query(ctx, "www.badsig.lab.", dns.TypeA, resolver.Options{})
	code, _ := resolver.ExtendedError(err)
	fmt.Println(errors.Is(err, resolver.ErrBogus), "EDE", code)

	a, err := r.Query(ctx, "www.badsig.lab.", dns.TypeA, resolver.Options{CheckingDisabled: true})
	fmt.Println(a.Security, len(a.Msg.Answer), err)

	// Output:
	// www.example.com. secure AD: true
	// www.shop.example.com. insecure AD: false
	// true EDE 6
	// bogus 1 <nil>
}
