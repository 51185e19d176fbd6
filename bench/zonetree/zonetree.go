// Package zonetree owns the benchmark's generated mini-internet: a root
// zone, a few TLDs and many second-level domains, laid out as zone files,
// NSD configurations (one NSD instance per layer, so that no server answers
// for a zone below the one it is asked about) and a named.root file that
// points resolvers at the bench root servers. Every address is on
// 127.53.0.0/16; the generated files are written to a scratch directory and
// never committed.
package zonetree

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// TLDs are the top-level domains of the tree. None is a special-use name
// (RFC 6761), which Unbound would answer locally instead of iterating.
var TLDs = []string{"com.", "net.", "bench."}

// Spec sizes the tree.
type Spec struct {
	// Domains: second-level domains, spread round-robin over the TLDs.
	Domains int
	// Port: where every NSD instance listens, on each server address.
	Port uint16
	// TTL of every record; long, so nothing expires during a run.
	TTL uint32
	// DomainServers: addresses that serve the second-level zones (each
	// domain names two of them as ns1/ns2); default 4.
	DomainServers int
	// Block shifts the third octet of every server address (root
	// 127.53.B.x, TLDs 127.53.B+1.x, domains 127.53.B+2.x), so that two
	// trees can be served side by side; 0 to 250.
	Block byte
}

// Server is one authoritative server: its host name and its address.
type Server struct {
	Name string
	Addr netip.Addr
}

// Layer is one NSD instance: the servers (addresses) it listens on and the
// zones it serves.
type Layer struct {
	Name    string // "root", "tld" or "domains"; also its directory
	Servers []Server
	Zones   []string
}

// Tree is a planned zone tree. Plan builds it without I/O; Write lays it
// out on disk.
type Tree struct {
	Spec    Spec
	Root    Layer
	TLD     Layer
	Domain  Layer // Servers have no names: each domain names its own ns1/ns2
	Domains []string
}

const rootServerSuffix = "root-servers.bench."
const tldServerSuffix = "gtld-servers.bench."

// Plan lays out the tree for spec.
func Plan(spec Spec) (*Tree, error) {
	if spec.Domains < 1 || spec.Domains > 999999 {
		return nil, fmt.Errorf("zonetree: Domains is %d, want 1..999999", spec.Domains)
	}
	if spec.Port == 0 {
		return nil, fmt.Errorf("zonetree: Port is 0")
	}
	if spec.TTL == 0 {
		spec.TTL = 86400
	}
	if spec.DomainServers == 0 {
		spec.DomainServers = 4
	}
	if spec.DomainServers < 2 || spec.DomainServers > 250 {
		return nil, fmt.Errorf("zonetree: DomainServers is %d, want 2..250", spec.DomainServers)
	}
	if spec.Block > 250 {
		return nil, fmt.Errorf("zonetree: Block is %d, want 0..250", spec.Block)
	}
	t := &Tree{Spec: spec}
	t.Root = Layer{Name: "root", Zones: []string{"."}}
	t.TLD = Layer{Name: "tld", Zones: TLDs}
	t.Domain = Layer{Name: "domains"}
	for i, letter := range []string{"a", "b"} {
		t.Root.Servers = append(t.Root.Servers, Server{letter + "." + rootServerSuffix, netip.AddrFrom4([4]byte{127, 53, spec.Block, byte(i + 1)})})
		t.TLD.Servers = append(t.TLD.Servers, Server{letter + "." + tldServerSuffix, netip.AddrFrom4([4]byte{127, 53, spec.Block + 1, byte(i + 1)})})
	}
	for i := range spec.DomainServers {
		t.Domain.Servers = append(t.Domain.Servers, Server{Addr: netip.AddrFrom4([4]byte{127, 53, spec.Block + 2, byte(i + 1)})})
	}
	t.Domains = make([]string, spec.Domains)
	for i := range t.Domains {
		t.Domains[i] = DomainName(i)
	}
	t.Domain.Zones = t.Domains
	return t, nil
}

// DomainName is the i-th second-level domain, e.g. "d000000.com.".
func DomainName(i int) string {
	return fmt.Sprintf("d%06d.%s", i, TLDs[i%len(TLDs)])
}

// Layers returns the three NSD instances, top down.
func (t *Tree) Layers() []Layer { return []Layer{t.Root, t.TLD, t.Domain} }

// Addrs returns every server address of the tree.
func (t *Tree) Addrs() []netip.Addr {
	var out []netip.Addr
	for _, l := range t.Layers() {
		for _, s := range l.Servers {
			out = append(out, s.Addr)
		}
	}
	return out
}

// nameServers returns the two servers of domain i: ns1 and ns2 inside the
// domain itself (so their glue is in bailiwick), on neighbouring addresses.
func (t *Tree) nameServers(i int) [2]Server {
	d := t.Domains[i]
	n := len(t.Domain.Servers)
	return [2]Server{
		{"ns1." + d, t.Domain.Servers[i%n].Addr},
		{"ns2." + d, t.Domain.Servers[(i+1)%n].Addr},
	}
}

// HostA and HostAAAA are the addresses of www in domain i. They are data
// only: nothing ever sends to them (A stays on loopback, AAAA in the
// documentation prefix).
func HostA(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, 100, byte(i >> 8), byte(i)})
}

// HostAAAA: see HostA.
func HostAAAA(i int) netip.Addr {
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)})
}

// Write lays the tree out under dir: dir/named.root and, per layer,
// dir/LAYER/nsd.conf with its zone files under dir/LAYER/zones. NSD keeps
// its pid file and state in dir/LAYER as well.
func (t *Tree) Write(dir string) error {
	if err := os.WriteFile(filepath.Join(dir, "named.root"), []byte(t.RootHints()), 0o644); err != nil {
		return err
	}
	for _, l := range t.Layers() {
		zdir := filepath.Join(dir, l.Name, "zones")
		if err := os.MkdirAll(zdir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, l.Name, "nsd.conf"), []byte(t.NSDConfig(l, filepath.Join(dir, l.Name))), 0o644); err != nil {
			return err
		}
		for _, z := range l.Zones {
			if err := os.WriteFile(filepath.Join(zdir, zoneFileName(z)), []byte(t.Zone(z)), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

func zoneFileName(zone string) string {
	if zone == "." {
		return "root.zone"
	}
	return strings.TrimSuffix(zone, ".") + ".zone"
}

// RootHints returns a named.root file for the bench root servers.
func (t *Tree) RootHints() string {
	var b strings.Builder
	b.WriteString("; root hints of the generated bench tree (loopback only)\n")
	for _, s := range t.Root.Servers {
		fmt.Fprintf(&b, ".\t3600000\tNS\t%s\n", s.Name)
		fmt.Fprintf(&b, "%s\t3600000\tA\t%s\n", s.Name, s.Addr)
	}
	return b.String()
}

// NSDConfig returns the configuration of layer l's NSD instance, rooted at
// dir. It runs in the foreground without privileges to drop, without
// chroot and without rate limiting, all state kept in dir.
func (t *Tree) NSDConfig(l Layer, dir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "server:\n")
	for _, s := range l.Servers {
		fmt.Fprintf(&b, "\tip-address: %s@%d\n", s.Addr, t.Spec.Port)
	}
	for _, kv := range [][2]string{
		{"do-ip6", "no"},
		{"username", `""`},
		{"chroot", `""`},
		{"zonesdir", quote(filepath.Join(dir, "zones"))},
		{"pidfile", quote(filepath.Join(dir, "nsd.pid"))},
		{"database", `""`},
		{"zonelistfile", quote(filepath.Join(dir, "zone.list"))},
		{"xfrdfile", quote(filepath.Join(dir, "xfrd.state"))},
		{"xfrdir", quote(dir)},
		{"logfile", quote(filepath.Join(dir, "nsd.log"))},
		{"server-count", "1"},
		{"verbosity", "0"},
		{"hide-version", "yes"},
		{"rrl-ratelimit", "0"},
		{"rrl-whitelist-ratelimit", "0"},
		{"refuse-any", "yes"},
		{"receive-buffer-size", "8388608"},
		{"send-buffer-size", "8388608"},
	} {
		fmt.Fprintf(&b, "\t%s: %s\n", kv[0], kv[1])
	}
	fmt.Fprintf(&b, "remote-control:\n\tcontrol-enable: no\n")
	for _, z := range l.Zones {
		fmt.Fprintf(&b, "zone:\n\tname: %q\n\tzonefile: %q\n", z, zoneFileName(z))
	}
	return b.String()
}

func quote(s string) string { return `"` + s + `"` }

// Zone returns the master file of zone, which must be one of the tree's.
func (t *Tree) Zone(zone string) string {
	var b strings.Builder
	rr := func(owner, typ, data string) {
		fmt.Fprintf(&b, "%s\t%d\tIN\t%s\t%s\n", owner, t.Spec.TTL, typ, data)
	}
	soa := func(primary string) {
		rr(zone, "SOA", fmt.Sprintf("%s hostmaster.%s 1 3600 600 86400 3600", primary, trimRoot(zone)))
	}
	switch {
	case zone == ".":
		soa(t.Root.Servers[0].Name)
		for _, s := range t.Root.Servers {
			rr(".", "NS", s.Name)
		}
		for _, tld := range TLDs {
			for _, s := range t.TLD.Servers {
				rr(tld, "NS", s.Name)
			}
		}
		// Glue: both server sets live under bench., which is delegated.
		for _, s := range append(append([]Server{}, t.Root.Servers...), t.TLD.Servers...) {
			rr(s.Name, "A", s.Addr.String())
		}
	case t.isTLD(zone):
		soa(t.TLD.Servers[0].Name)
		for _, s := range t.TLD.Servers {
			rr(zone, "NS", s.Name)
		}
		if zone == "bench." {
			for _, s := range append(append([]Server{}, t.Root.Servers...), t.TLD.Servers...) {
				rr(s.Name, "A", s.Addr.String())
			}
		}
		for i := t.tldIndex(zone); i < len(t.Domains); i += len(TLDs) {
			ns := t.nameServers(i)
			for _, s := range ns {
				rr(t.Domains[i], "NS", s.Name)
			}
			for _, s := range ns {
				rr(s.Name, "A", s.Addr.String())
			}
		}
	default:
		i := t.domainIndex(zone)
		if i < 0 {
			return ""
		}
		ns := t.nameServers(i)
		soa(ns[0].Name)
		for _, s := range ns {
			rr(zone, "NS", s.Name)
		}
		for _, s := range ns {
			rr(s.Name, "A", s.Addr.String())
		}
		rr("www."+zone, "A", HostA(i).String())
		rr("www."+zone, "AAAA", HostAAAA(i).String())
	}
	return b.String()
}

func trimRoot(zone string) string {
	if zone == "." {
		return "bench."
	}
	return zone
}

func (t *Tree) isTLD(zone string) bool { return t.tldIndex(zone) >= 0 }

func (t *Tree) tldIndex(zone string) int {
	for i, tld := range TLDs {
		if tld == zone {
			return i
		}
	}
	return -1
}

// domainIndex inverts DomainName; -1 when zone is not one of the tree's.
func (t *Tree) domainIndex(zone string) int {
	var i int
	var tld string
	if _, err := fmt.Sscanf(zone, "d%06d.%s", &i, &tld); err != nil {
		return -1
	}
	if i < 0 || i >= len(t.Domains) || t.Domains[i] != zone {
		return -1
	}
	return i
}
