package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestSharedCacheFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte("  a fleet secret from a file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const url = "redis://127.0.0.1:1/2"
	tests := []struct {
		args []string
		err  string // "" for a tier
	}{
		{nil, ""},
		{[]string{"--shared-cache", url}, "needs the fleet secret"},
		{[]string{"--shared-cache-secret", "0123456789abcdef"}, "without --shared-cache"},
		{[]string{"--shared-cache", url, "--shared-cache-secret", "short"}, "at least 16 bytes"},
		{[]string{"--shared-cache", url, "--shared-cache-secret", "0123456789abcdef", "--shared-cache-secret-file", file}, "choose one"},
		{[]string{"--shared-cache", url, "--shared-cache-secret-file", filepath.Join(dir, "absent")}, "no such file"},
		{[]string{"--shared-cache", "memcached://127.0.0.1:1", "--shared-cache-secret-file", file}, "invalid URL scheme"},
		{[]string{"--shared-cache", url, "--shared-cache-secret-file", file, "--shared-cache-timeout", "0s"}, "must be positive"},
		{[]string{"--shared-cache", url, "--shared-cache-secret-file", file}, ""},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			var s sharedFlags
			s.register(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			shared, tier, err := s.build(nil, slog.New(slog.DiscardHandler))
			if tier != nil {
				defer tier.Close()
			}
			switch {
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("error %v, want one with %q", err, tc.err)
			case tc.err == "" && err != nil:
				t.Errorf("error %v", err)
			case tc.err == "" && (shared == nil) != (tc.args == nil):
				t.Errorf("tier %v for %v", shared, tc.args)
			}
		})
	}
}

// A reload keeps the running tier rather than dial another.
func TestSharedCacheKeptOnReload(t *testing.T) {
	s := sharedFlags{url: "redis://127.0.0.1:1/0", secret: "0123456789abcdef", timeout: time.Second, queue: 10}
	running, tier, err := s.build(nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer tier.Close()
	kept, fresh, err := s.build(running, slog.New(slog.DiscardHandler))
	if err != nil || kept != running || fresh != nil {
		t.Errorf("reload: %v %v %v, want the running tier", kept, fresh, err)
	}
}
