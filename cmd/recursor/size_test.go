package main

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"1024": 1024, "64k": 64 << 10, "256m": 256 << 20, "256MiB": 256 << 20, "256MB": 256 << 20,
		"2g": 2 << 30, " 1G ": 1 << 30, "12b": 12, "0": 0,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "m", "1.5g", "-1", "12t", "ten", "99999999999g"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}

// TestSizeFlags: --cache-max-bytes reaches the cache, and a bad value is
// a clear error.
func TestSizeFlags(t *testing.T) {
	build := func(value string) (*engine, error) {
		var f engineFlags
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		f.register(fs)
		if err := fs.Parse([]string{"--cache-max-bytes", value, "--no-dnssec"}); err != nil {
			t.Fatal(err)
		}
		return f.build(slog.New(slog.DiscardHandler))
	}
	e, err := build("2m")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, got := e.resolver.Cache().Limits(); got != 2<<20 {
		t.Errorf("cache budget %d bytes, want 2 MiB", got)
	}
	for _, bad := range []string{"12t", "512k", "17g"} {
		if _, err := build(bad); err == nil || !strings.Contains(err.Error(), "--cache-max-bytes") {
			t.Errorf("--cache-max-bytes %s: %v, want an error naming the flag", bad, err)
		}
	}
}

func TestMemoryLimitFlag(t *testing.T) {
	for _, bad := range []string{"1k", "lots"} {
		var ef engineFlags
		var sf serveFlags
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		sf.register(fs)
		ef.register(fs)
		if err := fs.Parse([]string{"--memory-limit", bad}); err != nil {
			t.Fatal(err)
		}
		err := runServe(t.Context(), &ef, &sf, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), "--memory-limit") {
			t.Errorf("--memory-limit %s: %v, want an error naming the flag", bad, err)
		}
	}
}
