package testnet

import (
	"net/netip"
	"os"
	"slices"
	"testing"

	"github.com/miekg/dns"
)

// consistentTrees are the zone trees that TestSandboxConsistent checks,
// with the NS targets that no server has on purpose: delegation cycles.
var consistentTrees = []struct {
	dir      string
	unserved []string
}{
	{sandboxDir, []string{"ns.cycle-a.lab.", "ns.cycle-b.lab."}},
	{hostileDir, []string{"ns.cyc1.lab.", "ns.cyc2.lab.", "ns.cyc3.lab."}},
}

// TestSandboxConsistent checks the zone tree against network.conf, so a typo
// in either shows up here rather than as a puzzling resolver failure: every
// address record of a server name is its address, every NS target is a
// server that serves the zone (or is meant to fail: lame, dead, unserved),
// and every served zone is delegated from its parent to its own NS set.
func TestSandboxConsistent(t *testing.T) {
	for _, tree := range consistentTrees {
		t.Run(tree.dir, func(t *testing.T) { checkConsistent(t, tree.dir, tree.unserved) })
	}
}

func checkConsistent(t *testing.T, dir string, unservedNames []string) {
	sb, err := loadSandbox(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	servers := map[string]Server{}
	for _, s := range sb.servers {
		servers[s.Name] = s
	}
	for origin, z := range sb.zones {
		for owner, n := range z.nodes {
			for _, rr := range n.rrsets[dns.TypeA] {
				s, ok := servers[owner]
				addr, _ := netip.AddrFromSlice(rr.(*dns.A).A.To4())
				if ok && addr != s.Addr {
					t.Errorf("zone %s: %s A %s, but network.conf says %s", origin, owner, addr, s.Addr)
				}
			}
			for _, rr := range n.rrsets[dns.TypeNS] {
				target := canonical(rr.(*dns.NS).Ns)
				s, ok := servers[target]
				switch {
				case !ok && !slices.Contains(unservedNames, target):
					t.Errorf("zone %s: %s NS %s: no such server in network.conf", origin, owner, target)
				case ok && s.Mode == ModeAuth && !slices.Contains(s.Zones, owner):
					t.Errorf("zone %s: %s NS %s, which does not serve it (mark it lame if meant)", origin, owner, target)
				}
			}
		}
	}
	for _, s := range sb.servers {
		for _, origin := range s.Zones {
			apex := nsNames(sb.zones[origin].nodes[origin])
			if !slices.Contains(apex, s.Name) {
				t.Errorf("%s serves %s but is not in its NS set %v", s.Name, origin, apex)
			}
			if origin == "." {
				continue
			}
			parent := parentZone(sb, origin)
			if parent == nil {
				t.Errorf("zone %s: its parent zone is not served", origin)
				continue
			}
			cut := parent.nodes[origin]
			if cut == nil || !slices.Equal(nsNames(cut), apex) {
				t.Errorf("zone %s: delegated from %s to %v, apex NS %v", origin, parent.origin, nsNames(cut), apex)
			}
		}
	}
}

// parentZone is the deepest served zone strictly above origin.
func parentZone(sb *sandbox, origin string) *zone {
	var best *zone
	for _, z := range sb.zones {
		if z.origin != origin && dns.IsSubDomain(z.origin, origin) &&
			(best == nil || dns.CountLabel(z.origin) > dns.CountLabel(best.origin)) {
			best = z
		}
	}
	return best
}

func nsNames(n *node) []string {
	if n == nil {
		return nil
	}
	var names []string
	for _, rr := range n.rrsets[dns.TypeNS] {
		names = append(names, canonical(rr.(*dns.NS).Ns))
	}
	slices.Sort(names)
	return names
}
