package server

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/resolver"
)

// policyBackend is a DNSSECBackend whose answers a response policy made:
// cached from QueryCached when cachedOK, else resolved by Query. It
// records the options it was given.
type policyBackend struct {
	answerBackend
	answer   resolver.Answer
	cachedOK bool
	err      error
	opts     []resolver.Options
}

func (b *policyBackend) QueryCached(_ string, _ uint16, opts resolver.Options) (resolver.Answer, bool) {
	b.opts = append(b.opts, opts)
	if !b.cachedOK {
		return resolver.Answer{}, false
	}
	return b.answer, true
}

func (b *policyBackend) Query(_ context.Context, _ string, _ uint16, opts resolver.Options) (resolver.Answer, error) {
	b.opts = append(b.opts, opts)
	return b.answer, b.err
}

// TestPolicyAnswers: a policy answer carries its EDE and is never kept
// as a ready-packed answer (with EDNS or without); DROP sends nothing and
// TCP-only sends TC; the engine is told the client and transport.
func TestPolicyAnswers(t *testing.T) {
	nx := new(dns.Msg)
	nx.Rcode = dns.RcodeNameError
	nx.Ns = rrsOf(t, "rpz.test. 60 IN SOA ns.rpz.test. h.rpz.test. 1 3600 600 86400 60")
	tc := new(dns.Msg)
	tc.Truncated = true
	blocked := resolver.Answer{Msg: nx, Policy: "rpz.test.", EDE: dns.ExtendedErrorCodeBlocked, Why: "blocked by policy rpz.test."}
	drop := resolver.Answer{Policy: "rpz.test.", Drop: true}
	for _, c := range []struct {
		name     string
		answer   resolver.Answer
		cachedOK bool
		err      error
		tcp      bool
		want     string // "drop", "nxdomain", "tc"
	}{
		{"blocked cached", blocked, true, nil, false, "nxdomain"},
		{"blocked resolved", blocked, false, nil, true, "nxdomain"},
		{"drop cached", drop, true, nil, false, "drop"},
		{"drop resolved", drop, false, resolver.ErrPolicyDrop, true, "drop"},
		{"tcp-only", resolver.Answer{Msg: tc, Policy: "rpz.test."}, true, nil, false, "tc"},
	} {
		for _, edns := range []bool{false, true} {
			b := &policyBackend{answer: c.answer, cachedOK: c.cachedOK, err: c.err}
			s, err := New(Config{Backend: b})
			if err != nil {
				t.Fatal(err)
			}
			q := question(nameWWW, dns.TypeA)
			if edns {
				q = withEDNS(q, 1232, false)
			}
			out := s.HandlePacket(t.Context(), pack(t, q), clientLoopback, c.tcp, nil)
			if o := b.opts[0]; o.Client != clientLoopback.Addr() || o.TCP != c.tcp {
				t.Errorf("%s: options %+v, want the client and transport", c.name, o)
			}
			if n := s.answers.len(); n != 0 {
				t.Errorf("%s edns %v: %d answers kept, want none", c.name, edns, n)
			}
			if c.want == "drop" {
				if out != nil {
					t.Errorf("%s edns %v: sent %d bytes, want nothing", c.name, edns, len(out))
				}
				continue
			}
			m := new(dns.Msg)
			if err := m.Unpack(out); err != nil {
				t.Fatal(err)
			}
			switch c.want {
			case "nxdomain":
				if m.Rcode != dns.RcodeNameError {
					t.Errorf("%s: rcode %s", c.name, dns.RcodeToString[m.Rcode])
				}
				if ede := edeOf(m); edns && (ede == nil || ede.InfoCode != dns.ExtendedErrorCodeBlocked) {
					t.Errorf("%s: EDE %v, want 15 (Blocked)", c.name, ede)
				}
			case "tc":
				if !m.Truncated || len(m.Answer) != 0 {
					t.Errorf("%s: TC %v, answer %v; want TC and no records", c.name, m.Truncated, m.Answer)
				}
			}
		}
	}
}

// dropBackend drops the questions for dropName when it resolves them, as
// a policy that matches a CNAME target does, and answers others NXDOMAIN.
type dropBackend struct{ answerBackend }

const dropName = "dropped.example."

func (b *dropBackend) QueryCached(string, uint16, resolver.Options) (resolver.Answer, bool) {
	return resolver.Answer{}, false
}

func (b *dropBackend) Query(_ context.Context, name string, _ uint16, _ resolver.Options) (resolver.Answer, error) {
	if name == dropName {
		return resolver.Answer{Policy: "rpz.test.", Drop: true}, resolver.ErrPolicyDrop
	}
	m := new(dns.Msg)
	m.Rcode = dns.RcodeNameError
	return resolver.Answer{Msg: m}, nil
}

// TestPolicyDropOnListeners: a query the engine drops after resolving it
// gets no answer over UDP or TCP, and the server goes on serving.
func TestPolicyDropOnListeners(t *testing.T) {
	s, _ := newTestServer(t, Config{Backend: &dropBackend{}})
	addr := startServer(t, s)
	for _, network := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: network, Timeout: 500 * time.Millisecond}
		if r, _, err := c.Exchange(question(dropName, dns.TypeA), addr.String()); err == nil {
			t.Errorf("%s: dropped name answered: %v", network, r)
		}
		if r := exchange(t, network, addr, question(nameWWW, dns.TypeA), netip.Addr{}); r.Rcode != dns.RcodeNameError {
			t.Errorf("%s: after a drop, %v", network, r)
		}
	}
}
