package testnet

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// Behaviour is one way a hostile server misbehaves. In network.conf the
// behaviours follow an auth server's mode after commas, as in
// "auth,inject,tcp-only"; each copies a real-world attack or breakage that
// a resolver must survive. Only the in-process servers (Start) can play
// them: StartNSD refuses a tree that asks for any.
type Behaviour string

const (
	// Inject adds the Canaries, records of names outside the server's
	// zones, to every section of every reply: cache poisoning with
	// out-of-bailiwick data.
	Inject Behaviour = "inject"
	// WrongQuestion answers every query with a reply to another question,
	// the canary name's A record: a reply about a zone it was not asked.
	WrongQuestion Behaviour = "wrong-question"
	// WrongAnswer echoes the question, sets AA, and answers with the
	// Canaries alone: records about names it was not asked.
	WrongAnswer Behaviour = "wrong-answer"
	// NXNS, written "nxns=<victim zone>", refers every name its zones do
	// not hold to NXNSReferralSize fresh glueless server names under the
	// victim zone: the NXNSAttack (CVE-2020-8616, CVE-2020-12667).
	NXNS Behaviour = "nxns"
	// CNAMEOneHop puts one CNAME or DNAME hop in each reply, so a
	// resolver chases a chain one query at a time.
	CNAMEOneHop Behaviour = "cname-one"
	// CNAMEAllHops follows CNAME and DNAME chains inside its zones for
	// up to maxChainAll hops, so a long chain or a loop comes in one reply.
	CNAMEAllHops Behaviour = "cname-all"
	// Garbage sends, before each UDP reply, packets with the query's ID
	// that a resolver must ignore: runts, a header that promises a
	// question it lacks, a compression loop, a query instead of a
	// response, a reply to another question.
	Garbage Behaviour = "garbage"
	// WrongID sends, before each UDP reply, a reply with another ID that
	// gives PoisonAddr for the question: a spoofing attempt that missed.
	WrongID Behaviour = "wrong-id"
	// EDNSDrop never answers queries that carry an OPT record, as
	// servers behind old firewalls did.
	EDNSDrop Behaviour = "edns-drop"
	// EDNSFormErr answers FORMERR, without OPT, to queries that carry one,
	// as servers that predate EDNS do.
	EDNSFormErr Behaviour = "edns-formerr"
	// TCPOnly answers over UDP with TC set and empty sections: only TCP
	// gets the data.
	TCPOnly Behaviour = "tcp-only"
	// No0x20 answers with the question lower-cased rather than in the
	// letter case asked, defeating 0x20 randomisation.
	No0x20 Behaviour = "no-0x20"
)

var behaviours = []Behaviour{
	Inject, WrongQuestion, WrongAnswer, NXNS, CNAMEOneHop, CNAMEAllHops,
	Garbage, WrongID, EDNSDrop, EDNSFormErr, TCPOnly, No0x20,
}

// conflicting lists behaviours that cannot be played together.
var conflicting = [][2]Behaviour{
	{CNAMEOneHop, CNAMEAllHops},
	{EDNSDrop, EDNSFormErr},
	{WrongQuestion, WrongAnswer},
}

const (
	// NXNSReferralSize is how many glueless server names an NXNS referral
	// carries: a resolver without a cap would look up every one. Over UDP
	// the referral truncates, and the whole of it comes over TCP.
	NXNSReferralSize = 100
	// maxChainAll is how far a CNAMEAllHops server follows a chain.
	maxChainAll = 40
)

// PoisonAddr is the address hostile servers give for names they have no
// right to speak for. Nothing listens there. A cache holding it is poisoned.
var PoisonAddr = netip.MustParseAddr("127.53.66.66")

// PoisonNS is the server name hostile servers claim for zones, the root
// and TLD included, that they do not serve.
const PoisonNS = "ns.poison.victim.lab."

// CanaryName is the name a WrongQuestion reply answers for.
const CanaryName = "canary.victim.lab."

// canaryRRs are the Canaries: addresses for victim names and for a TLD's
// server, and NS sets for the victim zone, the lab TLD and the root.
var canaryRRs = []dns.RR{
	poisonA(CanaryName),
	poisonA("www.victim.lab."),
	poisonA(PoisonNS),
	poisonA("ns1.nic.lab."),
	poisonNS("victim.lab."),
	poisonNS("lab."),
	poisonNS("."),
}

const canaryTTL = 86400

func poisonA(name string) dns.RR {
	return &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: canaryTTL}, A: PoisonAddr.AsSlice()}
}

func poisonNS(owner string) dns.RR {
	return &dns.NS{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: canaryTTL}, Ns: PoisonNS}
}

// Canaries returns the records an Inject server adds to each section of
// its replies. None may ever be cached: IsPoison tells them apart.
func Canaries() []dns.RR { return copyRRs(canaryRRs) }

// IsPoison reports whether rr carries what only a hostile server says:
// PoisonAddr as an address, or PoisonNS as a server or alias target.
func IsPoison(rr dns.RR) bool {
	switch rr := rr.(type) {
	case *dns.A:
		a, ok := netip.AddrFromSlice(rr.A.To4())
		return ok && a == PoisonAddr
	case *dns.AAAA:
		a, ok := netip.AddrFromSlice(rr.AAAA)
		return ok && a.Unmap() == PoisonAddr
	case *dns.NS:
		return canonical(rr.Ns) == PoisonNS
	case *dns.CNAME:
		return canonical(rr.Target) == PoisonNS
	}
	return false
}

// hostility is the behaviours of one server, ready to play.
type hostility struct {
	set    map[Behaviour]bool
	victim string // NXNS victim zone
}

func (h hostility) has(b Behaviour) bool { return h.set[b] }

// chainLimit is how many CNAME and DNAME hops the server follows.
func (h hostility) chainLimit() int {
	switch {
	case h.has(CNAMEOneHop):
		return 0
	case h.has(CNAMEAllHops):
		return maxChainAll
	}
	return maxChain
}

// parseMode reads the mode field of network.conf: a mode, then for auth
// servers any behaviours after commas.
func parseMode(field string) (Mode, []Behaviour, string, error) {
	parts := strings.Split(field, ",")
	mode := Mode(parts[0])
	switch mode {
	case ModeAuth, ModeLame, ModeDead:
	default:
		return "", nil, "", fmt.Errorf("mode %q, want auth, lame or dead", mode)
	}
	if len(parts) > 1 && mode != ModeAuth {
		return "", nil, "", fmt.Errorf("mode %q: only auth servers take behaviours", field)
	}
	var (
		list   []Behaviour
		victim string
	)
	for _, p := range parts[1:] {
		name, arg, hasArg := strings.Cut(p, "=")
		b := Behaviour(name)
		switch {
		case !slices.Contains(behaviours, b):
			return "", nil, "", fmt.Errorf("unknown behaviour %q", p)
		case b == NXNS && !hasArg:
			return "", nil, "", fmt.Errorf("behaviour nxns needs a victim zone: nxns=<zone>")
		case b != NXNS && hasArg:
			return "", nil, "", fmt.Errorf("behaviour %s takes no argument", name)
		}
		if b == NXNS {
			victim = canonical(arg)
			if _, ok := dns.IsDomainName(victim); !ok || victim == "." {
				return "", nil, "", fmt.Errorf("nxns: bad victim zone %q", arg)
			}
		}
		if slices.Contains(list, b) {
			return "", nil, "", fmt.Errorf("behaviour %s listed twice", b)
		}
		list = append(list, b)
	}
	for _, c := range conflicting {
		if slices.Contains(list, c[0]) && slices.Contains(list, c[1]) {
			return "", nil, "", fmt.Errorf("behaviours %s and %s cannot be played together", c[0], c[1])
		}
	}
	return mode, list, victim, nil
}

// nxnsReferral delegates the name one label below origin on the way to
// qname to NXNSReferralSize server names, fresh for every query so no
// cache absorbs them, under the victim zone, without glue.
func (h hostility) nxnsReferral(resp *dns.Msg, qname, origin string) {
	child := childName(canonical(qname), origin)
	tag := rand.Uint32()
	for i := range NXNSReferralSize {
		resp.Ns = append(resp.Ns, &dns.NS{
			Hdr: dns.RR_Header{Name: child, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 3600},
			Ns:  fmt.Sprintf("x%d-%08x.%s", i, tag, h.victim),
		})
	}
}

// childName returns the name one label below origin on the way to name
// (name itself when it is that name). name is strictly below origin.
func childName(name, origin string) string {
	labels := dns.Split(name)
	keep := dns.CountLabel(origin) + 1
	return name[labels[len(labels)-keep]:]
}

// inject adds the canaries to every section of resp.
func inject(resp *dns.Msg) {
	resp.Answer = append(resp.Answer, Canaries()...)
	resp.Ns = append(resp.Ns, Canaries()...)
	resp.Extra = append(resp.Extra, Canaries()...)
}

// wrongQuestion turns resp into a reply to the canary's question.
func wrongQuestion(resp *dns.Msg) {
	resp.Question = []dns.Question{{Name: CanaryName, Qtype: dns.TypeA, Qclass: dns.ClassINET}}
	resp.Rcode, resp.Authoritative = dns.RcodeSuccess, true
	resp.Answer = []dns.RR{dns.Copy(canaryRRs[0])}
	resp.Ns = nil
	resp.Extra = optOnly(resp.Extra)
}

// wrongAnswer keeps resp's question and answers it with the canaries.
func wrongAnswer(resp *dns.Msg) {
	resp.Rcode, resp.Authoritative = dns.RcodeSuccess, true
	resp.Answer = Canaries()
	resp.Ns = nil
	resp.Extra = optOnly(resp.Extra)
}

func optOnly(extra []dns.RR) []dns.RR {
	var out []dns.RR
	for _, rr := range extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			out = append(out, rr)
		}
	}
	return out
}

// tcpOnly is the UDP reply of a TCPOnly server: truncated and empty.
func tcpOnly(req *dns.Msg, opt *dns.OPT) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative, resp.Truncated = true, true
	if opt != nil {
		resp.SetEdns0(EDNSBufferSize, opt.Do())
	}
	return resp
}

// formErr is an EDNSFormErr server's reply to a query with OPT.
func formErr(req *dns.Msg) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetRcode(req, dns.RcodeFormatError)
	return resp
}

// garbagePackets are what a Garbage server sends before its reply: each
// carries the query's ID, and none is a usable answer to it.
func garbagePackets(req *dns.Msg) [][]byte {
	id := make([]byte, 2)
	binary.BigEndian.PutUint16(id, req.Id)
	header := func(flags uint16, qd uint16) []byte {
		h := make([]byte, 12)
		copy(h, id)
		binary.BigEndian.PutUint16(h[2:], flags)
		binary.BigEndian.PutUint16(h[4:], qd)
		return h
	}
	const qrAA = 0x8400
	out := [][]byte{
		id,                   // a runt: the ID and nothing else
		header(qrAA, 1)[:11], // a header cut short
		header(qrAA, 1),      // a question promised and missing
		append(header(qrAA, 1), // a question name that points at itself
			0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01),
	}
	// A query, not a response, with the same ID and question.
	if wire, err := req.Pack(); err == nil {
		out = append(out, wire)
	}
	// A well-formed reply to the canary's question, with the poison.
	other := new(dns.Msg)
	other.SetReply(req)
	wrongQuestion(other)
	if wire, err := other.Pack(); err == nil {
		out = append(out, wire)
	}
	return out
}

// spoofPacket is a WrongID server's decoy: the question answered with
// PoisonAddr under another ID.
func spoofPacket(req *dns.Msg) [][]byte {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Id = req.Id ^ 0x5a5a
	resp.Authoritative = true
	q := req.Question[0]
	resp.Answer = []dns.RR{poisonA(q.Name)}
	if q.Qtype == dns.TypeAAAA {
		v6 := PoisonAddr.As16() // the poison as an IPv4-mapped address
		resp.Answer = []dns.RR{&dns.AAAA{
			Hdr:  dns.RR_Header{Name: q.Name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: canaryTTL},
			AAAA: v6[:],
		}}
	}
	wire, err := resp.Pack()
	if err != nil {
		return nil
	}
	return [][]byte{wire}
}
