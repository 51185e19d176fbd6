//go:build !(linux && (amd64 || arm64))

package server

import (
	"context"
	"net/netip"
	"sync"
	"time"
)

// readUDPBatch is implemented for 64-bit Linux only; elsewhere each query
// takes its own system calls.
func (s *Server) readUDPBatch(context.Context, *udpSocket) bool { return false }

// writeRaw is implemented for 64-bit Linux only.
func writeRaw(*udpSocket, []byte, netip.AddrPort, *error) bool { return false }

// admission queues nothing here: queries start on arrival.
type admission struct{}

func (s *Server) startAdmission(context.Context, *sync.WaitGroup) {}
func (s *Server) stopAdmission(time.Time)                         {}
func (s *Server) flushAdmission(context.Context)                  {}
