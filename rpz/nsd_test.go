package rpz

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/resolver"
	"github.com/recursor-dns/recursor/testnet"
)

// primary is an NSD serving one policy zone over AXFR on loopback.
type primary struct {
	addr netip.AddrPort
	dir  string
	zone string // the zone file's path
	cmd  *exec.Cmd
	done chan struct{}
}

// startPrimary starts nsd serving zone (origin rpz.test.) on a free
// high port of 127.0.0.1, transfers allowed to loopback, or skips the
// test when nsd is not installed.
func startPrimary(t *testing.T, zone string) *primary {
	t.Helper()
	nsd, err := testnet.NSDPath()
	if err != nil {
		t.Skipf("no real primary: %v", err)
	}
	p := &primary{dir: t.TempDir(), addr: freePort(t)}
	p.zone = filepath.Join(p.dir, "rpz.test.zone")
	p.write(t, zone)
	conf := fmt.Sprintf(`server:
	ip-address: %s@%d
	port: %d
	username: ""
	chroot: ""
	zonesdir: %q
	pidfile: %q
	database: ""
	zonelistfile: %q
	xfrdfile: %q
	xfrdir: %q
	logfile: %q
	verbosity: 1
	server-count: 1
	rrl-ratelimit: 0
	reuseport: no
remote-control:
	control-enable: no
zone:
	name: "rpz.test."
	zonefile: %q
	provide-xfr: 127.0.0.0/8 NOKEY
`, p.addr.Addr(), p.addr.Port(), p.addr.Port(), p.dir, filepath.Join(p.dir, "nsd.pid"),
		filepath.Join(p.dir, "zone.list"), filepath.Join(p.dir, "xfrd.state"), p.dir,
		filepath.Join(p.dir, "nsd.log"), p.zone)
	confPath := filepath.Join(p.dir, "nsd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(nsd, "-d", "-c", confPath)
	var out bytes.Buffer
	p.cmd.Stdout, p.cmd.Stderr = &out, &out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.done = make(chan struct{})
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.stop)
	p.waitSerial(t, soaSerial(t, zone))
	return p
}

// freePort returns a loopback address whose port is free for UDP and TCP.
func freePort(t *testing.T) netip.AddrPort {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ap := netip.MustParseAddrPort(l.Addr().String())
		u, err := net.ListenPacket("udp", ap.String())
		l.Close()
		if err == nil {
			u.Close()
			return ap
		}
	}
	t.Fatal("no free port on 127.0.0.1")
	return netip.AddrPort{}
}

// write replaces the zone file, its mtime ahead of the last one so that
// a SIGHUP reloads it whatever the clock's granularity.
func (p *primary) write(t *testing.T, zone string) {
	t.Helper()
	var mtime time.Time
	if fi, err := os.Stat(p.zone); err == nil {
		mtime = fi.ModTime().Add(2 * time.Second)
	}
	if err := os.WriteFile(p.zone, []byte(zone), 0o644); err != nil {
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(p.zone, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

// reload has nsd read the changed zone file and waits until it serves
// serial.
func (p *primary) reload(t *testing.T, zone string) {
	t.Helper()
	p.write(t, zone)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitSerial(t, soaSerial(t, zone))
}

// waitSerial polls the primary's SOA until it has serial.
func (p *primary) waitSerial(t *testing.T, serial uint32) {
	t.Helper()
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	m := new(dns.Msg).SetQuestion("rpz.test.", dns.TypeSOA)
	deadline := time.After(30 * time.Second)
	for {
		if r, _, err := c.Exchange(m, p.addr.String()); err == nil && len(r.Answer) == 1 {
			if soa, ok := r.Answer[0].(*dns.SOA); ok && soa.Serial == serial {
				return
			}
		}
		select {
		case <-p.done:
			log, _ := os.ReadFile(filepath.Join(p.dir, "nsd.log"))
			t.Fatalf("nsd exited: %s", log)
		case <-deadline:
			log, _ := os.ReadFile(filepath.Join(p.dir, "nsd.log"))
			t.Fatalf("nsd does not serve serial %d: %s", serial, log)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

func (p *primary) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func soaSerial(t *testing.T, zone string) uint32 {
	t.Helper()
	z, err := ParseFile(strings.NewReader(zone), "rpz.test.", "")
	if err != nil {
		t.Fatal(err)
	}
	return z.Serial()
}

func nsdZone(serial int, triggers string) string {
	return fmt.Sprintf(`$TTL 300
@ SOA ns.rpz.test. hostmaster.rpz.test. %d 3600 600 86400 60
@ NS  ns.rpz.test.
%s`, serial, triggers)
}

// fakeTimer is the Set's After: it records each wait asked for and fires
// when the test says.
type fakeTimer struct {
	waits chan time.Duration
	fire  chan time.Time
}

func newFakeTimer() *fakeTimer {
	return &fakeTimer{waits: make(chan time.Duration, 16), fire: make(chan time.Time)}
}

func (f *fakeTimer) after(d time.Duration) <-chan time.Time {
	f.waits <- d
	return f.fire
}

// load is one Loaded report.
type load struct {
	serial uint32
	err    error
}

// TestTransferFromNSD: the policy comes by AXFR from a real primary,
// answers at once, follows the primary's change when the refresh timer
// runs out (IXFR, which NSD without IXFR data answers so that AXFR
// follows, or with the whole zone), and keeps the last good policy when
// the primary is gone, retrying after the SOA's retry.
func TestTransferFromNSD(t *testing.T) {
	p := startPrimary(t, nsdZone(1, "blocked.example CNAME .\n*.ads.example CNAME .\n"))
	timer := newFakeTimer()
	loads := make(chan load, 16)
	var logBuf syncBuffer
	s, err := New(Config{
		Zones:  []Source{{Name: "rpz.test", Primary: p.addr}},
		After:  timer.after,
		Loaded: func(_ string, serial uint32, err error) { loads <- load{serial, err} },
		Logger: slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.MatchName("blocked.example."); ok {
		t.Fatal("a policy before the first transfer")
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { s.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	next := func(wantWait time.Duration) load {
		t.Helper()
		l := <-loads
		if d := <-timer.waits; d != wantWait {
			t.Errorf("next transfer in %v, want %v", d, wantWait)
		}
		return l
	}
	if l := next(3600 * time.Second); l.err != nil || l.serial != 1 {
		t.Fatalf("first transfer: %+v", l)
	}
	for name, want := range map[string]resolver.PolicyKind{"blocked.example.": resolver.PolicyNXDOMAIN, "x.ads.example.": resolver.PolicyNXDOMAIN, "other.example.": 0} {
		if a, _ := s.MatchName(name); a.Kind != want {
			t.Errorf("after AXFR, %s: %v, want %v", name, a.Kind, want)
		}
	}

	// Up to date: the refresh transfers nothing and waits again.
	timer.fire <- time.Now()
	if l := next(3600 * time.Second); l.err != nil || l.serial != 1 {
		t.Fatalf("refresh without change: %+v", l)
	}

	p.reload(t, nsdZone(2, "*.ads.example CNAME .\nother.example CNAME rpz-drop.\n"))
	timer.fire <- time.Now()
	if l := next(3600 * time.Second); l.err != nil || l.serial != 2 {
		t.Fatalf("refresh after the change: %+v\n%s", l, logBuf.String())
	}
	for name, want := range map[string]resolver.PolicyKind{"blocked.example.": 0, "x.ads.example.": resolver.PolicyNXDOMAIN, "other.example.": resolver.PolicyDrop} {
		if a, _ := s.MatchName(name); a.Kind != want {
			t.Errorf("after the refresh, %s: %v, want %v", name, a.Kind, want)
		}
	}
	// NSD keeps no IXFR data for a zone it loads from a file: it answers
	// the IXFR with the whole zone (RFC 1995 section 4), taken as an AXFR.
	if log := logBuf.String(); !strings.Contains(log, "IXFR answered with the whole zone") && !strings.Contains(log, "IXFR failed, trying AXFR") {
		t.Errorf("the refresh did not fall back to a whole transfer:\n%s", log)
	}

	p.stop()
	timer.fire <- time.Now()
	if l := next(600 * time.Second); l.err == nil || l.serial != 2 {
		t.Fatalf("refresh from a dead primary: %+v, want an error and serial 2 kept", l)
	}
	if a, _ := s.MatchName("other.example."); a.Kind != resolver.PolicyDrop {
		t.Errorf("the last good policy is gone after a failed refresh")
	}
}

// syncBuffer is a bytes.Buffer for a logger and a test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
