package control_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/control"
	"github.com/recursor-dns/recursor/resolver"
	"github.com/recursor-dns/recursor/testnet"
)

// started is a control server over a sandbox resolver.
type started struct {
	path    string
	r       *resolver.Resolver
	net     *testnet.Network
	changed atomic.Int32
}

func start(t *testing.T) *started {
	t.Helper()
	n := testnet.StartTB(t, "../testdata/sandbox")
	r, err := resolver.New(resolver.Config{
		RootHints: n.RootHints(), UpstreamPort: n.Port(), DontQuery: []netip.Prefix{},
		Transport: testnet.LoopbackOnly(t, &resolver.NetTransport{}),
		DNSSEC:    resolver.DNSSECConfig{TrustAnchors: n.TrustAnchor()},
	})
	if err != nil {
		t.Fatal(err)
	}
	st := &started{path: filepath.Join(t.TempDir(), "control.sock"), r: r, net: n}
	s, err := control.Listen(control.Config{
		Path:    st.path,
		Engine:  func() *resolver.Resolver { return r },
		Stats:   func(w io.Writer) error { _, err := fmt.Fprintln(w, "queries 7"); return err },
		Changed: func() { st.changed.Add(1) },
		Trace: func(ctx context.Context, w io.Writer, name string, qtype uint16) error {
			_, err := fmt.Fprintf(w, "traced %s %d\n", name, qtype)
			return err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(st.path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the socket file is left: %v", err)
		}
	})
	return st
}

func (st *started) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := control.Run(t.Context(), st.path, args, &out)
	return out.String(), err
}

func TestCommands(t *testing.T) {
	st := start(t)
	if fi, err := os.Stat(st.path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v, %v; want 0600", fi.Mode(), err)
	}
	if _, err := st.r.Resolve(t.Context(), "www.example.com.", dns.TypeA); err != nil {
		t.Fatal(err)
	}
	cut, err := st.r.Lookup("www.example.com.")
	if err != nil || len(cut.Servers) == 0 {
		t.Fatalf("Lookup = %+v, %v", cut, err)
	}
	known := ""
	for _, s := range cut.Servers {
		if s.Known {
			known = s.Addr.String() // the server that answered
		}
	}
	tests := []struct {
		args []string
		want string // in the output
	}{
		{[]string{"stats"}, "queries 7"},
		{[]string{"lookup", "WWW.example.com"}, "www.example.com.\t"},
		{[]string{"lookup", "www.example.com"}, "zone cut example.com. (from the cache), servers:"},
		{[]string{"flush", "www.example.com", "aaaa"}, "flushed 0 cache entries of www.example.com. AAAA"},
		{[]string{"flush", "www.example.com"}, "flushed 1 cache entries of www.example.com."},
		{[]string{"flush-zone", "example.com"}, "at or below example.com."},
		{[]string{"flush-negative"}, "negative"},
		{[]string{"flush-bogus"}, "bogus"},
		{[]string{"flush-infra", known}, "forgot 1 server addresses"},
		{[]string{"flush-infra"}, "server addresses"},
		{[]string{"insecure-add", "Corp.Example"}, "corp.example. is not validated"},
		{[]string{"insecure-list"}, "corp.example.\n"},
		{[]string{"insecure-remove", "corp.example"}, "corp.example. is validated again"},
		{[]string{"trace", "www.example.com", "MX"}, "traced www.example.com. 15"},
		{[]string{"help"}, "flush-infra [ADDR|all]"},
	}
	for _, tc := range tests {
		out, err := st.run(t, tc.args...)
		if err != nil || !strings.Contains(out, tc.want) {
			t.Errorf("%v: %q, %v; want %q", tc.args, out, err, tc.want)
		}
	}
	if got := st.changed.Load(); got != 9 {
		t.Errorf("Changed called %d times, want 9 (each flush and trust anchor change)", got)
	}
}

func TestErrors(t *testing.T) {
	st := start(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"flush"}, "usage: flush NAME [TYPE]"},
		{[]string{"flush", "a..b"}, `"a..b" is not a domain name`},
		{[]string{"flush", "example.com", "NOPE"}, `"NOPE" is not a record type`},
		{[]string{"flush-infra", "host"}, `"host" is not an IP address`},
		{[]string{"insecure-remove", "never.example"}, "never.example. is not a negative trust anchor"},
		{[]string{"reload"}, "no config to reload"},
		{[]string{"load-cache", filepath.Join(t.TempDir(), "missing")}, "no such file"},
	}
	for _, tc := range tests {
		out, err := st.run(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: %q, %v; want one line saying %q", tc.args, out, err, tc.want)
		}
	}
	err := control.Run(t.Context(), filepath.Join(t.TempDir(), "none.sock"), []string{"stats"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no control socket at") {
		t.Errorf("missing socket: %v", err)
	}
}

func TestDumpAndLoadCache(t *testing.T) {
	st := start(t)
	if _, err := st.r.Resolve(t.Context(), "www.example.com.", dns.TypeA); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "cache dump") // a space in the name
	if _, err := st.run(t, "dump-cache", file); err != nil {
		t.Fatal(err)
	}
	entries := st.r.Cache().Len()
	st.r.FlushZone(".")
	out, err := st.run(t, "load-cache", file)
	if err != nil || out != fmt.Sprintf("loaded %d cache entries\n", entries) {
		t.Fatalf("load-cache = %q, %v; want %d entries", out, err, entries)
	}
	st.net.ResetQueries()
	if _, err := st.r.Resolve(t.Context(), "www.example.com.", dns.TypeA); err != nil || st.net.QueryCount() != 0 {
		t.Errorf("after load-cache: %v, %d upstream queries; want none", err, st.net.QueryCount())
	}
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("recursor-cache 2\n1 2 3\n"), 0o600)
	if _, err := st.run(t, "load-cache", bad); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a bad file: %v; want the line named", err)
	}
}

func TestStaleSocketReplacedLiveOneNot(t *testing.T) {
	st := start(t)
	_, err := control.Listen(control.Config{Path: st.path, Engine: func() *resolver.Resolver { return st.r }})
	if err == nil || !strings.Contains(err.Error(), "another server is listening") {
		t.Errorf("a second server on a live socket: %v", err)
	}
	notSocket := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notSocket, nil, 0o600)
	if _, err := control.Listen(control.Config{Path: notSocket, Engine: func() *resolver.Resolver { return st.r }}); err == nil {
		t.Error("a regular file was replaced by the socket")
	}
}
