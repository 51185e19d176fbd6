package rpz

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// FuzzParseFile: any policy zone text parses or fails without a panic,
// and a parsed zone answers matches on its own triggers.
func FuzzParseFile(f *testing.F) {
	if b, err := os.ReadFile("testdata/policy.rpz"); err == nil {
		f.Add(string(b))
	}
	f.Add("$TTL 1\n@ SOA a. b. 1 1 1 1 1\n*.x CNAME *.\n128.zz.rpz-ip CNAME .\n")
	f.Add("$TTL 1\n@ SOA a. b. 1 1 1 1 1\nx CNAME *.y.\n64.zz.1.rpz-ip A 192.0.2.1\n")
	f.Fuzz(func(t *testing.T, text string) {
		z, err := ParseFile(strings.NewReader(text), "rpz.test.", "fuzz")
		if err != nil {
			return
		}
		for name := range z.exact {
			if _, ok := z.MatchName(name); !ok {
				t.Fatalf("exact trigger %q does not match itself", name)
			}
		}
		for name := range z.wild {
			if _, ok := z.MatchName("x." + name); !ok && len(name)+2 <= 255 {
				t.Fatalf("wildcard trigger *.%s does not match below itself", name)
			}
		}
		for p := range z.ips {
			if _, ok := z.MatchAddr(p.Addr()); !ok {
				t.Fatalf("IP trigger %s does not match its address", p)
			}
		}
		z.MatchAddr(netip.MustParseAddr("192.0.2.1"))
		z.MatchName(dns.Fqdn("a.b.c"))
	})
}
