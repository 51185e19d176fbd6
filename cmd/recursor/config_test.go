package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// serveFlagSet returns the flags of `recursor serve`, parsed from args.
func serveFlagSet(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	cmd := newServeCommand()
	if err := cmd.Flags().Parse(args); err != nil {
		t.Fatal(err)
	}
	return cmd.Flags()
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "recursor.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestExampleConfigLoads(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "recursor.example.toml")
	fs := serveFlagSet(t)
	if err := loadConfigFile(path, fs); err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Every key a section accepts is shown, set or commented out, so the
	// example stays the reference as flags are added.
	for section, flags := range configSections() {
		flags.VisitAll(func(f *pflag.Flag) {
			if f.Name == "help" {
				return
			}
			if !regexp.MustCompile(`(?m)^#? ?` + regexp.QuoteMeta(f.Name) + ` = `).Match(text) {
				t.Errorf("docs/recursor.example.toml does not show [%s] %s", section, f.Name)
			}
		})
	}
	for name, want := range map[string]string{"listen": "[]", "allow": "[127.0.0.0/8,::1/128]", "max-udp-size": "1232", "timeout": "10s"} {
		if got := fs.Lookup(name).Value.String(); got != want {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
}

func TestConfigFile(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		args    []string          // command-line flags
		want    map[string]string // flag values after loading
		wantErr string
	}{
		{"values applied", `
[server]
listen = ["127.0.0.1:5353", "[::1]:5353"]
allow = ["10.0.0.0/8", "192.0.2.1"]
log-queries = true
tcp-idle-timeout = "3s"
max-in-flight = 10
[resolver]
upstream-port = 5300
dont-query = ["none"]
`, nil, map[string]string{
			"listen": "[127.0.0.1:5353,[::1]:5353]", "allow": "[10.0.0.0/8,192.0.2.1]", "log-queries": "true",
			"tcp-idle-timeout": "3s", "max-in-flight": "10", "upstream-port": "5300", "dont-query": "[none]",
		}, ""},
		{"flags win over the file", `
[server]
listen = ["127.0.0.1:5353"]
max-in-flight = 10
`, []string{"--listen", "127.0.0.1:9999"}, map[string]string{"listen": "[127.0.0.1:9999]", "max-in-flight": "10"}, ""},
		{"empty file", "", nil, map[string]string{"max-udp-size": "1232"}, ""},
		{"unknown key", "[server]\nlisten = [\"127.0.0.1:53\"]\nlisten-port = 53\n", nil, nil, `:3: server.listen-port: unknown key "listen-port" in [server]`},
		{"subtable of an unknown section", "[s.x]\n", nil, nil, `s.x: unknown section [s]: want [server] or [resolver]`},
		{"nested table", "[server.listen.deeper]\nx = 1\n", nil, nil, `nested tables are not settings`},
		{"key in the wrong section", "[resolver]\n\nallow = [\"10.0.0.0/8\"]\n", nil, nil, `:3: resolver.allow: unknown key "allow" in [resolver]`},
		{"unknown section", "[srv]\nlisten = []\n", nil, nil, `:1: srv: unknown section`},
		{"top-level key", "listen = [\"127.0.0.1:53\"]\n", nil, nil, `:1: listen: unknown section or top-level key`},
		{"bad address", "[server]\nlisten = [\"127.0.0.1\"]\n", nil, nil, `:2: server.listen: listen address "127.0.0.1": want IP:PORT`},
		{"bad CIDR", "[server]\nallow = [\"10.0.0.0/33\"]\n", nil, nil, `:2: server.allow: "10.0.0.0/33": not a CIDR`},
		{"string for a number", "[server]\nmax-in-flight = \"many\"\n", nil, nil, `:2: server.max-in-flight: want a whole number`},
		{"zero limit", "[resolver]\nmax-cnames = 0\n", nil, nil, `:2: resolver.max-cnames: 0 is out of range`},
		{"port too big", "[resolver]\nupstream-port = 70000\n", nil, nil, `:2: resolver.upstream-port: 70000 is out of range: want 1 to 65535`},
		{"bad duration", "[resolver]\ntimeout = \"10\"\n", nil, nil, `:2: resolver.timeout: "10" is not a positive duration`},
		{"number for a duration", "[resolver]\ntimeout = 10\n", nil, nil, `:2: resolver.timeout: want a duration string`},
		{"string for a bool", "[server]\nlog-queries = \"yes\"\n", nil, nil, `:2: server.log-queries: want true or false`},
		{"not a list", "[server]\nallow = \"10.0.0.0/8\"\n", nil, nil, `:2: server.allow: want a list of strings`},
		{"TOML syntax error", "[server]\nlisten = [\"127.0.0.1:53\"\n", nil, nil, `:2: server.listen: expected a comma`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.text)
			fs := serveFlagSet(t, tc.args...)
			err := loadConfigFile(path, fs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), path) {
					t.Fatalf("err = %v, want %s%s...", err, path, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range tc.want {
				if got := fs.Lookup(name).Value.String(); got != want {
					t.Errorf("%s = %s, want %s", name, got, want)
				}
			}
		})
	}
}

func TestConfigMissingFile(t *testing.T) {
	_, err := runCommand(t, "serve", "--config", "/nonexistent/recursor.toml")
	if err == nil || !strings.Contains(err.Error(), "--config: open /nonexistent/recursor.toml") {
		t.Errorf("err = %v", err)
	}
}
