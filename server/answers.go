package server

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"net/netip"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/dnssec"
)

// The answer cache keeps, for questions the engine's cache answered, the
// response exactly as the slow path packed it, so that the next identical
// question costs a table lookup and a copy instead of an unpack, a cache walk
// and a pack. The engine's RRset cache stays the truth: an answer lives no
// longer than the shortest TTL it carries, TTLs count down from the moment
// it was stored, and anything the fast path is not sure of goes the slow
// way.
//
// Entries are keyed by the question's wire bytes, case included: miekg/dns
// compresses names case-sensitively, so a question in another case packs
// into different bytes and is a different entry. The variant of the
// client's DNSSEC flags (DO, CD, AD) is part of the key: they change the
// answer (RRSIGs and proofs, bogus data, the AD bit), so no client ever
// gets another variant's.

// DefaultAnswerCacheSize is the default of Config.AnswerCacheSize.
const DefaultAnswerCacheSize = 10_000

// optLen is the OPT record we append: root name, type, class, TTL, RDLENGTH.
const optLen = 11

// header flag bits of the third and fourth header bytes.
const (
	flagRD = 0x01 // byte 2
	flagAD = 0x20 // byte 3
	flagCD = 0x10 // byte 3
)

// answerCache is a set-associative table: an answer lives in one of the
// answerWays slots that follow its key's hash (the question's bytes and
// its variant), and each slot is an atomic pointer to an answer that is
// never changed once stored. A hit is a few atomic loads and writes
// nothing, so the hits of different cores never pull a cache line from
// each other: with a sync.RWMutex, sharded or not, the read lock's
// counter was a third of a hit's CPU on two cores
// (BenchmarkAnswerFastParallel). A store takes a slot of the window that
// holds the same key, else an empty one, else the one whose answer
// expires first (an expired one first of all). The slots are the bound:
// Config.AnswerCacheSize of them.
type answerCache struct {
	seed  maphash.Seed
	slots []atomic.Pointer[packedAnswer]
}

// answerWays is how many slots an answer may take.
const answerWays = 4

// window returns the first slot of key's window and the window's size.
func (c *answerCache) window(variant int, question string) (first, ways int) {
	h := maphash.String(c.seed, question) ^ uint64(variant)*0x9e3779b97f4a7c15
	first64, _ := bits.Mul64(h, uint64(len(c.slots))) // h scaled to the table
	return int(first64), min(answerWays, len(c.slots))
}

// lookup returns the answer kept for question in variant's table, or nil.
func (c *answerCache) lookup(variant int, question []byte) *packedAnswer {
	first, ways := c.window(variant, unsafe.String(unsafe.SliceData(question), len(question)))
	for w := range ways {
		a := c.slots[(first+w)%len(c.slots)].Load()
		if a != nil && a.variant == uint8(variant) && a.question == string(question) {
			return a
		}
	}
	return nil
}

// store keeps a, whose variant and question are set, in its window.
func (c *answerCache) store(a *packedAnswer) {
	first, ways := c.window(int(a.variant), a.question)
	victim := -1
	var victimEnd int64
	for w := range ways {
		i := (first + w) % len(c.slots)
		o := c.slots[i].Load()
		if o != nil && o.variant == a.variant && o.question == a.question {
			c.slots[i].Store(a)
			return
		}
		end := int64(-1 << 63) // an empty slot goes first
		if o != nil {
			end = o.storedN + int64(o.minTTL)*int64(time.Second)
		}
		if victim < 0 || end < victimEnd {
			victim, victimEnd = i, end
		}
	}
	c.slots[victim].Store(a)
}

// len reports the answers kept.
func (c *answerCache) len() int {
	n := 0
	for i := range c.slots {
		if c.slots[i].Load() != nil {
			n++
		}
	}
	return n
}

// flush drops every answer and returns how many it dropped.
func (c *answerCache) flush() int {
	n := 0
	for i := range c.slots {
		if c.slots[i].Swap(nil) != nil {
			n++
		}
	}
	return n
}

// packedAnswer is a response without ID, RD, CD and OPT, and where its
// TTLs are.
type packedAnswer struct {
	wire    []byte
	ttlAt   []uint16 // offsets of the TTL fields in wire
	ttls    []uint32 // the TTLs as stored
	minTTL  uint32
	storedN int64 // when it was stored, as monotonic nanoseconds of the server clock
	// prefetchN: when the engine's prefetch of the answer is due, on
	// storedN's clock (0: never). Hits from then on go to the engine,
	// which starts the prefetch and answers from its cache until the
	// refreshed answer, stored again, takes this one's place.
	prefetchN int64
	security  dnssec.Status // the answer's verdict, for the metrics
	// The key: the question's wire bytes and the table of the query's
	// DO, CD and AD bits.
	question string
	variant  uint8
}

func newAnswerCache(size int) *answerCache {
	if size < 0 {
		return nil
	}
	if size == 0 {
		size = DefaultAnswerCacheSize
	}
	return &answerCache{seed: maphash.MakeSeed(), slots: make([]atomic.Pointer[packedAnswer], size)}
}

// wireQuery is what the fast path needs of a query: where its question
// ends and its EDNS shape. ok is false for anything but a plain query with
// one question and at most an OPT whose options are cookies or padding
// (which dig and stubs send, which the slow path ignores and which never
// fail to unpack).
type wireQuery struct {
	questionEnd int
	edns        bool
	do          bool
	udpSize     int
	variant     int // the query's DO, CD and AD bits, 0 to 7
	// cookieAt, cookieLen: where the data of the first COOKIE option
	// is (cookieAt 0: none).
	cookieAt, cookieLen int
}

func parseWireQuery(q []byte) (w wireQuery, ok bool) {
	if len(q) < headerLen+5 {
		return w, false
	}
	// QR clear, opcode QUERY; QDCOUNT 1, ANCOUNT and NSCOUNT 0, ARCOUNT <= 1.
	if q[2]&0xf8 != 0 || binary.BigEndian.Uint16(q[4:]) != 1 || binary.BigEndian.Uint16(q[6:]) != 0 || binary.BigEndian.Uint16(q[8:]) != 0 {
		return w, false
	}
	ar := binary.BigEndian.Uint16(q[10:])
	if ar > 1 {
		return w, false
	}
	off := headerLen
	for {
		if off >= len(q) {
			return w, false
		}
		l := int(q[off])
		if l == 0 {
			off++
			break
		}
		if l&0xc0 != 0 { // no compression in a question we trust
			return w, false
		}
		off += 1 + l
		if off-headerLen > 255 {
			return w, false
		}
	}
	off += 4
	if off > len(q) {
		return w, false
	}
	w.questionEnd = off
	if q[3]&flagCD != 0 {
		w.variant |= 2
	}
	if q[3]&flagAD != 0 {
		w.variant |= 4
	}
	if ar == 0 {
		return w, off == len(q)
	}
	// An OPT owned by the root, version 0, ending the message.
	if len(q)-off < optLen || q[off] != 0 || binary.BigEndian.Uint16(q[off+1:]) != dns.TypeOPT ||
		q[off+6] != 0 || len(q)-off-optLen != int(binary.BigEndian.Uint16(q[off+9:])) {
		return w, false
	}
	for opt := off + optLen; opt < len(q); {
		if len(q)-opt < 4 {
			return w, false
		}
		n := int(binary.BigEndian.Uint16(q[opt+2:]))
		switch binary.BigEndian.Uint16(q[opt:]) {
		case dns.EDNS0COOKIE:
			if w.cookieAt == 0 {
				w.cookieAt, w.cookieLen = opt+4, n
			}
		case dns.EDNS0PADDING:
		default:
			return w, false
		}
		opt += 4 + n
		if opt > len(q) {
			return w, false
		}
	}
	w.edns = true
	w.udpSize = int(binary.BigEndian.Uint16(q[off+3:]))
	w.do = q[off+7]&0x80 != 0
	if w.do {
		w.variant |= 1
	}
	return w, true
}

// answerFast answers query from the answer cache into buf. ok is false when
// the slow path must answer it.
func (s *Server) answerFast(query []byte, client netip.AddrPort, via Transport, buf []byte) (out []byte, ok bool) {
	if s.answers == nil || s.cfg.LogQueries {
		return nil, false
	}
	w, ok := parseWireQuery(query)
	if !ok {
		return nil, false
	}
	// Plain allow clients get RD=0 refused; other actions answer on the
	// slow path too.
	switch s.access.action(client.Addr()) {
	case ActionAllowSnoop:
	case ActionAllow:
		if query[2]&flagRD == 0 {
			return nil, false
		}
	default:
		return nil, false
	}
	a := s.answers.lookup(w.variant, query[headerLen:w.questionEnd])
	if a == nil {
		return nil, false
	}
	// One clock read, once there is an answer (a miss, each cold name,
	// reads none), serves the TTLs and, with the real clock, the
	// metrics' latency and the tap's receive time: a cache hit pays for
	// one more read at most (time.Now costs 60 ns on a KVM guest).
	now := s.now()
	nowN := now.UnixNano()
	elapsed := nowN - a.storedN
	if elapsed < 0 {
		return nil, false
	}
	if a.prefetchN != 0 && nowN >= a.prefetchN {
		return nil, false // the engine's cache answers it and starts the prefetch
	}
	// Whole seconds gone, rounded up: a TTL we give is never longer than
	// the one the RRset cache would give.
	gone := uint32(min((elapsed+int64(time.Second)-1)/int64(time.Second), 1<<32-1))
	if gone >= a.minTTL {
		return nil, false
	}
	size := dns.MaxMsgSize
	switch {
	case via.Stream():
	case w.edns:
		size = min(max(w.udpSize, dns.MinMsgSize), s.cfg.MaxUDPSize)
	default:
		size = dns.MinMsgSize
	}
	ck, ok := s.readFastCookie(query, w, client, now)
	if !ok {
		return nil, false
	}
	n := len(a.wire)
	if w.edns {
		n += optLen + ck.optionLen()
	}
	if n > size {
		return nil, false // the slow path truncates
	}
	if !s.admitFast(ck, client, via.Stream(), now) {
		return nil, false
	}
	out = append(buf[:0], a.wire...)
	out[0], out[1] = query[0], query[1]
	out[2] |= query[2] & flagRD
	out[3] |= query[3] & flagCD
	for i, at := range a.ttlAt {
		binary.BigEndian.PutUint32(out[at:], a.ttls[i]-gone)
	}
	if w.edns {
		binary.BigEndian.PutUint16(out[10:], binary.BigEndian.Uint16(out[10:])+1)
		var ttl byte
		if w.do {
			ttl = 0x80
		}
		rdlen := ck.optionLen()
		out = append(out, 0, 0, byte(dns.TypeOPT), byte(s.cfg.MaxUDPSize>>8), byte(s.cfg.MaxUDPSize), 0, 0, ttl, 0, byte(rdlen>>8), byte(rdlen))
		out = s.appendFastCookie(out, ck, client, now)
	}
	s.stats.fastHit(client)
	if s.metrics != nil || s.tap != nil {
		s.observeFast(query, w, out, client, via, now, a.security)
	}
	return out, true
}

// observeFast counts and taps a cache hit of answerFast, received at now
// by the server clock.
func (s *Server) observeFast(query []byte, w wireQuery, out []byte, client netip.AddrPort, via Transport, now time.Time, sec dnssec.Status) {
	if !s.realClock {
		now = time.Now()
	}
	if s.metrics != nil {
		qtype := binary.BigEndian.Uint16(query[w.questionEnd-4:])
		s.metrics.Query(QueryEvent{TCP: via.Stream(), Transport: via, Cached: true, Qtype: qtype, Rcode: int(out[3] & 0x0f), EDE: -1, Security: int(sec), Duration: time.Since(now), Client: client})
	}
	s.tapClient(client, via, query, out, now)
}

// storeAnswer keeps resp, the packed answer to query that the engine's
// cache gave to hit, for answerFast, with when its prefetch is due (zero:
// never) and its DNSSEC verdict. Anything unusual is not kept.
func (s *Server) storeAnswer(query, resp []byte, hit *query) {
	prefetchAt := hit.prefetchAt
	if s.answers == nil {
		return
	}
	w, ok := parseWireQuery(query)
	if !ok {
		return
	}
	a, ok := packAnswer(resp, query[headerLen:w.questionEnd])
	if !ok {
		return
	}
	now := s.now()
	a.storedN = now.UnixNano()
	a.security = hit.security
	if !prefetchAt.IsZero() {
		if !prefetchAt.After(now) {
			return // being prefetched: the refreshed answer is kept instead
		}
		a.prefetchN = a.storedN + int64(prefetchAt.Sub(now))
	}
	a.question, a.variant = string(query[headerLen:w.questionEnd]), uint8(w.variant)
	s.answers.store(a)
}

// packAnswer reads a packed response whose question section is question,
// notes where its TTLs are and drops its OPT. ok is false for responses
// the fast path must not repeat: truncated, other rcodes, no records, a
// TTL of zero.
func packAnswer(resp, question []byte) (*packedAnswer, bool) {
	if len(resp) < headerLen+len(question) || string(resp[headerLen:headerLen+len(question)]) != string(question) {
		return nil, false
	}
	if resp[2]&0x02 != 0 || binary.BigEndian.Uint16(resp[4:]) != 1 { // TC set, or not one question
		return nil, false
	}
	if rcode := resp[3] & 0x0f; rcode != dns.RcodeSuccess && rcode != dns.RcodeNameError {
		return nil, false
	}
	counts := int(binary.BigEndian.Uint16(resp[6:])) + int(binary.BigEndian.Uint16(resp[8:])) + int(binary.BigEndian.Uint16(resp[10:]))
	a := &packedAnswer{minTTL: 1<<32 - 1}
	off := headerLen + len(question)
	end := len(resp)
	optSeen := false
	for i := range counts {
		start := off
		var ok bool
		off, ok = skipName(resp, off)
		if !ok || off+10 > len(resp) {
			return nil, false
		}
		rrtype := binary.BigEndian.Uint16(resp[off:])
		ttl := binary.BigEndian.Uint32(resp[off+4:])
		rdlen := int(binary.BigEndian.Uint16(resp[off+8:]))
		next := off + 10 + rdlen
		if next > len(resp) {
			return nil, false
		}
		if rrtype == dns.TypeOPT {
			// An OPT with options (an Extended DNS Error) says more
			// than the OPT the fast path appends (bare, or with the
			// client's cookie).
			if i != counts-1 || next != len(resp) || !onlyCookie(resp[off+10:next]) {
				return nil, false
			}
			end, optSeen = start, true
			break
		}
		a.ttlAt = append(a.ttlAt, uint16(off+4))
		a.ttls = append(a.ttls, ttl)
		a.minTTL = min(a.minTTL, ttl)
		off = next
		if i == counts-1 && next != len(resp) {
			return nil, false
		}
	}
	if len(a.ttls) == 0 || a.minTTL == 0 || (!optSeen && end != len(resp)) {
		return nil, false
	}
	a.wire = append([]byte(nil), resp[:end]...)
	a.wire[0], a.wire[1] = 0, 0
	a.wire[2] &^= flagRD
	a.wire[3] &^= flagCD
	if optSeen {
		binary.BigEndian.PutUint16(a.wire[10:], binary.BigEndian.Uint16(a.wire[10:])-1)
	}
	return a, true
}

// skipName returns the offset after the name at off in msg.
func skipName(msg []byte, off int) (int, bool) {
	for n := 0; off < len(msg) && n < 128; n++ {
		l := int(msg[off])
		switch {
		case l == 0:
			return off + 1, true
		case l&0xc0 == 0xc0:
			return off + 2, off+2 <= len(msg)
		case l&0xc0 != 0:
			return 0, false
		}
		off += 1 + l
	}
	return 0, false
}
