package dnsname

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestLower(t *testing.T) {
	for in, want := range map[string]string{
		"":             "",
		"example.com.": "example.com.",
		"ExAmPle.COM.": "example.com.",
		"A\xff.":       "a\xff.",
		"\xc3\x84B.":   "\xc3\x84b.", // Ä stays: only ASCII folds
		`\065B.`:       `\065b.`,
	} {
		if got := Lower(in); got != want {
			t.Errorf("Lower(%q) = %q, want %q", in, got, want)
		}
	}
	if a, b := Lower("A\xff."), Lower("A\xfe."); a == b {
		t.Errorf("two names share the key %q", a)
	}
}

func TestLowerDoesNotCopyLowerCase(t *testing.T) {
	s := "already.lower."
	if n := testing.AllocsPerRun(100, func() { _ = Lower(s) }); n != 0 {
		t.Errorf("Lower of a lower-case name: %v allocations, want 0", n)
	}
}

func TestEqualFold(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"Example.COM.", "example.com.", true},
		{"a.", "b.", false},
		{"a.", "a..", false},
		{"\u212a.", "k.", false}, // the Kelvin sign is not K
		{"\xff.", "\xfe.", false},
		{"\xc3\x84.", "\xc3\xa4.", false}, // Ä and ä: only ASCII folds
	} {
		if got := EqualFold(tc.a, tc.b); got != tc.want {
			t.Errorf("EqualFold(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"Example.COM":     "example.com.",
		".":               ".",
		`\065bc.Lab.`:     "abc.lab.",
		"A\xff.lab.":      `a\255.lab.`,
		"a\xef\xbf\xbd.":  `a\239\191\189.`,
		`a\.b.lab.`:       `a\.b.lab.`,
		"a@b.lab.":        `a\@b.lab.`,
		`a\@b.lab.`:       `a\@b.lab.`,
		"x(y).lab.":       `x\(y\).lab.`,
		`sp\032ace.lab.`:  `sp\ ace.lab.`,
		"under_score.lab": "under_score.lab.",
	} {
		got, err := Canonical(in)
		if err != nil || got != want {
			t.Errorf("Canonical(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "a..b.", "..", strings.Repeat("x", 64) + ".lab.", strings.Repeat("abcdefg.", 33)} {
		if got, err := Canonical(bad); err == nil {
			t.Errorf("Canonical(%q) = %q, want an error", bad, got)
		}
	}
}

// FuzzCanonical: whatever Canonical accepts, it spells as the same name
// comes out of a packet, and a second pass changes nothing.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{"Example.COM.", `\065.`, "A\xff.", `a\.b.`, "a@b.", "."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Canonical(in)
		if err != nil {
			return
		}
		again, err := Canonical(c)
		if err != nil || again != c {
			t.Fatalf("Canonical(%q) = %q, but Canonical(%q) = %q, %v", in, c, c, again, err)
		}
		m := new(dns.Msg).SetQuestion(c, dns.TypeA)
		wire, err := m.Pack()
		if err != nil {
			t.Fatalf("%q does not pack: %v", c, err)
		}
		var back dns.Msg
		if err := back.Unpack(wire); err != nil {
			t.Fatal(err)
		}
		if got := Lower(back.Question[0].Name); got != c {
			t.Fatalf("%q comes back from the wire as %q", c, got)
		}
	})
}
