package testnet

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// hostileQuery asks one server of the hostile tree directly.
type hostileQuery struct {
	name   string
	server string
	qname  string
	qtype  uint16
	ask    ask
	check  func(t *testing.T, resp *dns.Msg)
}

func TestHostileBehaviours(t *testing.T) {
	n := StartTB(t, hostileDir)
	tests := []hostileQuery{
		{name: "inject: canaries in every section of an answer", server: "ns1.inject.lab.", qname: "www.inject.lab.", qtype: dns.TypeA,
			check: func(t *testing.T, resp *dns.Msg) {
				wantSections(t, resp, dns.RcodeSuccess, 1+len(canaryRRs), len(canaryRRs), len(canaryRRs))
				if !hasRR(resp.Answer, "www.inject.lab. 300 A 198.51.100.30") {
					t.Errorf("honest answer missing: %v", resp.Answer)
				}
			}},
		{name: "inject: canaries in a referral", server: "ns1.inject.lab.", qname: "www.sub.inject.lab.", qtype: dns.TypeA,
			check: func(t *testing.T, resp *dns.Msg) {
				wantSections(t, resp, dns.RcodeSuccess, len(canaryRRs), 1+len(canaryRRs), 1+len(canaryRRs))
			}},
		{name: "inject: canaries in NXDOMAIN", server: "ns1.inject.lab.", qname: "nope.inject.lab.", qtype: dns.TypeA,
			check: func(t *testing.T, resp *dns.Msg) {
				wantSections(t, resp, dns.RcodeNameError, len(canaryRRs), 1+len(canaryRRs), len(canaryRRs))
			}},
		{name: "wrong-question", server: "ns1.wrong-q.lab.", qname: "www.wrong-q.lab.", qtype: dns.TypeA,
			check: func(t *testing.T, resp *dns.Msg) {
				if q := resp.Question[0]; q.Name != CanaryName || len(resp.Answer) != 1 || !IsPoison(resp.Answer[0]) {
					t.Errorf("question %v answer %v, want the canary's", q, resp.Answer)
				}
			}},
		{name: "wrong-answer", server: "ns1.wrong-a.lab.", qname: "www.wrong-a.lab.", qtype: dns.TypeA,
			check: func(t *testing.T, resp *dns.Msg) {
				wantSections(t, resp, dns.RcodeSuccess, len(canaryRRs), 0, 0)
				if resp.Question[0].Name != "www.wrong-a.lab." || !resp.Authoritative {
					t.Errorf("question %v AA %t, want the question asked, AA", resp.Question, resp.Authoritative)
				}
			}},
		{name: "nxns: unknown names referred to glueless victims", server: "ns1.nxns.lab.", qname: "a.b.nxns.lab.", qtype: dns.TypeA, ask: ask{tcp: true},
			check: func(t *testing.T, resp *dns.Msg) {
				wantSections(t, resp, dns.RcodeSuccess, 0, NXNSReferralSize, 0)
				for _, rr := range resp.Ns {
					ns, ok := rr.(*dns.NS)
					if !ok || ns.Hdr.Name != "b.nxns.lab." || !strings.HasSuffix(ns.Ns, ".victim.lab.") {
						t.Fatalf("authority %v, want b.nxns.lab. NS <name>.victim.lab.", rr)
					}
				}
			}},
		{name: "nxns: over UDP the referral truncates", server: "ns1.nxns.lab.", qname: "www.nxns.lab.", qtype: dns.TypeA, ask: ask{edns: 1232},
			check: func(t *testing.T, resp *dns.Msg) {
				if !resp.Truncated || len(resp.Ns) >= NXNSReferralSize {
					t.Errorf("TC %t with %d NS, want a truncated referral", resp.Truncated, len(resp.Ns))
				}
			}},
		{name: "nxns: names the zone holds are answered", server: "ns1.nxns.lab.", qname: "ns1.nxns.lab.", qtype: dns.TypeA,
			check: func(t *testing.T, resp *dns.Msg) {
				if !hasRR(resp.Answer, "ns1.nxns.lab. 3600 A 127.53.33.1") {
					t.Errorf("answer %v", resp.Answer)
				}
			}},
		{name: "default server: 8 hops a reply", server: "ns1.chain.lab.", qname: "long0.chain.lab.", qtype: dns.TypeA,
			check: func(t *testing.T, resp *dns.Msg) { wantSections(t, resp, dns.RcodeSuccess, maxChain+1, 0, 0) }},
		{name: "cname-one: one hop a reply", server: "ns1.chain-one.lab.", qname: "long0.chain-one.lab.", qtype: dns.TypeA,
			check: func(t *testing.T, resp *dns.Msg) { wantSections(t, resp, dns.RcodeSuccess, 1, 0, 0) }},
		{name: "cname-all: the whole chain", server: "ns1.chain-all.lab.", qname: "long0.chain-all.lab.", qtype: dns.TypeA,
			check: func(t *testing.T, resp *dns.Msg) {
				wantSections(t, resp, dns.RcodeSuccess, 16, 0, 0)
				if !hasRR(resp.Answer, "end.chain-all.lab. 300 A 198.51.100.40") {
					t.Errorf("answer %v ends without the address", resp.Answer)
				}
			}},
		{name: "cname-one: one DNAME hop a reply", server: "ns1.loop-one.lab.", qname: "q.x.loop-one.lab.", qtype: dns.TypeA,
			check: func(t *testing.T, resp *dns.Msg) {
				want := []string{"q.x.loop-one.lab. 300 CNAME q.y.loop-one.lab.", "x.loop-one.lab. 300 DNAME y.loop-one.lab."}
				if got := rrStrings(resp.Answer); !slices.Equal(got, want) {
					t.Errorf("answer %v, want %v", got, want)
				}
			}},
		{name: "growing DNAME ends in YXDOMAIN", server: "ns1.loop.lab.", qname: strings.Repeat("abcdefghij.", 20) + "grow.loop.lab.", qtype: dns.TypeA,
			check: func(t *testing.T, resp *dns.Msg) {
				if resp.Rcode != dns.RcodeYXDomain {
					t.Errorf("rcode %s, want YXDOMAIN", dns.RcodeToString[resp.Rcode])
				}
			}},
		{name: "tcp-only: UDP is truncated and empty", server: "ns1.tcp-only.lab.", qname: "www.tcp-only.lab.", qtype: dns.TypeA, ask: ask{edns: 1232},
			check: func(t *testing.T, resp *dns.Msg) {
				if !resp.Truncated || resp.IsEdns0() == nil {
					t.Errorf("TC %t OPT %v, want TC with OPT", resp.Truncated, resp.IsEdns0())
				}
				wantSections(t, resp, dns.RcodeSuccess, 0, 0, 0)
			}},
		{name: "tcp-only: TCP answers", server: "ns1.tcp-only.lab.", qname: "www.tcp-only.lab.", qtype: dns.TypeA, ask: ask{tcp: true},
			check: func(t *testing.T, resp *dns.Msg) { wantSections(t, resp, dns.RcodeSuccess, 1, 0, 0) }},
		{name: "edns-formerr: FORMERR without OPT to EDNS", server: "ns1.edns-formerr.lab.", qname: "www.edns-formerr.lab.", qtype: dns.TypeA, ask: ask{edns: 1232},
			check: func(t *testing.T, resp *dns.Msg) {
				if resp.Rcode != dns.RcodeFormatError || resp.IsEdns0() != nil {
					t.Errorf("rcode %s OPT %v, want FORMERR without OPT", dns.RcodeToString[resp.Rcode], resp.IsEdns0())
				}
			}},
		{name: "edns-formerr: answers plain queries", server: "ns1.edns-formerr.lab.", qname: "www.edns-formerr.lab.", qtype: dns.TypeA,
			check: func(t *testing.T, resp *dns.Msg) { wantSections(t, resp, dns.RcodeSuccess, 1, 0, 0) }},
		{name: "edns-drop: answers plain queries", server: "ns1.edns-drop.lab.", qname: "www.edns-drop.lab.", qtype: dns.TypeA,
			check: func(t *testing.T, resp *dns.Msg) { wantSections(t, resp, dns.RcodeSuccess, 1, 0, 0) }},
		{name: "no-0x20: question lower-cased", server: "ns1.no-0x20.lab.", qname: "WwW.nO-0x20.LaB.", qtype: dns.TypeA,
			check: func(t *testing.T, resp *dns.Msg) {
				if resp.Question[0].Name != "www.no-0x20.lab." || !hasRR(resp.Answer, "www.no-0x20.lab. 300 A 198.51.100.50") {
					t.Errorf("question %v answer %v, want both lower case", resp.Question, resp.Answer)
				}
			}},
		{name: "wrong-id: TCP is clean", server: "ns1.spoof.lab.", qname: "www.spoof.lab.", qtype: dns.TypeA, ask: ask{tcp: true},
			check: func(t *testing.T, resp *dns.Msg) { wantSections(t, resp, dns.RcodeSuccess, 1, 0, 0) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.check(t, query(t, tc.ask, serverAddr(t, n.Servers(), tc.server), n.Port(), tc.qname, tc.qtype))
		})
	}
}

func TestHostileNXNSNamesAreFresh(t *testing.T) {
	n := StartTB(t, hostileDir)
	addr := serverAddr(t, n.Servers(), "ns1.nxns.lab.")
	first := query(t, ask{tcp: true}, addr, n.Port(), "www.nxns.lab.", dns.TypeA)
	second := query(t, ask{tcp: true}, addr, n.Port(), "www.nxns.lab.", dns.TypeA)
	if len(first.Ns) == 0 || len(second.Ns) == 0 || first.Ns[0].(*dns.NS).Ns == second.Ns[0].(*dns.NS).Ns {
		t.Errorf("two referrals share their names: %v / %v", first.Ns[:1], second.Ns[:1])
	}
}

func TestHostileEDNSDropIsSilent(t *testing.T) {
	n := StartTB(t, hostileDir)
	addr := serverAddr(t, n.Servers(), "ns1.edns-drop.lab.")
	for _, tcp := range []bool{false, true} {
		_, err := ask{tcp: tcp, edns: 1232, timeout: silenceTimeout}.exchange(t.Context(), addr, n.Port(), "www.edns-drop.lab.", dns.TypeA)
		if !isTimeout(err) {
			t.Errorf("tcp=%t: err %v, want a timeout", tcp, err)
		}
	}
	want := []Query{
		{Server: addr, Qname: "www.edns-drop.lab.", Qtype: dns.TypeA, EDNS: true},
		{Server: addr, Qname: "www.edns-drop.lab.", Qtype: dns.TypeA, TCP: true, EDNS: true},
	}
	if got := n.Queries(); !slices.Equal(got, want) {
		t.Errorf("queries %v, want %v", got, want)
	}
}

// TestHostileUDPDecoys reads every packet a garbage or wrong-id server
// sends for one UDP query: the decoys first, the true reply last.
func TestHostileUDPDecoys(t *testing.T) {
	n := StartTB(t, hostileDir)
	tests := []struct {
		server, qname string
		decoys        int
		check         func(t *testing.T, decoy []byte, id uint16)
	}{
		{"ns1.garbage.lab.", "www.garbage.lab.", 6, func(t *testing.T, decoy []byte, id uint16) {
			if len(decoy) < 2 || uint16(decoy[0])<<8|uint16(decoy[1]) != id {
				t.Errorf("decoy % x does not carry the query's ID", decoy)
			}
			m := new(dns.Msg)
			if m.Unpack(decoy) == nil && m.Response && len(m.Question) == 1 && m.Question[0].Name == "www.garbage.lab." {
				t.Errorf("decoy is a usable reply: %v", m)
			}
		}},
		{"ns1.spoof.lab.", "www.spoof.lab.", 1, func(t *testing.T, decoy []byte, id uint16) {
			m := new(dns.Msg)
			if err := m.Unpack(decoy); err != nil || m.Id == id || len(m.Answer) != 1 || !IsPoison(m.Answer[0]) {
				t.Errorf("decoy %v (%v), want a poisoned reply with another ID", m, err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.server, func(t *testing.T) {
			q := new(dns.Msg).SetQuestion(tc.qname, dns.TypeA)
			packets := readPackets(t, netip.AddrPortFrom(serverAddr(t, n.Servers(), tc.server), n.Port()), q, tc.decoys+1)
			for _, p := range packets[:tc.decoys] {
				tc.check(t, p, q.Id)
			}
			last := new(dns.Msg)
			if err := last.Unpack(packets[tc.decoys]); err != nil || last.Id != q.Id || len(last.Answer) != 1 || IsPoison(last.Answer[0]) {
				t.Errorf("last packet %v (%v), want the true answer", last, err)
			}
		})
	}
}

// readPackets sends q over UDP and reads want packets, then checks that
// no more come.
func readPackets(tb testing.TB, addr netip.AddrPort, q *dns.Msg, want int) [][]byte {
	tb.Helper()
	wire, err := q.Pack()
	if err != nil {
		tb.Fatal(err)
	}
	var d net.Dialer
	conn, err := d.DialContext(tb.Context(), "udp", addr.String())
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(wire); err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	buf := make([]byte, dns.MaxMsgSize)
	for len(out) < want {
		conn.SetReadDeadline(time.Now().Add(replyTimeout))
		size, err := conn.Read(buf)
		if err != nil {
			tb.Fatalf("packet %d of %d: %v", len(out)+1, want, err)
		}
		out = append(out, slices.Clone(buf[:size]))
	}
	conn.SetReadDeadline(time.Now().Add(silenceTimeout))
	if _, err := conn.Read(buf); !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
		tb.Errorf("a packet after the %d expected (err %v)", want, err)
	}
	return out
}

func TestHostileConf(t *testing.T) {
	tests := []struct {
		name, conf, wantErr string
		behaviours          []Behaviour
		victim              string
	}{
		{name: "behaviours in order", conf: "ns1.a. 127.53.0.1 auth,tcp-only,inject a.\n", behaviours: []Behaviour{TCPOnly, Inject}},
		{name: "nxns victim", conf: "ns1.a. 127.53.0.1 auth,nxns=Victim.LAB a.\n", behaviours: []Behaviour{NXNS}, victim: "victim.lab."},
		{name: "unknown behaviour", conf: "ns1.a. 127.53.0.1 auth,evil a.\n", wantErr: `unknown behaviour "evil"`},
		{name: "on a lame server", conf: "ns1.a. 127.53.0.1 lame,inject\n", wantErr: "only auth servers"},
		{name: "on a dead server", conf: "ns1.a. 127.53.0.1 dead,tcp-only\n", wantErr: "only auth servers"},
		{name: "nxns without victim", conf: "ns1.a. 127.53.0.1 auth,nxns a.\n", wantErr: "needs a victim"},
		{name: "nxns bad victim", conf: "ns1.a. 127.53.0.1 auth,nxns=a..b a.\n", wantErr: "bad victim"},
		{name: "argument to another", conf: "ns1.a. 127.53.0.1 auth,inject=x a.\n", wantErr: "takes no argument"},
		{name: "twice", conf: "ns1.a. 127.53.0.1 auth,inject,inject a.\n", wantErr: "listed twice"},
		{name: "conflict", conf: "ns1.a. 127.53.0.1 auth,cname-one,cname-all a.\n", wantErr: "cannot be played together"},
		{name: "empty behaviour", conf: "ns1.a. 127.53.0.1 auth, a.\n", wantErr: "unknown behaviour"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			servers, err := parseConf(strings.NewReader(tt.conf))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := servers[0]; s.Mode != ModeAuth || !slices.Equal(s.Behaviours, tt.behaviours) || s.NXNSVictim != tt.victim {
				t.Errorf("server %+v, want behaviours %v victim %q", s, tt.behaviours, tt.victim)
			}
		})
	}
}

func TestHostileTreeRefusedByNSD(t *testing.T) {
	if _, err := NSDPath(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	n, err := StartNSD(Config{Dir: hostileDir})
	if err == nil {
		n.Close()
		t.Fatal("NSD started a hostile tree")
	}
	if !strings.Contains(err.Error(), "NSD cannot play behaviour") {
		t.Errorf("err %v", err)
	}
}

func TestIsPoison(t *testing.T) {
	for _, rr := range Canaries() {
		if !IsPoison(rr) {
			t.Errorf("canary %v is not poison", rr)
		}
	}
	for _, s := range []string{"www.victim.lab. 300 IN A 198.51.100.80", "lab. 300 IN NS ns1.nic.lab.", "x. 300 IN AAAA ::1"} {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		if IsPoison(rr) {
			t.Errorf("%v is poison", rr)
		}
	}
	mapped, _ := dns.NewRR("x. 300 IN AAAA ::ffff:" + PoisonAddr.String())
	if !IsPoison(mapped) {
		t.Errorf("%v is not poison", mapped)
	}
}

// wantSections checks the rcode and the record counts of resp's sections
// (additional without OPT).
func wantSections(tb testing.TB, resp *dns.Msg, rcode, answer, ns, extra int) {
	tb.Helper()
	gotExtra := len(resp.Extra)
	if resp.IsEdns0() != nil {
		gotExtra--
	}
	if resp.Rcode != rcode || len(resp.Answer) != answer || len(resp.Ns) != ns || gotExtra != extra {
		tb.Errorf("rcode %s, sections %d/%d/%d; want %s, %d/%d/%d\n%v", dns.RcodeToString[resp.Rcode],
			len(resp.Answer), len(resp.Ns), gotExtra, dns.RcodeToString[rcode], answer, ns, extra, resp)
	}
}

func hasRR(rrs []dns.RR, want string) bool {
	return slices.Contains(rrStrings(rrs), want)
}
