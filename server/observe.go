package server

// Observation hooks: the counts and the client messages the server hands
// to whoever watches it (package metrics, package tap). The server imports
// neither: Config takes interfaces, and nil turns each off. Totals that
// the server keeps anyway (Stats: cache hits, queries resolved, dropped,
// in flight) are read at scrape time instead of being pushed per query.

import (
	"net/netip"
	"slices"
	"time"
)

// Metrics receives a count for every answered client query. Query is
// called on the cache-hit path, from every listener goroutine: it must be
// cheap (atomic adds into counters resolved in advance) and never block.
type Metrics interface {
	Query(e QueryEvent)
}

// QueryEvent is one answered client query.
type QueryEvent struct {
	TCP       bool      // over a stream: Transport is not UDP
	Transport Transport // how the query came
	Cached    bool      // answered without waiting for the engine
	Qtype     uint16    // 0 when the query had no usable question
	Rcode     int
	// EDE is the Extended DNS Error code the answer carries, -1 for none.
	EDE int
	// Security is the DNSSEC verdict (a dnssec.Status) of an answer
	// repeated from the server's ready-packed answers, which the engine
	// never sees; -1 when the engine built the answer and counted it
	// (resolver.Metrics.Answer).
	Security int
	Duration time.Duration // from reading the query to the answer packed
	// Client is who asked. Metrics stripe their counters by its port: a
	// client's queries come to one socket, read on one core.
	Client netip.AddrPort
}

// Tap receives client queries and their answers in wire format, for
// dnstap. It is called synchronously on the query path, cache hits
// included, and must not block; query and resp are the server's buffers,
// to be copied (or dropped) before it returns.
type Tap interface {
	// Client logs a query received at received from client and resp, the
	// answer sent for it now (nil when it got none).
	Client(client netip.AddrPort, via Transport, query, resp []byte, received time.Time)
}

// tapNow is the receive time of a query when a tap logs queries; the zero
// time (and no clock read) otherwise.
func (s *Server) tapNow() time.Time {
	if s.tap == nil {
		return time.Time{}
	}
	return time.Now()
}

// tapClient logs query and resp to the tap, if any.
func (s *Server) tapClient(client netip.AddrPort, via Transport, query, resp []byte, received time.Time) {
	if s.tap != nil {
		s.tap.Client(client, via, query, resp, received)
	}
}

// keepWire returns a copy of query for a tap to log once its answer is
// resolved (the reader reuses its buffer meanwhile); nil without a tap.
func (s *Server) keepWire(query []byte) []byte {
	if s.tap == nil {
		return nil
	}
	return slices.Clone(query)
}

// countQuery tells the metrics, if any, of q's answer resp.
func (s *Server) countQuery(q *query, rcode int, cached bool) {
	if s.metrics == nil {
		return
	}
	e := QueryEvent{TCP: q.tcp, Transport: q.via, Cached: cached, Rcode: rcode, EDE: -1, Security: -1, Duration: time.Since(q.start), Client: q.client}
	if len(q.req.Question) == 1 {
		e.Qtype = q.req.Question[0].Qtype
	}
	if q.ede != nil {
		e.EDE = int(q.ede.InfoCode)
	}
	s.metrics.Query(e)
}
