package resolver

// What a trace step tells beyond the exchange itself: why the transport
// went over TCP, and what a referral carried.

import (
	"context"
	"errors"
	"net/netip"

	"github.com/miekg/dns"
)

// tcpNote receives from NetTransport why an exchange fell back to TCP. It
// travels in the exchange's context only while someone takes the steps,
// as net/http/httptrace's hooks do: the transport's interface stays as
// it is, and wrappers that forward the context pass it on.
type tcpNote struct{ why string }

type tcpNoteKey struct{}

// noting returns ctx carrying a fresh note when steps are being reported,
// and ctx and nil otherwise.
func noting(ctx context.Context, reporting bool) (context.Context, *tcpNote) {
	if !reporting {
		return ctx, nil
	}
	n := new(tcpNote)
	return context.WithValue(ctx, tcpNoteKey{}, n), n
}

func (n *tcpNote) reason() string {
	if n == nil {
		return ""
	}
	return n.why
}

// noteTCPFallback tells the exchange's note, if any, why the UDP reply
// (or error) udpErr made the transport ask over TCP.
func noteTCPFallback(ctx context.Context, udpErr error) {
	n, _ := ctx.Value(tcpNoteKey{}).(*tcpNote)
	if n == nil {
		return
	}
	switch {
	case udpErr == nil:
		n.why = "truncated"
	case errors.Is(udpErr, errOversized):
		n.why = "oversized"
	case errors.Is(udpErr, errSpoofSuspect):
		n.why = "wrong ID"
	default:
		n.why = udpErr.Error()
	}
}

// referralOf is what rep, a classified reply to resp (or nil), carried
// when it is a referral; nil otherwise.
func referralOf(rep *reply, resp *dns.Msg) *Referral {
	if rep == nil || rep.kind != kindReferral || resp == nil {
		return nil
	}
	ref := &Referral{Zone: rep.child}
	for _, rr := range rep.ns {
		if ns, ok := rr.(*dns.NS); ok {
			ref.NS = append(ref.NS, ns.Ns)
		}
	}
	for _, rr := range rep.glue {
		if a, ok := glueAddr(rr); ok {
			ref.Glue = append(ref.Glue, Glue{Name: rr.Header().Name, Addr: a})
		}
	}
	offered := 0
	for _, rr := range resp.Extra {
		if _, ok := glueAddr(rr); ok {
			offered++
		}
	}
	ref.GlueDropped = max(offered-len(ref.Glue), 0)
	return ref
}

// glueAddr is the address of an A or AAAA record.
func glueAddr(rr dns.RR) (netip.Addr, bool) {
	var ip []byte
	switch v := rr.(type) {
	case *dns.A:
		ip = v.A.To4()
	case *dns.AAAA:
		ip = v.AAAA.To16()
	}
	a, ok := netip.AddrFromSlice(ip)
	return a.Unmap(), ok
}
