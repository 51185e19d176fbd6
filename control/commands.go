package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/internal/dnsname"
	"github.com/recursor-dns/recursor/resolver"
)

// command is one control command: its arguments' shape and what it does.
type command struct {
	usage   string // arguments, for help and errors
	help    string
	minArgs int
	maxArgs int
	run     func(s *Server, ctx context.Context, w io.Writer, args []string, body io.Reader) error
}

// commands are the control commands by name.
var commands = map[string]command{
	"stats": {"", "print the server's counters", 0, 0, (*Server).stats},
	"flush": {"NAME [TYPE]", "drop NAME's cache entries (of TYPE, or of every type)", 1, 2, (*Server).flush},
	"flush-zone": {"ZONE", "drop everything cached at or below ZONE, its keys and delegation data", 1, 1,
		func(s *Server, _ context.Context, w io.Writer, a []string, _ io.Reader) error {
			zone, err := canonical(a[0])
			if err != nil {
				return err
			}
			return s.flushed(w, s.engine().FlushZone(zone), "at or below "+zone)
		}},
	"flush-negative": {"", "drop every NXDOMAIN and NODATA entry", 0, 0,
		func(s *Server, _ context.Context, w io.Writer, _ []string, _ io.Reader) error {
			return s.flushed(w, s.engine().FlushNegative(), "negative")
		}},
	"flush-bogus": {"", "drop every entry that failed DNSSEC validation", 0, 0,
		func(s *Server, _ context.Context, w io.Writer, _ []string, _ io.Reader) error {
			return s.flushed(w, s.engine().FlushBogus(), "bogus")
		}},
	"flush-infra":     {"[ADDR|all]", "forget the RTT and state of a server address (or of all)", 0, 1, (*Server).flushInfra},
	"lookup":          {"NAME", "show what the cache holds for NAME and the servers of its closest zone cut", 1, 1, (*Server).lookup},
	"dump-cache":      {"FILE", "write the cache to FILE (the client writes it)", 1, 1, (*Server).dumpCache},
	"load-cache":      {"FILE", "load the cache file FILE (the client reads it)", 1, 1, (*Server).loadCache},
	"insecure-add":    {"ZONE", "add a negative trust anchor: do not validate ZONE and below", 1, 1, (*Server).insecureAdd},
	"insecure-remove": {"ZONE", "remove a negative trust anchor", 1, 1, (*Server).insecureRemove},
	"insecure-list": {"", "list the negative trust anchors", 0, 0,
		func(s *Server, _ context.Context, w io.Writer, _ []string, _ io.Reader) error {
			for _, z := range s.engine().NegativeTrustAnchors() {
				fmt.Fprintln(w, z)
			}
			return nil
		}},
	"reload": {"", "re-read the config file, keeping the cache (as SIGHUP)", 0, 0, (*Server).reload},
	"trace":  {"NAME [TYPE]", "resolve NAME in the running server and print every upstream exchange", 1, 2, (*Server).trace},
}

// Help writes the list of commands.
func Help(w io.Writer) error {
	names := []string{}
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := commands[n]
		fmt.Fprintf(w, "  %-28s %s\n", strings.TrimSpace(n+" "+c.usage), c.help)
	}
	_, err := fmt.Fprintf(w, "  %-28s %s\n", "help", "list the commands")
	return err
}

// canonical checks a name from the command line and makes it canonical.
func canonical(name string) (string, error) {
	if _, ok := dns.IsDomainName(name); !ok || strings.Contains(name, "..") {
		return "", fmt.Errorf("%q is not a domain name", name)
	}
	c, err := dnsname.Canonical(name)
	if err != nil {
		return "", fmt.Errorf("%q is not a domain name", name)
	}
	return c, nil
}

// parseType reads a type mnemonic (A, aaaa) or TYPEnnn.
func parseType(s string) (uint16, error) {
	u := strings.ToUpper(s)
	if t, ok := dns.StringToType[u]; ok && t != dns.TypeNone {
		return t, nil
	}
	if n, ok := strings.CutPrefix(u, "TYPE"); ok {
		if v, err := strconv.ParseUint(n, 10, 16); err == nil && v != 0 {
			return uint16(v), nil
		}
	}
	return 0, fmt.Errorf("%q is not a record type", s)
}

func (s *Server) flushed(w io.Writer, n int, what string) error {
	s.afterChange()
	_, err := fmt.Fprintf(w, "flushed %d cache entries %s\n", n, what)
	return err
}

func (s *Server) stats(_ context.Context, w io.Writer, _ []string, _ io.Reader) error {
	if s.cfg.Stats == nil {
		return errors.New("no statistics in this server")
	}
	return s.cfg.Stats(w)
}

func (s *Server) flush(_ context.Context, w io.Writer, args []string, _ io.Reader) error {
	name, err := canonical(args[0])
	if err != nil {
		return err
	}
	var qtype uint16
	what := name
	if len(args) == 2 {
		if qtype, err = parseType(args[1]); err != nil {
			return err
		}
		what += " " + dns.Type(qtype).String()
	}
	return s.flushed(w, s.engine().FlushName(name, qtype), "of "+what)
}

func (s *Server) flushInfra(_ context.Context, w io.Writer, args []string, _ io.Reader) error {
	var addr netip.Addr
	if len(args) == 1 && args[0] != "all" {
		a, err := netip.ParseAddr(args[0])
		if err != nil {
			return fmt.Errorf("%q is not an IP address (or all)", args[0])
		}
		addr = a
	}
	n := s.engine().FlushInfra(addr)
	s.afterChange()
	_, err := fmt.Fprintf(w, "forgot %d server addresses\n", n)
	return err
}

func (s *Server) lookup(_ context.Context, w io.Writer, args []string, _ io.Reader) error {
	name, err := canonical(args[0])
	if err != nil {
		return err
	}
	r := s.engine()
	entries := r.Cache().Entries(name)
	if len(entries) == 0 {
		fmt.Fprintf(w, "%s: nothing cached\n", name)
	}
	for _, e := range entries {
		writeEntry(w, name, e)
	}
	cut, err := r.Lookup(name)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "zone cut %s (from the %s), servers:\n", cut.Zone, cut.Source)
	now := time.Now()
	for _, st := range cut.Servers {
		fmt.Fprintf(w, "  %s\n", serverLine(st, now))
	}
	return nil
}

// writeEntry prints one cache entry: a line of status, then its records.
func writeEntry(w io.Writer, name string, e cache.Entry) {
	kind := "positive"
	switch e.Negative {
	case cache.NXDomain:
		kind = "NXDOMAIN"
	case cache.NoData:
		kind = "NODATA"
	}
	status := fmt.Sprintf("%s, ttl %d, rank %s, %s", kind, e.TTL, e.Rank, e.Security)
	if e.EDE != 0 {
		status += fmt.Sprintf(", EDE %d", e.EDE)
	}
	fmt.Fprintf(w, ";; %s %s\n", name, status)
	for _, rrs := range [][]dns.RR{e.RRs, e.Sigs, e.Proof} {
		for _, rr := range rrs {
			fmt.Fprintln(w, rr.String())
		}
	}
	if e.SOA != nil {
		fmt.Fprintln(w, e.SOA.String())
	}
}

func serverLine(st resolver.ServerState, now time.Time) string {
	if !st.Addr.IsValid() {
		return st.NSName + " (no address cached)"
	}
	line := fmt.Sprintf("%s %s", st.NSName, st.Addr)
	if !st.Known {
		return line + " not queried lately (timeout " + st.Timeout.String() + ")"
	}
	state := "ok"
	switch {
	case !st.HeldUntil.IsZero():
		state = fmt.Sprintf("held for %s (failed %d times in a row)", st.HeldUntil.Sub(now).Round(time.Second), st.Failures)
	case !st.PassedOverUntil.IsZero():
		state = fmt.Sprintf("passed over for this zone for %s (lame, refused or failing)", st.PassedOverUntil.Sub(now).Round(time.Second))
	case st.Failures > 0:
		state = fmt.Sprintf("%d failures in a row", st.Failures)
	}
	line += fmt.Sprintf(" rtt %s timeout %s %s", st.SRTT.Round(time.Microsecond*100), st.Timeout, state)
	if st.NoEDNS {
		line += ", no EDNS"
	}
	if st.No0x20 {
		line += ", no 0x20"
	}
	return line
}

func (s *Server) dumpCache(_ context.Context, w io.Writer, _ []string, _ io.Reader) error {
	return s.engine().Cache().Dump(w)
}

func (s *Server) loadCache(_ context.Context, w io.Writer, _ []string, body io.Reader) error {
	n, err := s.engine().Cache().Load(body)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "loaded %d cache entries\n", n)
	return err
}

func (s *Server) insecureAdd(_ context.Context, w io.Writer, args []string, _ io.Reader) error {
	zone, err := canonical(args[0])
	if err != nil {
		return err
	}
	if err := s.engine().AddNegativeTrustAnchor(zone); err != nil {
		return err
	}
	s.afterChange()
	_, err = fmt.Fprintf(w, "%s is not validated until insecure-remove, a reload or a restart\n", zone)
	return err
}

func (s *Server) insecureRemove(_ context.Context, w io.Writer, args []string, _ io.Reader) error {
	zone, err := canonical(args[0])
	if err != nil {
		return err
	}
	ok, err := s.engine().RemoveNegativeTrustAnchor(zone)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s is not a negative trust anchor", zone)
	}
	s.afterChange()
	_, err = fmt.Fprintf(w, "%s is validated again\n", zone)
	return err
}

func (s *Server) reload(_ context.Context, w io.Writer, _ []string, _ io.Reader) error {
	if s.cfg.Reload == nil {
		return errors.New("this server has no config to reload")
	}
	if err := s.cfg.Reload(w); err != nil {
		return err
	}
	s.afterChange()
	return nil
}

func (s *Server) trace(ctx context.Context, w io.Writer, args []string, _ io.Reader) error {
	name, err := canonical(args[0])
	if err != nil {
		return err
	}
	qtype := dns.TypeA
	if len(args) == 2 {
		if qtype, err = parseType(args[1]); err != nil {
			return err
		}
	}
	if s.cfg.Trace == nil {
		return errors.New("this server cannot trace")
	}
	return s.cfg.Trace(ctx, w, name, qtype)
}
