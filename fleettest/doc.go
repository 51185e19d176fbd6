// Package fleettest runs a real fleet in a test: Debian's redis-server as
// the shared cache tier, dnsdist as the load balancer, and two `recursor
// serve` processes behind it that share the tier, all on loopback high
// ports over the in-process testnet (which counts upstream queries). It
// holds tests only; they skip when redis-server or dnsdist is absent.
package fleettest
