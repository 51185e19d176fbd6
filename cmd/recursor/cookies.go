package main

// DNS cookie flags (RFC 7873, RFC 9018): the server's (answering cookies,
// the secret and its rotation, the rate limit that valid cookies bypass)
// and the engine's (sending cookies upstream).

import (
	"fmt"
	"log/slog"

	"github.com/spf13/pflag"

	"github.com/recursor-dns/recursor/cookie"
	"github.com/recursor-dns/recursor/server"
)

// cookieFlags are the server's cookie flags.
type cookieFlags struct {
	answer     bool
	secret     string
	previous   string
	requireUDP int

	// What the server runs with, kept for a reload: the secret (random
	// when --cookie-secret is unset) and the previous one (nil: none).
	running, runningPrevious *cookie.Key
}

// reloadableCookieFlags are the server flags a reload applies: the
// secrets rotate without a restart.
var reloadableCookieFlags = []string{"cookie-secret", "cookie-secret-previous"}

func (c *cookieFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&c.answer, "answer-cookie", true, "answer DNS cookies (RFC 7873) with an RFC 9018 server cookie; false ignores them")
	fs.StringVar(&c.secret, "cookie-secret", "", "secret of the server cookies, 32 hex digits (16 bytes), the same on every server of an anycast address; empty: random at start (a reload keeps it)")
	fs.StringVar(&c.previous, "cookie-secret-previous", "", "a previous --cookie-secret still accepted, for a rotation (a reload that changes --cookie-secret keeps the old one accepted unless this is set)")
	fs.IntVar(&c.requireUDP, "require-cookie-udp", 0, "past this many UDP queries a second from one /24 (IPv4) or /56 (IPv6) network, queries without a valid server cookie get BADCOOKIE with a fresh cookie, or TC=1 without any cookie; 0: off")
}

// parse reads the secrets: current is nil when --cookie-secret is unset.
func (c *cookieFlags) parse() (current, previous *cookie.Key, err error) {
	if c.secret != "" {
		k, err := cookie.ParseKey(c.secret)
		if err != nil {
			return nil, nil, fmt.Errorf("--cookie-secret: %w", err)
		}
		current = &k
	}
	if c.previous != "" {
		k, err := cookie.ParseKey(c.previous)
		if err != nil {
			return nil, nil, fmt.Errorf("--cookie-secret-previous: %w", err)
		}
		previous = &k
	}
	return current, previous, nil
}

// apply sets the cookie fields of cfg.
func (c *cookieFlags) apply(cfg *server.Config) error {
	if c.requireUDP < 0 {
		return fmt.Errorf("--require-cookie-udp %d: want 0 (off) or a rate", c.requireUDP)
	}
	current, previous, err := c.parse()
	if err != nil {
		return err
	}
	if current == nil {
		k := cookie.RandomKey()
		current = &k
	}
	c.running, c.runningPrevious = current, previous
	cfg.NoCookies = !c.answer
	cfg.CookieSecret, cfg.CookiePreviousSecret = current, previous
	cfg.CookieRateLimit = c.requireUDP
	return nil
}

// reloaded reads next, the cookie flags of a reload, and returns what
// puts its secrets in place: a changed --cookie-secret becomes current
// with the running one as previous (unless --cookie-secret-previous says
// otherwise); an unset one keeps the running secret.
func (c *cookieFlags) reloaded(next *cookieFlags, log *slog.Logger) (apply func(*server.Server), err error) {
	current, previous, err := next.parse()
	if err != nil {
		return nil, err
	}
	if c.running == nil { // not serving (tests of the flags alone)
		return func(*server.Server) {}, nil
	}
	switch {
	case current == nil:
		current = c.running
		if previous == nil {
			previous = c.runningPrevious
		}
	case *current != *c.running && previous == nil:
		previous = c.running
	}
	return func(srv *server.Server) {
		if *current != *c.running {
			log.Info("cookie secret rotated; the previous one is still accepted", "previous_kept", previous != nil)
		}
		c.running, c.runningPrevious = current, previous
		srv.SetCookieSecrets(*current, previous)
	}, nil
}

// registerCookies registers the engine's cookie flag (BIND's send-cookie).
func (f *engineFlags) registerCookies(fs *pflag.FlagSet) {
	fs.BoolVar(&f.sendCookie, "send-cookie", true, "send DNS cookies (RFC 7873) to authoritative servers, and drop UDP replies that echo another client cookie")
}
