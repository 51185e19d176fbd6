package main

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/spf13/pflag"

	"github.com/recursor-dns/recursor/metrics"
	"github.com/recursor-dns/recursor/resolver"
	"github.com/recursor-dns/recursor/rpz"
)

// rpzFlags are the response policy zone (blocklist) flags of the engine.
type rpzFlags struct {
	zones []string
	log   bool
	// flush drops the server's ready-packed answers when a policy
	// changes by transfer (a name just blocked must not be answered from
	// them): serve sets it once the server exists; a reload keeps it.
	flush *atomic.Pointer[func() int]
	// prev: the running policy a reload replaces (its transferred zones
	// serve until the new Set's first transfers).
	prev resolver.Policy
}

func (f *rpzFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.zones, "rpz", nil, "response policy zone (RPZ blocklist): NAME=file:PATH, or NAME=axfr:ADDR[:PORT] to transfer it from a primary and follow its SOA refresh (repeatable; the first zone that matches decides)")
	fs.BoolVar(&f.log, "rpz-log", true, "log one line per RPZ hit: policy, trigger, action, name and client")
}

// policy builds the policy zones the flags name; nil when none.
func (f *rpzFlags) policy(log *slog.Logger, m resolver.Metrics) (resolver.Policy, error) {
	if len(f.zones) == 0 {
		return nil, nil
	}
	cfg := rpz.Config{Logger: log, Quiet: !f.log}
	cfg.Previous, _ = f.prev.(*rpz.Set)
	for _, spec := range f.zones {
		src, err := rpz.ParseSource(spec)
		if err != nil {
			return nil, fmt.Errorf("--%w", err)
		}
		cfg.Zones = append(cfg.Zones, src)
	}
	if reg, ok := m.(*metrics.Registry); ok {
		cfg.Hit = reg.PolicyHits()
	}
	if f.flush == nil {
		f.flush = new(atomic.Pointer[func() int])
	}
	flush := f.flush
	var mu sync.Mutex
	serials := map[string]uint32{}
	cfg.Loaded = func(name string, serial uint32, err error) {
		mu.Lock()
		changed := err == nil && serials[name] != serial
		serials[name] = serial
		mu.Unlock()
		if fn := flush.Load(); fn != nil && changed {
			(*fn)()
		}
	}
	set, err := rpz.New(cfg)
	if err != nil {
		return nil, err
	}
	return set, nil
}

// notify has the policy's changes flush the server's ready-packed answers.
func (f *rpzFlags) notify(flushAnswers func() int) {
	if f.flush == nil {
		f.flush = new(atomic.Pointer[func() int])
	}
	f.flush.Store(&flushAnswers)
}
