package roothints

import (
	"bytes"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestDefault(t *testing.T) {
	h := Default()
	if len(h.Servers) != 13 {
		t.Fatalf("embedded hints have %d servers, want the 13 root servers", len(h.Servers))
	}
	for _, s := range h.Servers {
		var v4, v6 int
		for _, a := range s.Addrs {
			if a.Is4() {
				v4++
			} else {
				v6++
			}
		}
		if v4 != 1 || v6 != 1 {
			t.Errorf("%s: %d IPv4 and %d IPv6 addresses, want one of each", s.Name, v4, v6)
		}
	}
	if h.Servers[0].Name != "a.root-servers.net." || h.Servers[0].Addrs[0].String() != "198.41.0.4" {
		t.Errorf("first server = %v", h.Servers[0])
	}
	if len(h.NS()) != 13 || len(h.Glue()) != 26 {
		t.Errorf("NS() = %d records, Glue() = %d; want 13 and 26", len(h.NS()), len(h.Glue()))
	}
}

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	if _, err := Default().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	h, err := Parse(&buf)
	if err != nil {
		t.Fatalf("Parse(WriteTo(Default())): %v", err)
	}
	if len(h.Servers) != 13 || h.TTL != 3600000 {
		t.Errorf("round trip: %d servers, TTL %d", len(h.Servers), h.TTL)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		servers int
		wantErr string
	}{
		{"loopback testnet", ". 3600 NS a.root.lab.\na.root.lab. 3600 A 127.53.0.1\n. 3600 NS B.Root.Lab.\nb.root.lab. 3600 AAAA ::1\n", 2, ""},
		{"case folded and deduplicated", ". 3600 NS A.ROOT.LAB.\n. 3600 NS a.root.lab.\nA.root.lab. 3600 A 127.53.0.1\n", 1, ""},
		{"empty", "; nothing\n", 0, "no NS records"},
		{"server without address", ". 3600 NS a.root.lab.\n", 0, "has no address"},
		{"address of an unnamed server", ". 3600 NS a.root.lab.\na.root.lab. 3600 A 127.53.0.1\nx.lab. 3600 A 127.0.0.9\n", 0, "which no root NS record names"},
		{"NS for another zone", "com. 3600 NS a.gtld.lab.\n", 0, "want only the root"},
		{"other record type", ". 3600 NS a.root.lab.\na.root.lab. 3600 A 127.53.0.1\na.root.lab. 3600 TXT \"x\"\n", 0, "unexpected TXT"},
		{"syntax error", ". 3600 NS\n", 0, "roothints:"},
		{"class other than IN", ". 3600 CH NS a.root.lab.\n", 0, "want IN"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Parse(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(h.Servers) != tc.servers {
				t.Errorf("%d servers, want %d", len(h.Servers), tc.servers)
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	var b strings.Builder
	for i := range MaxServers + 1 {
		b.WriteString(". 3600 NS s" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ".lab.\n")
	}
	if _, err := Parse(strings.NewReader(b.String())); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("%d servers: err = %v, want a limit error", MaxServers+1, err)
	}
	if _, err := Parse(strings.NewReader(strings.Repeat(";", maxFileBytes+1))); err == nil {
		t.Error("a file over the size limit was accepted")
	}
}

// TestParseNamesWithRawBytes: a byte that is not ASCII is part of a name,
// never folded into another (strings.ToLower made both of these a\uFFFD.),
// and names come out as a reply would spell them.
func TestParseNamesWithRawBytes(t *testing.T) {
	h, err := Parse(strings.NewReader(". 1 NS A\xff.\n. 1 NS a\xfe.\nA\xff. 1 A 127.0.0.1\na\xfe. 1 A 127.0.0.2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Servers) != 2 || h.Servers[0].Name != `a\255.` || h.Servers[1].Name != `a\254.` {
		t.Fatalf("servers = %+v, want a\\255. and a\\254.", h.Servers)
	}
	var buf bytes.Buffer
	if _, err := h.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(&buf); err != nil {
		t.Fatalf("re-parse of %q: %v", buf.String(), err)
	}
}

// FuzzParse: no input may panic, and whatever parses must survive a round
// trip through WriteTo.
func FuzzParse(f *testing.F) {
	f.Add(string(embedded))
	f.Add(". 3600 NS a.root.lab.\na.root.lab. 3600 A 127.53.0.1\n")
	f.Add("$ORIGIN .\n@ 1 NS x.\nx. 1 AAAA ::ffff:1.2.3.4\n")
	f.Add(". 1 NS A\xff.\nA\xff. 1 A 1.2.3.4\n")
	f.Fuzz(func(t *testing.T, in string) {
		h, err := Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if _, err := h.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		h2, err := Parse(&buf)
		if err != nil {
			t.Fatalf("re-parse of %q: %v", buf.String(), err)
		}
		if len(h2.Servers) != len(h.Servers) {
			t.Fatalf("round trip changed %d servers to %d", len(h.Servers), len(h2.Servers))
		}
	})
}

// TestTrustAnchorsMatchDebian checks the embedded anchors against the copy
// Debian's dns-root-data ships, when it is installed.
func TestTrustAnchorsMatchDebian(t *testing.T) {
	data, err := os.ReadFile("/usr/share/dns/root.ds")
	if err != nil {
		t.Skipf("no Debian root anchors to compare with (install dns-root-data): %v", err)
	}
	var want []string
	zp := dns.NewZoneParser(bytes.NewReader(data), ".", "root.ds")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		want = append(want, rr.String())
	}
	if err := zp.Err(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rr := range TrustAnchors() {
		ds := rr.(*dns.DS)
		if ds.Algorithm != dns.RSASHA256 || ds.DigestType != dns.SHA256 {
			t.Errorf("anchor %v: want algorithm 8, digest type 2", ds)
		}
		rr.Header().Ttl = 0
		got = append(got, rr.String())
	}
	for i := range want {
		want[i] = strings.Replace(want[i], "\t3600\t", "\t0\t", 1)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("embedded anchors\n%s\nDebian's\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestIsDefault(t *testing.T) {
	if !Default().IsDefault() {
		t.Error("Default() is not IsDefault")
	}
	h := Default()
	h.Servers[0].Addrs[0] = netip.MustParseAddr("127.53.0.1")
	if h.IsDefault() {
		t.Error("hints with a changed address count as the IANA hints")
	}
	if (&Hints{}).IsDefault() {
		t.Error("empty hints count as the IANA hints")
	}
}
