// Package recursor holds the built-in sandbox: the zone tree of
// testdata/sandbox, embedded so that `recursor resolve --sandbox` and
// `recursor serve --sandbox` work offline from any directory. The resolver
// itself lives in package resolver.
package recursor

import "embed"

// Sandbox is the testdata/sandbox directory: network.conf and zone files
// for the loopback testnet.
//
//go:embed testdata/sandbox
var Sandbox embed.FS
