package dnssec

import (
	"slices"
	"testing"

	"github.com/miekg/dns"
)

// fuzzZone is a signed fixture: two RRsets of example.com. signed with a
// fixed ed25519 key, in one message (answer: the sets and their RRSIGs;
// additional: the DNSKEY set and its RRSIG).
type fuzzZone struct {
	signer *signer
	sets   [][]dns.RR
	sigs   []*dns.RRSIG
	msg    []byte
}

func newFuzzZone(t testing.TB) fuzzZone {
	z := fuzzZone{signer: newSigner(t, "example.com.", dns.ED25519, 7)}
	z.sets = [][]dns.RR{
		rrs(t, "example.com. 300 IN MX 10 Mail.Example.com.", "example.com. 300 IN MX 20 mx2.example.net."),
		rrs(t, `www.example.com. 300 IN TXT "hello" "world"`, `www.example.com. 300 IN TXT "v=2"`),
	}
	m := new(dns.Msg)
	for _, set := range z.sets {
		sig := z.signer.sign(t, "example.com.", set)
		z.sigs = append(z.sigs, sig)
		m.Answer = append(m.Answer, set...)
		m.Answer = append(m.Answer, sig)
	}
	keySet := []dns.RR{z.signer.key}
	m.Extra = append(m.Extra, z.signer.key, z.signer.sign(t, "example.com.", keySet))
	var err error
	if z.msg, err = m.Pack(); err != nil {
		t.Fatal(err)
	}
	return z
}

// FuzzVerify: any message through VerifyRRset and VerifyKeySet does not
// panic and keeps the budget; and a change to any RDATA octet of a signed
// set or of its RRSIG (one that changes the record, not only the case of a
// name) leaves the set not Secure.
func FuzzVerify(f *testing.F) {
	z := newFuzzZone(f)
	f.Add(z.msg, uint8(0), uint16(0), byte(1))
	f.Add(z.msg, uint8(1), uint16(3), byte(0x20))
	f.Add(z.msg, uint8(2), uint16(5), byte(0x80))
	f.Add(z.msg, uint8(5), uint16(18), byte(0xff))
	f.Add([]byte{}, uint8(4), uint16(100), byte(7))
	keys := keysOf(z.signer)
	f.Fuzz(func(t *testing.T, wire []byte, which uint8, pos uint16, flip byte) {
		verifyMessage(t, wire)

		set := z.sets[int(which)%len(z.sets)]
		sig := z.sigs[int(which)%len(z.sigs)]
		i := int(which/2) % (len(set) + 1)
		target := dns.RR(sig)
		if i < len(set) {
			target = set[i]
		}
		changed, ok := mutateRdata(target, int(pos), flip)
		if !ok {
			return
		}
		newSet, newSig := set, sig
		if i < len(set) {
			newSet = append(append(append([]dns.RR{}, set[:i]...), changed), set[i+1:]...)
		} else if newSig, ok = changed.(*dns.RRSIG); !ok {
			return
		}
		if v := VerifyRRset(newSet, []*dns.RRSIG{newSig}, "example.com.", keys, now, nil); v.Status == Secure {
			t.Fatalf("still Secure after changing %s into %s", target, changed)
		}
	})
}

// mutateRdata xors one RDATA octet of rr; false when nothing (or only the
// case of a name) changed or the result does not unpack.
func mutateRdata(rr dns.RR, pos int, flip byte) (dns.RR, bool) {
	if flip == 0 {
		return nil, false
	}
	buf := make([]byte, dns.Len(rr)+16)
	m := dns.Msg{Answer: []dns.RR{rr}}
	wire, err := m.PackBuffer(buf)
	if err != nil {
		return nil, false
	}
	hdrEnd := 12 + headerLen(rr) // message header, then the record's
	if hdrEnd >= len(wire) {
		return nil, false
	}
	wire[hdrEnd+pos%(len(wire)-hdrEnd)] ^= flip
	var out dns.Msg
	if out.Unpack(wire) != nil || len(out.Answer) != 1 || dns.IsDuplicate(rr, out.Answer[0]) {
		return nil, false
	}
	return out.Answer[0], true
}

// headerLen is the octets of rr's owner name, type, class, TTL and length.
func headerLen(rr dns.RR) int {
	var buf [256]byte
	n, _ := dns.PackDomainName(rr.Header().Name, buf[:], 0, nil, false)
	return n + 10
}

// verifyMessage runs a message's RRsets and DNSKEYs through the checks.
func verifyMessage(t *testing.T, wire []byte) {
	var m dns.Msg
	if m.Unpack(wire) != nil {
		return
	}
	b := NewBudget(DefaultLimits)
	var sigs []*dns.RRSIG
	var keys []dns.RR
	sets := map[[2]any][]dns.RR{}
	for _, rr := range append(append(m.Answer, m.Ns...), m.Extra...) {
		switch x := rr.(type) {
		case *dns.RRSIG:
			sigs = append(sigs, x)
		case *dns.DNSKEY:
			keys = append(keys, x)
		}
		h := rr.Header()
		k := [2]any{dns.CanonicalName(h.Name), h.Rrtype}
		sets[k] = append(sets[k], rr)
	}
	for _, set := range sets {
		zone := dns.CanonicalName(set[0].Header().Name)
		for _, s := range sigs {
			zone = s.SignerName
			break
		}
		check(t, VerifyRRset(set, sigs, zone, ParseKeys(keys), now, b), b)
	}
	if len(keys) > 0 {
		zone := keys[0].Header().Name
		var ds []*dns.DS
		for _, k := range keys {
			if d := k.(*dns.DNSKEY).ToDS(dns.SHA256); d != nil {
				ds = append(ds, d)
			}
		}
		v, _ := VerifyKeySet(zone, keys, sigs, ds, nil, now, b)
		check(t, v, b)
	}
}

func check(t *testing.T, v Verdict, b *Budget) {
	t.Helper()
	if v.Status > Bogus || (v.Status == Secure && v.EDE != 0) || (v.Status == Bogus && v.EDE == 0) {
		t.Fatalf("incoherent verdict %+v", v)
	}
	if b.Verifications() > b.limits.MaxVerificationsPerQuery || b.Hashes() > b.limits.MaxHashesPerQuery {
		t.Fatalf("budget overrun: %d verifications, %d hashes", b.Verifications(), b.Hashes())
	}
}

// FuzzProofs: any records and names through the four proofs do not panic,
// give coherent verdicts and stay within the hash budget.
func FuzzProofs(f *testing.F) {
	for _, set := range [][]dns.RR{
		nsec3Of(f, 1, 12, "x.w.example.", "example.", "a.example."),
		nsec3Of(f, 0, 12, "w.example.", "ns2.example.", "*.w.example."),
		nsecs(f, nsecZone, "x.y.w.example.", "*.w.example.", "b.example."),
	} {
		m := new(dns.Msg)
		m.Ns = set
		for _, rr := range set {
			if n, ok := rr.(*dns.NSEC3); ok {
				slices.Sort(n.TypeBitMap)
			}
			if n, ok := rr.(*dns.NSEC); ok {
				slices.Sort(n.TypeBitMap)
			}
		}
		wire, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire, "a.c.x.w.example.", "*.w.example.", uint16(dns.TypeA), uint8(0))
		f.Add(wire, "a.z.w.example.", "*.w.example.", uint16(dns.TypeAAAA), uint8(1))
		f.Add(wire, "a.z.w.example.", "*.w.example.", uint16(dns.TypeMX), uint8(2))
		f.Add(wire, "c.example.", "*.example.", uint16(dns.TypeDS), uint8(3))
	}
	f.Fuzz(func(t *testing.T, wire []byte, qname, wildcard string, qtype uint16, mode uint8) {
		var m dns.Msg
		if m.Unpack(wire) != nil {
			return
		}
		b := NewBudget(Limits{MaxHashesPerQuery: 20})
		var v Verdict
		switch mode % 4 {
		case 0:
			v = ProveNXDomain(qname, "example.", m.Ns, b)
		case 1:
			v = ProveNoData(qname, qtype, "example.", m.Ns, b)
		case 2:
			v = ProveWildcardAnswer(qname, wildcard, "example.", m.Ns, b)
		case 3:
			v = ProveNoDS(qname, "example.", m.Ns, b)
		}
		check(t, v, b)
	})
}
