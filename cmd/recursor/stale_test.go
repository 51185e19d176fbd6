package main

import (
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/recursor-dns/recursor/resolver"
)

// TestStaleFlags: the serve-stale and prefetch flags and their defaults
// map onto the resolver's Config; a client timeout of 0 is "at once".
func TestStaleFlags(t *testing.T) {
	tests := []struct {
		args     []string
		want     resolver.StaleConfig
		prefetch bool
		err      bool
	}{
		{nil, resolver.StaleConfig{ClientTimeout: resolver.DefaultStaleClientTimeout, ReplyTTL: resolver.DefaultStaleReplyTTL, MaxAge: resolver.DefaultStaleMaxAge}, true, false},
		{[]string{"--serve-stale=false", "--prefetch=false"}, resolver.StaleConfig{Disable: true, ClientTimeout: resolver.DefaultStaleClientTimeout, ReplyTTL: resolver.DefaultStaleReplyTTL, MaxAge: resolver.DefaultStaleMaxAge}, false, false},
		{[]string{"--serve-expired-client-timeout=0", "--serve-expired-reply-ttl=123s", "--serve-expired-ttl=10s"}, resolver.StaleConfig{ClientTimeout: -1, ReplyTTL: 123 * time.Second, MaxAge: 10 * time.Second}, true, false},
		{[]string{"--serve-expired-ttl=-1s"}, resolver.StaleConfig{}, false, true},
		{[]string{"--serve-expired-reply-ttl=500ms"}, resolver.StaleConfig{}, false, true},
	}
	for _, tc := range tests {
		var f engineFlags
		fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
		f.register(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		sc, pc, err := f.staleConfig()
		if (err != nil) != tc.err {
			t.Errorf("%q: error %v, want error %v", tc.args, err, tc.err)
			continue
		}
		if err == nil && (sc != tc.want || pc.Disable == tc.prefetch) {
			t.Errorf("%q: %+v, prefetch %v; want %+v, %v", tc.args, sc, !pc.Disable, tc.want, tc.prefetch)
		}
	}
}
