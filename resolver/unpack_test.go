package resolver

import (
	"bytes"
	"encoding/hex"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// packWith packs a reply to qname/qtype whose answer holds records, some
// of them in RFC 3597 form with RDATA that does not fit their type.
func packWith(tb testing.TB, qtype uint16, answer ...dns.RR) []byte {
	tb.Helper()
	m := new(dns.Msg)
	m.SetQuestion("www.example.com.", qtype)
	m.Response, m.Authoritative = true, true
	m.Answer = answer
	m.Ns = rrs(tb, "example.com. 300 IN NS ns.example.com.")
	m.Extra = rrs(tb, "ns.example.com. 300 IN A 127.0.0.1")
	m.SetEdns0(1232, false)
	wire, err := m.Pack()
	if err != nil {
		tb.Fatal(err)
	}
	return wire
}

func opaque(t uint16, hexData string) dns.RR {
	return &dns.RFC3597{Hdr: dns.RR_Header{Name: "www.example.com.", Rrtype: t, Class: dns.ClassINET, Ttl: 300}, Rdata: hexData}
}

func TestUnpackReply(t *testing.T) {
	good := rrs(t, "www.example.com. 300 IN A 192.0.2.1")[0]
	// SVCB keys out of order: miekg refuses the record, Unbound passes it on.
	https := opaque(dns.TypeHTTPS, "0001000001000302683200010003026833")
	cut := packWith(t, dns.TypeA, good)
	tests := []struct {
		name    string
		wire    []byte
		answer  []string // the records' text, in order
		wantErr bool
	}{
		{"well formed", packWith(t, dns.TypeA, good), []string{good.String()}, false},
		{"short A dropped", packWith(t, dns.TypeA, opaque(dns.TypeA, "030405"), good, opaque(dns.TypeA, "030406")), []string{good.String()}, false},
		{"long AAAA dropped", packWith(t, dns.TypeAAAA, opaque(dns.TypeAAAA, "000102030405060708090a0b0c0d0e0f1011")), nil, false},
		{"HTTPS kept opaque", packWith(t, dns.TypeHTTPS, https), []string{https.String()}, false},
		{"cut in a record", cut[:len(cut)-20], nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := UnpackReply(tt.wire)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("want an error, got %v", m)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, rr := range m.Answer {
				got = append(got, rr.String())
			}
			if len(got) != len(tt.answer) {
				t.Fatalf("answer %q, want %q", got, tt.answer)
			}
			for i := range got {
				if got[i] != tt.answer[i] {
					t.Errorf("answer[%d] = %q, want %q", i, got[i], tt.answer[i])
				}
			}
			if len(m.Ns) != 1 || len(m.Extra) != 2 || m.IsEdns0() == nil {
				t.Errorf("other sections: ns %v extra %v", m.Ns, m.Extra)
			}
		})
	}
}

// FuzzUnpackReply: never a panic; whatever UnpackReply accepts packs
// again, and reads back the same: packing, unpacking and packing again
// gives the same bytes. Records kept opaque (RFC 3597 form of a type
// miekg knows) are left out of that comparison: they are malformed and
// passed on as they came, and their RDATA may hold a compression pointer
// that reads differently at its new offset (testdata/fuzz holds one).
func FuzzUnpackReply(f *testing.F) {
	f.Add(packWith(f, dns.TypeA, opaque(dns.TypeA, "030405")))
	f.Add(packWith(f, dns.TypeHTTPS, opaque(dns.TypeHTTPS, "0001000001000302683200010003026833")))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := UnpackReply(raw)
		if err != nil {
			return
		}
		if _, err := m.Pack(); err != nil {
			t.Fatalf("unpacked reply does not pack: %v\n%v", err, m)
		}
		for _, sec := range []*[]dns.RR{&m.Answer, &m.Ns, &m.Extra} {
			*sec = slices.DeleteFunc(*sec, keptOpaque)
		}
		wire, err := m.Pack()
		if err != nil {
			t.Fatalf("unpacked reply without its opaque records does not pack: %v\n%v", err, m)
		}
		again, err := UnpackReply(wire)
		if err != nil {
			t.Fatalf("repacked reply does not unpack: %v\n%v", err, m)
		}
		wire2, err := again.Pack()
		if err != nil {
			t.Fatalf("reply unpacked twice does not pack: %v\n%v", err, again)
		}
		if !bytes.Equal(wire, wire2) {
			t.Fatalf("round trip changed the reply:\n%v\nbecame\n%v", m, again)
		}
	})
}

// keptOpaque reports whether rr is a record of a type miekg knows, in RFC
// 3597 form: one UnpackReply kept as it came because its RDATA does not
// fit its type.
func keptOpaque(rr dns.RR) bool {
	_, known := dns.TypeToRR[rr.Header().Rrtype]
	_, opaque := rr.(*dns.RFC3597)
	return known && opaque
}

// Records miekg/dns unpacks but could not send out again as they came
// are read as malformed: what the cache keeps and clients get is what the
// server sent, or nothing.
func TestUnpackReplyRepacks(t *testing.T) {
	good := rrs(t, "www.example.com. 300 IN A 192.0.2.1")[0]
	caa := "0005" + hex.EncodeToString([]byte("issue")) + strings.Repeat("61", 1100)
	caa = "00" + caa[2:]
	for _, tc := range []struct {
		name string
		rr   dns.RR
	}{
		{"SVCB alpn with an empty id", opaque(dns.TypeHTTPS, "0001000001000100")},
		{"SOA of no bytes", opaque(dns.TypeSOA, "")},
		{"URI target with a backslash", opaque(dns.TypeURI, "00010001615c62")},
		{"CAA value over 1024 bytes", opaque(dns.TypeCAA, caa)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := UnpackReply(packWith(t, tc.rr.Header().Rrtype, tc.rr, good))
			if err != nil {
				t.Fatalf("UnpackReply: %v", err)
			}
			if _, err := m.Pack(); err != nil {
				t.Fatalf("the reply does not pack again: %v", err)
			}
			for _, rr := range m.Answer {
				if rr.Header().Rrtype != tc.rr.Header().Rrtype {
					continue
				}
				if _, opaque := rr.(*dns.RFC3597); !opaque {
					t.Errorf("kept as %v, want it dropped or kept as it came (RFC 3597)", rr)
				}
			}
			if len(m.Answer) == 0 || !dns.IsDuplicate(m.Answer[len(m.Answer)-1], good) {
				t.Errorf("answer %v: the good record was lost", m.Answer)
			}
		})
	}
}
