package server

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/miekg/dns"
)

func packedQuery(tb testing.TB, m *dns.Msg) []byte {
	tb.Helper()
	b, err := m.Pack()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FuzzDoQQuery: the DoQ stream framing accepts exactly one
// length-prefixed message with ID 0 and nothing after it.
func FuzzDoQQuery(f *testing.F) {
	q := question(nameWWW, dns.TypeA)
	q.Id = 0
	wire := packedQuery(f, q)
	f.Add(append(binary.BigEndian.AppendUint16(nil, uint16(len(wire))), wire...))
	f.Add(append(binary.BigEndian.AppendUint16(nil, uint16(len(wire))), append(wire, 0)...))
	f.Add([]byte{0, 12, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, stream []byte) {
		msg, err := readDoQQuery(bytes.NewReader(stream))
		if err != nil {
			return
		}
		if len(stream) != 2+len(msg) || int(binary.BigEndian.Uint16(stream)) != len(msg) {
			t.Fatalf("accepted %d bytes of a %d-byte stream", len(msg), len(stream))
		}
		if len(msg) < headerLen || binary.BigEndian.Uint16(msg) != 0 {
			t.Fatalf("accepted a message of %d bytes with ID %x", len(msg), msg[:min(2, len(msg))])
		}
	})
}

// FuzzDoHQuery: a DoH request yields a query of a DNS message's size or
// an error status, never a panic; a POST's query is its body.
func FuzzDoHQuery(f *testing.F) {
	wire := packedQuery(f, question(nameWWW, dns.TypeA))
	f.Add(true, "dns=AAABAAABAAAAAAAAA3d3dwdleGFtcGxlA2NvbQAAAQAB", "", []byte(nil))
	f.Add(false, "", dohContentType, wire)
	f.Add(false, "", "application/dns-message; x=y", []byte{1, 2, 3})
	f.Add(true, "dns=%zz&dns=", "", []byte(nil))
	f.Fuzz(func(t *testing.T, get bool, rawQuery, ctype string, body []byte) {
		r := &http.Request{Method: http.MethodPost, URL: &url.URL{Path: DoHPath, RawQuery: rawQuery}, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body))}
		if get {
			r.Method = http.MethodGet
		}
		r.Header.Set("Content-Type", ctype)
		query, status := dohQuery(r)
		if status != http.StatusOK {
			if query != nil {
				t.Fatalf("status %d with a query", status)
			}
			return
		}
		if len(query) < headerLen || len(query) > dns.MaxMsgSize {
			t.Fatalf("query of %d bytes accepted", len(query))
		}
		if !get && !bytes.Equal(query, body) {
			t.Fatalf("POST query is not the body")
		}
	})
}

// FuzzStreamOptions: reading a query's options and padding an answer
// never panic, and a well-formed answer stays well-formed, padded to a
// whole number of blocks.
func FuzzStreamOptions(f *testing.F) {
	padded := withOptions(question(nameWWW, dns.TypeA), &dns.EDNS0_PADDING{Padding: make([]byte, 8)})
	answer := withEDNS(question(nameWWW, dns.TypeA), 1232, false)
	answer.Response = true
	answer.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: nameWWW, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: []byte{192, 0, 2, 1}}}
	f.Add(packedQuery(f, padded), packedQuery(f, answer))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xc0, 0}, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, query, answer []byte) {
		queryOptions(query)
		minTTL(answer)
		before := new(dns.Msg)
		wellFormed := before.Unpack(answer) == nil
		_, optLast := lastOPT(answer)
		out := padAnswer(bytes.Clone(answer))
		if !wellFormed || !optLast || len(out) == len(answer) {
			return
		}
		after := new(dns.Msg)
		if err := after.Unpack(out); err != nil {
			t.Fatalf("padding broke the answer: %v", err)
		}
		if len(out)%paddingBlock != 0 {
			t.Fatalf("padded to %d bytes", len(out))
		}
		if len(after.Answer) != len(before.Answer) || len(after.Ns) != len(before.Ns) {
			t.Fatalf("padding changed the records")
		}
	})
}
