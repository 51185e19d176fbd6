package main

import (
	"bytes"
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/recursor-dns/recursor/resolver"
	"github.com/recursor-dns/recursor/roothints"
)

func TestControlSocketFromConfig(t *testing.T) {
	with := writeConfig(t, "[server]\ncontrol-socket = \"/run/r/control.sock\"\n")
	without := writeConfig(t, "[server]\nlog-queries = true\n")
	tests := []struct {
		args []string
		want string // the path, or the error
	}{
		{[]string{"stats"}, DefaultControlSocket},
		{[]string{"--config", with, "stats"}, "/run/r/control.sock"},
		{[]string{"--config", with, "--control-socket", "/x.sock", "stats"}, "/x.sock"},
		{[]string{"--config", without, "stats"}, "sets no control-socket in [server]"},
	}
	for _, tc := range tests {
		cmd := newControlCommand()
		if err := cmd.Flags().Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		socket, _ := cmd.Flags().GetString("control-socket")
		config, _ := cmd.Flags().GetString("config")
		got, err := controlPath(cmd, socket, config)
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("%v: %q, want %q", tc.args, got, tc.want)
		}
	}
}

// TestCommandLineForReload: what a reload applies again over the file is
// the command line's flags, lists whole.
func TestCommandLineForReload(t *testing.T) {
	fs := serveFlagSet(t, "--allow", "10.0.0.0/8", "--allow", "::1", "--timeout", "3s", "-v")
	got := commandLine(fs)
	want := []flagSetting{{"allow", []string{"10.0.0.0/8", "::1"}}, {"timeout", []string{"3s"}}, {"verbose", []string{"true"}}}
	if !slices.EqualFunc(got, want, func(a, b flagSetting) bool { return a.name == b.name && slices.Equal(a.values, b.values) }) {
		t.Errorf("commandLine = %v, want %v", got, want)
	}
}

func TestControlHelpListsEveryCommand(t *testing.T) {
	var out bytes.Buffer
	cmd := newControlCommand()
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--help"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"stats", "flush NAME [TYPE]", "flush-infra", "lookup NAME", "dump-cache FILE", "insecure-list", "reload", "trace NAME [TYPE]"} {
		if !strings.Contains(out.String(), c) {
			t.Errorf("recursor control --help does not list %q", c)
		}
	}
}

// TestLiveEngineMovesBackgroundWork: the background work (prefetch) runs
// for the resolver in place, and moves to the one a reload puts there.
func TestLiveEngineMovesBackgroundWork(t *testing.T) {
	newResolver := func() *resolver.Resolver {
		r, err := resolver.New(resolver.Config{RootHints: &roothints.Hints{TTL: 3600, Servers: []roothints.Server{{Name: "a.root.lab.", Addrs: []netip.Addr{netip.MustParseAddr("127.53.0.1")}}}}}) // never asked
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	var mu sync.Mutex
	running := map[*resolver.Resolver]bool{}
	isRunning := func(r *resolver.Resolver) bool {
		mu.Lock()
		defer mu.Unlock()
		return running[r]
	}
	old, next := newResolver(), newResolver()
	live := liveEngine{run: func(r *resolver.Resolver, ctx context.Context) error {
		mu.Lock()
		running[r] = true
		mu.Unlock()
		<-ctx.Done()
		mu.Lock()
		running[r] = false
		mu.Unlock()
		return nil
	}}
	live.p.Store(old)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- live.Run(ctx) }()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after 5 s", what)
			}
		}
	}
	waitFor("the first resolver's Run", func() bool { return isRunning(old) })
	live.swap(next)
	waitFor("the new resolver's Run", func() bool { return isRunning(next) })
	waitFor("the old resolver's Run to end", func() bool { return !isRunning(old) })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if isRunning(next) {
		t.Error("the resolver's Run outlives the server's")
	}
}
