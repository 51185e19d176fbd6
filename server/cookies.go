package server

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cookie"
)

// DNS cookies, the server side (RFC 7873 section 5.2, RFC 9018): a query
// with a COOKIE option is answered with its client cookie and a server
// cookie of ours (the one it sent, while valid and young, else a fresh
// one); a malformed option gets FORMERR. Cookies change nothing else for
// a client, except under Config.CookieRateLimit: a network past the rate
// gets, for a UDP query without a valid server cookie, BADCOOKIE with a
// fresh cookie (a real client retries with it and passes) or, for one
// without any cookie, an empty truncated answer (it retries over TCP,
// which no spoofer can). Clients with a valid cookie are never limited:
// their address is proven. As BIND's require-server-cookie, restricted to
// the networks over a rate, so that stubs that send no cookie keep UDP.

// cookieOptionLen is the longest COOKIE option we put in an answer: code,
// length, client cookie and a server cookie of the longest length a
// client may send back to us.
const cookieOptionLen = 4 + cookie.ClientLen + cookie.MaxServerLen

// newCookies sets up cookies from cfg: nil when they are off.
func newCookies(cfg Config) *cookie.Secrets {
	if cfg.NoCookies {
		return nil
	}
	current := cookie.RandomKey()
	if cfg.CookieSecret != nil {
		current = *cfg.CookieSecret
	}
	return cookie.NewSecrets(current, cfg.CookiePreviousSecret)
}

// SetCookieSecrets replaces the secret of the server cookies, and the
// previous one still accepted (nil: none), while the server runs: a
// rotation is SetCookieSecrets(new, &old), and once every client has had
// a cookie of the new one (an hour, the cookies' lifetime), the old one
// may go. It does nothing when cookies are off.
func (s *Server) SetCookieSecrets(current cookie.Key, previous *cookie.Key) {
	if s.cookies != nil {
		s.cookies.SetKeys(current, previous)
	}
}

// checkCookie reads the COOKIE option of q, whose OPT record is opt (nil
// without EDNS), and notes the answer's option in q. resp, when not nil,
// is the answer instead of the one asked for: FORMERR for a malformed
// option, BADCOOKIE or a truncated empty answer for a client over the
// rate limit.
func (s *Server) checkCookie(q *query, opt *dns.OPT) (resp *dns.Msg) {
	var data []byte
	found := false
	if opt != nil {
		for _, o := range opt.Option {
			if c, ok := o.(*dns.EDNS0_COOKIE); ok {
				var err error
				if data, err = hex.DecodeString(c.Cookie); err != nil {
					return s.errorReply(dns.RcodeFormatError)
				}
				found = true
				break // only the first counts (RFC 7873 5.2)
			}
		}
	}
	// The clock (a vDSO call, slow on a KVM guest) is read only when a
	// cookie or the limit needs it: not for a query without a cookie.
	addr := q.client.Addr()
	limited := !q.tcp && s.udpLimit != nil
	if !found || s.cookies == nil {
		if limited && !s.udpLimit.allow(addr, s.now().UnixNano()) {
			s.stats.cookieLimited.Add(1)
			q.truncate = true
			return new(dns.Msg)
		}
		return nil
	}
	client, server, ok := cookie.Split(data)
	if !ok {
		return s.errorReply(dns.RcodeFormatError) // RFC 7873 5.2.2
	}
	now := s.now()
	v := s.cookies.Check(client, server, addr, uint32(now.Unix()))
	reply := s.cookies.Reply(make([]byte, 0, cookie.ClientLen+cookie.MaxServerLen), client, server, v, addr, uint32(now.Unix()))
	q.cookie = &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: hex.EncodeToString(reply)}
	if !v.Valid() && limited && !s.udpLimit.allow(addr, now.UnixNano()) {
		s.stats.cookieLimited.Add(1)
		return s.errorReply(dns.RcodeBadCookie) // RFC 7873 5.2.3
	}
	return nil
}

// fastCookie is the answer cache's reading of a query's COOKIE option
// (wire form, found by parseWireQuery): the verdict on it, and the
// option's data from the query. ok is false when the slow path must
// answer: the option is malformed.
type fastCookie struct {
	client, server []byte // nil client: no cookie (or cookies off)
	verdict        cookie.Verdict
}

func (s *Server) readFastCookie(query []byte, w wireQuery, client netip.AddrPort, now time.Time) (c fastCookie, ok bool) {
	if w.cookieAt == 0 || s.cookies == nil {
		return c, true
	}
	c.client, c.server, ok = cookie.Split(query[w.cookieAt : w.cookieAt+w.cookieLen])
	if !ok {
		return c, false
	}
	c.verdict = s.cookies.Check(c.client, c.server, client.Addr(), uint32(now.Unix()))
	return c, true
}

// optionLen is the length of the COOKIE option the answer carries.
func (c fastCookie) optionLen() int {
	switch {
	case c.client == nil:
		return 0
	case c.verdict == cookie.Good:
		return 4 + cookie.ClientLen + len(c.server)
	}
	return 4 + cookie.ClientLen + cookie.ServerLen
}

// admitFast applies the rate limit to a UDP query the answer cache is
// about to answer: false sends it down the slow path, which answers it
// BADCOOKIE or truncated.
func (s *Server) admitFast(c fastCookie, client netip.AddrPort, tcp bool, now time.Time) bool {
	if tcp || s.udpLimit == nil || c.client != nil && c.verdict.Valid() {
		return true
	}
	return s.udpLimit.allow(client.Addr(), now.UnixNano())
}

// appendFastCookie appends the COOKIE option of c's answer to out.
func (s *Server) appendFastCookie(out []byte, c fastCookie, client netip.AddrPort, now time.Time) []byte {
	n := c.optionLen()
	if n == 0 {
		return out
	}
	out = append(out, byte(dns.EDNS0COOKIE>>8), byte(dns.EDNS0COOKIE), byte((n-4)>>8), byte(n-4))
	return s.cookies.Reply(out, c.client, c.server, c.verdict, client.Addr(), uint32(now.Unix()))
}

// onlyCookie reports whether rdata, an OPT record's options, holds no
// option but one COOKIE: the one option the answer cache puts back in
// itself.
func onlyCookie(rdata []byte) bool {
	return len(rdata) == 0 || len(rdata) >= 4 && binary.BigEndian.Uint16(rdata) == dns.EDNS0COOKIE &&
		int(binary.BigEndian.Uint16(rdata[2:]))+4 == len(rdata)
}

// udpLimit is the rate limit of Config.CookieRateLimit: a token bucket
// per client network (/24 for IPv4, /56 for IPv6), kept in a fixed table
// of buckets without keys. Networks that hash alike share a bucket (the
// hash is seeded at random, so a flood cannot aim at one), and the table
// never grows or evicts, so a flood from spoofed networks cannot push a
// limited one out and start it afresh. Each bucket is one word, its
// theoretical arrival time (GCRA): a query is allowed when that time is
// at most burst ahead of now, and pushes it on by one interval.
type udpLimit struct {
	interval int64 // nanoseconds per query at the rate
	burst    int64 // how far ahead of now the arrival time may run
	seed     uint64
	tat      []atomic.Int64
}

// udpLimitBits sizes the table: 64 Ki buckets, 512 KiB.
const udpLimitBits = 16

// newUDPLimit returns a limit of qps queries a second per network, with
// bursts of up to one second's worth.
func newUDPLimit(qps int) *udpLimit {
	interval := int64(time.Second) / int64(qps)
	return &udpLimit{
		interval: interval,
		burst:    int64(qps-1) * interval,
		seed:     rand.Uint64() | 1,
		tat:      make([]atomic.Int64, 1<<udpLimitBits),
	}
}

// networkOf is a's /24 (IPv4) or /56 (IPv6), as a number.
func networkOf(a netip.Addr) uint64 {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return 1<<63 | uint64(b[0])<<16 | uint64(b[1])<<8 | uint64(b[2])
	}
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]) >> 8
}

// allow takes a token of a's network at now (Unix nanoseconds), or
// reports false when it has none.
func (l *udpLimit) allow(a netip.Addr, now int64) bool {
	// The 64-bit finaliser of MurmurHash3: every input bit reaches the
	// top bits, which pick the bucket.
	h := networkOf(a) ^ l.seed
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	b := &l.tat[h>>(64-udpLimitBits)]
	for {
		tat := b.Load()
		t := max(tat, now)
		if t-now > l.burst {
			return false
		}
		if b.CompareAndSwap(tat, t+l.interval) {
			return true
		}
	}
}
