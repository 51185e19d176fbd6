package tap_test

import (
	"context"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	dnstap "github.com/dnstap/golang-dnstap"
	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"

	"github.com/recursor-dns/recursor/resolver"
	"github.com/recursor-dns/recursor/server"
	"github.com/recursor-dns/recursor/tap"
	"github.com/recursor-dns/recursor/testnet"
)

const sandboxDir = "../testdata/sandbox"

// serveTapped runs a resolver over the sandbox testnet and a server on
// loopback, both logging to tp, and tp itself until the returned stop.
func serveTapped(t *testing.T, tp *tap.Tap) (addr string, stop func()) {
	t.Helper()
	n := testnet.StartTB(t, sandboxDir)
	r, err := resolver.New(resolver.Config{
		RootHints:    n.RootHints(),
		UpstreamPort: n.Port(),
		DontQuery:    []netip.Prefix{},
		Transport:    testnet.LoopbackOnly(t, &resolver.NetTransport{}),
		DNSSEC:       resolver.DNSSECConfig{Disable: true},
		Tap:          tp,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Backend: r, Listen: []string{"127.0.0.1:0"}, Tap: tp})
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	// The tap outlives the server: answers still being sent are logged.
	ctx, cancel := context.WithCancel(context.Background())
	tapCtx, tapCancel := context.WithCancel(context.Background())
	served, tapped := make(chan error, 1), make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	go func() { tapped <- tp.Run(tapCtx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-served
		tapCancel()
		if err := <-tapped; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return addrs[0].String(), stop
}

func ask(t *testing.T, network, addr, name string, qtype uint16) {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 10 * time.Second}
	if _, _, err := c.Exchange(new(dns.Msg).SetQuestion(name, qtype), addr); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// TestFileReadByDnstapRead writes a dnstap file and reads it back with
// BIND's dnstap-read: client queries and responses over UDP (a miss, then
// a cache hit from the server's answer cache) and TCP, and the upstream
// queries and responses of the resolution.
func TestFileReadByDnstapRead(t *testing.T) {
	reader, err := exec.LookPath("dnstap-read")
	if err != nil {
		t.Skip("dnstap-read (bind9-utils) is not installed")
	}
	file := filepath.Join(t.TempDir(), "out.dnstap")
	tp, err := tap.New(tap.Config{File: file, Identity: "test-host", Version: "recursor test"})
	if err != nil {
		t.Fatal(err)
	}
	addr, stop := serveTapped(t, tp)
	ask(t, "udp", addr, "www.example.com.", dns.TypeA)
	ask(t, "udp", addr, "www.example.com.", dns.TypeA)
	ask(t, "udp", addr, "www.example.com.", dns.TypeA)
	ask(t, "tcp", addr, "nothing.example.com.", dns.TypeA)
	stop()
	if tp.Dropped() != 0 {
		t.Errorf("%d messages dropped", tp.Dropped())
	}

	out, err := exec.Command(reader, file).CombinedOutput()
	if err != nil {
		t.Fatalf("dnstap-read: %v\n%s", err, out)
	}
	// "04-Dec-2026 03:43:24.493 CQ 127.0.0.1:51083 -> ? UDP 56b www.example.com/IN/A"
	line := regexp.MustCompile(`^\S+ \S+ (CQ|CR|RQ|RR) (\S+) (->|<-) (\S+) (UDP|TCP) \d+b (\S+)/IN/(\S+)$`)
	count := map[string]int{}
	var lines int
	for l := range strings.Lines(strings.TrimSpace(string(out))) {
		m := line.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			t.Errorf("dnstap-read line not understood: %q", l)
			continue
		}
		lines++
		kind, proto, name, qtype := m[1], m[5], strings.ToLower(m[6]), m[7]
		switch kind {
		case "CQ", "CR":
			if !strings.HasPrefix(m[2], "127.0.0.1:") {
				t.Errorf("client message from %s, want 127.0.0.1", m[2])
			}
			count[kind+" "+proto+" "+name+" "+qtype]++
		case "RQ", "RR":
			if !strings.HasPrefix(m[4], "127.53.") {
				t.Errorf("upstream message to %s, want a testnet server 127.53.x.y", m[4])
			}
			count[kind]++
			count[kind+" "+name+" "+qtype]++
		}
	}
	for k, want := range map[string]int{
		"CQ UDP www.example.com A":     3,
		"CR UDP www.example.com A":     3,
		"CQ TCP nothing.example.com A": 1,
		"CR TCP nothing.example.com A": 1,
		"RQ www.example.com A":         1,
		"RR www.example.com A":         1,
		"RQ nothing.example.com A":     1,
		"RR nothing.example.com A":     1,
	} {
		if count[k] != want {
			t.Errorf("%q: %d messages, want %d\n%s", k, count[k], want, out)
		}
	}
	if count["RQ"] == 0 || count["RQ"] != count["RR"] {
		t.Errorf("%d RESOLVER_QUERY, %d RESOLVER_RESPONSE: want as many, and some", count["RQ"], count["RR"])
	}
	if uint64(lines) != tp.Sent() {
		t.Errorf("dnstap-read shows %d messages, the tap says it sent %d", lines, tp.Sent())
	}

	// The identity and version are there too (dnstap-read -y prints them).
	yaml, err := exec.Command(reader, "-y", file).CombinedOutput()
	if err != nil {
		t.Fatalf("dnstap-read -y: %v\n%s", err, yaml)
	}
	for _, want := range []string{"identity: test-host", "version: recursor test", "type: CLIENT_QUERY", "type: RESOLVER_RESPONSE"} {
		if !strings.Contains(string(yaml), want) {
			t.Errorf("dnstap-read -y shows no %q", want)
		}
	}
}

// TestSocket sends to a Unix socket where golang-dnstap's own Frame
// Streams reader listens (the bidirectional handshake of dnstap
// collectors).
func TestSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dnstap.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	in := dnstap.NewFrameStreamSockInput(l)
	frames := make(chan []byte, 1000)
	go in.ReadInto(frames)
	t.Cleanup(func() { l.Close() })

	tp, err := tap.New(tap.Config{Socket: path})
	if err != nil {
		t.Fatal(err)
	}
	addr, stop := serveTapped(t, tp)
	ask(t, "udp", addr, "www.example.com.", dns.TypeA)
	stop()

	types := map[dnstap.Message_Type]int{}
	deadline := time.After(10 * time.Second)
	for uint64(types[dnstap.Message_CLIENT_QUERY]+types[dnstap.Message_CLIENT_RESPONSE]+types[dnstap.Message_RESOLVER_QUERY]+types[dnstap.Message_RESOLVER_RESPONSE]) < tp.Sent() {
		select {
		case f := <-frames:
			var d dnstap.Dnstap
			if err := proto.Unmarshal(f, &d); err != nil {
				t.Fatal(err)
			}
			types[d.GetMessage().GetType()]++
		case <-deadline:
			t.Fatalf("got %v of %d messages sent", types, tp.Sent())
		}
	}
	if types[dnstap.Message_CLIENT_QUERY] != 1 || types[dnstap.Message_CLIENT_RESPONSE] != 1 || types[dnstap.Message_RESOLVER_QUERY] == 0 {
		t.Errorf("messages by type: %v", types)
	}
}

// TestFullQueueDrops: with nothing writing, the queue fills and the rest
// is dropped and counted; the callers never wait.
func TestFullQueueDrops(t *testing.T) {
	tp, err := tap.New(tap.Config{File: filepath.Join(t.TempDir(), "never"), QueueSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	q, _ := new(dns.Msg).SetQuestion("example.com.", dns.TypeA).Pack()
	client := netip.MustParseAddrPort("127.0.0.1:5353")
	for range 5 {
		tp.Client(client, server.TransportUDP, q, q, time.Now()) // two messages each
	}
	if tp.Dropped() != 7 || tp.Sent() != 0 {
		t.Errorf("dropped %d, sent %d; want 7 dropped (10 messages, a queue of 3), none sent", tp.Dropped(), tp.Sent())
	}
}

// TestSocketAbsent: with no collector listening, messages are dropped
// and counted, the socket is dialled again, and Run ends with its context.
func TestSocketAbsent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nobody.sock")
	synctest.Test(t, func(t *testing.T) {
		tp, err := tap.New(tap.Config{Socket: path})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- tp.Run(ctx) }()
		q, _ := new(dns.Msg).SetQuestion("example.com.", dns.TypeA).Pack()
		tp.Client(netip.MustParseAddrPort("127.0.0.1:5353"), server.TransportUDP, q, q, time.Now())
		synctest.Wait()
		if tp.Dropped() != 2 || tp.Sent() != 0 {
			t.Errorf("dropped %d, sent %d; want 2 dropped, none sent", tp.Dropped(), tp.Sent())
		}
		time.Sleep(10 * time.Second) // redials, in the bubble's time
		tp.Client(netip.MustParseAddrPort("127.0.0.1:5353"), server.TransportUDP, q, nil, time.Now())
		synctest.Wait()
		if tp.Dropped() != 3 {
			t.Errorf("dropped %d after redialling, want 3", tp.Dropped())
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []tap.Config{{}, {Socket: "a", File: "b"}, {File: "x", QueueSize: -1}} {
		if _, err := tap.New(cfg); err == nil {
			t.Errorf("New(%+v): no error", cfg)
		}
	}
	tp, _ := tap.New(tap.Config{File: filepath.Join(t.TempDir(), "no", "such", "dir")})
	if err := tp.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "dnstap file") {
		t.Errorf("Run with an uncreatable file: %v", err)
	}
}

// TestClientProtocols: a client query is logged with the dnstap protocol
// of its transport (DoT and DoH by name; DoQ, which golang-dnstap cannot
// name yet, as TCP).
func TestClientProtocols(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dnstap.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	in := dnstap.NewFrameStreamSockInput(l)
	frames := make(chan []byte, 100)
	go in.ReadInto(frames)
	t.Cleanup(func() { l.Close() })
	tp, err := tap.New(tap.Config{Socket: path})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- tp.Run(ctx) }()
	q, _ := new(dns.Msg).SetQuestion("example.com.", dns.TypeA).Pack()
	vias := []server.Transport{server.TransportUDP, server.TransportTCP, server.TransportDoT, server.TransportDoH, server.TransportDoQ}
	want := []dnstap.SocketProtocol{dnstap.SocketProtocol_UDP, dnstap.SocketProtocol_TCP, dnstap.SocketProtocol_DOT, dnstap.SocketProtocol_DOH, dnstap.SocketProtocol_TCP}
	for _, via := range vias {
		tp.Client(netip.MustParseAddrPort("127.0.0.1:5353"), via, q, nil, time.Now())
	}
	deadline := time.After(10 * time.Second)
	for i := range want {
		select {
		case f := <-frames:
			var d dnstap.Dnstap
			if err := proto.Unmarshal(f, &d); err != nil {
				t.Fatal(err)
			}
			if got := d.GetMessage().GetSocketProtocol(); got != want[i] {
				t.Errorf("%s: logged as %s, want %s", vias[i], got, want[i])
			}
		case <-deadline:
			t.Fatalf("got %d of %d messages", i, len(want))
		}
	}
	cancel()
	if err := <-ran; err != nil {
		t.Errorf("Run: %v", err)
	}
}
