package rpz

import (
	"fmt"
	"strings"
	"testing"
)

// bigZone is a policy zone of n exact triggers and n wildcards, as a
// blocklist feed is.
func bigZone(n int) string {
	var b strings.Builder
	b.WriteString("$TTL 300\n@ SOA ns.rpz.test. h.rpz.test. 1 3600 600 86400 60\n")
	for i := range n {
		fmt.Fprintf(&b, "ads%d.example CNAME .\n*.ads%d.example CNAME .\n", i, i)
	}
	return b.String()
}

// BenchmarkMatchName: a lookup that misses (most client queries) and
// ones that hit an exact and a wildcard trigger, in a zone of 200k triggers.
func BenchmarkMatchName(b *testing.B) {
	z, err := ParseFile(strings.NewReader(bigZone(100_000)), "rpz.test.", "")
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"www.example.com.", "ads77.example.", "a.b.ads77.example."} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				z.MatchName(name)
			}
		})
	}
}

// BenchmarkParse: loading a zone of 20k triggers.
func BenchmarkParse(b *testing.B) {
	text := bigZone(10_000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseFile(strings.NewReader(text), "rpz.test.", ""); err != nil {
			b.Fatal(err)
		}
	}
}
