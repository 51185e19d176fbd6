package resolver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/dnssec"
)

// The validation fuzzer's tree: a signed root (its key the trust anchor),
// the signed child example. (a key signing and a zone signing key) with a
// wildcard, a CNAME and an insecure delegation to the unsigned
// plain.example.
type fuzzTree struct {
	zones  []*treeZone
	addrs  [][]string // where each zone is served
	anchor []dns.RR
	signed map[string]bool // every signed record, canonical (canonRR)
}

var buildFuzzTree = sync.OnceValue(func() *fuzzTree {
	tb := &onceTB{}
	rootKey := newTreeKey(".", 1, 257)
	exKSK, exZSK := newTreeKey("example.", 2, 257), newTreeKey("example.", 3, 256)
	root := newTreeZone(tb, ".", rootKey, nil, []string{
		". 86400 IN SOA rootns. h.rootns. 1 1800 900 604800 86400",
		". 518400 IN NS rootns.",
		"rootns. 518400 IN A 127.53.0.1",
		"example. 172800 IN NS ns.example.",
		"example. 172800 IN NS ns2.example.",
		"ns.example. 172800 IN A 127.53.1.1",
		"ns2.example. 172800 IN A 127.53.1.2",
	}, exKSK.ds())
	example := newTreeZone(tb, "example.", exKSK, exZSK, []string{
		"example. 3600 IN SOA ns.example. h.example. 1 7200 3600 1209600 300",
		"example. 3600 IN NS ns.example.",
		"example. 3600 IN NS ns2.example.",
		"ns.example. 3600 IN A 127.53.1.1",
		"ns2.example. 3600 IN A 127.53.1.2",
		"www.example. 300 IN A 192.0.2.1",
		"www.example. 300 IN A 192.0.2.2",
		"alias.example. 300 IN CNAME www.example.",
		`txt.example. 300 IN TXT "signed text"`,
		`wild.example. 300 IN TXT "a wildcard's parent"`,
		"*.wild.example. 300 IN A 192.0.2.9",
		"plain.example. 3600 IN NS ns.plain.example.",
		"ns.plain.example. 3600 IN A 127.53.2.1",
	})
	plain := newTreeZone(tb, "plain.example.", nil, nil, []string{
		"plain.example. 3600 IN SOA ns.plain.example. h.example. 1 7200 3600 1209600 300",
		"plain.example. 3600 IN NS ns.plain.example.",
		"ns.plain.example. 3600 IN A 127.53.2.1",
		"www.plain.example. 300 IN A 192.0.2.3",
	})
	if tb.err != "" {
		panic(tb.err)
	}
	t := &fuzzTree{
		zones:  []*treeZone{root, example, plain},
		addrs:  [][]string{{"127.53.0.1"}, {"127.53.1.1", "127.53.1.2"}, {"127.53.2.1"}},
		anchor: []dns.RR{rootKey.ds()},
		signed: map[string]bool{},
	}
	for _, z := range t.zones {
		for k := range z.sigs {
			for _, rr := range z.rrsets[k] {
				t.signed[canonRR(rr)] = true
			}
		}
	}
	return t
})

// onceTB is the testing.TB of the tree's one build, shared by every test
// and fuzz input: a failure panics after the build.
type onceTB struct {
	testing.TB
	err string
}

func (o *onceTB) Helper() {}
func (o *onceTB) Fatalf(format string, args ...any) {
	if o.err == "" {
		o.err = fmt.Sprintf(format, args...)
	}
}

// net returns a fresh in-memory network over the tree.
func (t *fuzzTree) net() *treeNet {
	n := newTreeNet()
	for i, z := range t.zones {
		for _, addr := range t.addrs[i] {
			n.serve(addr, z)
		}
	}
	return n
}

// fuzzTimeout bounds one fuzzed question; the network answers at once, so
// running out of it means unbounded work.
const fuzzTimeout = 2 * time.Second

func (t *fuzzTree) resolver(tb testing.TB, n *treeNet) *Resolver {
	tb.Helper()
	r, err := New(Config{
		RootHints:   treeHints(),
		Transport:   n,
		DontQuery:   []netip.Prefix{},
		DisableIPv6: true,
		// Letter case stays as asked, so that an input replays the same.
		Disable0x20: true,
		Now:         treeClock,
		Limits:      Limits{Timeout: fuzzTimeout},
		DNSSEC:      DNSSECConfig{TrustAnchors: t.anchor},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// fuzzQuestion is a question the fuzzer asks, with what the unmutated
// tree answers.
type fuzzQuestion struct {
	qname string
	qtype uint16
	rcode int
	sec   dnssec.Status
}

var fuzzQuestions = []fuzzQuestion{
	{"www.example.", dns.TypeA, dns.RcodeSuccess, dnssec.Secure},
	{"alias.example.", dns.TypeA, dns.RcodeSuccess, dnssec.Secure},
	{"txt.example.", dns.TypeTXT, dns.RcodeSuccess, dnssec.Secure},
	{"www.example.", dns.TypeTXT, dns.RcodeSuccess, dnssec.Secure},       // NODATA
	{"nothing.example.", dns.TypeA, dns.RcodeNameError, dnssec.Secure},   // NXDOMAIN
	{"x.wild.example.", dns.TypeA, dns.RcodeSuccess, dnssec.Secure},      // wildcard answer
	{"x.wild.example.", dns.TypeTXT, dns.RcodeSuccess, dnssec.Secure},    // wildcard NODATA
	{"www.plain.example.", dns.TypeA, dns.RcodeSuccess, dnssec.Insecure}, // below an insecure delegation
	{"nothing.", dns.TypeA, dns.RcodeNameError, dnssec.Secure},
	{"example.", dns.TypeDNSKEY, dns.RcodeSuccess, dnssec.Secure},
	{"example.", dns.TypeDS, dns.RcodeSuccess, dnssec.Secure},
	{"plain.example.", dns.TypeDS, dns.RcodeSuccess, dnssec.Secure}, // NODATA: no DS
}

// fuzzOutcome is what one question came to, comparably: the answer's
// records and the authority's without TTLs or signatures, canonical.
type fuzzOutcome struct {
	err     error
	sec     dnssec.Status
	ad      bool
	rcode   int
	answer  []string
	ns      []string
	queries []exchangeKey // the distinct questions sent upstream, in order
	wires   [][]byte      // the first reply to each
}

// exchangeKey is one question sent upstream, to whichever server (the
// servers of example. are picked at random, and serve the same replies).
type exchangeKey struct {
	qname string
	qtype uint16
}

// canonRR is rr without TTL, with the names the signature covers
// case-insensitively lowercased (RFC 4034 section 6.2; NSEC's next name
// is signed as it is, RFC 6840 section 5.1).
func canonRR(rr dns.RR) string {
	c := dns.Copy(rr)
	c.Header().Ttl = 0
	c.Header().Name = dns.CanonicalName(c.Header().Name)
	switch v := c.(type) {
	case *dns.NS:
		v.Ns = dns.CanonicalName(v.Ns)
	case *dns.CNAME:
		v.Target = dns.CanonicalName(v.Target)
	case *dns.SOA:
		v.Ns, v.Mbox = dns.CanonicalName(v.Ns), dns.CanonicalName(v.Mbox)
	}
	return c.String()
}

func canonSection(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if t := rr.Header().Rrtype; t != dns.TypeRRSIG && t != dns.TypeOPT {
			out = append(out, canonRR(rr))
		}
	}
	slices.Sort(out)
	return out
}

// ask puts q to a fresh resolver over n as a client with DO, failing tb
// if the answer has not come when the resolver's own deadline is well
// past (a walk that never ends).
func (t *fuzzTree) ask(tb testing.TB, n *treeNet, q fuzzQuestion) fuzzOutcome {
	tb.Helper()
	r := t.resolver(tb, n)
	type result struct {
		a   Answer
		err error
	}
	done := make(chan result, 1)
	go func() {
		// No deadline of the caller's: the walk's own must end it.
		a, err := r.Query(context.Background(), q.qname, q.qtype, Options{DNSSECOK: true})
		done <- result{a, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-time.After(2 * fuzzTimeout):
		// Within the Go fuzzer's own limit of 10s per input, past
		// which it kills the worker and loses the goroutines.
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		tb.Fatalf("%s %s: no answer %v after the resolver's deadline: a hang\n%s", q.qname, dns.TypeToString[q.qtype], fuzzTimeout, buf)
	}
	o := fuzzOutcome{err: res.err, sec: res.a.Security}
	if m := res.a.Msg; m != nil {
		o.ad, o.rcode, o.answer, o.ns = m.AuthenticatedData, m.Rcode, canonSection(m.Answer), canonSection(m.Ns)
	}
	return o
}

// pristine is what each question comes to over the unmutated tree, with
// the distinct questions asked upstream on the way.
var pristine = sync.OnceValue(func() []fuzzOutcome {
	t := buildFuzzTree()
	out := make([]fuzzOutcome, len(fuzzQuestions))
	for i, q := range fuzzQuestions {
		n := t.net()
		rec := &recorder{}
		n.mutate = rec.record
		out[i] = t.ask(&onceTB{}, n, q)
		out[i].queries, out[i].wires = rec.keys, rec.wires
	}
	return out
})

// recorder notes the distinct questions sent, in order, and the first
// reply to each.
type recorder struct {
	mu    sync.Mutex
	keys  []exchangeKey
	wires [][]byte
}

func (r *recorder) record(q *dns.Msg, _ netip.Addr, wire []byte) []byte {
	r.index(q, wire)
	return wire
}

// index is the order in which q was first asked.
func (r *recorder) index(q *dns.Msg, wire []byte) int {
	k := exchangeKey{dns.CanonicalName(q.Question[0].Name), q.Question[0].Qtype}
	r.mu.Lock()
	defer r.mu.Unlock()
	i := slices.Index(r.keys, k)
	if i < 0 {
		i = len(r.keys)
		r.keys = append(r.keys, k)
		r.wires = append(r.wires, slices.Clone(wire))
	}
	return i
}

// TestFuzzTreeValidates: over the unmutated tree every question gets the
// rcode and verdict listed, with AD exactly when secure. Without this the
// fuzzer's property (nothing mutated stays secure) could hold vacuously.
func TestFuzzTreeValidates(t *testing.T) {
	for i, got := range pristine() {
		q := fuzzQuestions[i]
		t.Run(fmt.Sprintf("%s/%s", q.qname, dns.TypeToString[q.qtype]), func(t *testing.T) {
			if got.err != nil || got.rcode != q.rcode || got.sec != q.sec || got.ad != (q.sec == dnssec.Secure) {
				t.Errorf("got %s AD=%v %v, err %v; want %s %v", dns.RcodeToString[got.rcode], got.ad, got.sec, got.err, dns.RcodeToString[q.rcode], q.sec)
			}
			if len(got.answer)+len(got.ns) == 0 || len(got.queries) == 0 {
				t.Errorf("empty answer %v, or no upstream query %v", got, got.queries)
			}
		})
	}
}

// fuzzMutation changes the replies to one of the distinct questions a
// resolution sends upstream (the target-th, counted as the unmutated
// resolution asks them): it flips bytes (3-byte groups of data: a 16-bit
// offset into the reply, modulo its length, and a mask to XOR), or
// replaces the whole reply with data (keeping the query's ID, or the
// reply would be dropped unread as a spoofing attempt). A splice first
// puts in the place of the reply a signed one to another question (the
// 16-bit index, in data's first two bytes, of one of donorWires), its
// question rewritten, and its answer's owner too with rename: a replay
// of genuine signed data, which random flips would hardly build.
// firstOnly spares the replies to retries (the other server of example.
// may be asked).
type fuzzMutation struct {
	rec       recorder
	target    int
	firstOnly bool
	replace   bool
	splice    bool
	rename    bool
	data      []byte
	mu        sync.Mutex
	applied   bool
}

// maxFlips bounds the bytes one input flips.
const maxFlips = 16

// Fuzz modes: bit 0 replaces the reply, bit 1 mutates the first reply
// alone, bit 2 splices, bit 3 renames the spliced answer.
const (
	modeReplace   = 1
	modeFirstOnly = 2
	modeSplice    = 4
	modeRename    = 8
)

func newFuzzMutation(target, mode uint8, data []byte, asked int) *fuzzMutation {
	return &fuzzMutation{target: int(target) % asked, replace: mode&modeReplace != 0, firstOnly: mode&modeFirstOnly != 0,
		splice: mode&modeSplice != 0, rename: mode&modeRename != 0, data: data}
}

// donorWires are the unmutated replies to every question of every
// fuzzQuestion's resolution, in order.
var donorWires = sync.OnceValue(func() [][]byte {
	var all [][]byte
	for _, p := range pristine() {
		all = append(all, p.wires...)
	}
	return all
})

// spliced is donor as the reply to q.
func spliced(q *dns.Msg, donor []byte, rename bool) []byte {
	m := new(dns.Msg)
	if m.Unpack(donor) != nil || len(m.Question) != 1 {
		return donor
	}
	was := dns.CanonicalName(m.Question[0].Name)
	m.Id, m.Question = q.Id, slices.Clone(q.Question)
	for _, rr := range m.Answer {
		if rename && dns.CanonicalName(rr.Header().Name) == was {
			rr.Header().Name = q.Question[0].Name
		}
	}
	out, err := m.Pack()
	if err != nil {
		return donor
	}
	return out
}

func (m *fuzzMutation) apply(q *dns.Msg, _ netip.Addr, wire []byte) []byte {
	if m.rec.index(q, nil) != m.target {
		return wire
	}
	m.mu.Lock()
	skip := m.firstOnly && m.applied
	m.applied = true
	m.mu.Unlock()
	if skip {
		return wire
	}
	if m.replace {
		out := slices.Clone(m.data)
		if len(out) >= 2 {
			out[0], out[1] = byte(q.Id>>8), byte(q.Id)
		}
		return out
	}
	out, flips := slices.Clone(wire), m.data
	if m.splice && len(flips) >= 2 {
		donors := donorWires()
		out = spliced(q, donors[(int(flips[0])<<8|int(flips[1]))%len(donors)], m.rename)
		flips = flips[2:]
	}
	for i := 0; i+3 <= len(flips) && i < 3*maxFlips; i += 3 {
		off := (int(flips[i])<<8 | int(flips[i+1])) % len(out)
		out[off] ^= flips[i+2]
	}
	return out
}

// checkOutcome holds a mutated resolution to what DNSSEC promises: a
// secure answer is the signed data (rcode and answer as the unmutated
// tree's, the authority's records all signed ones); a name the tree
// signs is never answered other than secure (no downgrade), and a name
// it does not sign never secure; AD comes with secure alone; and the
// walk ends well before its deadline, the network answering at once.
func checkOutcome(tree *fuzzTree, got, want fuzzOutcome) error {
	secure := got.sec == dnssec.Secure
	switch {
	case errors.Is(got.err, context.DeadlineExceeded):
		return fmt.Errorf("ran out of its %v with a network that answers at once: %v", fuzzTimeout, got.err)
	case got.ad && !secure:
		return fmt.Errorf("AD on a %v answer", got.sec)
	case secure && want.sec != dnssec.Secure:
		return fmt.Errorf("secure, where the tree's answer is %v", want.sec)
	case got.err == nil && want.sec == dnssec.Secure && !secure:
		return fmt.Errorf("%v (%s), where the tree's answer is signed: a downgrade", got.sec, dns.RcodeToString[got.rcode])
	case !secure:
		return nil
	case got.rcode != want.rcode || !slices.Equal(got.answer, want.answer):
		return fmt.Errorf("secure %s %q, but the signed answer is %s %q", dns.RcodeToString[got.rcode], got.answer, dns.RcodeToString[want.rcode], want.answer)
	}
	for _, rr := range got.ns {
		if !tree.signed[rr] {
			return fmt.Errorf("secure, with a record the tree did not sign in its authority section: %s", rr)
		}
	}
	return nil
}

// FuzzValidate resolves a question of fuzzQuestions over the signed tree
// with the replies to one of its upstream questions mutated (see
// fuzzMutation), and checks the answer with checkOutcome; nothing may
// panic or hang.
func FuzzValidate(f *testing.F) {
	for qi, p := range pristine() {
		f.Add(uint8(qi), uint8(0), uint8(0), []byte(nil))
		for k, wire := range p.wires {
			f.Add(uint8(qi), uint8(k), uint8(modeReplace), wire)
			// The last bytes of a reply are its last record's rdata,
			// the first twelve the header.
			f.Add(uint8(qi), uint8(k), uint8(0), []byte{byte((len(wire) - 1) >> 8), byte(len(wire) - 1), 0x01, 0, 3, 0x80})
			f.Add(uint8(qi), uint8(k), uint8(modeFirstOnly), []byte{byte((len(wire) - 2) >> 8), byte(len(wire) - 2), 0xff})
		}
	}
	// Each question's last reply (its answer, as a rule) replaced by
	// every other question's, renamed to fit or not.
	last, donor := map[int]int{}, 0
	for qi, p := range pristine() {
		donor += len(p.wires)
		last[qi] = donor - 1
	}
	for qi, p := range pristine() {
		for _, d := range last {
			f.Add(uint8(qi), uint8(len(p.wires)-1), uint8(modeSplice), []byte{byte(d >> 8), byte(d)})
			f.Add(uint8(qi), uint8(len(p.wires)-1), uint8(modeSplice|modeRename), []byte{byte(d >> 8), byte(d)})
		}
	}
	tree := buildFuzzTree()
	f.Fuzz(func(t *testing.T, question, target, mode uint8, data []byte) {
		qi := int(question) % len(fuzzQuestions)
		want := pristine()[qi]
		m := newFuzzMutation(target, mode, data, len(want.queries))
		n := tree.net()
		n.mutate = m.apply
		got := tree.ask(t, n, fuzzQuestions[qi])
		if err := checkOutcome(tree, got, want); err != nil {
			q := fuzzQuestions[qi]
			t.Fatalf("%s %s, replies to %v mutated: %v (err %v)", q.qname, dns.TypeToString[q.qtype], want.queries[m.target], err, got.err)
		}
	})
}

// TestFuzzMutationBites: the fuzzer's mutations reach the resolver. One
// bit flipped in the signed address of the answer makes it bogus when
// every reply carries it, and secure again when the other server of
// example. is asked and gives the signed reply.
func TestFuzzMutationBites(t *testing.T) {
	tree := buildFuzzTree()
	p := pristine()[0] // www.example. A
	target := slices.Index(p.queries, exchangeKey{"www.example.", dns.TypeA})
	if target < 0 {
		t.Fatalf("www.example. A was not asked: %v", p.queries)
	}
	off := strings.Index(string(p.wires[target]), "\xc0\x00\x02\x02") // 192.0.2.2
	if off < 0 {
		t.Fatalf("192.0.2.2 not in the reply %x", p.wires[target])
	}
	flip := []byte{byte(off >> 8), byte(off), 0x01}
	for _, tc := range []struct {
		mode   uint8
		secure bool
	}{{0, false}, {modeFirstOnly, true}} {
		n := tree.net()
		m := newFuzzMutation(uint8(target), tc.mode, flip, len(p.queries))
		n.mutate = m.apply
		got := tree.ask(t, n, fuzzQuestions[0])
		if err := checkOutcome(tree, got, p); err != nil {
			t.Errorf("mode %d: %v", tc.mode, err)
		}
		if tc.secure != (got.sec == dnssec.Secure) || !tc.secure && !errors.Is(got.err, ErrBogus) {
			t.Errorf("mode %d: %v, err %v; want secure %v, else ErrBogus", tc.mode, got.sec, got.err, tc.secure)
		}
	}
}

// TestCheckOutcome: the fuzzer's property rejects each way a validator
// can be fooled, and accepts the unmutated answers and honest failures.
func TestCheckOutcome(t *testing.T) {
	tree := buildFuzzTree()
	want := pristine()[0]     // www.example. A, secure
	insecure := pristine()[7] // www.plain.example. A
	forged := want
	forged.answer = []string{canonRR(rrs(t, "www.example. 300 IN A 203.0.113.66")[0])}
	strayNS := want
	strayNS.ns = []string{canonRR(rrs(t, "example. 300 IN NS ns.victim.net.")[0])}
	down := want
	down.sec, down.ad = dnssec.Insecure, false
	adOnly := insecure
	adOnly.ad = true
	tests := []struct {
		name      string
		got, want fuzzOutcome
		ok        bool
	}{
		{"unmutated", want, want, true},
		{"unmutated insecure", insecure, insecure, true},
		{"bogus", fuzzOutcome{err: ErrBogus}, want, true},
		{"forged address", forged, want, false},
		{"unsigned authority record", strayNS, want, false},
		{"downgrade", down, want, false},
		{"AD when insecure", adOnly, insecure, false},
		{"secure where unsigned", want, insecure, false},
		{"deadline", fuzzOutcome{err: context.DeadlineExceeded}, want, false},
	}
	for _, tc := range tests {
		if err := checkOutcome(tree, tc.got, tc.want); (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

// pristineReply is the unmutated reply to the upstream question key of
// fuzzQuestions[qi]'s resolution.
func pristineReply(tb testing.TB, qi int, key exchangeKey) []byte {
	tb.Helper()
	p := pristine()[qi]
	i := slices.Index(p.queries, key)
	if i < 0 {
		tb.Fatalf("%v not asked on the way to %s: %v", key, fuzzQuestions[qi].qname, p.queries)
	}
	return p.wires[i]
}

// TestValidationNeedsItsOwnAsk (found by FuzzValidate): the root answers
// ". DNSKEY" with a NODATA of example., signed by example.'s keys. Asked
// for example. DS, the resolver validates the root's keys inside its ask
// of the root for example. DS; the denial needs example.'s keys, whose
// DS fetch is that same ask, which then waited on itself for ever (the
// walk hung, and with it every later walk needing that DS). It must end,
// bogus.
func TestValidationNeedsItsOwnAsk(t *testing.T) {
	tree := buildFuzzTree()
	const ds = 10 // example. DS
	if q := fuzzQuestions[ds]; q.qname != "example." || q.qtype != dns.TypeDS {
		t.Fatalf("fuzzQuestions[%d] is %s", ds, q.qname)
	}
	denial := pristineReply(t, 3, exchangeKey{"www.example.", dns.TypeTXT}) // NODATA, signed by example.
	n := tree.net()
	n.mutate = func(q *dns.Msg, server netip.Addr, wire []byte) []byte {
		if q.Question[0].Qtype == dns.TypeDNSKEY && q.Question[0].Name == "." {
			return spliced(q, denial, false)
		}
		return wire
	}
	got := tree.ask(t, n, fuzzQuestions[ds])
	if !errors.Is(got.err, ErrBogus) {
		t.Errorf("%v, err %v; want ErrBogus", got.sec, got.err)
	}
}

// TestForgedDenialBelowInsecureCut (found by FuzzValidate): a forged
// NODATA for www.example. A, without SOA, whose one denial record is the
// NSEC at the insecure delegation plain.example. with its RRSIG stripped,
// was insecure: unsigned records below an insecure cut made the answer
// for a name of the signed example. insecure. It must be bogus.
func TestForgedDenialBelowInsecureCut(t *testing.T) {
	tree := buildFuzzTree()
	n := tree.net()
	n.mutate = func(q *dns.Msg, _ netip.Addr, wire []byte) []byte {
		if q.Question[0].Name != "www.example." || q.Question[0].Qtype != dns.TypeA {
			return wire
		}
		m := new(dns.Msg)
		m.SetReply(q)
		m.SetEdns0(1232, true)
		m.Ns = rrs(t, "plain.example. 3600 IN NS ns.plain.example.",
			"plain.example. 300 IN NSEC txt.example. NS RRSIG NSEC")
		out, _ := m.Pack()
		return out
	}
	got := tree.ask(t, n, fuzzQuestions[0])
	if !errors.Is(got.err, ErrBogus) {
		t.Errorf("%v AD=%v %s, err %v; want ErrBogus", got.sec, got.ad, dns.RcodeToString[got.rcode], got.err)
	}
}

// TestDSQuestionAnsweredByReferral: a parent that answers a DS question
// with its referral (NS and the signed DS in authority) gives the DS as
// the answer, never a secure empty NODATA (found by FuzzValidate).
func TestDSQuestionAnsweredByReferral(t *testing.T) {
	tree := buildFuzzTree()
	referral := pristineReply(t, 0, exchangeKey{"example.", dns.TypeNS})
	n := tree.net()
	n.mutate = func(q *dns.Msg, _ netip.Addr, wire []byte) []byte {
		if q.Question[0].Name == "example." && q.Question[0].Qtype == dns.TypeDS {
			return spliced(q, referral, false)
		}
		return wire
	}
	got := tree.ask(t, n, fuzzQuestions[10]) // example. DS
	if got.sec == dnssec.Secure && len(got.answer) == 0 {
		t.Errorf("secure NODATA for example. DS, but example. has a signed DS")
	}
}
