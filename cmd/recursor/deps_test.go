package main

import (
	"errors"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestNoTestingInBinary: the production binary does not link package
// testing (it would register test flags and carry test helpers), though
// --sandbox uses testnet.
func TestNoTestingInBinary(t *testing.T) {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := exec.LookPath(goBin); err != nil {
		if goBin, err = exec.LookPath("go"); err != nil {
			t.Skipf("skipping: no go command: %v", err)
		}
	}
	cmd := exec.CommandContext(t.Context(), goBin, "list", "-deps", ".")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, stderr(err))
	}
	deps := strings.Fields(string(out))
	if slices.Contains(deps, "testing") {
		t.Errorf("cmd/recursor links package testing; who imports it:\n%s", importers(t, goBin, "testing"))
	}
}

// importers lists the dependencies of cmd/recursor that import pkg.
func importers(t *testing.T, goBin, pkg string) string {
	out, err := exec.CommandContext(t.Context(), goBin, "list", "-deps", "-f", `{{.ImportPath}}: {{join .Imports " "}}`, ".").Output()
	if err != nil {
		return err.Error()
	}
	var lines []string
	for line := range strings.Lines(string(out)) {
		path, imports, _ := strings.Cut(strings.TrimSpace(line), ": ")
		if slices.Contains(strings.Fields(imports), pkg) {
			lines = append(lines, "  "+path)
		}
	}
	return strings.Join(lines, "\n")
}

func stderr(err error) []byte {
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		return ee.Stderr
	}
	return nil
}
