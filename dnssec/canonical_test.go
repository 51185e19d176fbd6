package dnssec

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestCompareNames sorts RFC 4034 section 6.1's example names from a
// shuffled order back into the RFC's.
func TestCompareNames(t *testing.T) {
	want := []string{
		"example.",
		"a.example.",
		"yljkjljk.a.example.",
		"Z.a.example.",
		"zABC.a.EXAMPLE.",
		"z.example.",
		"\\001.z.example.",
		"*.z.example.",
		"\\200.z.example.",
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		got := slices.Clone(want)
		r.Shuffle(len(got), func(i, j int) { got[i], got[j] = got[j], got[i] })
		slices.SortFunc(got, CompareNames)
		if !slices.Equal(got, want) {
			t.Fatalf("sorted: %q\nwant %q", got, want)
		}
	}
	tests := []struct {
		a, b string
		want int
	}{
		{"example.", "EXAMPLE.", 0},
		{".", "com.", -1},
		{"a.b.", "b.", 1},
		{"a\\.b.c.", "a.b.c.", -1}, // the escaped dot makes one label "a.b" under "c", which sorts before "b"
		{"ab.", "a.", 1},
		{"a.", "ab.", -1},
	}
	for _, tt := range tests {
		if got := CompareNames(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareNames(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
