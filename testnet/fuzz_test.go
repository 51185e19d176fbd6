package testnet

import (
	"os"
	"testing"

	"github.com/miekg/dns"
)

// FuzzRespond feeds arbitrary packets to every server of the sandbox: no
// panic, and every reply packs, keeps the ID and fits the size allowed.
func FuzzRespond(f *testing.F) {
	sb, err := loadSandbox(os.DirFS(sandboxDir))
	if err != nil {
		f.Fatal(err)
	}
	for _, q := range []struct {
		name  string
		qtype uint16
		edns  bool
	}{
		{"www.example.com.", dns.TypeA, true},
		{"a.b.old.example.com.", dns.TypeAAAA, false},
		{"big.example.com.", dns.TypeTXT, true},
		{"x.wild.example.com.", dns.TypeANY, false},
		{"sub.beta.lab.", dns.TypeDS, true},
		{".", dns.TypeNS, false},
	} {
		m := new(dns.Msg).SetQuestion(q.name, q.qtype)
		if q.edns {
			m.SetEdns0(1232, true)
		}
		wire, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire, q.edns)
	}
	var authorities []*authority
	for _, s := range sb.servers {
		if s.Mode != ModeDead {
			authorities = append(authorities, sb.authority(s))
		}
	}
	f.Fuzz(func(t *testing.T, wire []byte, tcp bool) {
		req := new(dns.Msg)
		if req.Unpack(wire) != nil || req.Response || len(req.Question) != 1 {
			return // miekg's server drops or FORMERRs these before us
		}
		opt, optCount := requestOPT(req)
		for _, a := range authorities {
			resp := a.respond(req, tcp)
			out, err := resp.Pack()
			if err != nil {
				t.Fatalf("reply to %v does not pack: %v\n%v", req.Question, err, resp)
			}
			if resp.Id != req.Id {
				t.Fatalf("reply ID %d, want %d", resp.Id, req.Id)
			}
			if optCount <= 1 && len(out) > replySize(opt, tcp) {
				t.Fatalf("reply of %d bytes, limit %d", len(out), replySize(opt, tcp))
			}
		}
	})
}
