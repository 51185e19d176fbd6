package server

// Transport is how a client query reached the server: it names the
// protocol in the query log, the metrics and dnstap.
type Transport uint8

const (
	TransportUDP Transport = iota // plain DNS over UDP
	TransportTCP                  // plain DNS over TCP
	TransportDoT                  // DNS over TLS (RFC 7858)
	TransportDoH                  // DNS over HTTPS (RFC 8484)
	TransportDoQ                  // DNS over QUIC (RFC 9250)
	numTransports
)

// NumTransports is the number of Transport values, for tables indexed by
// them.
const NumTransports = int(numTransports)

var transportNames = [numTransports]string{"udp", "tcp", "dot", "doh", "doq"}

// String is the transport's name as the query log and the metrics label
// spell it: udp, tcp, dot, doh or doq.
func (t Transport) String() string {
	if t < numTransports {
		return transportNames[t]
	}
	return "unknown"
}

// Stream reports whether the transport carries whole messages with no
// size limit of its own (no truncation, no UDP rate limit): all but UDP.
func (t Transport) Stream() bool { return t != TransportUDP }

// transportOf is the plain transport a tcp flag of the public API names.
func transportOf(tcp bool) Transport {
	if tcp {
		return TransportTCP
	}
	return TransportUDP
}
