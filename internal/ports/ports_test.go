package ports

import "testing"

func TestPickStaysOutsideTheRange(t *testing.T) {
	tests := []struct {
		lo, hi   int
		first    uint16 // intn returns 0
		last     uint16 // intn returns n-1
		possible bool
	}{
		{32768, 60999, 1024, 65535, true},
		{1024, 65535, 0, 0, false},
		{1024, 60999, 61000, 65535, true},
		{32768, 65535, 1024, 32767, true},
		{500, 2000, 2001, 65535, true},
		{1, 1023, 1024, 65535, true},
	}
	for _, tc := range tests {
		first, ok := pick(tc.lo, tc.hi, func(int) int { return 0 })
		if ok != tc.possible || first != tc.first {
			t.Errorf("range %d-%d: first pick %d, %v; want %d, %v", tc.lo, tc.hi, first, ok, tc.first, tc.possible)
		}
		last, _ := pick(tc.lo, tc.hi, func(n int) int { return n - 1 })
		if last != tc.last {
			t.Errorf("range %d-%d: last pick %d, want %d", tc.lo, tc.hi, last, tc.last)
		}
	}
}

func TestOutsideEphemeral(t *testing.T) {
	lo, hi, ok := EphemeralRange()
	if !ok {
		t.Skip("no ephemeral range on this system")
	}
	for range 1000 {
		p, ok := OutsideEphemeral()
		if !ok {
			t.Fatalf("no port outside %d-%d", lo, hi)
		}
		if int(p) < lowest || (int(p) >= lo && int(p) <= hi) {
			t.Fatalf("port %d is privileged or inside the ephemeral range %d-%d", p, lo, hi)
		}
	}
}
