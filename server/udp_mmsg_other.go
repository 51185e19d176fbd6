//go:build !(linux && (amd64 || arm64))

package server

import (
	"context"
	"net/netip"
)

// readUDPBatch is implemented for 64-bit Linux only; elsewhere each query
// takes its own system calls.
func (s *Server) readUDPBatch(context.Context, *udpSocket) bool { return false }

// writeRaw is implemented for 64-bit Linux only.
func writeRaw(*udpSocket, []byte, netip.AddrPort, *error) bool { return false }
