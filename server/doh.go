package server

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// DoHPath is the one path DNS over HTTPS is served on (RFC 8484 4.1's
// example, which every client defaults to).
const DoHPath = "/dns-query"

// dohContentType is the media type of DNS messages (RFC 8484 6).
const dohContentType = "application/dns-message"

// dohMaxHeaderBytes caps a request's headers; a GET query of 65535 bytes
// in base64url fits.
const dohMaxHeaderBytes = 96 << 10

// newHTTPServer is the DoH server of one listener: HTTP/2 and HTTP/1.1,
// over TLS or, with HTTPSPlain, without (unencrypted HTTP/2 included).
func (s *Server) newHTTPServer(queryCtx context.Context) *http.Server {
	e := &s.cfg.Encrypted
	mux := http.NewServeMux()
	mux.HandleFunc(DoHPath, s.serveDoH)
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	if e.HTTPSPlain {
		protocols.SetUnencryptedHTTP2(true)
	} else {
		protocols.SetHTTP2(true)
	}
	srv := &http.Server{
		Handler:           mux,
		Protocols:         &protocols,
		ReadHeaderTimeout: e.HandshakeTimeout, // also bounds the TLS handshake
		IdleTimeout:       s.cfg.TCPIdleTimeout,
		WriteTimeout:      s.cfg.QueryTimeout + s.cfg.TCPIdleTimeout,
		MaxHeaderBytes:    dohMaxHeaderBytes,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: e.MaxStreamsPerConn},
		BaseContext:       func(net.Listener) context.Context { return queryCtx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug), // handshake failures and the like
	}
	if !e.HTTPSPlain {
		srv.TLSConfig = s.tlsConfig()
	}
	return srv
}

// serveHTTP serves DoH on l until the server shuts down.
func (s *Server) serveHTTP(srv *http.Server, l net.Listener) {
	var err error
	if srv.TLSConfig != nil {
		err = srv.ServeTLS(l, "", "")
	} else {
		err = srv.Serve(l)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Error("https listener", "addr", l.Addr(), "err", err)
	}
}

// serveDoH answers one DoH request through the common path, as a query
// over TCP (no truncation) from the request's client.
func (s *Server) serveDoH(w http.ResponseWriter, r *http.Request) {
	query, status := dohQuery(r)
	if status != http.StatusOK {
		if status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", "GET, POST")
		}
		http.Error(w, http.StatusText(status), status)
		return
	}
	client, ok := s.dohClient(r)
	if !ok {
		http.Error(w, "no client address", http.StatusBadRequest)
		return
	}
	answer := s.handlePacket(r.Context(), query, client, TransportDoH, nil)
	if answer == nil && !queryShaped(query) {
		// A response sent to us, or fewer bytes than a header.
		http.Error(w, "not a DNS query", http.StatusBadRequest)
		return
	}
	if answer == nil {
		// Dropped (a denied client, a deny local zone, the policy's
		// DROP): no answer at all, so the stream is reset unanswered.
		panic(http.ErrAbortHandler)
	}
	answer = s.streamOptionsDoH(query, answer)
	h := w.Header()
	h.Set("Content-Type", dohContentType)
	h.Set("Content-Length", strconv.Itoa(len(answer)))
	if ttl, ok := minTTL(answer); ok {
		h.Set("Cache-Control", "max-age="+strconv.FormatUint(uint64(ttl), 10))
	}
	_, _ = w.Write(answer)
}

// streamOptionsDoH pads the answer of a padded query. HTTP has its own
// keepalive, so edns-tcp-keepalive is not answered.
func (s *Server) streamOptionsDoH(query, answer []byte) []byte {
	if padded, _ := queryOptions(query); padded {
		return padAnswer(answer)
	}
	return answer
}

// dohQuery reads the DNS query of a DoH request (RFC 8484 4.1): the dns
// parameter of a GET, base64url without padding, or the body of a POST
// of type application/dns-message. status is http.StatusOK, or the
// error status to answer.
func dohQuery(r *http.Request) (query []byte, status int) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		values, ok := r.URL.Query()["dns"]
		if !ok || len(values) != 1 {
			return nil, http.StatusBadRequest
		}
		// Clients must not pad, but some do: accept both.
		v := strings.TrimRight(values[0], "=")
		if base64.RawURLEncoding.DecodedLen(len(v)) > dns.MaxMsgSize {
			return nil, http.StatusRequestURITooLong
		}
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil {
			return nil, http.StatusBadRequest
		}
		query = b
	case http.MethodPost:
		ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
		if !strings.EqualFold(strings.TrimSpace(ct), dohContentType) {
			return nil, http.StatusUnsupportedMediaType
		}
		b, err := io.ReadAll(io.LimitReader(r.Body, dns.MaxMsgSize+1))
		if err != nil {
			return nil, http.StatusBadRequest
		}
		if len(b) > dns.MaxMsgSize {
			return nil, http.StatusRequestEntityTooLarge
		}
		query = b
	default:
		return nil, http.StatusMethodNotAllowed
	}
	if len(query) < headerLen {
		return nil, http.StatusBadRequest
	}
	return query, http.StatusOK
}

// dohClient is the client of r: the peer, or, when the peer is a trusted
// proxy, the address its Forwarded or X-Forwarded-For header names.
func (s *Server) dohClient(r *http.Request) (netip.AddrPort, bool) {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.AddrPort{}, false
	}
	peer = netip.AddrPortFrom(peer.Addr().Unmap().WithZone(""), peer.Port())
	trusted := s.cfg.Encrypted.HTTPSTrustedProxies
	if !inPrefixes(trusted, peer.Addr()) {
		return peer, true
	}
	if a, ok := forwardedClient(r.Header, trusted); ok {
		return netip.AddrPortFrom(a, 0), true
	}
	return peer, true
}

// forwardedClient reads the client of a request that came through
// trusted proxies: the right-most address of the Forwarded (RFC 7239)
// or, without it, the X-Forwarded-For header that is not itself a
// trusted proxy. Addresses left of it were written by the client and
// cannot be believed.
func forwardedClient(h http.Header, trusted []netip.Prefix) (netip.Addr, bool) {
	hops := forwardedFor(h.Values("Forwarded"))
	if len(hops) == 0 {
		for _, v := range h.Values("X-Forwarded-For") {
			for _, f := range strings.Split(v, ",") {
				hops = append(hops, strings.TrimSpace(f))
			}
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			return netip.Addr{}, false
		}
		if !inPrefixes(trusted, a) {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// forwardedFor returns the for= values of Forwarded headers, in order.
func forwardedFor(values []string) []string {
	var out []string
	for _, v := range values {
		for _, elem := range strings.Split(v, ",") {
			for _, pair := range strings.Split(elem, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(k, "for") {
					out = append(out, strings.Trim(val, `"`))
				}
			}
		}
	}
	return out
}

// parseHop reads one proxy hop: an address, with or without a port,
// IPv6 in brackets when it has one.
func parseHop(v string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(v); err == nil {
		return ap.Addr().Unmap(), true
	}
	v = strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")
	a, err := netip.ParseAddr(v)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func inPrefixes(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// queryShaped reports whether msg has a full header with QR clear: a query
// the server would answer or drop, not a response or a fragment.
func queryShaped(msg []byte) bool {
	return len(msg) >= 12 && msg[2]&0x80 == 0
}
