package cookie

import (
	"net/netip"
	"testing"
)

// FuzzCheck: whatever a query's COOKIE option holds, Split and Check
// never panic, Check calls valid only a server cookie that Make gives
// again (ours, at the time it says), and Reply always carries the
// client cookie and a server cookie of a valid length.
func FuzzCheck(f *testing.F) {
	s := NewSecrets(Key{1, 2, 3}, &Key{4, 5, 6})
	for _, seed := range []string{
		"2464c4abcf10c957",
		"2464c4abcf10c957010000005cf79f111f8130c3eee29480",
		"fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5",
	} {
		f.Add(mustHex(f, seed), uint32(1559734385), false)
	}
	client := []byte("12345678")
	f.Add(append(append([]byte(nil), client...), s.Make(nil, client, netip.MustParseAddr("192.0.2.1"), 1000)...), uint32(1001), false)
	f.Fuzz(func(t *testing.T, data []byte, now uint32, v6 bool) {
		addr := netip.MustParseAddr("192.0.2.1")
		if v6 {
			addr = netip.MustParseAddr("2001:db8::1")
		}
		c, sc, ok := Split(data)
		if !ok {
			return
		}
		v := s.Check(c, sc, addr, now)
		if v == Good {
			stamped := uint32(sc[4])<<24 | uint32(sc[5])<<16 | uint32(sc[6])<<8 | uint32(sc[7])
			if sc[1]|sc[2]|sc[3] == 0 && string(s.Make(nil, c, addr, stamped)) != string(sc) {
				t.Fatalf("Good for %x, which Make does not give", sc)
			}
		}
		out := s.Reply(nil, c, sc, v, addr, now)
		if _, rs, ok := Split(out); !ok || string(out[:ClientLen]) != string(c) || len(rs) < MinServerLen {
			t.Fatalf("Reply %x for %x", out, data)
		}
	})
}
