package peertest

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// netnsEnv marks a test process that runs inside a network namespace of
// its own.
const netnsEnv = "PEERTEST_OWN_NETNS"

// InOwnNetwork runs the calling top-level test again, alone, in a network
// namespace of its own whose only interface is loopback: servers on
// 127.53.x.y:53 then cannot collide with another DNS server of the
// machine, and nothing the test runs can reach another machine. In the
// parent it returns true once the child has run: the test's result is the
// child's (its output is logged, its failure or skip is the test's). In
// the child it returns false and the test goes on. Without root, or
// without unshare and ip, it skips the test saying why.
func InOwnNetwork(t *testing.T) bool {
	t.Helper()
	if os.Getenv(netnsEnv) == "1" {
		return false
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test's servers listen on 127.53.x.y:53, in a network namespace of their own (CI runs as root)")
	}
	unshare, ok := LookPath("unshare")
	if !ok {
		t.Skip("unshare (util-linux) is not installed: no network namespace for the test's servers on port 53")
	}
	if _, ok := LookPath("ip"); !ok {
		t.Skip("ip (iproute2) is not installed: cannot bring loopback up in the test's network namespace")
	}
	args := []string{"--net", "--", "sh", "-c", `ip link set lo up && exec "$0" "$@"`,
		os.Args[0], "-test.run", "^" + regexp.QuoteMeta(t.Name()) + "$", "-test.count", "1", "-test.v"}
	if d, ok := t.Deadline(); ok {
		args = append(args, "-test.timeout", time.Until(d).Round(time.Second).String())
	}
	cmd := exec.Command(unshare, args...)
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in a network namespace of its own:\n%s", out)
	switch {
	case err == nil && strings.Contains(string(out), "--- SKIP: "+t.Name()):
		t.Skip("skipped in its network namespace (see above)")
	case err != nil && strings.Contains(string(out), "unshare failed"):
		t.Skipf("no network namespace here (%v): the test's servers need 127.53.x.y:53 to themselves", err)
	case err != nil:
		t.Fatalf("failed in its network namespace: %v", err)
	}
	return true
}
