package cookie

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"os"
	"strings"
	"testing"
)

// TestSipHash24Vectors checks SipHash-2-4 against the 64 vectors of the
// reference implementation: key 00..0f, messages 00..(i-1).
func TestSipHash24Vectors(t *testing.T) {
	f, err := os.Open("testdata/siphash24.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var key Key
	for i := range key {
		key[i] = byte(i)
	}
	msg := make([]byte, 0, 64)
	i := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		want, err := hex.DecodeString(line)
		if err != nil || len(want) != 8 {
			t.Fatalf("vector %d: bad line %q", i, line)
		}
		got := binary.LittleEndian.AppendUint64(nil, SipHash24(&key, msg))
		if string(got) != string(want) {
			t.Errorf("message of %d bytes: SipHash24 = %x, want %x", i, got, want)
		}
		msg = append(msg, byte(i))
		i++
	}
	if i != 64 {
		t.Fatalf("read %d vectors, want 64", i)
	}
}

func BenchmarkSipHash24Cookie(b *testing.B) {
	var key Key
	msg := make([]byte, 20) // client cookie, server cookie head, IPv4
	b.ReportAllocs()
	for b.Loop() {
		msg[0] = byte(SipHash24(&key, msg))
	}
}

// TestSipHashCookie: the server cookie's hash, computed in place, is
// SipHash-2-4 of the message laid out (client cookie, head, address).
func TestSipHashCookie(t *testing.T) {
	key := RandomKey()
	k0, k1 := binary.LittleEndian.Uint64(key[:8]), binary.LittleEndian.Uint64(key[8:])
	head := []byte("0123456789abcdef")
	for _, s := range []string{"192.0.2.1", "2001:db8::1", "0.0.0.0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"} {
		a := netip.MustParseAddr(s)
		msg := append(append([]byte(nil), head...), a.AsSlice()...)
		if got, want := sipHashCookie(k0, k1, head, a), SipHash24(&key, msg); got != want {
			t.Errorf("%s: %x, want %x", s, got, want)
		}
	}
}
