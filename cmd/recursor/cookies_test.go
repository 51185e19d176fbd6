package main

import (
	"encoding/hex"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/cookie"
	"github.com/recursor-dns/recursor/peertest"
)

const (
	testClientCookie = "2464c4abcf10c957"
	testSecret       = "e5e973e5a6b2a43f48e7dc849e37bfcf"
	testSecretNew    = "445536bcd2513298075a5d379663c962"
)

// checkServerCookie fails t unless c (hex, as the tools print it) is a
// client cookie and a valid server cookie of secret for 127.0.0.1.
func checkServerCookie(t *testing.T, c, secret string, want cookie.Verdict) {
	t.Helper()
	b, err := hex.DecodeString(c)
	if err != nil {
		t.Fatalf("cookie %q: %v", c, err)
	}
	client, server, ok := cookie.Split(b)
	if !ok || len(server) != cookie.ServerLen {
		t.Fatalf("cookie %q: want a client cookie and an RFC 9018 server cookie", c)
	}
	k, _ := cookie.ParseKey(secret)
	if v := cookie.NewSecrets(k, nil).Check(client, server, netip.MustParseAddr("127.0.0.1"), uint32(time.Now().Unix())); v != want {
		t.Fatalf("cookie %q under secret %s: %v, want %v", c, secret, v, want)
	}
}

// TestServeCookiesRealClients asks recursor serve with dig +cookie and
// kdig +cookie: the answer carries our server cookie, and a second query
// sending it back is answered with it, past the UDP rate limit that
// clients without a valid cookie meet (dig retries after BADCOOKIE).
func TestServeCookiesRealClients(t *testing.T) {
	var tools []string
	for _, tool := range []string{"dig", "kdig"} {
		if _, err := exec.LookPath(tool); err == nil {
			tools = append(tools, tool)
		}
	}
	if len(tools) == 0 {
		t.Skip("neither dig (bind9-dnsutils) nor kdig (knot-dnsutils) is installed")
	}
	bin := peertest.RecursorBinary(t)
	p := startServe(t, bin, "--sandbox", "--cookie-secret", testSecret, "--require-cookie-udp", "1")
	host, port, _ := strings.Cut(p.addr, ":")
	cookieLine := regexp.MustCompile(`(?im)^;;? COOKIE: ([0-9a-f]+)`)
	for _, tool := range tools {
		t.Run(tool, func(t *testing.T) {
			out := runTool(t, tool, "@"+host, "-p", port, "+cookie", "www.example.com", "A")
			m := cookieLine.FindStringSubmatch(out)
			if m == nil || !strings.Contains(out, "NOERROR") {
				t.Fatalf("no COOKIE in the answer:\n%s", out)
			}
			first := strings.ToLower(m[1])
			checkServerCookie(t, first, testSecret, cookie.Good)

			plainQuery(t, p.addr) // spends the rate limit's token
			out = runTool(t, tool, "@"+host, "-p", port, "+cookie="+first, "www.example.com", "A")
			m = cookieLine.FindStringSubmatch(out)
			if m == nil || strings.ToLower(m[1]) != first || !strings.Contains(out, "NOERROR") || strings.Contains(out, "BADCOOKIE") {
				t.Fatalf("sending the server cookie back: want it accepted and repeated (%s), got\n%s", first, out)
			}
		})
	}
	if _, err := exec.LookPath("dig"); err != nil {
		return
	}
	t.Run("dig retries after BADCOOKIE", func(t *testing.T) {
		bad := testClientCookie + "0100000000000000ffffffffffffffff" // not ours
		for range 3 {                                                // the limit's second may pass between the two queries on a loaded machine
			plainQuery(t, p.addr)
			out := runTool(t, "dig", "@"+host, "-p", port, "+cookie="+bad, "www.example.com", "A")
			if strings.Contains(out, "BADCOOKIE, retrying") {
				if !strings.Contains(out, "status: NOERROR") {
					t.Fatalf("after BADCOOKIE: want the answer, got\n%s", out)
				}
				return
			}
		}
		t.Fatal("a wrong server cookie past the rate limit never got BADCOOKIE")
	})
}

// plainQuery sends one UDP query without a cookie to addr, and waits for
// the answer (truncated or not).
func plainQuery(t *testing.T, addr string) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion("www.example.com.", dns.TypeA)
	m.SetEdns0(1232, false)
	c := &dns.Client{Timeout: 5 * time.Second}
	if _, _, err := c.Exchange(m, addr); err != nil {
		t.Fatal(err)
	}
}

// cookieExchange sends a UDP query with the COOKIE data c (hex) to addr
// and returns the answer's rcode and COOKIE data.
func cookieExchange(t *testing.T, addr, c string) (int, string) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion("www.example.com.", dns.TypeA)
	m.SetEdns0(1232, false)
	m.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: c}}
	cl := &dns.Client{Timeout: 5 * time.Second}
	resp, _, err := cl.Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range resp.IsEdns0().Option {
		if oc, ok := o.(*dns.EDNS0_COOKIE); ok {
			return resp.Rcode, oc.Cookie
		}
	}
	return resp.Rcode, ""
}

// TestServeCookieSecretReload: a reload that changes cookie-secret makes
// the new secret current and keeps the old one accepted: a client's old
// cookie still bypasses the rate limit and is replaced by one of the new.
func TestServeCookieSecretReload(t *testing.T) {
	bin := peertest.RecursorBinary(t)
	conf := filepath.Join(t.TempDir(), "recursor.toml")
	write := func(secret string) {
		data := "[server]\ncookie-secret = \"" + secret + "\"\nrequire-cookie-udp = 1\n[resolver]\nsandbox = true\n"
		if err := os.WriteFile(conf, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(testSecret)
	p := startServe(t, bin, "--config", conf)
	_, old := cookieExchange(t, p.addr, testClientCookie)
	checkServerCookie(t, old, testSecret, cookie.Good)

	write(testSecretNew)
	p.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.stderr.String(), "cookie secret rotated") {
		if time.Now().After(deadline) {
			t.Fatalf("no rotation logged after SIGHUP:\n%s", p.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	plainQuery(t, p.addr) // spends the rate limit's token
	rcode, fresh := cookieExchange(t, p.addr, old)
	if rcode != dns.RcodeSuccess {
		t.Fatalf("the old secret's cookie after the rotation: %s, want an answer", dns.RcodeToString[rcode])
	}
	checkServerCookie(t, fresh, testSecretNew, cookie.Good)
}
