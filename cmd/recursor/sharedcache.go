package main

// The flags of the fleet's shared cache tier (package sharedcache).

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/recursor-dns/recursor/resolver"
	"github.com/recursor-dns/recursor/sharedcache"
)

// sharedFlags configure the shared cache tier.
type sharedFlags struct {
	url        string
	secret     string
	secretFile string
	timeout    time.Duration
	queue      int
}

// sharedRestartOnly are the tier's flags, which a reload keeps: the
// running tier and its connections stay.
var sharedRestartOnly = []string{"shared-cache", "shared-cache-secret", "shared-cache-secret-file", "shared-cache-timeout", "shared-cache-queue"}

func (s *sharedFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&s.url, "shared-cache", "", "a cache tier shared by a fleet through Redis or Valkey: redis://[user:password@]HOST:PORT/DB (rediss:// for TLS); read on a cache miss, written behind")
	fs.StringVar(&s.secret, "shared-cache-secret", "", "the fleet secret (at least 16 bytes) that names and seals the shared entries; --shared-cache-secret-file keeps it out of the process list")
	fs.StringVar(&s.secretFile, "shared-cache-secret-file", "", "file holding the fleet secret (surrounding white space ignored)")
	fs.DurationVar(&s.timeout, "shared-cache-timeout", sharedcache.DefaultTimeout, "deadline of a read of the shared cache; a slower Redis is a miss")
	fs.IntVar(&s.queue, "shared-cache-queue", sharedcache.DefaultQueueSize, "writes to the shared cache waiting at most; more are dropped")
}

// build returns the tier the flags describe, nil when --shared-cache is
// not given, and whether it is new (to be closed with the engine) or
// kept.
func (s *sharedFlags) build(keep resolver.SharedCache, log *slog.Logger) (resolver.SharedCache, *sharedcache.Tier, error) {
	if s.url == "" {
		if s.secret != "" || s.secretFile != "" {
			return nil, nil, fmt.Errorf("--shared-cache-secret without --shared-cache")
		}
		return nil, nil, nil
	}
	if keep != nil {
		return keep, nil, nil
	}
	if s.timeout <= 0 || s.queue < 1 {
		return nil, nil, fmt.Errorf("--shared-cache-timeout and --shared-cache-queue must be positive")
	}
	secret := []byte(s.secret)
	switch {
	case s.secret != "" && s.secretFile != "":
		return nil, nil, fmt.Errorf("--shared-cache-secret and --shared-cache-secret-file: choose one")
	case s.secretFile != "":
		b, err := os.ReadFile(s.secretFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--shared-cache-secret-file: %w", err)
		}
		secret = bytes.TrimSpace(b)
	case s.secret == "":
		return nil, nil, fmt.Errorf("--shared-cache needs the fleet secret: --shared-cache-secret-file or --shared-cache-secret")
	}
	t, err := sharedcache.New(sharedcache.Config{URL: s.url, Secret: secret, Timeout: s.timeout, QueueSize: s.queue, Logger: log})
	if err != nil {
		return nil, nil, fmt.Errorf("--shared-cache: %w", err)
	}
	log.Info("shared cache", "timeout", s.timeout)
	return t, t, nil
}
