package main

// The server's identity, logs and access control flags of `recursor
// serve` (README: "Identity, logs and access control").

import (
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/pflag"

	"github.com/recursor-dns/recursor/cache"
	"github.com/recursor-dns/recursor/server"
)

// Cache is the running resolver's cache (server.CacheBackend), whose
// delegations allow_snoop clients get as referrals.
func (l *liveEngine) Cache() *cache.Cache { return l.get().Cache() }

// serverOpsFlags are the identity, log and access-control flags, in
// [server].
type serverOpsFlags struct {
	accessControl []string
	identity      string
	version       string
	nsid          string
	logFormat     string
	logServfail   bool
	user          string
	allowRoot     bool
}

func (f *serverOpsFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.accessControl, "access-control", nil, "NET=ACTION for clients in NET (CIDR or address), as Unbound's access-control; ACTION: allow (RD=0 refused), allow_snoop (RD=0 answered from the cache), refuse, deny (dropped), refuse_non_local, deny_non_local; the longest prefix wins (repeatable; default: loopback allowed, everyone else refused)")
	fs.StringVar(&f.identity, "identity", "", "answer CHAOS TXT id.server and hostname.bind with this; empty: hidden (REFUSED), as Unbound's hide-identity")
	fs.StringVar(&f.version, "version-string", "", "answer CHAOS TXT version.server and version.bind with this; empty: hidden (REFUSED), as Unbound's hide-version")
	fs.StringVar(&f.nsid, "nsid", "", "name server identifier (RFC 5001) sent to queries that ask for it: hex, or ascii_TEXT as Unbound's nsid; empty: none")
	fs.StringVar(&f.logFormat, "log-format", "text", "log lines as text (key=value) or json (one object a line)")
	fs.BoolVar(&f.logServfail, "log-servfail", false, "log every SERVFAIL at info level with its reason, as Unbound's log-servfail")
	fs.StringVar(&f.user, "user", "", "when started as root: after binding the sockets, run as this user (and its groups); empty: refuse to run as root unless --allow-root")
	fs.BoolVar(&f.allowRoot, "allow-root", false, "keep running as root when started as root without --user (not recommended: see --user, or CAP_NET_BIND_SERVICE)")
}

// logger returns the logger of every line serve writes, in the chosen
// format.
func (f *serverOpsFlags) logger(w io.Writer, level slog.Level) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch f.logFormat {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", f.logFormat)
}

// serverConfig applies the flags to cfg.
func (f *serverOpsFlags) serverConfig(cfg *server.Config) error {
	for _, v := range f.accessControl {
		r, err := server.ParseAccessRule(v)
		if err != nil {
			return fmt.Errorf("--access-control: %w", err)
		}
		cfg.AccessControl = append(cfg.AccessControl, r)
	}
	nsid, err := parseNSID(f.nsid)
	if err != nil {
		return err
	}
	cfg.Identity, cfg.Version, cfg.NSID, cfg.LogServfail = f.identity, f.version, nsid, f.logServfail
	return nil
}

// parseNSID reads --nsid: hex digits, or ascii_ and the text itself.
func parseNSID(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	if text, ok := strings.CutPrefix(s, "ascii_"); ok {
		if text == "" {
			return nil, fmt.Errorf("--nsid %q: no text after ascii_", s)
		}
		return []byte(text), nil
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("--nsid %q: want hex digits or ascii_TEXT", s)
	}
	return b, nil
}
