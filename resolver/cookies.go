package resolver

// DNS cookies, the client side (RFC 7873 section 5.3, RFC 9018): every
// EDNS query carries our client cookie for the server's address and the
// server cookie it gave last (cookie.Jar). A reply whose COOKIE option
// does not echo our client cookie is a spoof: NetTransport drops it and
// keeps waiting on the same socket for the real one, until the timeout.
// A UDP reply without a cookie from a server that gave us one is a spoof
// suspect, fetched again over TCP (as BIND does); over TCP, a reply
// without one says the server stopped, and its cookie is forgotten. A
// server that never answers with a cookie does not support them, and is
// queried as before. BADCOOKIE is answered by one retry with the fresh
// server cookie it carries.

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unsafe"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cookie"
)

var (
	// errCookieMismatch: the reply's COOKIE option does not start with
	// the client cookie we sent.
	errCookieMismatch = fmt.Errorf("%w: it echoes another client cookie", errMismatch)
	// errCookieMissing: a reply without a cookie from a server that gave
	// us one before.
	errCookieMissing = fmt.Errorf("%w: no cookie from a server that sends them", errSpoofSuspect)
)

func newCookieJar(cfg Config) *cookie.Jar {
	if cfg.DisableCookies {
		return nil
	}
	return cookie.NewJar(cfg.Now, 0)
}

// exchangeCookies is exchangeVia with cookies: uq's message, when it has
// EDNS, gets our COOKIE option for server; the server cookie of the reply
// is kept; BADCOOKIE is retried once with the cookie it brought. now is
// r.now() read for this exchange: the jar's clock is r's.
func (r *Resolver) exchangeCookies(ctx context.Context, t Transport, uq *upstreamQuery, server netip.AddrPort, timeout time.Duration, now time.Time) (resp *dns.Msg, rtt time.Duration, tcp bool, err error) {
	m := &uq.msg
	opt := m.IsEdns0()
	if r.cookies == nil || opt == nil {
		return exchangeVia(ctx, t, m, server, timeout)
	}
	for retried := false; ; retried = true {
		var buf [cookie.ClientLen + cookie.MaxServerLen]byte
		var sent []byte
		co := &uq.cookie
		if !retried {
			sent = r.cookies.OptionAt(buf[:0], server.Addr(), now)
		} else {
			// A fresh reading, and a fresh option: the first one's
			// text is never written again.
			sent, co = r.cookies.Option(buf[:0], server.Addr()), new(cookieOption)
		}
		setCookie(opt, co, sent)
		resp, rtt, tcp, err = exchangeVia(ctx, t, m, server, timeout)
		if err != nil {
			return resp, rtt, tcp, err
		}
		// NetTransport checked it; other transports may not have.
		if err := checkCookie(m, resp); errors.Is(err, errCookieMismatch) {
			return nil, rtt, tcp, err
		}
		got, ok := cookieHex(resp)
		if !ok {
			if len(sent) > cookie.ClientLen {
				// It gave us one: it stopped. Sent none, there was
				// none to forget (the jar's lock taken once).
				r.cookies.Forget(server.Addr())
			}
			return resp, rtt, tcp, nil
		}
		if len(got) <= 2*len(buf) {
			if n, err := hex.Decode(buf[:], []byte(got)); err == nil {
				r.cookies.Learn(server.Addr(), buf[:n]) // Learn checks the layout
			}
		}
		if resp.Rcode != dns.RcodeBadCookie || retried {
			return resp, rtt, tcp, nil
		}
		m.Id = dns.Id()
	}
}

// cookieOption is a COOKIE option with its hex text and, for an OPT
// without options, the one-element Option slice: one allocation where
// there were three (none of its own in an upstreamQuery).
type cookieOption struct {
	c    dns.EDNS0_COOKIE
	opts [1]dns.EDNS0
	hex  [2 * (cookie.ClientLen + cookie.ServerLen)]byte // longer ones: EncodeToString
}

// setCookie puts data in opt as its COOKIE option, in place of any. co,
// zero and used for nothing else, holds the option.
func setCookie(opt *dns.OPT, co *cookieOption, data []byte) {
	c := &co.c
	c.Code = dns.EDNS0COOKIE
	if n := hex.EncodedLen(len(data)); n <= len(co.hex) {
		hex.Encode(co.hex[:], data)
		c.Cookie = unsafe.String(&co.hex[0], n) // never written again
	} else {
		c.Cookie = hex.EncodeToString(data)
	}
	if len(opt.Option) == 0 {
		co.opts[0] = c
		opt.Option = co.opts[:1:1]
		return
	}
	for i, o := range opt.Option {
		if o.Option() == dns.EDNS0COOKIE {
			opt.Option[i] = c
			return
		}
	}
	opt.Option = append(opt.Option, c)
}

// cookieHex returns the data of m's first COOKIE option as miekg/dns
// keeps it, lower-case hex; ok is false when m has none.
func cookieHex(m *dns.Msg) (data string, ok bool) {
	opt := m.IsEdns0()
	if opt == nil {
		return "", false
	}
	for _, o := range opt.Option {
		if c, ok := o.(*dns.EDNS0_COOKIE); ok {
			return c.Cookie, true
		}
	}
	return "", false
}

// checkCookie checks the cookie of resp, the reply to q: errCookieMismatch
// when it does not echo q's client cookie, errCookieMissing when it has
// none and q carried a server cookie (the server sends them). It compares
// the hex forms, which miekg/dns writes in lower case: no allocation.
func checkCookie(q, resp *dns.Msg) error {
	const clientHex = 2 * cookie.ClientLen
	sent, _ := cookieHex(q)
	if len(sent) < clientHex {
		return nil
	}
	got, ok := cookieHex(resp)
	switch {
	case !ok && len(sent) > clientHex:
		return errCookieMissing
	case !ok:
		return nil
	case len(got) < clientHex || got[:clientHex] != sent[:clientHex]:
		return errCookieMismatch
	}
	return nil
}
