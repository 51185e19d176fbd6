//go:build !(linux && (amd64 || arm64))

package resolver

import (
	"errors"
	"net/netip"
)

// rawUDP says openUDP is implemented here: on 64-bit Linux only; elsewhere
// upstream UDP goes through net.Dialer.
const rawUDP = false

func openUDP(netip.AddrPort) (exchangeConn, error) {
	return nil, errors.New("raw UDP sockets are implemented on Linux only")
}
