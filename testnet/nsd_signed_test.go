package testnet

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestNSDServesLDNSSigned serves the tree ldns-signzone signed on NSD: the
// plain cases of CASES.md hold, and signed questions asked with DO come
// back with signatures that verify under the keys of keys/ at the clock.
func TestNSDServesLDNSSigned(t *testing.T) {
	n, err := StartNSD(Config{Dir: sandboxDir, Now: fixedClock, Signer: SignerLDNS})
	switch {
	case errors.Is(err, ErrNSDNotFound), errors.Is(err, ErrLDNSNotFound):
		t.Skipf("skipping: %v", err)
	case err != nil:
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("close nsd: %v", err)
		}
	})
	ours, _ := loadSigned(t, SignerBuiltin)
	t.Run("cases", func(t *testing.T) { checkCases(t, n) })
	questions := []struct {
		server, qname string
		qtype         uint16
		denial        uint16 // the denial record type the reply must carry, if any
	}{
		{"ns1.example.com.", "www.example.com.", dns.TypeA, 0},
		{"ns1.example.com.", "example.com.", dns.TypeDNSKEY, 0},
		{"ns1.example.com.", "nothing.example.com.", dns.TypeA, dns.TypeNSEC},
		{"a.gtld-servers.net.", "example.com.", dns.TypeDS, 0},
		{"ns1.hosting.lab.", "nosuch.alpha.lab.", dns.TypeA, dns.TypeNSEC3},
		{"ns1.hosting.lab.", "sub.beta.lab.", dns.TypeDS, dns.TypeNSEC3},
		{"a.root-servers.net.", "www.nosuchtld.", dns.TypeA, dns.TypeNSEC},
	}
	for _, q := range questions {
		t.Run(q.qname+"/"+dns.TypeToString[q.qtype], func(t *testing.T) {
			resp := askNameDO(t, serverAddr(t, n.Servers(), q.server), n.Port(), q.qname, q.qtype)
			verified := checkSignedSections(t, ours, append(resp.Answer, resp.Ns...))
			if verified == 0 {
				t.Errorf("no signature verified in %v", resp)
			}
			if q.denial != 0 && !hasType(resp.Ns, q.denial) {
				t.Errorf("no %s in the authority section: %v", dns.TypeToString[q.denial], resp.Ns)
			}
		})
	}
}

// checkSignedSections verifies every RRSIG of rrs over its RRset with the
// DNSKEYs of its signer as the builtin signer has them, and returns how
// many verified.
func checkSignedSections(t *testing.T, sb *sandbox, rrs []dns.RR) int {
	t.Helper()
	verified := 0
	for _, rr := range rrs {
		sig, ok := rr.(*dns.RRSIG)
		if !ok {
			continue
		}
		z := sb.zones[canonical(sig.SignerName)]
		if z == nil {
			t.Errorf("RRSIG by unknown signer %s", sig.SignerName)
			continue
		}
		var rrset []dns.RR
		for _, other := range rrs {
			if other.Header().Rrtype == sig.TypeCovered && strings.EqualFold(other.Header().Name, sig.Hdr.Name) {
				rrset = append(rrset, other)
			}
		}
		if err := verifyWith(sig, z.nodes[z.origin].rrsets[dns.TypeDNSKEY], rrset); err != nil {
			t.Errorf("%s RRSIG %s: %v", sig.Hdr.Name, dns.TypeToString[sig.TypeCovered], err)
			continue
		}
		if !sig.ValidityPeriod(signClock) {
			t.Errorf("%s RRSIG %s: not valid at the clock", sig.Hdr.Name, dns.TypeToString[sig.TypeCovered])
		}
		verified++
	}
	return verified
}

// askDO asks over TCP with DO set.
func askNameDO(t *testing.T, addr netip.Addr, port uint16, qname string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg).SetQuestion(qname, qtype)
	m.RecursionDesired = false
	m.SetEdns0(EDNSBufferSize, true)
	c := &dns.Client{Net: "tcp", Timeout: replyTimeout}
	resp, _, err := c.ExchangeContext(t.Context(), m, netip.AddrPortFrom(addr, port).String())
	if err != nil {
		t.Fatalf("%s %s: %v", qname, dns.TypeToString[qtype], err)
	}
	return resp
}

func hasType(rrs []dns.RR, t uint16) bool {
	for _, rr := range rrs {
		if rr.Header().Rrtype == t {
			return true
		}
	}
	return false
}
