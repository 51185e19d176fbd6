package resolver_test

import (
	"context"
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
