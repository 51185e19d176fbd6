// Package ports picks listening ports outside the kernel's ephemeral range.
//
// A socket bound to a port the kernel picked (port 0) lies in the range
// it also picks from for every other port-0 bind and every unbound
// connect. When that socket has SO_REUSEPORT, Linux lets any later
// port-0 socket of the same user that asks for SO_REUSEPORT land on the
// same port and join the group: dig does exactly that for its client
// socket. The joiner then gets a share of the server's queries, and a dig
// that lands on the server's own port and connects to it sends its query
// to itself (it reads the query back, "query response not set"). Ports
// outside the range are never picked by the kernel, so only an explicit
// bind of the same port, which SO_REUSEPORT's same-user rule already
// covers, can join.
package ports

import (
	"fmt"
	"math/rand/v2"
	"os"
)

// lowest is the first port outside the privileged range.
const lowest = 1024

// rangeFile holds the kernel's ephemeral range, for both address families.
const rangeFile = "/proc/sys/net/ipv4/ip_local_port_range"

// EphemeralRange returns the kernel's ephemeral port range, lo to hi
// inclusive; ok is false when it cannot be read (not Linux).
func EphemeralRange() (lo, hi int, ok bool) {
	b, err := os.ReadFile(rangeFile)
	if err != nil {
		return 0, 0, false
	}
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, false
	}
	return lo, hi, true
}

// OutsideEphemeral returns a random unprivileged port that the kernel
// never picks for a port-0 bind; ok is false when the range cannot be
// read or leaves no such port. The port may be in use: the caller binds
// it and tries another on EADDRINUSE.
func OutsideEphemeral() (port uint16, ok bool) {
	lo, hi, ok := EphemeralRange()
	if !ok {
		return 0, false
	}
	return pick(lo, hi, rand.IntN)
}

// pick returns a port of [lowest, lo) or (hi, 65535], uniformly, with
// intn as the source of randomness.
func pick(lo, hi int, intn func(int) int) (uint16, bool) {
	below := max(0, lo-lowest)
	above := max(0, 65535-max(hi, lowest-1))
	if below+above == 0 {
		return 0, false
	}
	n := intn(below + above)
	if n < below {
		return uint16(lowest + n), true
	}
	return uint16(max(hi, lowest-1) + 1 + n - below), true
}
