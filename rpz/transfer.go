package rpz

// Zone transfers from a primary (RFC 5936 AXFR, RFC 1995 IXFR), as a
// secondary does: AXFR first, then IXFR from the serial held each time
// the SOA's refresh runs out; a primary that refuses IXFR, or answers it
// with a single newer SOA, gets an AXFR instead. A failed transfer is
// retried after the SOA's retry, and the last good policy stays.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// follow keeps src's zone up to date until ctx ends.
func (s *Set) follow(ctx context.Context, src *source) {
	for {
		wait := DefaultRetry
		z, err := s.transfer(src)
		switch {
		case err != nil:
			s.loaded(src, nil, fmt.Errorf("rpz: zone %s from %s: %w", src.Name, src.Primary, err))
			if cur := src.cur.Load(); cur != nil {
				wait = time.Duration(cur.SOA().Retry) * time.Second
			}
		case z != nil:
			s.loaded(src, z, nil)
			wait = time.Duration(z.SOA().Refresh) * time.Second
		default: // up to date
			cur := src.cur.Load()
			s.log.Debug("rpz: zone up to date", "policy", src.Name, "serial", cur.Serial())
			if s.cfg.Loaded != nil {
				s.cfg.Loaded(src.Name, cur.Serial(), nil)
			}
			wait = time.Duration(cur.SOA().Refresh) * time.Second
		}
		wait = max(wait, time.Second)
		select {
		case <-ctx.Done():
			return
		case <-s.cfg.After(wait):
		}
	}
}

// transfer fetches src's zone: an IXFR when a version is held, an AXFR
// otherwise or when the IXFR fails. It returns nil and no error when the
// held version is current.
func (s *Set) transfer(src *source) (*Zone, error) {
	cur := src.cur.Load()
	if cur == nil {
		return s.axfr(src)
	}
	z, err := s.ixfr(src, cur)
	if err != nil {
		s.log.Info("rpz: IXFR failed, trying AXFR", "policy", src.Name, "primary", src.Primary, "err", err)
		return s.axfr(src)
	}
	return z, nil
}

// errNeedAXFR: the IXFR's answer says the client should ask for AXFR.
var errNeedAXFR = errors.New("IXFR answered with a newer SOA alone")

func (s *Set) ixfr(src *source, cur *Zone) (*Zone, error) {
	m := new(dns.Msg)
	soa := cur.SOA()
	m.SetIxfr(src.Name, soa.Serial, soa.Ns, soa.Mbox)
	rrs, err := s.xfr(src, m)
	if err != nil {
		return nil, err
	}
	first, ok := rrs[0].(*dns.SOA)
	if !ok {
		return nil, fmt.Errorf("IXFR answer starts with %s, not the SOA", dns.TypeToString[rrs[0].Header().Rrtype])
	}
	if len(rrs) == 1 {
		if !serialNewer(first.Serial, soa.Serial) {
			return nil, nil // current
		}
		return nil, errNeedAXFR
	}
	if _, incremental := rrs[1].(*dns.SOA); !incremental {
		s.log.Debug("rpz: IXFR answered with the whole zone", "policy", src.Name, "serial", first.Serial, "records", len(rrs)-1)
		return FromRecords(src.Name, rrs[:len(rrs)-1])
	}
	s.log.Debug("rpz: IXFR", "policy", src.Name, "from", soa.Serial, "to", first.Serial)
	rrs, err = applyIXFR(cur.rrs, rrs)
	if err != nil {
		return nil, err
	}
	return FromRecords(src.Name, rrs)
}

func (s *Set) axfr(src *source) (*Zone, error) {
	m := new(dns.Msg)
	m.SetAxfr(src.Name)
	rrs, err := s.xfr(src, m)
	if err != nil {
		return nil, err
	}
	if len(rrs) < 2 || rrs[0].Header().Rrtype != dns.TypeSOA || rrs[len(rrs)-1].Header().Rrtype != dns.TypeSOA {
		return nil, errors.New("AXFR answer not framed by the SOA")
	}
	s.log.Debug("rpz: AXFR", "policy", src.Name, "primary", src.Primary, "records", len(rrs)-1)
	return FromRecords(src.Name, rrs[:len(rrs)-1])
}

// xfr runs one transfer and returns its records.
func (s *Set) xfr(src *source, m *dns.Msg) ([]dns.RR, error) {
	t := &dns.Transfer{DialTimeout: s.cfg.Timeout, ReadTimeout: s.cfg.Timeout, WriteTimeout: s.cfg.Timeout}
	ch, err := t.In(m, hostPort(src.Primary))
	if err != nil {
		return nil, err
	}
	var rrs []dns.RR
	for env := range ch {
		if env.Error != nil {
			err = env.Error
			continue // drain: In's goroutine ends when the channel is read out
		}
		rrs = append(rrs, env.RR...)
	}
	if err != nil {
		return nil, err
	}
	if len(rrs) == 0 {
		return nil, errors.New("empty transfer")
	}
	return rrs, nil
}

// applyIXFR applies the differences of an incremental IXFR answer (the
// new SOA, then per version the old SOA, the records deleted, the new
// SOA, the records added, and the new SOA again) to the records held.
func applyIXFR(held, answer []dns.RR) ([]dns.RR, error) {
	final := answer[0].(*dns.SOA)
	last, ok := answer[len(answer)-1].(*dns.SOA)
	if !ok || last.Serial != final.Serial {
		return nil, errors.New("IXFR answer not ended by the new SOA")
	}
	keys := map[string]int{}
	zone := make([]dns.RR, 0, len(held))
	for _, rr := range held {
		if rr.Header().Rrtype == dns.TypeSOA {
			continue
		}
		keys[rrKey(rr)] = len(zone)
		zone = append(zone, rr)
	}
	deleting := false
	for _, rr := range answer[1 : len(answer)-1] {
		if rr.Header().Rrtype == dns.TypeSOA {
			deleting = !deleting // the old SOA opens the deletions, the new one the additions
			continue
		}
		k := rrKey(rr)
		i, has := keys[k]
		switch {
		case deleting && has:
			zone[i] = nil
			delete(keys, k)
		case !deleting && !has:
			keys[k] = len(zone)
			zone = append(zone, rr)
		}
	}
	out := []dns.RR{final}
	for _, rr := range zone {
		if rr != nil {
			out = append(out, rr)
		}
	}
	return out, nil
}

// rrKey identifies a record regardless of its TTL and owner case.
func rrKey(rr dns.RR) string {
	c := dns.Copy(rr)
	c.Header().Ttl = 0
	c.Header().Name = strings.ToLower(c.Header().Name)
	return c.String()
}

// serialNewer reports whether serial a is after b (RFC 1982).
func serialNewer(a, b uint32) bool {
	return a != b && int32(a-b) > 0
}
