package rpz

import (
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/resolver"
)

func writeZone(t *testing.T, path string, serial int, triggers string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(nsdZone(serial, triggers)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSetOrder: the first zone that matches decides, a passthru included.
func TestSetOrder(t *testing.T) {
	dir := t.TempDir()
	allow, block := filepath.Join(dir, "allow"), filepath.Join(dir, "block")
	writeZone(t, allow, 1, "good.example CNAME rpz-passthru.\n")
	writeZone(t, block, 1, "*.example CNAME .\ngood.example CNAME .\n32.1.2.0.192.rpz-ip CNAME rpz-drop.\n")
	s, err := New(Config{Zones: []Source{{Name: "allow.test", File: allow}, {Name: "rpz.test", File: block}}})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"good.example.": "allow.test. passthru", "bad.example.": "rpz.test. nxdomain"} {
		a, _ := s.MatchName(name)
		if got := a.Policy + " " + a.Kind.String(); got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
	if a, ok := s.MatchAddr(netip.MustParseAddr("192.0.2.1")); !ok || a.Policy != "rpz.test." || a.Kind != resolver.PolicyDrop {
		t.Errorf("MatchAddr: %+v %v", a, ok)
	}
	if _, err := New(Config{Zones: []Source{{Name: "a.", File: allow}, {Name: "A", File: block}}}); err == nil {
		t.Error("a zone given twice was accepted")
	}
}

// TestSetReload: Reload reads a changed file; a broken file keeps the
// last good policy and the error names the file and record.
func TestSetReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rpz.zone")
	writeZone(t, path, 1, "one.example CNAME .\n")
	var loads []uint32
	s, err := New(Config{Zones: []Source{{Name: "rpz.test", File: path}}, Loaded: func(_ string, serial uint32, _ error) { loads = append(loads, serial) }})
	if err != nil {
		t.Fatal(err)
	}
	writeZone(t, path, 2, "two.example CNAME .\n")
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.MatchName("two.example."); !ok {
		t.Error("the reloaded policy is not in place")
	}
	if _, ok := s.MatchName("one.example."); ok {
		t.Error("the old policy is still in place")
	}
	writeZone(t, path, 3, "three.example CNAME .\nthree.example A 192.0.2.1\n")
	err = s.Reload()
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "three.example.rpz.test.") {
		t.Errorf("err = %v, want one naming the file and the record", err)
	}
	if z := s.Zone("rpz.test"); z == nil || z.Serial() != 2 {
		t.Errorf("after a broken reload: %v, want serial 2 kept", z)
	}
	if len(loads) != 3 || loads[2] != 2 {
		t.Errorf("Loaded told %v, want 1, 2, then 2 (the failure)", loads)
	}
}

// TestSetPrevious: a Set built by a reload serves the transferred zones of
// the one it replaces until its own first transfer.
func TestSetPrevious(t *testing.T) {
	src := Source{Name: "rpz.test.", Primary: netip.MustParseAddrPort("127.0.0.1:5300")}
	old, err := New(Config{Zones: []Source{src}})
	if err != nil {
		t.Fatal(err)
	}
	z, err := ParseFile(strings.NewReader(nsdZone(4, "old.example CNAME .\n")), "rpz.test.", "")
	if err != nil {
		t.Fatal(err)
	}
	old.zones[0].cur.Store(z)
	s, err := New(Config{Zones: []Source{src}, Previous: old})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.MatchName("old.example."); !ok {
		t.Error("the previous Set's zone does not serve")
	}
	other := Source{Name: "rpz.test.", Primary: netip.MustParseAddrPort("127.0.0.1:5301")}
	if s, _ := New(Config{Zones: []Source{other}, Previous: old}); s.Zone("rpz.test.") != nil {
		t.Error("a zone from another primary was carried over")
	}
}

// TestSetApplied: a hit is counted and logged with what an operator needs.
func TestSetApplied(t *testing.T) {
	var b strings.Builder
	var counted []string
	s, err := New(Config{Logger: slog.New(slog.NewTextHandler(&b, nil)), Hit: func(p string, k resolver.PolicyKind) { counted = append(counted, p+" "+k.String()) }})
	if err != nil {
		t.Fatal(err)
	}
	s.Applied(resolver.PolicyAction{Kind: resolver.PolicyNXDOMAIN, Policy: "rpz.test.", Trigger: "*.ads.example."}, "x.ads.example.", dns.TypeA, netip.MustParseAddr("192.0.2.7"))
	want := `msg="rpz hit" policy=rpz.test. trigger=*.ads.example. action=nxdomain qname=x.ads.example. qtype=A client=192.0.2.7`
	if !strings.Contains(b.String(), want) {
		t.Errorf("log %q, want %q", b.String(), want)
	}
	if len(counted) != 1 || counted[0] != "rpz.test. nxdomain" {
		t.Errorf("counted %v", counted)
	}
}
