package testnet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
	"unsafe"

	"github.com/miekg/dns"
)

// directCase is one question to one server and the exact reply sections.
type directCase struct {
	name          string
	server        string
	qname         string
	qtype         uint16
	rcode         int
	aa            bool
	answer, ns    []string // rrString form, any order
	extra         []string // without OPT
	checkSections bool     // ns and extra are compared too
}

var directCases = []directCase{
	{
		name: "root referral to com", server: "a.root-servers.net.", qname: "www.example.com.", qtype: dns.TypeA,
		ns:            []string{"com. 172800 NS a.gtld-servers.net.", "com. 172800 NS b.gtld-servers.net."},
		extra:         []string{"a.gtld-servers.net. 172800 A 127.53.1.1", "b.gtld-servers.net. 172800 A 127.53.1.2"},
		checkSections: true,
	},
	{
		name: "root priming", server: "b.root-servers.net.", qname: ".", qtype: dns.TypeNS, aa: true,
		answer: []string{". 518400 NS a.root-servers.net.", ". 518400 NS b.root-servers.net."},
	},
	{
		name: "root server answers from root-servers.net", server: "a.root-servers.net.", qname: "b.root-servers.net.", qtype: dns.TypeA, aa: true,
		answer: []string{"b.root-servers.net. 518400 A 127.53.0.2"},
	},
	{
		name: "root NXDOMAIN", server: "a.root-servers.net.", qname: "www.nosuchtld.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true,
		ns: []string{". 300 SOA a.root-servers.net. hostmaster.root-servers.net. 2024060101 1800 900 604800 300"}, checkSections: true,
	},
	{
		name: "com referral with in-bailiwick glue", server: "a.gtld-servers.net.", qname: "www.example.com.", qtype: dns.TypeA,
		ns:            []string{"example.com. 172800 NS ns1.example.com.", "example.com. 172800 NS ns2.example.com."},
		extra:         []string{"ns1.example.com. 172800 A 127.53.10.1", "ns2.example.com. 172800 A 127.53.10.2"},
		checkSections: true,
	},
	{
		name: "DS answered by the parent", server: "b.gtld-servers.net.", qname: "example.com.", qtype: dns.TypeDS, aa: true,
		answer:        []string{"example.com. 172800 DS 3314 13 2 3378E1E05711AD28069D77E656D1B4634FA01577EFAAA7AAA92873C7D6B52F25"},
		checkSections: true,
	},
	{
		name: "no DS for an unsigned child", server: "ns1.example.com.", qname: "shop.example.com.", qtype: dns.TypeDS, aa: true,
		ns: []string{"example.com. 300 SOA ns1.example.com. hostmaster.example.com. 2024060101 7200 3600 1209600 300"}, checkSections: true,
	},
	{
		name: "glueless referral", server: "ns1.nic.org.", qname: "www.example.org.", qtype: dns.TypeA,
		ns:            []string{"example.org. 172800 NS ns1.dns-host.net.", "example.org. 172800 NS ns2.dns-host.net."},
		checkSections: true,
	},
	{
		name: "cycle referral without glue", server: "ns2.nic.lab.", qname: "www.cycle-a.lab.", qtype: dns.TypeA,
		ns: []string{"cycle-a.lab. 172800 NS ns.cycle-b.lab."}, checkSections: true,
	},
	{
		name: "referral to a child on other servers", server: "ns1.example.com.", qname: "www.shop.example.com.", qtype: dns.TypeA,
		ns:            []string{"shop.example.com. 86400 NS ns1.shop.example.com.", "shop.example.com. 86400 NS ns2.shop.example.com."},
		extra:         []string{"ns1.shop.example.com. 86400 A 127.53.11.1", "ns2.shop.example.com. 86400 A 127.53.11.2"},
		checkSections: true,
	},
	{
		name: "AA answer", server: "ns2.example.com.", qname: "www.example.com.", qtype: dns.TypeA, aa: true,
		answer: []string{"www.example.com. 300 A 192.0.2.10"}, checkSections: true,
	},
	{
		name: "NODATA", server: "ns1.example.com.", qname: "v4only.example.com.", qtype: dns.TypeAAAA, aa: true,
		ns: []string{"example.com. 300 SOA ns1.example.com. hostmaster.example.com. 2024060101 7200 3600 1209600 300"}, checkSections: true,
	},
	{
		name: "NXDOMAIN", server: "ns1.example.com.", qname: "nothing.example.com.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true,
		ns: []string{"example.com. 300 SOA ns1.example.com. hostmaster.example.com. 2024060101 7200 3600 1209600 300"}, checkSections: true,
	},
	{
		name: "wildcard", server: "ns1.example.com.", qname: "x.y.wild.example.com.", qtype: dns.TypeA, aa: true,
		answer: []string{"x.y.wild.example.com. 3600 A 192.0.2.50"},
	},
	{
		name: "empty non-terminal is NODATA", server: "ns1.example.com.", qname: "wild.example.com.", qtype: dns.TypeA, aa: true,
		ns: []string{"example.com. 300 SOA ns1.example.com. hostmaster.example.com. 2024060101 7200 3600 1209600 300"}, checkSections: true,
	},
	{
		name: "CNAME chain followed in the zone", server: "ns1.example.com.", qname: "chain1.example.com.", qtype: dns.TypeA, aa: true,
		answer: []string{
			"chain1.example.com. 3600 CNAME chain2.example.com.",
			"chain2.example.com. 3600 CNAME www.example.com.",
			"www.example.com. 300 A 192.0.2.10",
		},
	},
	{
		name: "CNAME out of the server's zones", server: "ns1.example.com.", qname: "alias.example.com.", qtype: dns.TypeA, aa: true,
		answer: []string{"alias.example.com. 3600 CNAME www.example.net."}, checkSections: true,
	},
	{
		name: "CNAME query", server: "ns1.example.com.", qname: "chain1.example.com.", qtype: dns.TypeCNAME, aa: true,
		answer: []string{"chain1.example.com. 3600 CNAME chain2.example.com."},
	},
	{
		name: "CNAME to NXDOMAIN", server: "ns1.example.com.", qname: "dangling.example.com.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true,
		answer: []string{"dangling.example.com. 3600 CNAME nothing-here.example.com."},
		ns:     []string{"example.com. 300 SOA ns1.example.com. hostmaster.example.com. 2024060101 7200 3600 1209600 300"}, checkSections: true,
	},
	{
		name: "DNAME synthesis", server: "ns1.example.com.", qname: "a.b.old.example.com.", qtype: dns.TypeAAAA, aa: true,
		answer: []string{
			"old.example.com. 3600 DNAME new.example.org.",
			"a.b.old.example.com. 3600 CNAME a.b.new.example.org.",
		},
		checkSections: true,
	},
	{
		name: "out of zone is REFUSED", server: "ns1.example.com.", qname: "www.example.net.", qtype: dns.TypeA, rcode: dns.RcodeRefused,
		checkSections: true,
	},
	{
		name: "parent and child on one server: deepest zone", server: "ns1.hosting.lab.", qname: "www.sub.beta.lab.", qtype: dns.TypeA, aa: true,
		answer: []string{"www.sub.beta.lab. 300 A 198.51.100.41"}, checkSections: true,
	},
	{
		name: "child's DS from the parent on the same server", server: "ns2.hosting.lab.", qname: "sub.beta.lab.", qtype: dns.TypeDS, aa: true,
		ns: []string{"beta.lab. 300 SOA ns1.hosting.lab. hostmaster.hosting.lab. 2024060101 7200 3600 1209600 300"}, checkSections: true,
	},
	{
		name: "negative TTL is the SOA TTL when below MINIMUM", server: "ns1.nic.lab.", qname: "nosuch.lab.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true,
		ns: []string{"lab. 600 SOA ns1.nic.lab. hostmaster.nic.lab. 2024060101 1800 900 604800 900"}, checkSections: true,
	},
	{
		name: "lame server", server: "ns2.partly-lame.lab.", qname: "www.partly-lame.lab.", qtype: dns.TypeA, rcode: dns.RcodeRefused,
		checkSections: true,
	},
	{
		name: "all-lame server", server: "ns1.all-lame.lab.", qname: "all-lame.lab.", qtype: dns.TypeSOA, rcode: dns.RcodeRefused,
		checkSections: true,
	},
	{
		name: "partly lame zone's good server", server: "ns1.partly-lame.lab.", qname: "www.partly-lame.lab.", qtype: dns.TypeA, aa: true,
		answer: []string{"www.partly-lame.lab. 300 A 198.51.100.50"},
	},
}

// checkDirect asks each direct case of a network on its port. minimal says
// the servers leave the authority and additional sections of positive
// answers empty (ours do; NSD fills them).
func checkDirect(t *testing.T, servers []Server, port uint16, minimal bool) {
	for _, c := range directCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			resp := query(t, ask{edns: EDNSBufferSize}, serverAddr(t, servers, c.server), port, c.qname, c.qtype)
			if resp.Rcode != c.rcode || resp.Authoritative != c.aa {
				t.Errorf("rcode %s AA %t, want %s AA %t", dns.RcodeToString[resp.Rcode], resp.Authoritative,
					dns.RcodeToString[c.rcode], c.aa)
			}
			checkSection(t, "answer", resp.Answer, c.answer)
			if c.checkSections && (minimal || len(c.answer) == 0 || resp.Rcode != dns.RcodeSuccess) {
				checkSection(t, "authority", resp.Ns, c.ns)
				checkSection(t, "additional", resp.Extra, c.extra)
			}
		})
	}
}

func checkSection(tb testing.TB, section string, got []dns.RR, want []string) {
	tb.Helper()
	want = slices.Sorted(slices.Values(want))
	if gotS := rrStrings(got); !slices.Equal(gotS, want) {
		tb.Errorf("%s section\n  %s\nwant\n  %s", section, strings.Join(gotS, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestDirect(t *testing.T) {
	n := StartTB(t, sandboxDir)
	checkDirect(t, n.Servers(), n.Port(), true)
}

func TestEDNSAndTruncation(t *testing.T) {
	n := StartTB(t, sandboxDir)
	ns1 := serverAddr(t, n.Servers(), "ns1.example.com.")
	tests := []struct {
		name      string
		ask       ask
		qname     string
		wantTC    bool
		wantOPT   bool
		wantBytes int // the TXT strings' total length, when answered
		rcode     int
	}{
		{"UDP EDNS 1232 truncates", ask{edns: 1232}, "big.example.com.", true, true, 0, dns.RcodeSuccess},
		{"UDP EDNS 4096 still capped at 1232", ask{edns: 4096}, "big.example.com.", true, true, 0, dns.RcodeSuccess},
		{"UDP without EDNS truncates at 512", ask{}, "big.example.com.", true, false, 0, dns.RcodeSuccess},
		{"TCP gets it all", ask{tcp: true, edns: 1232}, "big.example.com.", false, true, 2000, dns.RcodeSuccess},
		{"TCP without EDNS", ask{tcp: true}, "big.example.com.", false, false, 2000, dns.RcodeSuccess},
		{"small answer fits", ask{}, "example.com.", false, false, len("v=spf1 mx -all"), dns.RcodeSuccess},
		{"EDNS version 1 is BADVERS", ask{edns: 1232, ednsV: 1}, "example.com.", false, true, 0, dns.RcodeBadVers},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := query(t, tt.ask, ns1, n.Port(), tt.qname, dns.TypeTXT)
			if resp.Truncated != tt.wantTC || resp.Rcode != tt.rcode {
				t.Errorf("TC %t rcode %s, want TC %t rcode %s", resp.Truncated, dns.RcodeToString[resp.Rcode],
					tt.wantTC, dns.RcodeToString[tt.rcode])
			}
			opt := resp.IsEdns0()
			if (opt != nil) != tt.wantOPT {
				t.Fatalf("OPT in reply: %t, want %t", opt != nil, tt.wantOPT)
			}
			if opt != nil && opt.UDPSize() != EDNSBufferSize {
				t.Errorf("OPT UDP size %d, want %d", opt.UDPSize(), EDNSBufferSize)
			}
			total := 0
			for _, rr := range resp.Answer {
				for _, s := range rr.(*dns.TXT).Txt {
					total += len(s)
				}
			}
			if total != tt.wantBytes {
				t.Errorf("TXT bytes %d, want %d", total, tt.wantBytes)
			}
			if tt.wantTC && len(resp.Answer) != 0 {
				t.Errorf("truncated reply keeps %d answer records", len(resp.Answer))
			}
		})
	}
}

func TestCaseEchoed(t *testing.T) {
	n := StartTB(t, sandboxDir)
	addr := serverAddr(t, n.Servers(), "ns1.example.com.")
	for _, qname := range []string{"WwW.ExAmPlE.cOm.", "X.WILD.example.COM.", "ChAiN1.example.com."} {
		t.Run(qname, func(t *testing.T) {
			resp := query(t, ask{}, addr, n.Port(), qname, dns.TypeA)
			if resp.Question[0].Name != qname {
				t.Errorf("question %q, want %q as sent", resp.Question[0].Name, qname)
			}
			if len(resp.Answer) == 0 || resp.Answer[0].Header().Name != qname {
				t.Errorf("answer %v, want the first owner %q", resp.Answer, qname)
			}
		})
	}
}

func TestBadPackets(t *testing.T) {
	n := StartTB(t, sandboxDir)
	addr := netip.AddrPortFrom(serverAddr(t, n.Servers(), "ns1.example.com."), n.Port())

	valid := new(dns.Msg).SetQuestion("www.example.com.", dns.TypeA)
	valid.Id = 0x1234
	wire, err := valid.Pack()
	if err != nil {
		t.Fatal(err)
	}
	response := valid.Copy()
	response.Response = true
	responseWire, err := response.Pack()
	if err != nil {
		t.Fatal(err)
	}
	twoOPT := valid.Copy()
	twoOPT.SetEdns0(1232, false)
	twoOPT.Extra = append(twoOPT.Extra, dns.Copy(twoOPT.Extra[0]))
	twoOPTWire, err := twoOPT.Pack()
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		wire  []byte
		rcode int // -1: no reply
	}{
		{"header and a cut question", wire[:len(wire)-3], dns.RcodeFormatError},
		{"question count without questions", append(slices.Clone(wire[:12]), 0xff), dns.RcodeFormatError},
		{"two OPT records", twoOPTWire, dns.RcodeFormatError},
		{"QR set: no reply", responseWire, -1},
		{"shorter than a header: no reply", []byte{0x12, 0x34, 0x01}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := replyTimeout
			if tt.rcode < 0 {
				timeout = silenceTimeout
			}
			reply, err := rawUDP(t.Context(), addr, tt.wire, timeout)
			if tt.rcode < 0 {
				if !isTimeout(err) {
					t.Fatalf("got reply %v, err %v; want no reply", reply, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if reply.Rcode != tt.rcode || reply.Id != 0x1234 {
				t.Errorf("rcode %s id %#x, want %s id 0x1234", dns.RcodeToString[reply.Rcode], reply.Id, dns.RcodeToString[tt.rcode])
			}
		})
	}
	// The server still answers afterwards.
	query(t, ask{}, addr.Addr(), n.Port(), "www.example.com.", dns.TypeA)
}

// rawUDP sends bytes and reads one reply.
func rawUDP(ctx context.Context, addr netip.AddrPort, wire []byte, timeout time.Duration) (*dns.Msg, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", addr.String())
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	if _, err := conn.Write(wire); err != nil {
		return nil, err
	}
	buf := make([]byte, dns.MaxMsgSize)
	size, err := conn.Read(buf)
	if err != nil {
		return nil, err
	}
	m := new(dns.Msg)
	return m, m.Unpack(buf[:size])
}

func TestDeadServer(t *testing.T) {
	n := StartTB(t, sandboxDir)
	dead := serverAddr(t, n.Servers(), "ns1.dead.lab.")
	for _, tcp := range []bool{false, true} {
		_, err := ask{tcp: tcp, edns: 1232, timeout: silenceTimeout}.exchange(t.Context(), dead, n.Port(), "www.dead.lab.", dns.TypeA)
		if !isTimeout(err) {
			t.Errorf("tcp=%t: err %v, want a timeout", tcp, err)
		}
	}
	want := []Query{
		{Server: dead, Qname: "www.dead.lab.", Qtype: dns.TypeA, EDNS: true},
		{Server: dead, Qname: "www.dead.lab.", Qtype: dns.TypeA, TCP: true, EDNS: true},
	}
	if got := n.Queries(); !slices.Equal(got, want) {
		t.Errorf("queries %v, want %v", got, want)
	}
}

func TestQueries(t *testing.T) {
	n := StartTB(t, sandboxDir)
	root := serverAddr(t, n.Servers(), "a.root-servers.net.")
	ns1 := serverAddr(t, n.Servers(), "ns1.example.com.")
	lame := serverAddr(t, n.Servers(), "ns2.partly-lame.lab.")
	query(t, ask{}, root, n.Port(), "WWW.example.COM.", dns.TypeA)
	query(t, ask{tcp: true}, ns1, n.Port(), "big.example.com.", dns.TypeTXT)
	query(t, ask{edns: 1232}, lame, n.Port(), "www.partly-lame.lab.", dns.TypeAAAA)
	want := []Query{
		{Server: root, Qname: "WWW.example.COM.", Qtype: dns.TypeA},
		{Server: ns1, Qname: "big.example.com.", Qtype: dns.TypeTXT, TCP: true},
		{Server: lame, Qname: "www.partly-lame.lab.", Qtype: dns.TypeAAAA, EDNS: true},
	}
	if got := n.Queries(); !slices.Equal(got, want) {
		t.Errorf("queries\n  %v\nwant\n  %v", got, want)
	}
	n.ResetQueries()
	if got := n.Queries(); len(got) != 0 {
		t.Errorf("after ResetQueries: %v", got)
	}
	for i, wantString := range map[int]string{1: "127.53.10.1 tcp big.example.com. TXT", 2: "127.53.20.2 udp www.partly-lame.lab. AAAA +edns"} {
		if got := want[i].String(); got != wantString {
			t.Errorf("Query.String() = %q, want %q", got, wantString)
		}
	}
}

// TestQueryLogBounded: however many queries pass, the log keeps the first
// MaxLoggedQueries in little memory and counts them all.
func TestQueryLogBounded(t *testing.T) {
	var n Network
	const total = 100_000 // a few seconds of serve --sandbox under load
	name := func(i int) string { return fmt.Sprintf("q%d.example.", i) }
	for i := range total {
		n.record(Query{Server: netip.MustParseAddr("127.53.0.1"), Qname: name(i), Qtype: dns.TypeA})
	}
	got := n.Queries()
	if want := min(total, MaxLoggedQueries); len(got) != want || got[0].Qname != name(0) || got[len(got)-1].Qname != name(want-1) {
		t.Errorf("logged %d queries, %v to %v; want the first %d", len(got), got[0], got[len(got)-1], want)
	}
	if c := n.QueryCount(); c != total {
		t.Errorf("QueryCount %d, want %d", c, total)
	}
	// What the log holds on to: its array and the names.
	size := cap(n.queries) * int(unsafe.Sizeof(Query{}))
	for _, q := range n.queries {
		size += len(q.Qname)
	}
	if size > 1<<20 {
		t.Errorf("the log holds %d bytes after %d queries, want at most 1 MiB", size, total)
	}
	n.ResetQueries()
	n.record(Query{Qname: "after.example."})
	if got, c := n.Queries(), n.QueryCount(); len(got) != 1 || got[0].Qname != "after.example." || c != 1 {
		t.Errorf("after ResetQueries: %v, count %d; want the one new query", got, c)
	}
}

func TestRootHints(t *testing.T) {
	n := StartTB(t, sandboxDir)
	h := n.RootHints()
	var got []string
	for _, s := range h.Servers {
		for _, a := range s.Addrs {
			got = append(got, s.Name+" "+a.String())
		}
	}
	want := []string{"a.root-servers.net. 127.53.0.1", "b.root-servers.net. 127.53.0.2"}
	if !slices.Equal(got, want) || h.TTL != 518400 {
		t.Errorf("hints %v TTL %d, want %v TTL 518400", got, h.TTL, want)
	}
	h.Servers[0].Addrs[0] = netip.MustParseAddr("192.0.2.1")
	if n.RootHints().Servers[0].Addrs[0] != netip.MustParseAddr("127.53.0.1") {
		t.Error("RootHints returns shared state")
	}
}

func TestFixedPortAndCollision(t *testing.T) {
	n := StartTB(t, sandboxDir)
	_, err := Start(Config{Dir: sandboxDir, Port: n.Port()})
	if err == nil {
		t.Fatal("second network on a taken port started")
	}
	if !strings.Contains(err.Error(), "listen") {
		t.Errorf("err %v, want a listen error", err)
	}
}

func TestCloseIdempotent(t *testing.T) {
	n, err := Start(Config{Dir: sandboxDir})
	if err != nil {
		t.Fatal(err)
	}
	// TCP connections held open, to the dead server and to a live one,
	// must not block Close.
	for _, name := range []string{"ns1.dead.lab.", "ns1.example.com."} {
		conn, err := net.Dial("tcp", netip.AddrPortFrom(serverAddr(t, n.Servers(), name), n.Port()).String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
	}
	if err := n.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := net.Dial("tcp", netip.AddrPortFrom(serverAddr(t, n.Servers(), "ns1.example.com."), n.Port()).String()); err == nil {
		t.Error("server still accepts after Close")
	}
}

// fakeExchanger answers every query with an empty reply.
type fakeExchanger struct{ calls int }

func (f *fakeExchanger) Exchange(_ context.Context, m *dns.Msg, _ netip.AddrPort) (*dns.Msg, time.Duration, error) {
	f.calls++
	return new(dns.Msg).SetReply(m), 0, nil
}

func TestLoopbackOnly(t *testing.T) {
	tests := []struct {
		server  string
		allowed bool
	}{
		{"127.53.0.1:53", true},
		{"127.0.0.1:5353", true},
		{"[::1]:53", true},
		{"[::ffff:127.0.0.1]:53", true},
		{"192.0.2.1:53", false},
		{"198.41.0.4:53", false},
		{"[2001:db8::1]:53", false},
		{"[::]:53", false},
		{"0.0.0.0:53", false},
	}
	for _, tt := range tests {
		t.Run(tt.server, func(t *testing.T) {
			rec := &tbRecorder{TB: t}
			next := &fakeExchanger{}
			m := new(dns.Msg).SetQuestion("example.com.", dns.TypeA)
			_, _, err := LoopbackOnly(rec, next).Exchange(t.Context(), m, netip.MustParseAddrPort(tt.server))
			if tt.allowed {
				if err != nil || next.calls != 1 || len(rec.errors) != 0 {
					t.Errorf("err %v, calls %d, test errors %v; want it passed through", err, next.calls, rec.errors)
				}
				return
			}
			if err == nil || next.calls != 0 || len(rec.errors) != 1 {
				t.Errorf("err %v, calls %d, test errors %d; want an error, no call and a failed test", err, next.calls, len(rec.errors))
			}
		})
	}
}

func TestParseConfErrors(t *testing.T) {
	tests := []struct {
		name, conf, wantErr string
	}{
		{"empty", "# nothing\n", "no servers"},
		{"too few fields", "ns1.a. 127.53.0.1\n", "want: name address mode"},
		{"not loopback", "ns1.a. 192.0.2.1 auth a.\n", "not loopback"},
		{"unspecified", "ns1.a. 0.0.0.0 auth a.\n", "not loopback"},
		{"bad address", "ns1.a. 127.53.0.300 auth a.\n", "ParseAddr"},
		{"bad mode", "ns1.a. 127.53.0.1 broken\n", "mode"},
		{"auth without zones", "ns1.a. 127.53.0.1 auth\n", "no zones"},
		{"dead with zones", "ns1.a. 127.53.0.1 dead a.\n", "serves no zones"},
		{"duplicate name", "ns1.a. 127.53.0.1 lame\nns1.a. 127.53.0.2 lame\n", "listed twice"},
		{"duplicate address", "ns1.a. 127.53.0.1 lame\nns2.a. 127.53.0.1 lame\n", "used twice"},
		{"zone twice", "ns1.a. 127.53.0.1 auth a. A.\n", "listed twice"},
		{"path in zone name", "ns1.a. 127.53.0.1 auth a/b.\n", "bad zone name"},
		{"bad zone name", "ns1.a. 127.53.0.1 auth a..b\n", "bad zone name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConf(strings.NewReader(tt.conf))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseZoneErrors(t *testing.T) {
	const head = "$ORIGIN a.\n@ 60 IN SOA ns hm 1 2 3 4 5\n@ 60 IN NS ns\n"
	tests := []struct {
		name, zone, wantErr string
	}{
		{"no SOA", "$ORIGIN a.\n@ 60 IN NS ns\n", "no SOA"},
		{"no NS", "$ORIGIN a.\n@ 60 IN SOA ns hm 1 2 3 4 5\n", "no NS"},
		{"two SOA", head + "@ 60 IN SOA ns hm 2 2 3 4 5\n", "more than one SOA"},
		{"SOA below apex", head + "b 60 IN SOA ns hm 1 2 3 4 5\n", "want the apex"},
		{"out of zone", head + "b. 60 IN A 192.0.2.1\n", "outside the zone"},
		{"class CH", head + "b 60 CH TXT x\n", "class"},
		{"syntax", head + "b 60 IN A not-an-address\n", "zone a."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseZone("a.", "test.zone", strings.NewReader(tt.zone))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestStartErrors(t *testing.T) {
	const rootZone = "$ORIGIN .\n@ 60 IN SOA a.root. hm.root. 1 2 3 4 5\n@ 60 IN NS a.root.\n"
	tests := []struct {
		name    string
		files   fstest.MapFS
		wantErr string
	}{
		{"no network.conf", fstest.MapFS{}, "file does not exist"},
		{"zone file missing", fstest.MapFS{ConfFile: {Data: []byte("a.root. 127.53.0.1 auth .\n")}}, "zone .: open"},
		{"no root server", fstest.MapFS{ConfFile: {Data: []byte("a.root. 127.53.0.1 lame\n")}}, "no server serves the root zone"},
		{"bad zone file", fstest.MapFS{
			ConfFile:                {Data: []byte("a.root. 127.53.0.1 auth .\n")},
			ZonesDir + "/root.zone": {Data: []byte("$ORIGIN .\n@ 60 IN NS a.root.\n")},
		}, "no SOA"},
		{"minimal network starts", fstest.MapFS{
			ConfFile:                {Data: []byte("a.root. 127.53.0.1 auth .\n")},
			ZonesDir + "/root.zone": {Data: []byte(rootZone)},
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Start(Config{FS: tt.files})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				resp := query(t, ask{}, netip.MustParseAddr("127.53.0.1"), n.Port(), ".", dns.TypeSOA)
				if !resp.Authoritative || len(resp.Answer) != 1 {
					t.Errorf("root SOA: %v", resp)
				}
				n.Close()
				return
			}
			if err == nil {
				n.Close()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestReadCasesErrors(t *testing.T) {
	const head = "| case | qname | qtype | rcode | answer | negative | exercises |\n|---|---|---|---|---|---|---|\n"
	tests := []struct {
		name, text, wantErr string
	}{
		{"no table", "# nothing\n", "no cases"},
		{"short row", head + "| a | b. | A | NOERROR |\n", "want 7"},
		{"bad qtype", head + "| a | b. | AX | NOERROR | - | - | x |\n", "qtype"},
		{"bad rcode", head + "| a | b. | A | NOPE | - | - | x |\n", "rcode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "CASES.md"), []byte(tt.text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadCases(dir)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestReadCases(t *testing.T) {
	cases := readCases(t)
	byName := map[string]Case{}
	for _, c := range cases {
		if _, dup := byName[c.Name]; dup {
			t.Errorf("case %s listed twice", c.Name)
		}
		byName[c.Name] = c
	}
	want := Case{
		Name: "dname", Qname: "www.old.example.com.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess,
		Answer: []string{
			"old.example.com. 3600 DNAME new.example.org.",
			"www.old.example.com. 3600 CNAME www.new.example.org.",
			"www.new.example.org. 300 A 198.51.100.21",
		},
	}
	if got := byName["dname"]; !slices.Equal(got.Answer, want.Answer) || got.Qname != want.Qname || got.Qtype != want.Qtype || got.Rcode != want.Rcode {
		t.Errorf("dname case %+v, want %+v", got, want)
	}
	if got := byName["big-txt"].Answer; !slices.Equal(got, []string{"big.example.com. 3600 TXT <...>"}) {
		t.Errorf("big-txt answer %q, want the data elided", got)
	}
	if got := byName["nxdomain"]; got.Rcode != dns.RcodeNameError || got.Negative != "example.com. 300" || got.Answer != nil {
		t.Errorf("nxdomain case %+v", got)
	}
}

func TestSummarise(t *testing.T) {
	tests := []struct {
		rr    string
		elide bool
		want  string
	}{
		{"WWW.Example.COM. 300 IN A 192.0.2.10", false, "www.example.com. 300 A 192.0.2.10"},
		{"example.com. 3600 IN MX 10 mail.example.com.", false, "example.com. 3600 MX 10 mail.example.com."},
		{`t.example.com. 60 IN TXT "a" "b"`, false, `t.example.com. 60 TXT "a" "b"`},
		{`t.example.com. 60 IN TXT "a" "b"`, true, "t.example.com. 60 TXT <...>"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			rr, err := dns.NewRR(tt.rr)
			if err != nil {
				t.Fatal(err)
			}
			if got := Summarise(rr, tt.elide); got != tt.want {
				t.Errorf("Summarise(%s) = %q, want %q", tt.rr, got, tt.want)
			}
		})
	}
}
