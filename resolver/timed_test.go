package resolver

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/testnet"
)

// exchangeVia reports the TCP fallback, for NetTransport alone and
// wrapped in testnet.LoopbackOnly, which forwards ExchangeTimed.
func TestExchangeViaReportsTCP(t *testing.T) {
	wrappers := []struct {
		name string
		wrap func(testing.TB, *NetTransport) Transport
	}{
		{"NetTransport", func(_ testing.TB, nt *NetTransport) Transport { return nt }},
		{"LoopbackOnly(NetTransport)", func(tb testing.TB, nt *NetTransport) Transport { return testnet.LoopbackOnly(tb, nt) }},
	}
	for _, w := range wrappers {
		t.Run(w.name, func(t *testing.T) {
			tr := w.wrap(t, &NetTransport{})
			if _, ok := tr.(TimedTransport); !ok {
				t.Fatalf("%T is not a TimedTransport", tr)
			}
			// Over UDP.
			srv := udpServer(t, func(q *dns.Msg) [][]byte { return [][]byte{pack(t, answerFor(t, q))} })
			q := plainQuery("www.example.com.", dns.TypeA)
			resp, _, tcp, err := exchangeVia(t.Context(), tr, q, srv, 30*time.Second)
			if err != nil || tcp || len(resp.Answer) != 1 {
				t.Fatalf("UDP answer: %v, tcp %v, %v; want the answer over UDP", resp, tcp, err)
			}
			// Truncated over UDP, whole over TCP.
			srv = truncatingServer(t, func(q *dns.Msg) []byte { return pack(t, answerFor(t, q)) })
			q = plainQuery("big.example.com.", dns.TypeA)
			resp, _, tcp, err = exchangeVia(t.Context(), tr, q, srv, 30*time.Second)
			if err != nil || !tcp || resp.Truncated || len(resp.Answer) != 1 {
				t.Fatalf("truncated answer: %v, tcp %v, %v; want the whole answer, tcp true", resp, tcp, err)
			}
		})
	}
}

// plainTransport has Exchange only: it records the deadline it was given
// and answers with what reply makes of the query.
type plainTransport struct {
	deadline time.Time
	reply    func(q *dns.Msg) *dns.Msg
}

func (p *plainTransport) Exchange(ctx context.Context, m *dns.Msg, _ netip.AddrPort) (*dns.Msg, time.Duration, error) {
	p.deadline, _ = ctx.Deadline()
	return p.reply(m), time.Millisecond, nil
}

// A Transport without ExchangeTimed gets the timeout as a context deadline
// and reports no TCP; its replies pass checkReply all the same, alone or
// behind LoopbackOnly.
func TestExchangeViaPlainTransport(t *testing.T) {
	srv := netip.MustParseAddrPort("127.0.0.1:53")
	for _, wrapped := range []bool{false, true} {
		honest := &plainTransport{reply: func(q *dns.Msg) *dns.Msg { return answerFor(t, q) }}
		var tr Transport = honest
		if wrapped {
			tr = testnet.LoopbackOnly(t, honest)
		}
		before := time.Now()
		resp, _, tcp, err := exchangeVia(t.Context(), tr, plainQuery("www.example.com.", dns.TypeA), srv, time.Hour)
		if err != nil || tcp || len(resp.Answer) != 1 {
			t.Fatalf("wrapped=%v: %v, tcp %v, %v; want the answer", wrapped, resp, tcp, err)
		}
		if dl := honest.deadline; dl.Before(before.Add(time.Hour)) || dl.After(time.Now().Add(time.Hour)) {
			t.Errorf("wrapped=%v: deadline %v after the call, want the timeout of an hour", wrapped, dl.Sub(before))
		}

		notReply := &plainTransport{reply: func(q *dns.Msg) *dns.Msg {
			m := answerFor(t, q)
			m.Response = false
			return m
		}}
		tr = notReply
		if wrapped {
			tr = testnet.LoopbackOnly(t, notReply)
		}
		if resp, _, _, err := exchangeVia(t.Context(), tr, plainQuery("www.example.com.", dns.TypeA), srv, time.Hour); !errors.Is(err, errMalformed) || resp != nil {
			t.Errorf("wrapped=%v: QR clear: %v, %v; want errMalformed and no reply", wrapped, resp, err)
		}

		none := &plainTransport{reply: func(*dns.Msg) *dns.Msg { return nil }}
		if _, _, _, err := exchangeVia(t.Context(), none, plainQuery("www.example.com.", dns.TypeA), srv, time.Hour); !errors.Is(err, errMalformed) {
			t.Errorf("no reply, no error: %v; want errMalformed", err)
		}
	}
}
