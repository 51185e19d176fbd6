package testnet

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestNSDAcceptsZones runs nsd-checkzone on every zone file of the sandbox
// and of the hostile tree: hostile servers misbehave, their zones do not.
func TestNSDAcceptsZones(t *testing.T) {
	checkzone, err := exec.LookPath("nsd-checkzone")
	if err != nil {
		checkzone = "/usr/sbin/nsd-checkzone"
		if _, err := os.Stat(checkzone); err != nil {
			t.Skip("skipping: nsd-checkzone not installed (Debian package nsd)")
		}
	}
	var files []string
	for _, dir := range []string{sandboxDir, hostileDir} {
		found, err := filepath.Glob(filepath.Join(dir, ZonesDir, "*.zone"))
		if err != nil || len(found) == 0 {
			t.Fatalf("no zone files in %s: %v", dir, err)
		}
		files = append(files, found...)
	}
	for _, file := range files {
		origin := strings.TrimSuffix(filepath.Base(file), ".zone") + "."
		if origin == "root." {
			origin = "."
		}
		t.Run(filepath.Base(filepath.Dir(filepath.Dir(file)))+"/"+origin, func(t *testing.T) {
			t.Parallel()
			out, err := exec.CommandContext(t.Context(), checkzone, origin, file).CombinedOutput()
			if err != nil {
				t.Errorf("nsd-checkzone %s %s: %v\n%s", origin, file, err, out)
			}
		})
	}
}

// TestNSD checks the sandbox on NSD as on the in-process network: the
// cases of CASES.md, the direct questions, and that both networks give the
// same replies to every question of CASES.md asked of every server.
func TestNSD(t *testing.T) {
	nsd := StartNSDTB(t, sandboxDir)
	t.Run("cases", func(t *testing.T) { checkCases(t, nsd) })
	t.Run("direct", func(t *testing.T) { checkDirect(t, nsd.Servers(), nsd.Port(), false) })
	t.Run("agree", func(t *testing.T) {
		ours := StartTB(t, sandboxDir)
		for _, s := range ours.Servers() {
			if s.Mode == ModeDead {
				continue
			}
			t.Run(s.Name, func(t *testing.T) {
				t.Parallel()
				for _, c := range readCases(t) {
					for _, o := range []ask{{edns: EDNSBufferSize}, {tcp: true}} {
						want := query(t, o, s.Addr, ours.Port(), c.Qname, c.Qtype)
						got := query(t, o, s.Addr, nsd.Port(), c.Qname, c.Qtype)
						if diff := replyDiff(got, want); diff != "" {
							t.Errorf("%s %s tcp=%t: nsd and testnet differ: %s", c.Qname, dns.TypeToString[c.Qtype], o.tcp, diff)
						}
					}
				}
			})
		}
	})
}

// replyDiff compares what a resolver acts on: rcode, AA, TC, the answer,
// and the authority section of referrals and negative answers.
func replyDiff(got, want *dns.Msg) string {
	var diffs []string
	if got.Rcode != want.Rcode {
		diffs = append(diffs, "rcode "+dns.RcodeToString[got.Rcode]+" vs "+dns.RcodeToString[want.Rcode])
	}
	if got.Authoritative != want.Authoritative {
		diffs = append(diffs, "AA differs")
	}
	if got.Truncated != want.Truncated {
		diffs = append(diffs, "TC differs")
	}
	if g, w := rrStrings(got.Answer), rrStrings(want.Answer); !slices.Equal(g, w) {
		diffs = append(diffs, "answer "+strings.Join(g, ", ")+" vs "+strings.Join(w, ", "))
	}
	if len(want.Answer) == 0 || want.Rcode != dns.RcodeSuccess {
		if g, w := rrStrings(got.Ns), rrStrings(want.Ns); !slices.Equal(g, w) {
			diffs = append(diffs, "authority "+strings.Join(g, ", ")+" vs "+strings.Join(w, ", "))
		}
	}
	return strings.Join(diffs, "; ")
}
