package cookie

import (
	"encoding/hex"
	"net/netip"
	"testing"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustKey(t testing.TB, s string) Key {
	t.Helper()
	k, err := ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestRFC9018Vectors runs the four exchanges of RFC 9018 Appendix A: the
// query's cookie judged, and the answer's COOKIE option built byte for
// byte.
func TestRFC9018Vectors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		current  string
		previous string // "" for none
		addr     string
		query    string // the query's COOKIE option
		now      uint32
		verdict  Verdict
		reply    string
	}{
		{
			name:    "A.1 learning a new server cookie",
			current: "e5e973e5a6b2a43f48e7dc849e37bfcf", addr: "198.51.100.100",
			query: "2464c4abcf10c957", now: 1559731985, verdict: ClientOnly,
			reply: "2464c4abcf10c957010000005cf79f111f8130c3eee29480",
		},
		{
			name:    "A.2 the same client renewing it 40 minutes later",
			current: "e5e973e5a6b2a43f48e7dc849e37bfcf", addr: "198.51.100.100",
			query: "2464c4abcf10c957010000005cf79f111f8130c3eee29480", now: 1559734385, verdict: Renew,
			reply: "2464c4abcf10c957010000005cf7a871d4a564a1442aca77",
		},
		{
			// The appendix's cookie is 1h52m old when sent: past the
			// hour of section 4.3, so Bad here, and a fresh one either
			// way. (Its hash is ours: see TestCheckReservedHashed.)
			name:    "A.3 another client renewing it",
			current: "e5e973e5a6b2a43f48e7dc849e37bfcf", addr: "203.0.113.203",
			query: "fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5", now: 1559734700, verdict: Bad,
			reply: "fc93fc62807ddb86010000005cf7a9acf73a7810aca2381e",
		},
		{
			name:    "A.4 an IPv6 client after the secret rolled over",
			current: "445536bcd2513298075a5d379663c962", previous: "dd3bdf9344b678b185a6f5cb60fca715",
			addr:  "2001:db8:220:1:59de:d0f4:8769:82b8",
			query: "22681ab97d52c298010000005cf7c57926556bd0934c72f8", now: 1559741961, verdict: Renew,
			reply: "22681ab97d52c298010000005cf7c609a6bb79d16625507a",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var prev *Key
			if tc.previous != "" {
				k := mustKey(t, tc.previous)
				prev = &k
			}
			s := NewSecrets(mustKey(t, tc.current), prev)
			addr := netip.MustParseAddr(tc.addr)
			client, server, ok := Split(mustHex(t, tc.query))
			if !ok {
				t.Fatalf("Split(%s) not ok", tc.query)
			}
			v := s.Check(client, server, addr, tc.now)
			if v != tc.verdict {
				t.Errorf("Check = %v, want %v", v, tc.verdict)
			}
			if got := hex.EncodeToString(s.Reply(nil, client, server, v, addr, tc.now)); got != tc.reply {
				t.Errorf("Reply = %s, want %s", got, tc.reply)
			}
		})
	}
}

// TestCheckReservedHashed: the reserved bytes a client sends are hashed
// as they came (RFC 9018 A.3's cookie is ours within its hour), and a
// cookie from another address or under another secret is not.
func TestCheckReservedHashed(t *testing.T) {
	s := NewSecrets(mustKey(t, "e5e973e5a6b2a43f48e7dc849e37bfcf"), nil)
	client, server, _ := Split(mustHex(t, "fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5"))
	const made = 0x5cf78f71
	if v := s.Check(client, server, netip.MustParseAddr("203.0.113.203"), made+60); v != Good {
		t.Errorf("from its client a minute after: %v, want good", v)
	}
	if v := s.Check(client, server, netip.MustParseAddr("203.0.113.204"), made+60); v != Bad {
		t.Errorf("from another address: %v, want bad", v)
	}
	other := NewSecrets(RandomKey(), nil)
	if v := other.Check(client, server, netip.MustParseAddr("203.0.113.203"), made+60); v != Bad {
		t.Errorf("under another secret: %v, want bad", v)
	}
}

// TestCheckAge walks a cookie through RFC 9018 section 4.3's window.
func TestCheckAge(t *testing.T) {
	s := NewSecrets(RandomKey(), nil)
	addr := netip.MustParseAddr("192.0.2.1")
	client := mustHex(t, "0102030405060708")
	for _, tc := range []struct {
		name string
		made uint32
		now  uint32
		want Verdict
	}{
		{"just made", 1000000, 1000000, Good},
		{"half an hour old", 1000000, 1000000 + RenewAge, Good},
		{"half an hour and a second", 1000000, 1000000 + RenewAge + 1, Renew},
		{"an hour old", 1000000, 1000000 + MaxAge, Renew},
		{"an hour and a second", 1000000, 1000000 + MaxAge + 1, Bad},
		{"five minutes ahead", 1000000 + MaxSkew, 1000000, Good},
		{"five minutes and a second ahead", 1000000 + MaxSkew + 1, 1000000, Bad},
		{"an hour old across the 2^32 wrap", 1<<32 - 1000, MaxAge - 1000, Renew},
	} {
		t.Run(tc.name, func(t *testing.T) {
			server := s.Make(nil, client, addr, tc.made)
			if got := s.Check(client, server, addr, tc.now); got != tc.want {
				t.Errorf("Check = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRotation: after SetKeys, cookies of the previous secret are still
// valid (and renewed), those of the one before are not.
func TestRotation(t *testing.T) {
	addr := netip.MustParseAddr("2001:db8::1")
	client := mustHex(t, "a1a2a3a4a5a6a7a8")
	k1, k2, k3 := RandomKey(), RandomKey(), RandomKey()
	s := NewSecrets(k1, nil)
	c1 := s.Make(nil, client, addr, 5000)
	s.SetKeys(k2, &k1)
	if v := s.Check(client, c1, addr, 5001); v != Renew {
		t.Errorf("a cookie of the previous secret: %v, want renew", v)
	}
	c2 := s.Make(nil, client, addr, 5001)
	if v := s.Check(client, c2, addr, 5002); v != Good {
		t.Errorf("a cookie of the current secret: %v, want good", v)
	}
	s.SetKeys(k3, &k2)
	if v := s.Check(client, c1, addr, 5003); v != Bad {
		t.Errorf("a cookie of the secret before the previous: %v, want bad", v)
	}
	if v := s.Check(client, c2, addr, 5003); v != Renew {
		t.Errorf("after a second rotation, the previous: %v, want renew", v)
	}
}

func TestSplit(t *testing.T) {
	for n := range 48 {
		client, server, ok := Split(make([]byte, n))
		want := n == 8 || n >= 16 && n <= 40
		if ok != want {
			t.Errorf("%d bytes: ok = %v, want %v", n, ok, want)
			continue
		}
		if ok && (len(client) != 8 || len(server) != n-8) {
			t.Errorf("%d bytes: split %d+%d", n, len(client), len(server))
		}
	}
}

func TestCheckOtherLayouts(t *testing.T) {
	s := NewSecrets(RandomKey(), nil)
	addr := netip.MustParseAddr("192.0.2.1")
	client := mustHex(t, "0102030405060708")
	good := s.Make(nil, client, addr, 100)
	v2 := append([]byte(nil), good...)
	v2[0] = 2
	for name, server := range map[string][]byte{
		"8 bytes":   good[:8],
		"24 bytes":  append(append([]byte(nil), good...), good[:8]...),
		"version 2": v2,
	} {
		if v := s.Check(client, server, addr, 100); v != Bad {
			t.Errorf("%s: %v, want bad", name, v)
		}
	}
}

func TestParseKey(t *testing.T) {
	if _, err := ParseKey("e5e973e5a6b2a43f48e7dc849e37bfcf"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"", "e5e973", "e5e973e5a6b2a43f48e7dc849e37bfcf00", "zz e973e5a6b2a43f48e7dc849e37bfcf"} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
}

func BenchmarkCheckGood(b *testing.B) {
	s := NewSecrets(RandomKey(), nil)
	addr := netip.MustParseAddr("192.0.2.1")
	client := []byte("12345678")
	server := s.Make(nil, client, addr, 100)
	b.ReportAllocs()
	for b.Loop() {
		if s.Check(client, server, addr, 101) != Good {
			b.Fatal("not good")
		}
	}
}
