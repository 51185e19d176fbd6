package cookie

import (
	"net/netip"
	"testing"
	"time"
)

func TestJar(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	j := NewJar(func() time.Time { return now }, time.Hour)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::53")

	ca := j.Option(nil, a)
	if len(ca) != ClientLen {
		t.Fatalf("first option to a: %d bytes, want the client cookie alone", len(ca))
	}
	if cb := j.Option(nil, b); string(cb) == string(ca) {
		t.Error("two servers get the same client cookie")
	}
	if c := j.Client(a); string(c[:]) != string(ca) {
		t.Error("Client and Option disagree")
	}
	if mapped := j.Option(nil, netip.AddrFrom16(a.As16())); string(mapped) != string(ca) {
		t.Error("an IPv4-mapped address gets another cookie than the IPv4 one")
	}

	server := []byte("0123456789abcdef")
	if j.Learn(a, append([]byte("wrong!!!"), server...)) {
		t.Error("Learn took a reply with another client cookie")
	}
	if got := j.Option(nil, a); len(got) != ClientLen {
		t.Errorf("after a wrong cookie: %d bytes sent", len(got))
	}
	if !j.Learn(a, append(append([]byte(nil), ca...), server...)) {
		t.Fatal("Learn refused our own client cookie")
	}
	if got := j.Option(nil, a); string(got) != string(ca)+string(server) {
		t.Errorf("after learning: %x, want client and server cookie", got)
	}
	if got := j.Option(nil, b); len(got) != ClientLen {
		t.Error("the server cookie of a is sent to b")
	}
	if j.Learn(a, append(append([]byte(nil), ca...), 1, 2, 3)) {
		t.Error("Learn took a malformed option")
	}
	j.Forget(a)
	if got := j.Option(nil, a); len(got) != ClientLen {
		t.Error("Forget kept the server cookie")
	}

	j.Learn(a, append(append([]byte(nil), ca...), server...))
	now = now.Add(time.Hour)
	after := j.Option(nil, a)
	if len(after) != ClientLen || string(after) == string(ca) {
		t.Errorf("after the secret's lifetime: %x, want a new client cookie alone (was %x)", after, ca)
	}
}

func TestJarCap(t *testing.T) {
	j := NewJar(nil, 0)
	j.max = 3
	for i := range 10 {
		addr := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
		c := j.Client(addr)
		j.Learn(addr, append(c[:], "0123456789abcdef"...))
	}
	if n := len(j.servers); n != 3 {
		t.Errorf("jar holds %d server cookies, want its cap 3", n)
	}
}

// TestJarOptionAtStale: a reading taken before another caller rotated the
// secret (older than it) makes no new secret; a later one past the
// lifetime does.
func TestJarOptionAtStale(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	j := NewJar(func() time.Time { return now }, time.Hour)
	a := netip.MustParseAddr("192.0.2.1")
	first := j.OptionAt(nil, a, now)
	if got := j.OptionAt(nil, a, now.Add(-time.Millisecond)); string(got) != string(first) {
		t.Error("a reading older than the secret rotated it")
	}
	if got := j.OptionAt(nil, a, now.Add(time.Hour)); string(got) == string(first) {
		t.Error("a reading past the lifetime kept the secret")
	}
}
