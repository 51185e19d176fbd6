package server

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// FuzzHandle feeds client bytes through HandlePacket over UDP and TCP. It
// asserts what holds for any input: no panic reached the last-resort
// recover, and an answer, when there is one, parses, is a response to the
// query's ID and fits the client's UDP buffer.
func FuzzHandle(f *testing.F) {
	seeds := []*dns.Msg{
		question(nameWWW, dns.TypeA),
		withEDNS(question(nameBig, dns.TypeTXT), 4096, true),
		question(nameMedium, dns.TypeTXT),
		question(nameAlias, dns.TypeANY),
		func() *dns.Msg {
			m := withEDNS(question(nameWWW, dns.TypeA), 1232, false)
			m.IsEdns0().SetVersion(1)
			return m
		}(),
		func() *dns.Msg { m := question(nameWWW, dns.TypeA); m.Opcode = dns.OpcodeUpdate; return m }(),
	}
	for _, m := range seeds {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
		f.Add(b, true)
	}
	f.Add([]byte{}, false)
	f.Add(make([]byte, 12), false)
	fb := newFakeBackend(f)
	s, _ := newTestServer(f, Config{Backend: tameBackend{fb}, QueryTimeout: 10 * time.Millisecond})
	f.Fuzz(func(t *testing.T, query []byte, tcp bool) {
		out := s.HandlePacket(t.Context(), query, clientLoopback, tcp, nil)
		if st := s.Stats(); st.Panics != 0 {
			t.Fatalf("handling %x panicked", query)
		}
		if out == nil {
			return
		}
		if len(query) < headerLen {
			t.Fatalf("answered %d bytes", len(query))
		}
		resp := new(dns.Msg)
		if err := resp.Unpack(out); err != nil {
			t.Fatalf("response does not parse: %v\n%x", err, out)
		}
		if !resp.Response || resp.Id != binary.BigEndian.Uint16(query) {
			t.Fatalf("response id %d QR %v, query id %d", resp.Id, resp.Response, binary.BigEndian.Uint16(query))
		}
		if query[2]&0x80 != 0 {
			t.Fatalf("answered a response")
		}
		if tcp {
			return
		}
		limit := dns.MinMsgSize
		req := new(dns.Msg)
		if req.Unpack(query) == nil {
			if opt := req.IsEdns0(); opt != nil {
				limit = max(limit, min(int(opt.UDPSize()), DefaultMaxUDPSize))
			}
		}
		if len(out) > limit {
			t.Fatalf("UDP response of %d bytes, client accepts %d", len(out), limit)
		}
	})
}

// tameBackend is the fake backend without its deliberate panic and stall.
type tameBackend struct{ *fakeBackend }

func (b tameBackend) Resolve(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	switch strings.ToLower(name) {
	case namePanic, nameSlow:
		return nil, errors.New("not in the fuzz backend")
	}
	return b.fakeBackend.Resolve(ctx, name, qtype)
}
