package resolver

// A signed zone tree built in process for the validation fuzzer and the
// DNSSEC benchmarks: zones signed at build time with Ed25519 keys from
// fixed seeds (Ed25519 signatures are deterministic, so every build is
// byte for byte the same), NSEC chains, and an authority that answers
// from them through the wire format, with no socket.

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/dnssec"
	"github.com/recursor-dns/recursor/roothints"
)

// treeNow is the clock of every resolver over a signed tree: the
// signatures are valid for a month either side of it.
var treeNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func treeClock() time.Time { return treeNow }

// treeKey is a zone signing key and its DNSKEY record.
type treeKey struct {
	rr   *dns.DNSKEY
	priv ed25519.PrivateKey
}

// newTreeKey derives a key for zone from seed; flags 257 for a key
// signing key, 256 for a zone signing key.
func newTreeKey(zone string, seed byte, flags uint16) *treeKey {
	var s [ed25519.SeedSize]byte
	for i := range s {
		s[i] = seed
	}
	priv := ed25519.NewKeyFromSeed(s[:])
	rr := &dns.DNSKEY{
		Hdr:       dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags:     flags,
		Protocol:  3,
		Algorithm: dns.ED25519,
	}
	rr.PublicKey = base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))
	return &treeKey{rr: rr, priv: priv}
}

func (k *treeKey) ds() *dns.DS { return k.rr.ToDS(dns.SHA256) }

// sign returns the RRSIG of rrset by k.
func (k *treeKey) sign(tb testing.TB, rrset []dns.RR) *dns.RRSIG {
	tb.Helper()
	sig := &dns.RRSIG{
		Hdr:        dns.RR_Header{Ttl: rrset[0].Header().Ttl},
		Algorithm:  k.rr.Algorithm,
		KeyTag:     k.rr.KeyTag(),
		SignerName: k.rr.Hdr.Name,
		Inception:  uint32(treeNow.Add(-30 * 24 * time.Hour).Unix()),
		Expiration: uint32(treeNow.Add(30 * 24 * time.Hour).Unix()),
	}
	if err := sig.Sign(k.priv, rrset); err != nil {
		tb.Fatalf("sign %s: %v", rrset[0].Header().Name, err)
	}
	return sig
}

type rrKey struct {
	name  string
	rtype uint16
}

// treeZone is one zone: its RRsets (delegations and glue included), the
// RRSIGs of the signed ones and the NSEC chain, with an authority's logic.
type treeZone struct {
	name   string
	rrsets map[rrKey][]dns.RR
	sigs   map[rrKey][]dns.RR
	nsec   []*dns.NSEC // canonical order
	owners map[string]bool
}

// newTreeZone builds zone from records, signed when ksk is not nil (zsk
// nil: ksk signs everything). extra are records added as they are (a DS
// computed from a child's key).
func newTreeZone(tb testing.TB, zone string, ksk, zsk *treeKey, records []string, extra ...dns.RR) *treeZone {
	tb.Helper()
	z := &treeZone{name: zone, rrsets: map[rrKey][]dns.RR{}, sigs: map[rrKey][]dns.RR{}, owners: map[string]bool{}}
	all := append(rrs(tb, records...), extra...)
	if ksk != nil {
		all = append(all, ksk.rr)
		if zsk != nil {
			all = append(all, zsk.rr)
		}
	}
	for _, rr := range all {
		k := rrKey{dns.CanonicalName(rr.Header().Name), rr.Header().Rrtype}
		z.rrsets[k] = append(z.rrsets[k], rr)
	}
	for k := range z.rrsets {
		if !z.glue(k.name) {
			z.owners[k.name] = true
		}
	}
	if ksk != nil {
		z.sign(tb, ksk, zsk)
	}
	return z
}

// cut is the delegation at or above name inside z, or "".
func (z *treeZone) cut(name string) string {
	for n := name; n != z.name && dns.IsSubDomain(z.name, n); n = parentZone(n) {
		if _, ok := z.rrsets[rrKey{n, dns.TypeNS}]; ok {
			return n
		}
	}
	return ""
}

// glue: name lies below a delegation (a cut's own name is not glue).
func (z *treeZone) glue(name string) bool {
	c := z.cut(name)
	return c != "" && c != name
}

func (z *treeZone) sign(tb testing.TB, ksk, zsk *treeKey) {
	if zsk == nil {
		zsk = ksk
	}
	names := make([]string, 0, len(z.owners))
	for n := range z.owners {
		names = append(names, n)
	}
	slices.SortFunc(names, dnssec.CompareNames)
	for i, n := range names {
		types := []uint16{dns.TypeRRSIG, dns.TypeNSEC}
		for k := range z.rrsets {
			if k.name == n {
				types = append(types, k.rtype)
			}
		}
		slices.Sort(types)
		nsec := &dns.NSEC{Hdr: dns.RR_Header{Name: n, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: 300},
			NextDomain: names[(i+1)%len(names)], TypeBitMap: types}
		z.nsec = append(z.nsec, nsec)
		z.rrsets[rrKey{n, dns.TypeNSEC}] = []dns.RR{nsec}
	}
	for k, set := range z.rrsets {
		atCut := k.name != z.name && z.cut(k.name) == k.name
		switch {
		case z.glue(k.name), atCut && k.rtype == dns.TypeNS:
			continue // not authoritative here
		case k.rtype == dns.TypeDNSKEY:
			z.sigs[k] = []dns.RR{ksk.sign(tb, set)}
		default:
			z.sigs[k] = []dns.RR{zsk.sign(tb, set)}
		}
	}
}

// exists: name owns records, or is an empty non-terminal above some.
func (z *treeZone) exists(name string) bool {
	for n := range z.owners {
		if dns.IsSubDomain(name, n) {
			return true
		}
	}
	return false
}

// nsecAt is the NSEC that matches or covers name.
func (z *treeZone) nsecAt(name string) rrKey {
	i, _ := slices.BinarySearchFunc(z.nsec, name, func(n *dns.NSEC, name string) int {
		return dnssec.CompareNames(n.Hdr.Name, name)
	})
	if i == len(z.nsec) || z.nsec[i].Hdr.Name != name {
		i-- // the apex sorts first, so i > 0 here
	}
	return rrKey{z.nsec[max(i, 0)].Hdr.Name, dns.TypeNSEC}
}

// treeReply builds z's reply to q: with signatures and proofs when q has DO
// and z is signed.
type treeReply struct {
	z  *treeZone
	m  *dns.Msg
	do bool
}

func (rp *treeReply) add(section *[]dns.RR, k rrKey, owner string) {
	for _, set := range [][]dns.RR{rp.z.rrsets[k], rp.sigs(k)} {
		for _, rr := range set {
			if owner != "" { // a wildcard's expansion
				rr = dns.Copy(rr)
				rr.Header().Name = owner
			}
			if !slices.ContainsFunc(*section, func(o dns.RR) bool { return dns.IsDuplicate(o, rr) }) {
				*section = append(*section, rr)
			}
		}
	}
}

func (rp *treeReply) sigs(k rrKey) []dns.RR {
	if !rp.do {
		return nil
	}
	return rp.z.sigs[k]
}

// proof adds the NSEC that matches or covers name, when signed.
func (rp *treeReply) proof(name string) {
	if rp.do && len(rp.z.nsec) > 0 {
		rp.add(&rp.m.Ns, rp.z.nsecAt(name), "")
	}
}

func (z *treeZone) respond(q *dns.Msg) *dns.Msg {
	qn, qt := dns.CanonicalName(q.Question[0].Name), q.Question[0].Qtype
	m := new(dns.Msg)
	m.SetReply(q)
	rp := &treeReply{z: z, m: m}
	if opt := q.IsEdns0(); opt != nil {
		rp.do = opt.Do()
		m.SetEdns0(EDNSBufferSize, rp.do)
	}
	if !dns.IsSubDomain(z.name, qn) {
		m.Rcode = dns.RcodeRefused
		return m
	}
	if c := z.cut(qn); c != "" && (c != qn || qt != dns.TypeDS) {
		rp.referral(c)
		return m
	}
	m.Authoritative = true
	switch owner := z.dnameAbove(qn); {
	case owner != "":
		rp.add(&m.Answer, rrKey{owner, dns.TypeDNAME}, "")
		if _, synth := dnameFor(z.rrsets[rrKey{owner, dns.TypeDNAME}], qn); synth != nil {
			m.Answer = append(m.Answer, synth)
		}
	case z.rrsets[rrKey{qn, qt}] != nil:
		rp.add(&m.Answer, rrKey{qn, qt}, "")
	case z.rrsets[rrKey{qn, dns.TypeCNAME}] != nil:
		rp.add(&m.Answer, rrKey{qn, dns.TypeCNAME}, "")
	case z.exists(qn):
		rp.add(&m.Ns, rrKey{z.name, dns.TypeSOA}, "")
		rp.proof(qn)
	default:
		rp.nonexistent(qn, qt)
	}
	return m
}

// dnameAbove is the owner of a DNAME in z above name, or "".
func (z *treeZone) dnameAbove(name string) string {
	for n := name; n != z.name && dns.IsSubDomain(z.name, n); {
		n = parentZone(n)
		if z.rrsets[rrKey{n, dns.TypeDNAME}] != nil {
			return n
		}
	}
	return ""
}

func (rp *treeReply) referral(cut string) {
	z, m := rp.z, rp.m
	rp.add(&m.Ns, rrKey{cut, dns.TypeNS}, "")
	if z.rrsets[rrKey{cut, dns.TypeDS}] != nil {
		rp.add(&m.Ns, rrKey{cut, dns.TypeDS}, "")
	} else {
		rp.proof(cut)
	}
	for _, rr := range z.rrsets[rrKey{cut, dns.TypeNS}] {
		rp.add(&m.Extra, rrKey{dns.CanonicalName(rr.(*dns.NS).Ns), dns.TypeA}, "")
	}
}

// nonexistent answers for a name z does not have: from a wildcard at the
// closest encloser if there is one, else NXDOMAIN.
func (rp *treeReply) nonexistent(qn string, qt uint16) {
	z, m := rp.z, rp.m
	ce := parentZone(qn)
	for !z.exists(ce) {
		ce = parentZone(ce)
	}
	wild := "*." + strings.TrimPrefix(ce, ".")
	if ce == "." {
		wild = "*."
	}
	switch {
	case z.rrsets[rrKey{wild, dns.TypeDNAME}] != nil:
		// A wildcard DNAME, expanded at the name below the closest
		// encloser as a careless server would (RFC 4592 section 4.4
		// says to reject it).
		owner := childOf(qn, ce)
		rp.add(&m.Answer, rrKey{wild, dns.TypeDNAME}, owner)
		if _, synth := dnameFor(m.Answer, qn); synth != nil {
			m.Answer = append(m.Answer, synth)
		}
		rp.proof(owner)
	case z.rrsets[rrKey{wild, qt}] != nil:
		rp.add(&m.Answer, rrKey{wild, qt}, qn)
		rp.proof(qn)
	case z.rrsets[rrKey{wild, dns.TypeCNAME}] != nil:
		rp.add(&m.Answer, rrKey{wild, dns.TypeCNAME}, qn)
		rp.proof(qn)
	case z.exists(wild):
		rp.add(&m.Ns, rrKey{z.name, dns.TypeSOA}, "")
		rp.proof(qn)
		rp.proof(wild)
	default:
		m.Rcode = dns.RcodeNameError
		rp.add(&m.Ns, rrKey{z.name, dns.TypeSOA}, "")
		rp.proof(qn)
		rp.proof(wild)
	}
}

// treeNet serves zones from addresses, in memory. Every reply goes
// through the wire format, where mutate (when set) may change it. No
// socket is opened, so no packet can leave; an address no zone is served
// from (glue a mutation changed) is an unreachable server.
type treeNet struct {
	servers map[netip.Addr]map[string]*treeZone // by zone name
	mutate  func(q *dns.Msg, server netip.Addr, wire []byte) []byte
	sent    atomic.Int64
}

func newTreeNet() *treeNet {
	return &treeNet{servers: map[netip.Addr]map[string]*treeZone{}}
}

func (n *treeNet) serve(addr string, z *treeZone) {
	a := netip.MustParseAddr(addr)
	if n.servers[a] == nil {
		n.servers[a] = map[string]*treeZone{}
	}
	n.servers[a][z.name] = z
}

var errUnreachable = errors.New("treeNet: no server at this address")

func (n *treeNet) Exchange(_ context.Context, q *dns.Msg, server netip.AddrPort) (*dns.Msg, time.Duration, error) {
	n.sent.Add(1)
	z := n.zoneFor(server.Addr(), dns.CanonicalName(q.Question[0].Name))
	if z == nil {
		return nil, 0, fmt.Errorf("%s: %w", server, errUnreachable)
	}
	wire, err := z.respond(q).Pack()
	if err != nil {
		return nil, 0, err
	}
	if n.mutate != nil {
		wire = n.mutate(q, server.Addr(), wire)
	}
	resp, err := parseReply(q, wire)
	return resp, time.Millisecond, err
}

// zoneFor is the deepest zone served at addr that holds qname; failing
// that any zone it serves, which refuses the question.
func (n *treeNet) zoneFor(addr netip.Addr, qname string) *treeZone {
	zones := n.servers[addr]
	for name := qname; ; name = parentZone(name) {
		if z := zones[name]; z != nil {
			return z
		}
		if name == "." {
			break
		}
	}
	for _, z := range zones {
		return z
	}
	return nil
}

// rootAndExample is a signed root (key seed rootSeed) that delegates
// example. to ns.example. at 127.53.1.1, and example. itself (key seed
// exSeed) holding records beside its SOA, NS set and server address;
// anchor is the root's DS.
func rootAndExample(tb testing.TB, rootSeed, exSeed byte, records ...string) (root, example *treeZone, anchor []dns.RR) {
	tb.Helper()
	rootKey, exKey := newTreeKey(".", rootSeed, 257), newTreeKey("example.", exSeed, 257)
	root = newTreeZone(tb, ".", rootKey, nil, []string{
		". 86400 IN SOA rootns. h.rootns. 1 1800 900 604800 86400",
		". 518400 IN NS rootns.",
		"rootns. 518400 IN A 127.53.0.1",
		"example. 172800 IN NS ns.example.",
		"ns.example. 172800 IN A 127.53.1.1",
	}, exKey.ds())
	example = newTreeZone(tb, "example.", exKey, nil, append([]string{
		"example. 3600 IN SOA ns.example. h.example. 1 7200 3600 1209600 300",
		"example. 3600 IN NS ns.example.",
		"ns.example. 3600 IN A 127.53.1.1",
	}, records...))
	return root, example, []dns.RR{rootKey.ds()}
}

func treeHints() *roothints.Hints {
	return &roothints.Hints{TTL: 3600000, Servers: []roothints.Server{{Name: "rootns.", Addrs: []netip.Addr{netip.MustParseAddr("127.53.0.1")}}}}
}
