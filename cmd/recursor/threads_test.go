package main

import (
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/peertest"
)

// --threads opens that many sockets (the serving line says so) and every
// client is answered, whichever socket the kernel gave it.
func TestServeThreads(t *testing.T) {
	p := startServe(t, peertest.RecursorBinary(t), "--sandbox", "--threads", "3")
	want := "threads=3"
	if runtime.GOOS != "linux" {
		want = "threads=1"
	}
	if !strings.Contains(p.stderr.String(), want) {
		t.Errorf("the serving line lacks %s:\n%s", want, p.stderr)
	}
	var wg sync.WaitGroup
	for i := range 12 {
		network := "udp"
		if i%3 == 0 {
			network = "tcp"
		}
		wg.Go(func() {
			c := &dns.Client{Net: network, Timeout: 10 * time.Second}
			m := new(dns.Msg).SetQuestion("www.example.com.", dns.TypeA)
			resp, _, err := c.Exchange(m, p.addr)
			if err != nil || resp.Rcode != dns.RcodeSuccess || len(resp.Answer) == 0 {
				t.Errorf("%s: %v, %v", network, resp, err)
			}
		})
	}
	wg.Wait()
}
