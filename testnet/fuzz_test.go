package testnet

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// FuzzRespond feeds arbitrary packets to every server of the sandbox and
// of the hostile tree: no panic, and every reply packs, keeps the ID and
// fits the size allowed; only EDNSDrop servers stay silent, and raw packets
// go out over UDP only.
func FuzzRespond(f *testing.F) {
	var authorities []*authority
	for _, dir := range []string{sandboxDir, hostileDir} {
		sb, err := loadSandbox(os.DirFS(dir))
		if err != nil {
			f.Fatal(err)
		}
		for _, s := range sb.servers {
			if s.Mode != ModeDead {
				authorities = append(authorities, sb.authority(s))
			}
		}
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
		{"www.nxns.lab.", dns.TypeA, true},
		{"C0.Chain-All.lab.", dns.TypeA, false},
		{"x.a.loop.lab.", dns.TypeA, true},
		{"WWW.NoCase.lab.", dns.TypeAAAA, true},
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
	f.Fuzz(func(t *testing.T, wire []byte, tcp bool) {
		req := new(dns.Msg)
		if req.Unpack(wire) != nil || req.Response || len(req.Question) != 1 {
			return // miekg's server drops or FORMERRs these before us
		}
		opt, optCount := requestOPT(req)
		for _, a := range authorities {
			before, resp := a.respond(req, tcp)
			if tcp && len(before) > 0 {
				t.Fatalf("%d raw packets before a TCP reply", len(before))
			}
			if resp == nil {
				if opt == nil || !a.hostile.has(EDNSDrop) {
					t.Fatalf("no reply to %v", req.Question)
				}
				continue
			}
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

// FuzzParseConf feeds arbitrary network.conf text to the parser: no panic,
// and every server it accepts is on loopback, with behaviours only on auth
// servers and an NXNS victim exactly when it plays NXNS.
func FuzzParseConf(f *testing.F) {
	for _, dir := range []string{sandboxDir, hostileDir} {
		data, err := os.ReadFile(dir + "/" + ConfFile)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data))
	}
	f.Add("ns1.a. 127.53.0.1 auth,nxns=v.lab,cname-one,garbage a.\n")
	f.Add("ns1.a. ::1 auth,,, a.\n")
	f.Add("ns1.a. 127.53.0.1 dead,inject\n")
	f.Fuzz(func(t *testing.T, conf string) {
		servers, err := parseConf(strings.NewReader(conf))
		if err != nil {
			return
		}
		for _, s := range servers {
			if !s.Addr.IsLoopback() {
				t.Fatalf("server %s on %s", s.Name, s.Addr)
			}
			if len(s.Behaviours) > 0 && s.Mode != ModeAuth {
				t.Fatalf("%s server %s with behaviours %v", s.Mode, s.Name, s.Behaviours)
			}
			if (s.NXNSVictim != "") != slices.Contains(s.Behaviours, NXNS) {
				t.Fatalf("server %s: victim %q, behaviours %v", s.Name, s.NXNSVictim, s.Behaviours)
			}
		}
	})
}
