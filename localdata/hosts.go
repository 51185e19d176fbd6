package localdata

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/internal/dnsname"
)

// ParseHosts reads a hosts file in /etc/hosts form: an address, then its
// canonical name and aliases, "#" to the end of a line a comment. Every
// name gets an A or AAAA record for each address it is listed with, and
// every address one PTR record to the canonical name of the first line
// that lists it (as gethostbyaddr gives; Knot Resolver's hints and
// CoreDNS's hosts plugin also answer reverse questions from the file).
// Names are taken from the root ("myhost" is myhost.). Lines with a
// scoped address (fe80::1%eth0) are skipped: DNS cannot carry the scope.
// file names the source in errors.
func ParseHosts(r io.Reader, file string) ([]dns.RR, error) {
	var rrs []dns.RR
	ptrDone := map[netip.Addr]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		where := fmt.Sprintf("%s:%d", file, line)
		if len(fields) < 2 {
			return nil, entryError("hosts", where, fmt.Errorf("address %q without a name", fields[0]))
		}
		if strings.Contains(fields[0], "%") {
			continue
		}
		addr, err := netip.ParseAddr(fields[0])
		if err != nil {
			return nil, entryError("hosts", where, fmt.Errorf("bad address %q", fields[0]))
		}
		addr = addr.Unmap()
		for i, n := range fields[1:] {
			name, err := dnsname.Canonical(n)
			if err != nil || name == "." {
				return nil, entryError("hosts", where, fmt.Errorf("bad name %q", n))
			}
			rrs = append(rrs, addressRecord(name, addr, DefaultTTL))
			if i == 0 && !ptrDone[addr] {
				ptrDone[addr] = true
				rrs = append(rrs, ptrRecord(addr, name, DefaultTTL))
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, entryError("hosts", file, err)
	}
	return rrs, nil
}

// addressRecord is name's A or AAAA record for addr.
func addressRecord(name string, addr netip.Addr, ttl uint32) dns.RR {
	if addr.Is4() {
		return &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: net.IP(addr.AsSlice())}
	}
	return &dns.AAAA{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: ttl}, AAAA: net.IP(addr.AsSlice())}
}
