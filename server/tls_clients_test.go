package server

import (
	"bufio"
	"context"
	"net/netip"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// realClient is one command-line DNS client and the arguments that make
// it ask over one transport.
type realClient struct {
	name string
	bin  string
	args func(e *encryptedSetup, caFile string) []string
	// helpWants are words the client's help must show (dig before 9.18
	// lacks +tls and +https).
	helpWants []string
}

var realClients = []realClient{
	{"kdig+tls", "kdig", func(e *encryptedSetup, ca string) []string {
		return []string{"@" + e.dot.Addr().String(), "-p", strconv.Itoa(int(e.dot.Port())), "+tls-ca=" + ca, "+tls-hostname=localhost"}
	}, []string{"+[no]tls-ca"}},
	{"kdig+https", "kdig", func(e *encryptedSetup, ca string) []string {
		return []string{"@" + e.doh.Addr().String(), "-p", strconv.Itoa(int(e.doh.Port())), "+tls-ca=" + ca, "+tls-hostname=localhost", "+https"}
	}, []string{"+[no]https"}},
	{"kdig+https-get", "kdig", func(e *encryptedSetup, ca string) []string {
		return []string{"@" + e.doh.Addr().String(), "-p", strconv.Itoa(int(e.doh.Port())), "+tls-ca=" + ca, "+tls-hostname=localhost", "+https-get"}
	}, []string{"+[no]https-get"}},
	{"kdig+quic", "kdig", func(e *encryptedSetup, ca string) []string {
		return []string{"@" + e.doq.Addr().String(), "-p", strconv.Itoa(int(e.doq.Port())), "+tls-ca=" + ca, "+tls-hostname=localhost", "+quic"}
	}, []string{"+[no]quic"}},
	{"dig+tls", "dig", func(e *encryptedSetup, ca string) []string {
		return []string{"@" + e.dot.Addr().String(), "-p", strconv.Itoa(int(e.dot.Port())), "+tls-ca=" + ca, "+tls-hostname=localhost"}
	}, []string{"+[no]tls-ca"}},
	{"dig+https", "dig", func(e *encryptedSetup, ca string) []string {
		return []string{"@" + e.doh.Addr().String(), "-p", strconv.Itoa(int(e.doh.Port())), "+tls-ca=" + ca, "+tls-hostname=localhost", "+https"}
	}, []string{"+[no]https"}},
	{"dig+https-get", "dig", func(e *encryptedSetup, ca string) []string {
		return []string{"@" + e.doh.Addr().String(), "-p", strconv.Itoa(int(e.doh.Port())), "+tls-ca=" + ca, "+tls-hostname=localhost", "+https-get"}
	}, []string{"+[no]https-get"}},
}

// available reports why c cannot run here, or "".
func (c realClient) missing() string {
	path, err := exec.LookPath(c.bin)
	if err != nil {
		return c.bin + " is not installed (Debian: knot-dnsutils for kdig, bind9-dnsutils for dig)"
	}
	help, _ := exec.Command(path, "-h").CombinedOutput()
	for _, w := range c.helpWants {
		if !strings.Contains(string(help), w) {
			return c.bin + " lacks " + w + " (dig 9.18 or later and kdig 3 have it)"
		}
	}
	return ""
}

var statusRE = regexp.MustCompile(`status: ([A-Z]+)`)

// runRealClient asks name and qtype with c and returns its answer as a
// message: the rcode and the records of the answer section.
func runRealClient(t *testing.T, c realClient, e *encryptedSetup, caFile, name string, qtype uint16) *dns.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args := append(c.args(e, caFile), "+timeout=5", "+retry=0", name, dns.TypeToString[qtype])
	out, err := exec.CommandContext(ctx, c.bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", c.bin, strings.Join(args, " "), err, out)
	}
	m := new(dns.Msg)
	status := statusRE.FindSubmatch(out)
	if status == nil {
		t.Fatalf("%s: no status in\n%s", c.bin, out)
	}
	rcode, ok := dns.StringToRcode[string(status[1])]
	if !ok {
		t.Fatalf("%s: status %s", c.bin, status[1])
	}
	m.Rcode = rcode
	m.Answer = sectionRecords(t, string(out), ";; ANSWER SECTION:")
	m.Ns = sectionRecords(t, string(out), ";; AUTHORITY SECTION:")
	return m
}

// sectionRecords parses the records printed under heading, up to the
// next blank line.
func sectionRecords(t *testing.T, out, heading string) []dns.RR {
	t.Helper()
	_, rest, found := strings.Cut(out, heading)
	if !found {
		return nil
	}
	var rrs []dns.RR
	sc := bufio.NewScanner(strings.NewReader(rest))
	sc.Scan() // the heading's line
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, ";;") {
			break
		}
		rr, err := dns.NewRR(line)
		if err != nil {
			t.Fatalf("record %q: %v", line, err)
		}
		rrs = append(rrs, rr)
	}
	return rrs
}

// TestRealClients: kdig and dig over DoT and DoH (POST and GET), and kdig
// over DoQ where it has +quic (Knot 3.3 on), get, for
// every sandbox case, the answer UDP gives. Each client missing here is
// skipped with the reason.
func TestRealClients(t *testing.T) {
	if testing.Short() {
		t.Skip("runs external clients for every sandbox case")
	}
	var usable []realClient
	for _, c := range realClients {
		if why := c.missing(); why != "" {
			t.Run(c.name, func(t *testing.T) { t.Skip(why) })
			continue
		}
		usable = append(usable, c)
	}
	if len(usable) == 0 {
		return
	}
	e, cases := startSandbox(t)
	caFile := filepath.Join(e.dir, "ca.pem")
	writeFile(t, caFile, e.ca.pem)
	for _, c := range cases {
		q := withEDNS(question(c.Qname, c.Qtype), 1232, false)
		want := exchange(t, "tcp", e.udp, q, netip.Addr{})
		for _, rc := range usable {
			t.Run(rc.name+"/"+c.Name, func(t *testing.T) {
				sameAnswer(t, runRealClient(t, rc, e, caFile, c.Qname, c.Qtype), want)
			})
		}
	}
}
