package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"time"

	"github.com/spf13/pflag"

	"github.com/recursor-dns/recursor/server"
)

// transportFlags are the flags of the encrypted client transports: DNS
// over TLS, HTTPS and QUIC (server.EncryptedConfig).
type transportFlags struct {
	tlsListen      []string
	httpsListen    []string
	quicListen     []string
	tlsCert        string
	tlsKey         string
	httpsPlain     bool
	trustedProxies []string
	handshake      time.Duration
	maxStreams     int
	maxQUICConns   int

	certs *server.CertStore // loaded by apply; nil without a certificate
}

func (f *transportFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.tlsListen, "tls-listen", nil, "ADDR:PORT to serve DNS over TLS on (RFC 7858, port 853; repeatable; needs --tls-cert and --tls-key)")
	fs.StringArrayVar(&f.httpsListen, "https-listen", nil, "ADDR:PORT to serve DNS over HTTPS on (RFC 8484, port 443, path "+server.DoHPath+"; repeatable)")
	fs.StringArrayVar(&f.quicListen, "quic-listen", nil, "ADDR:PORT to serve DNS over QUIC on (RFC 9250, UDP port 853; repeatable)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate chain of the TLS, HTTPS and QUIC listeners; reloaded on SIGHUP and `recursor control reload`")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.BoolVar(&f.httpsPlain, "https-plain", false, "serve --https-listen without TLS (HTTP/1.1 and unencrypted HTTP/2), behind a proxy that terminates TLS")
	fs.StringArrayVar(&f.trustedProxies, "https-trusted-proxy", nil, "network (CIDR or address) of proxies whose Forwarded or X-Forwarded-For header names the DoH client (repeatable; default none: the headers are ignored)")
	fs.DurationVar(&f.handshake, "tls-handshake-timeout", server.DefaultTLSHandshakeTimeout, "close a TLS or QUIC connection whose handshake takes longer")
	fs.IntVar(&f.maxStreams, "max-streams-per-conn", server.DefaultMaxStreamsPerConn, "concurrent HTTP/2 and QUIC streams (queries) one connection may have open")
	fs.IntVar(&f.maxQUICConns, "max-quic-conns", server.DefaultMaxQUICConns, "open DNS over QUIC connections at most; more are closed with DOQ_EXCESSIVE_LOAD")
}

// apply checks the flags, loads the certificate and sets cfg.Encrypted.
func (f *transportFlags) apply(cfg *server.Config) error {
	proxies, err := parsePrefixes("--https-trusted-proxy", f.trustedProxies)
	if err != nil {
		return err
	}
	if f.handshake <= 0 || f.maxStreams < 1 || f.maxQUICConns < 1 {
		return errors.New("--tls-handshake-timeout must be positive, --max-streams-per-conn and --max-quic-conns at least 1")
	}
	enc := server.EncryptedConfig{
		TLSListen:           f.tlsListen,
		HTTPSListen:         f.httpsListen,
		QUICListen:          f.quicListen,
		HTTPSPlain:          f.httpsPlain,
		HTTPSTrustedProxies: proxies,
		HandshakeTimeout:    f.handshake,
		MaxStreamsPerConn:   f.maxStreams,
		MaxQUICConns:        f.maxQUICConns,
	}
	needs := len(f.tlsListen) > 0 || len(f.quicListen) > 0 || (len(f.httpsListen) > 0 && !f.httpsPlain)
	switch {
	case (f.tlsCert == "") != (f.tlsKey == ""):
		return errors.New("--tls-cert and --tls-key go together")
	case needs && f.tlsCert == "":
		return errors.New("--tls-listen, --quic-listen and --https-listen (without --https-plain) need --tls-cert and --tls-key")
	case f.tlsCert != "":
		if f.certs, err = server.LoadCertStore(f.tlsCert, f.tlsKey); err != nil {
			return fmt.Errorf("--tls-cert: %w", err)
		}
		enc.GetCertificate = f.certs.GetCertificate
	}
	cfg.Encrypted = enc
	return nil
}

// reloadCertificate reads --tls-cert and --tls-key again: new handshakes
// get the new certificate, open connections go on. It reports whether
// there is a certificate to reload; on an error the old one stays.
func (f *transportFlags) reloadCertificate(w io.Writer, log *slog.Logger) (bool, error) {
	if f.certs == nil {
		return false, nil
	}
	if err := f.certs.Reload(); err != nil {
		return true, fmt.Errorf("certificate not reloaded, the old one stays: %w", err)
	}
	log.Info("certificate reloaded", "cert", f.tlsCert)
	_, err := fmt.Fprintf(w, "reloaded certificate %s\n", f.tlsCert)
	return true, err
}

// parsePrefixes reads a list flag of CIDR prefixes or addresses.
func parsePrefixes(flag string, vals []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range vals {
		p, err := parsePrefixOrAddr(v)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", flag, v, err)
		}
		out = append(out, p)
	}
	return out, nil
}
