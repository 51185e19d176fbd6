package testnet

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/roothints"
)

// Mode is how a server behaves.
type Mode string

// Server modes, as written in network.conf.
const (
	// ModeAuth serves its zones as an authoritative server.
	ModeAuth Mode = "auth"
	// ModeLame serves no zone and answers REFUSED to every query, as lame
	// servers of today mostly do (BIND, NSD and Knot refuse names outside
	// their zones; the upward referral to the root is a relic).
	ModeLame Mode = "lame"
	// ModeDead reads queries and never answers, over UDP and TCP.
	ModeDead Mode = "dead"
)

// Server is one authoritative server of a sandbox, as network.conf says.
type Server struct {
	Name  string     // host name, fully qualified, lower case
	Addr  netip.Addr // its own loopback address
	Mode  Mode       //
	Zones []string   // the zones it serves (ModeAuth only), fully qualified, lower case
	// Behaviours are how a hostile auth server misbehaves, in the order
	// network.conf lists them; none for an honest server.
	Behaviours []Behaviour
	// NXNSVictim is the zone an NXNS server names its servers under.
	NXNSVictim string
}

// ConfFile is the file of a sandbox directory that lists its servers.
const ConfFile = "network.conf"

// ZonesDir is the directory, inside a sandbox directory, of the zone files:
// zones/<zone>.zone, and zones/root.zone for the root.
const ZonesDir = "zones"

// Limits of a sandbox directory, so a mistaken file costs little.
const (
	maxServers      = 1024
	maxConfBytes    = 1 << 20
	maxZonesPerHost = 256
)

// sandbox is a loaded sandbox directory: the servers and their zones.
type sandbox struct {
	fsys    fs.FS
	servers []Server
	zones   map[string]*zone // by origin
	hints   *roothints.Hints
	anchor  []dns.RR // the root's DS records, when signing.conf signs it
}

// sandboxFS is the file system of cfg: cfg.FS, or else the directory cfg.Dir.
func sandboxFS(cfg Config) fs.FS {
	if cfg.FS != nil {
		return cfg.FS
	}
	return os.DirFS(cfg.Dir)
}

// loadSandbox reads network.conf at the top of fsys and every zone file it
// names, and signs them as signing.conf says, by the builtin signer at the
// current time.
func loadSandbox(fsys fs.FS) (*sandbox, error) {
	return loadSandboxConfig(Config{FS: fsys})
}

// loadSandboxConfig loads the sandbox of cfg and signs it by cfg's signer
// and clock.
func loadSandboxConfig(cfg Config) (*sandbox, error) {
	fsys := sandboxFS(cfg)
	f, err := fsys.Open(ConfFile)
	if err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	defer f.Close()
	servers, err := parseConf(io.LimitReader(f, maxConfBytes))
	if err != nil {
		return nil, fmt.Errorf("testnet: %s: %w", ConfFile, err)
	}
	sb := &sandbox{fsys: fsys, servers: servers, zones: map[string]*zone{}}
	for _, s := range servers {
		for _, origin := range s.Zones {
			if sb.zones[origin] != nil {
				continue
			}
			z, err := loadZone(sb.fsys, origin, sb.zonePath(origin))
			if err != nil {
				return nil, fmt.Errorf("testnet: %w", err)
			}
			sb.zones[origin] = z
		}
	}
	if sb.hints, err = sb.rootHints(); err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	if err := sb.sign(cfg); errors.Is(err, ErrLDNSNotFound) {
		return nil, ErrLDNSNotFound
	} else if err != nil {
		return nil, fmt.Errorf("testnet: %w", err)
	}
	return sb, nil
}

// zonePath is where origin's master file is in the sandbox's file system.
func (sb *sandbox) zonePath(origin string) string {
	return path.Join(ZonesDir, zoneFileName(origin))
}

// rootHints names the servers of the root zone, with the TTL of its NS set.
func (sb *sandbox) rootHints() (*roothints.Hints, error) {
	root := sb.zones["."]
	if root == nil {
		return nil, errors.New("no server serves the root zone")
	}
	h := &roothints.Hints{TTL: root.nodes["."].rrsets[dns.TypeNS][0].Header().Ttl}
	for _, s := range sb.servers {
		if slices.Contains(s.Zones, ".") {
			h.Servers = append(h.Servers, roothints.Server{Name: s.Name, Addrs: []netip.Addr{s.Addr}})
		}
	}
	return h, nil
}

// authority returns what answers as server s.
func (sb *sandbox) authority(s Server) *authority {
	a := &authority{lame: s.Mode == ModeLame, hostile: hostility{victim: s.NXNSVictim}}
	if len(s.Behaviours) > 0 {
		a.hostile.set = map[Behaviour]bool{}
		for _, b := range s.Behaviours {
			a.hostile.set[b] = true
		}
	}
	for _, origin := range s.Zones {
		a.zones = append(a.zones, sb.zones[origin])
	}
	return a
}

// parseConf reads network.conf: one server a line, "name address
// mode[,behaviour...] [zone ...]"; '#' starts a comment.
func parseConf(r io.Reader) ([]Server, error) {
	var (
		servers []Server
		names   = map[string]bool{}
		addrs   = map[netip.Addr]bool{}
	)
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		s, err := parseServer(fields)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if names[s.Name] {
			return nil, fmt.Errorf("line %d: server %s listed twice", line, s.Name)
		}
		if addrs[s.Addr] {
			return nil, fmt.Errorf("line %d: address %s used twice", line, s.Addr)
		}
		if len(servers) == maxServers {
			return nil, fmt.Errorf("line %d: more than %d servers", line, maxServers)
		}
		names[s.Name], addrs[s.Addr] = true, true
		servers = append(servers, s)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(servers) == 0 {
		return nil, errors.New("no servers")
	}
	return servers, nil
}

func parseServer(fields []string) (Server, error) {
	if len(fields) < 3 {
		return Server{}, errors.New("want: name address mode [zone ...]")
	}
	s := Server{Name: canonical(fields[0])}
	if _, ok := dns.IsDomainName(s.Name); !ok || s.Name == "." {
		return Server{}, fmt.Errorf("bad server name %q", fields[0])
	}
	addr, err := netip.ParseAddr(fields[1])
	if err != nil {
		return Server{}, fmt.Errorf("server %s: %w", s.Name, err)
	}
	// Sandbox servers live on loopback only, so nothing they are told
	// about can send a packet off this machine.
	if s.Addr = addr.Unmap(); !s.Addr.IsLoopback() || s.Addr.Zone() != "" {
		return Server{}, fmt.Errorf("server %s: address %s is not loopback", s.Name, addr)
	}
	if s.Mode, s.Behaviours, s.NXNSVictim, err = parseMode(fields[2]); err != nil {
		return Server{}, fmt.Errorf("server %s: %w", s.Name, err)
	}
	zones := fields[3:]
	switch s.Mode {
	case ModeAuth:
		if len(zones) == 0 {
			return Server{}, fmt.Errorf("server %s: auth with no zones", s.Name)
		}
	case ModeLame, ModeDead:
		if len(zones) > 0 {
			return Server{}, fmt.Errorf("server %s: a %s server serves no zones", s.Name, s.Mode)
		}
	}
	if len(zones) > maxZonesPerHost {
		return Server{}, fmt.Errorf("server %s: more than %d zones", s.Name, maxZonesPerHost)
	}
	for _, z := range zones {
		origin := canonical(z)
		if _, ok := dns.IsDomainName(origin); !ok || strings.ContainsAny(origin, `/\`) {
			return Server{}, fmt.Errorf("server %s: bad zone name %q", s.Name, z)
		}
		if slices.Contains(s.Zones, origin) {
			return Server{}, fmt.Errorf("server %s: zone %s listed twice", s.Name, origin)
		}
		s.Zones = append(s.Zones, origin)
	}
	return s, nil
}
