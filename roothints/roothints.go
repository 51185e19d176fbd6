// Package roothints owns the root name server hints: the embedded IANA
// named.root file and a parser for any file in that format. It does no I/O;
// callers hand it a reader.
package roothints

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/internal/dnsname"
)

//go:embed named.root
var embedded []byte

// Server is one root name server: its name and its addresses.
type Server struct {
	Name  string // fully qualified, lower case
	Addrs []netip.Addr
}

// Hints is a parsed root hints file.
type Hints struct {
	Servers []Server
	TTL     uint32 // TTL of the root NS records in the file
}

// Limits that keep a hostile or mistaken hints file from costing much.
const (
	MaxServers        = 64
	MaxAddrsPerServer = 16
	maxFileBytes      = 1 << 20
)

// Default returns the embedded IANA root hints.
func Default() *Hints {
	h, err := Parse(bytes.NewReader(embedded))
	if err != nil {
		panic("roothints: embedded named.root is broken: " + err.Error())
	}
	return h
}

// Parse reads a file in named.root format: NS records for the root and A or
// AAAA records for the servers they name. Records of other owners or types are
// rejected, and every server named must have at least one address.
func Parse(r io.Reader) (*Hints, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("roothints: read: %w", err)
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("roothints: file larger than %d bytes", maxFileBytes)
	}
	zp := dns.NewZoneParser(bytes.NewReader(data), ".", "named.root")
	var (
		order []string
		addrs = map[string][]netip.Addr{}
		ttl   uint32
	)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		h := rr.Header()
		owner, err := dnsname.Canonical(h.Name)
		if err != nil {
			return nil, fmt.Errorf("roothints: owner %q: %w", h.Name, err)
		}
		if h.Class != dns.ClassINET {
			return nil, fmt.Errorf("roothints: %s: class %s, want IN", owner, dns.ClassToString[h.Class])
		}
		switch rr := rr.(type) {
		case *dns.NS:
			if owner != "." {
				return nil, fmt.Errorf("roothints: NS record for %q, want only the root", owner)
			}
			name, err := dnsname.Canonical(rr.Ns)
			if err != nil {
				return nil, fmt.Errorf("roothints: NS %q: %w", rr.Ns, err)
			}
			if _, dup := addrs[name]; !dup {
				if len(order) == MaxServers {
					return nil, fmt.Errorf("roothints: more than %d servers", MaxServers)
				}
				order = append(order, name)
				addrs[name] = nil
			}
			ttl = h.Ttl
		case *dns.A, *dns.AAAA:
			var ip netip.Addr
			if a, isA := rr.(*dns.A); isA {
				ip, _ = netip.AddrFromSlice(a.A.To4())
			} else {
				ip, _ = netip.AddrFromSlice(rr.(*dns.AAAA).AAAA.To16())
			}
			if !ip.IsValid() {
				return nil, fmt.Errorf("roothints: %s: bad address", owner)
			}
			have, named := addrs[owner]
			if !named {
				return nil, fmt.Errorf("roothints: address for %s, which no root NS record names before it", owner)
			}
			if len(have) == MaxAddrsPerServer {
				return nil, fmt.Errorf("roothints: %s: more than %d addresses", owner, MaxAddrsPerServer)
			}
			addrs[owner] = append(have, ip.Unmap())
		default:
			return nil, fmt.Errorf("roothints: %s: unexpected %s record", owner, dns.TypeToString[h.Rrtype])
		}
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("roothints: %w", err)
	}
	if len(order) == 0 {
		return nil, errors.New("roothints: no NS records for the root")
	}
	hints := &Hints{TTL: ttl}
	for _, name := range order {
		if len(addrs[name]) == 0 {
			return nil, fmt.Errorf("roothints: %s has no address", name)
		}
		hints.Servers = append(hints.Servers, Server{Name: name, Addrs: addrs[name]})
	}
	return hints, nil
}

// NS returns the root NS records the hints describe.
func (h *Hints) NS() []dns.RR {
	out := make([]dns.RR, 0, len(h.Servers))
	for _, s := range h.Servers {
		out = append(out, &dns.NS{
			Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: h.TTL},
			Ns:  s.Name,
		})
	}
	return out
}

// Glue returns the A and AAAA records of the root servers.
func (h *Hints) Glue() []dns.RR {
	var out []dns.RR
	for _, s := range h.Servers {
		for _, a := range s.Addrs {
			out = append(out, addrRR(s.Name, a, h.TTL))
		}
	}
	return out
}

// WriteTo writes the hints in named.root format, readable by Parse, NSD,
// Unbound and BIND.
func (h *Hints) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	for _, s := range h.Servers {
		fmt.Fprintf(&b, ".\t%d\tIN\tNS\t%s\n", h.TTL, s.Name)
		for _, a := range s.Addrs {
			fmt.Fprintf(&b, "%s\n", addrRR(s.Name, a, h.TTL).String())
		}
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

func addrRR(name string, a netip.Addr, ttl uint32) dns.RR {
	hdr := dns.RR_Header{Name: name, Class: dns.ClassINET, Ttl: ttl}
	if a.Is4() {
		hdr.Rrtype = dns.TypeA
		return &dns.A{Hdr: hdr, A: a.AsSlice()}
	}
	hdr.Rrtype = dns.TypeAAAA
	return &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()}
}
