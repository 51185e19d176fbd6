package testnet

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// signedCase is one question to the signed fixture and the sections a
// DNSSEC-aware server gives with DO. An RRset is written "owner TYPE" and
// stands for itself and its RRSIGs, unless it ends in " unsigned" (a
// referral's NS set, a synthesised CNAME). Denial records are written
// "match NAME" or "cover NAME", per chain; nsec3 serves for optout when
// optout is nil.
type signedCase struct {
	name       string
	qname      string
	qtype      uint16
	parentOnly bool // the server serves example. without sec.example.
	rcode      int
	answer, ns []string
	answerNSEC []string // more of the answer, in the NSEC chain only
	nsec       []string
	nsec3      []string
	optout     []string
	// nsdDiffers says where NSD's proof is not the RFC's, and why.
	nsdDiffers map[chainMode]string
}

var signedCases = []signedCase{
	{name: "answer", qname: "www.example.", qtype: dns.TypeA, answer: []string{"www.example. A"}},
	{name: "nodata", qname: "WWW.example.", qtype: dns.TypeAAAA, ns: []string{"example. SOA"},
		nsec: []string{"match www.example."}, nsec3: []string{"match www.example."}},
	{name: "nxdomain", qname: "nx.example.", qtype: dns.TypeA, rcode: dns.RcodeNameError, ns: []string{"example. SOA"},
		nsec:  []string{"cover nx.example.", "cover *.example."},
		nsec3: []string{"match example.", "cover nx.example.", "cover *.example."}},
	{name: "empty non-terminal", qname: "ent.example.", qtype: dns.TypeA, ns: []string{"example. SOA"},
		nsec: []string{"cover ent.example."}, nsec3: []string{"match ent.example."}},
	{name: "wildcard", qname: "x.w.example.", qtype: dns.TypeA, answer: []string{"x.w.example. A"},
		nsec: []string{"cover x.w.example."}, nsec3: []string{"cover x.w.example."}},
	{name: "wildcard nodata", qname: "x.w.example.", qtype: dns.TypeAAAA, ns: []string{"example. SOA"},
		nsec:  []string{"cover x.w.example.", "match *.w.example."},
		nsec3: []string{"match w.example.", "cover x.w.example.", "match *.w.example."}},
	{name: "wildcard any", qname: "x.w.example.", qtype: dns.TypeANY,
		answer:     []string{"x.w.example. A unsigned", "x.w.example. RRSIG A unsigned"},
		answerNSEC: []string{"x.w.example. NSEC unsigned", "x.w.example. RRSIG NSEC unsigned"},
		nsec:       []string{"cover x.w.example."}, nsec3: []string{"cover x.w.example."},
		nsdDiffers: map[chainMode]string{chainNSEC: "NSD answers ANY with one RRset (RFC 8482)",
			chainNSEC3: "NSD answers ANY with one RRset (RFC 8482)", chainOptOut: "NSD answers ANY with one RRset (RFC 8482)"}},
	{name: "cname", qname: "alias.example.", qtype: dns.TypeA, answer: []string{"alias.example. CNAME", "www.example. A"}},
	{name: "wildcard cname", qname: "x.wc.example.", qtype: dns.TypeA,
		answer: []string{"x.wc.example. CNAME", "www.example. A"},
		nsec:   []string{"cover x.wc.example."}, nsec3: []string{"cover x.wc.example."}},
	{name: "dname into child", qname: "www.dn.example.", qtype: dns.TypeA,
		answer: []string{"dn.example. DNAME", "www.dn.example. CNAME unsigned", "www.sec.example. A"}},
	{name: "dname to nxdomain", qname: "x.dn.example.", qtype: dns.TypeA, rcode: dns.RcodeNameError,
		answer: []string{"dn.example. DNAME", "x.dn.example. CNAME unsigned"}, ns: []string{"sec.example. SOA"},
		nsec:  []string{"cover x.sec.example.", "cover *.sec.example."},
		nsec3: []string{"match sec.example.", "cover x.sec.example.", "cover *.sec.example."},
		nsdDiffers: map[chainMode]string{chainNSEC: "NSD 4.6 gives the NSEC of the DNAME target's closest " +
			"encloser (sec.example.), which covers *.sec.example. but not x.sec.example."}},
	{name: "secure referral", qname: "www.sec.example.", qtype: dns.TypeA, parentOnly: true,
		ns: []string{"sec.example. NS unsigned", "sec.example. DS"}},
	{name: "insecure referral", qname: "www.insec.example.", qtype: dns.TypeA,
		ns:   []string{"insec.example. NS unsigned"},
		nsec: []string{"match insec.example."}, nsec3: []string{"match insec.example."},
		optout: []string{"match example.", "cover insec.example."}},
	{name: "ds from parent", qname: "sec.example.", qtype: dns.TypeDS, answer: []string{"sec.example. DS"}},
	{name: "ds parent only", qname: "sec.example.", qtype: dns.TypeDS, parentOnly: true, answer: []string{"sec.example. DS"}},
	{name: "no ds", qname: "insec.example.", qtype: dns.TypeDS, ns: []string{"example. SOA"},
		nsec: []string{"match insec.example."}, nsec3: []string{"match insec.example."},
		optout: []string{"match example.", "cover insec.example."}},
	{name: "no ds under an empty non-terminal", qname: "a.optent.example.", qtype: dns.TypeDS, ns: []string{"example. SOA"},
		nsec: []string{"match a.optent.example."}, nsec3: []string{"match a.optent.example."},
		optout: []string{"match example.", "cover optent.example."}},
	{name: "nxdomain under an opted-out non-terminal", qname: "x.optent.example.", qtype: dns.TypeA,
		rcode: dns.RcodeNameError, ns: []string{"example. SOA"},
		nsec:   []string{"cover x.optent.example.", "cover *.optent.example."},
		nsec3:  []string{"match optent.example.", "cover x.optent.example.", "cover *.optent.example."},
		optout: []string{"match example.", "cover optent.example.", "cover *.example."},
		nsdDiffers: map[chainMode]string{chainOptOut: "NSD 4.6 covers x.optent.example. and *.optent.example. " +
			"but cannot match optent.example. (opted out): no closest encloser proof; " +
			"the closest provable encloser proof is the one a validator can use (RFC 5155 section 7.2.1)"}},
	{name: "child dnskey", qname: "sec.example.", qtype: dns.TypeDNSKEY, answer: []string{"sec.example. DNSKEY"}},
	{name: "apex dnskey", qname: "example.", qtype: dns.TypeDNSKEY, answer: []string{"example. DNSKEY"}},
}

// TestSignedSections asks each case of the signed fixture, with DO, of an
// in-process authority, in each kind of chain: the sections must hold
// exactly the RRsets, signatures and denial records the case gives, every
// RRSIG must verify, and no record may come twice.
func TestSignedSections(t *testing.T) {
	for _, mode := range chainModes {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			tr := buildTree(t, mode)
			for _, c := range slices.Concat(signedCases, tr.hashedCases()) {
				t.Run(c.name, func(t *testing.T) {
					resp := askSigned(tr, c, true)
					if resp.Rcode != c.rcode {
						t.Errorf("rcode %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[c.rcode])
					}
					wantNS := slices.Concat(expandRRsets(c.ns), tr.expandDenial(t, c))
					answer := c.answer
					if mode == chainNSEC {
						answer = slices.Concat(answer, c.answerNSEC)
					}
					checkKeys(t, "answer", resp.Answer, expandRRsets(answer))
					checkKeys(t, "authority", resp.Ns, wantNS)
					tr.checkSigs(t, resp)
				})
			}
		})
	}
}

// TestSignedWithoutDO asks the same cases without DO: the reply must be
// the DO reply less what DNSSEC adds (RRSIGs, denial records, a
// referral's DS), with nothing of DNSSEC but the type asked for.
func TestSignedWithoutDO(t *testing.T) {
	tr := buildTree(t, chainNSEC3)
	for _, c := range slices.Concat(signedCases, tr.hashedCases()) {
		t.Run(c.name, func(t *testing.T) {
			with, without := askSigned(tr, c, true), askSigned(tr, c, false)
			if with.Rcode != without.Rcode || with.Authoritative != without.Authoritative {
				t.Errorf("rcode %d AA %t without DO, %d %t with", without.Rcode, without.Authoritative, with.Rcode, with.Authoritative)
			}
			// DNSSEC records stay in the answer when asked for (ANY asks
			// for all), and
			// never come in the other sections.
			keep := func(rr dns.RR, answer bool) bool {
				switch t := rr.Header().Rrtype; t {
				case dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNSEC3, dns.TypeDS:
					return answer && (t == c.qtype || c.qtype == dns.TypeANY)
				}
				return true
			}
			for _, sec := range []struct {
				name      string
				got, want []dns.RR
			}{{"answer", without.Answer, with.Answer}, {"authority", without.Ns, with.Ns}, {"additional", without.Extra, with.Extra}} {
				want := slices.DeleteFunc(slices.Clone(sec.want), func(rr dns.RR) bool { return !keep(rr, sec.name == "answer") })
				if g, w := rrStrings(sec.got), rrStrings(want); !slices.Equal(g, w) {
					t.Errorf("%s without DO:\n%s\nwant\n%s", sec.name, strings.Join(g, "\n"), strings.Join(w, "\n"))
				}
			}
		})
	}
}

// hashedCases ask for the owner name of an NSEC3 record (the one matching
// www.example.), which is no name of the zone (RFC 5155 section 7.2.9):
// NXDOMAIN, its own record never served as an answer.
func (tr *signedTree) hashedCases() []signedCase {
	if tr.mode == chainNSEC {
		return nil
	}
	rr, _ := indexDenial(tr.parent).nsec3At("www.example.")
	owner := strings.ToLower(rr.Hdr.Name)
	nx := func(name, qname string, qtype uint16) signedCase {
		return signedCase{name: name, qname: qname, qtype: qtype, rcode: dns.RcodeNameError, ns: []string{"example. SOA"},
			nsec3: []string{"match example.", "cover " + owner, "cover *.example."}}
	}
	below := nx("below an nsec3 owner", "x."+owner, dns.TypeA)
	below.nsdDiffers = map[chainMode]string{tr.mode: "NSD 4.6 takes the NSEC3 owner for the closest encloser " +
		"of a name below it and gives one NSEC3 covering that name: no closest encloser proof"}
	return []signedCase{
		nx("nsec3 owner", owner, dns.TypeA),
		nx("nsec3 owner nsec3", owner, dns.TypeNSEC3),
		below,
	}
}

// askSigned asks c of an authority serving the fixture, through respond
// over TCP so no reply is truncated.
func askSigned(tr *signedTree, c signedCase, do bool) *dns.Msg {
	a := &authority{zones: []*zone{tr.parent, tr.child}}
	if c.parentOnly {
		a.zones = a.zones[:1]
	}
	req := new(dns.Msg)
	req.SetQuestion(c.qname, c.qtype)
	req.SetEdns0(EDNSBufferSize, do)
	_, resp := a.respond(req, true)
	return resp
}

// expandRRsets turns "owner TYPE" RRsets into the keys of their records
// and RRSIGs.
func expandRRsets(specs []string) []string {
	var out []string
	for _, s := range specs {
		if plain, ok := strings.CutSuffix(s, " unsigned"); ok {
			out = append(out, plain)
			continue
		}
		owner, typ, _ := strings.Cut(s, " ")
		out = append(out, s, owner+" RRSIG "+typ)
	}
	return out
}

// expandDenial finds the records that match or cover the names of c's
// proof in the zone that holds them, by miekg's NSEC3.Match and Cover and
// by canonical order for NSEC, and returns their keys and their RRSIGs'.
func (tr *signedTree) expandDenial(tb testing.TB, c signedCase) []string {
	tb.Helper()
	specs := c.nsec
	switch {
	case tr.mode == chainOptOut && c.optout != nil:
		specs = c.optout
	case tr.mode != chainNSEC:
		specs = c.nsec3
	}
	var out []string
	for _, s := range specs {
		how, name, _ := strings.Cut(s, " ")
		z := tr.parent
		if !c.parentOnly && dns.IsSubDomain(tr.child.origin, name) {
			z = tr.child
		}
		var found []string
		for _, n := range z.nodes {
			for _, rr := range slices.Concat(n.rrsets[dns.TypeNSEC], n.rrsets[dns.TypeNSEC3]) {
				if proves(rr, how, name) {
					found = append(found, rrKey(rr))
				}
			}
		}
		if len(found) != 1 {
			tb.Fatalf("%s: %d records %s it in %s, want 1", s, len(found), how, z.origin)
		}
		owner, typ, _ := strings.Cut(found[0], " ")
		out = append(out, found[0], owner+" RRSIG "+typ)
	}
	return out
}

// proves reports whether an NSEC or NSEC3 record matches or covers name.
func proves(rr dns.RR, how, name string) bool {
	switch rr := rr.(type) {
	case *dns.NSEC:
		if how == "match" {
			return strings.EqualFold(rr.Hdr.Name, name)
		}
		owner, next := testCanonical(rr.Hdr.Name), testCanonical(rr.NextDomain)
		n := testCanonical(name)
		if owner < next {
			return owner < n && n < next
		}
		return owner < n || n < next // the last NSEC wraps to the apex
	case *dns.NSEC3:
		up := *rr
		up.NextDomain = strings.ToUpper(rr.NextDomain) // Cover compares upper case
		if how == "match" {
			return up.Match(name)
		}
		return up.Cover(name)
	}
	return false
}

// testCanonical is a sort key of RFC 4034's canonical order for the plain
// names of the fixture: the labels from the root down, each followed by a
// byte below any a name holds.
func testCanonical(name string) string {
	labels := dns.SplitDomainName(strings.ToLower(name))
	slices.Reverse(labels)
	return strings.Join(labels, "\x00") + "\x00"
}

// rrKey names a record for comparing sections: owner, type and for an
// RRSIG the type covered.
func rrKey(rr dns.RR) string {
	key := strings.ToLower(rr.Header().Name) + " " + dns.TypeToString[rr.Header().Rrtype]
	if sig, ok := rr.(*dns.RRSIG); ok {
		key += " " + dns.TypeToString[sig.TypeCovered]
	}
	return key
}

// checkKeys compares a section with want as sets of keys, and fails on
// records listed twice.
func checkKeys(tb testing.TB, section string, got []dns.RR, want []string) {
	tb.Helper()
	var keys []string
	for i, rr := range got {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		keys = append(keys, rrKey(rr))
		for _, earlier := range got[:i] {
			if dns.IsDuplicate(earlier, rr) {
				tb.Errorf("%s: %s twice", section, rr)
			}
		}
	}
	keys = slices.Compact(slices.Sorted(slices.Values(keys)))
	want = slices.Compact(slices.Sorted(slices.Values(want)))
	if !slices.Equal(keys, want) {
		tb.Errorf("%s:\n  %s\nwant\n  %s", section, strings.Join(keys, "\n  "), strings.Join(want, "\n  "))
	}
}

// checkSigs verifies every RRSIG of the answer and authority sections
// against the RRset it covers in the same section, with the fixture's keys.
func (tr *signedTree) checkSigs(tb testing.TB, resp *dns.Msg) {
	tb.Helper()
	for _, section := range [][]dns.RR{resp.Answer, resp.Ns} {
		for _, rr := range section {
			sig, ok := rr.(*dns.RRSIG)
			if !ok {
				continue
			}
			var rrset []dns.RR
			for _, other := range section {
				if other.Header().Rrtype == sig.TypeCovered && strings.EqualFold(other.Header().Name, sig.Hdr.Name) {
					rrset = append(rrset, other)
				}
			}
			key := tr.keys[sig.KeyTag]
			switch {
			case len(rrset) == 0:
				tb.Errorf("%s: covers nothing in its section", sig)
			case key == nil:
				tb.Errorf("%s: no key with tag %d", sig, sig.KeyTag)
			default:
				if err := sig.Verify(key, rrset); err != nil {
					tb.Errorf("%s: does not verify: %v", sig, err)
				}
			}
		}
	}
}

// TestSignedAgreesWithNSD serves the signed fixture on NSD and in process
// and asks every case of both with DO: the rcode, AA and the answer and
// authority sections, signatures and proofs included, must be the same.
func TestSignedAgreesWithNSD(t *testing.T) {
	for _, mode := range chainModes {
		t.Run(string(mode), func(t *testing.T) {
			tr := buildTree(t, mode)
			dir := tr.sandboxDir(t)
			nsd := StartNSDTB(t, dir)
			ours := StartTB(t, dir)
			for _, c := range slices.Concat(signedCases, tr.hashedCases()) {
				addr := serverAddr(t, ours.Servers(), "both.test.")
				if c.parentOnly {
					addr = serverAddr(t, ours.Servers(), "parent.test.")
				}
				want := askDO(t, addr, ours.Port(), c)
				got := askDO(t, addr, nsd.Port(), c)
				if why := c.nsdDiffers[mode]; why != "" {
					t.Logf("%s: not compared: %s", c.name, why)
					continue
				}
				if diff := signedDiff(got, want); diff != "" {
					t.Errorf("%s: nsd and testnet differ:\n%s", c.name, diff)
				}
			}
		})
	}
}

// sandboxDir writes the fixture as a sandbox: an unsigned root, one server
// with both zones and one with example. alone.
func (tr *signedTree) sandboxDir(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	files := map[string]string{
		ConfFile: "a.root. 127.53.210.1 auth .\n" +
			"both.test. 127.53.210.2 auth example. sec.example.\n" +
			"parent.test. 127.53.210.3 auth example.\n",
		"zones/root.zone": ". 3600 SOA a.root. hostmaster. 1 7200 3600 1209600 300\n" +
			". 3600 NS a.root.\na.root. 3600 A 127.53.210.1\n" +
			"example. 3600 NS both.test.\n",
		"zones/example.zone":     tr.parentFile,
		"zones/sec.example.zone": tr.childFile,
	}
	if err := os.Mkdir(filepath.Join(dir, ZonesDir), 0o700); err != nil {
		tb.Fatal(err)
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// askDO asks c over TCP with DO set.
func askDO(tb testing.TB, addr netip.Addr, port uint16, c signedCase) *dns.Msg {
	tb.Helper()
	m := new(dns.Msg)
	m.SetQuestion(c.qname, c.qtype)
	m.RecursionDesired = false
	m.SetEdns0(EDNSBufferSize, true)
	cl := &dns.Client{Net: "tcp", Timeout: replyTimeout}
	resp, _, err := cl.ExchangeContext(tb.Context(), m, netip.AddrPortFrom(addr, port).String())
	if err != nil {
		tb.Fatalf("%s %s @%s: %v", c.qname, dns.TypeToString[c.qtype], addr, err)
	}
	return resp
}

// signedDiff compares rcode, AA and the answer and authority sections.
// NSD adds the zone's NS set to the authority section of positive answers
// (it does not give minimal responses); those are left out.
func signedDiff(got, want *dns.Msg) string {
	if len(want.Answer) > 0 && want.Rcode == dns.RcodeSuccess {
		got = got.Copy()
		got.Ns = slices.DeleteFunc(got.Ns, func(rr dns.RR) bool {
			sig, isSig := rr.(*dns.RRSIG)
			return rr.Header().Rrtype == dns.TypeNS || isSig && sig.TypeCovered == dns.TypeNS
		})
	}
	var diffs []string
	if got.Rcode != want.Rcode || got.Authoritative != want.Authoritative {
		diffs = append(diffs, fmt.Sprintf("rcode %d AA %t vs %d %t", got.Rcode, got.Authoritative, want.Rcode, want.Authoritative))
	}
	for _, s := range []struct {
		name      string
		got, want []dns.RR
	}{{"answer", got.Answer, want.Answer}, {"authority", got.Ns, want.Ns}} {
		g, w := rrStrings(s.got), rrStrings(s.want)
		if !slices.Equal(g, w) {
			diffs = append(diffs, s.name+":\n  "+strings.Join(g, "\n  ")+"\nvs\n  "+strings.Join(w, "\n  "))
		}
	}
	return strings.Join(diffs, "\n")
}

// TestSignedRRSIGQuestion: an RRSIG question is answered with the RRSIGs
// at the name, DO or not, and they are not signed in turn.
func TestSignedRRSIGQuestion(t *testing.T) {
	tr := buildTree(t, chainNSEC)
	want := rrStrings(tr.parent.nodes["www.example."].rrsets[dns.TypeRRSIG])
	for _, do := range []bool{false, true} {
		resp := askSigned(tr, signedCase{qname: "www.example.", qtype: dns.TypeRRSIG}, do)
		if got := rrStrings(resp.Answer); !slices.Equal(got, want) || len(want) != 2 || len(resp.Ns) != 0 {
			t.Errorf("do=%t: answer\n%s\nauthority %v; want the 2 RRSIGs (A, NSEC) of www.example.:\n%s",
				do, strings.Join(got, "\n"), resp.Ns, strings.Join(want, "\n"))
		}
	}
}

// TestSignedTruncation: over UDP a DO reply that outgrows the client's
// size is truncated with TC, as it was before DNSSEC came into it; the
// same question without DO fits.
func TestSignedTruncation(t *testing.T) {
	tr := buildTree(t, chainNSEC3) // RSA-2048: each RRSIG takes 256 octets
	a := &authority{zones: []*zone{tr.parent, tr.child}}
	for _, do := range []bool{false, true} {
		req := new(dns.Msg)
		req.SetQuestion("nx.example.", dns.TypeA)
		req.SetEdns0(dns.MinMsgSize, do)
		_, resp := a.respond(req, false)
		if resp.Truncated != do {
			t.Errorf("do=%t: TC %t, want %t", do, resp.Truncated, do)
		}
		if wire, err := resp.Pack(); err != nil || len(wire) > dns.MinMsgSize {
			t.Errorf("do=%t: %d octets (%v), want at most %d", do, len(wire), err, dns.MinMsgSize)
		}
	}
}

// TestUnsignedUnchangedByDO asks every question of the sandbox's CASES.md
// of every server with DO and without: an unsigned zone gives the same
// sections either way.
func TestUnsignedUnchangedByDO(t *testing.T) {
	sb, err := loadSandbox(os.DirFS(sandboxDir))
	if err != nil {
		t.Fatal(err)
	}
	tested := 0
	for _, s := range sb.servers {
		a := sb.authority(s)
		if slices.ContainsFunc(a.zones, func(z *zone) bool { return z.nodes[z.origin].has(dns.TypeDNSKEY) }) {
			continue // a signed zone answers DO with its RRSIGs
		}
		tested++
		for _, c := range readCases(t) {
			var replies [2]*dns.Msg
			for i, do := range []bool{false, true} {
				req := new(dns.Msg)
				req.SetQuestion(c.Qname, c.Qtype)
				req.SetEdns0(EDNSBufferSize, do)
				_, replies[i] = a.respond(req, true)
			}
			if diff := signedDiff(replies[1], replies[0]); diff != "" || !slices.Equal(rrStrings(replies[1].Extra), rrStrings(replies[0].Extra)) {
				t.Errorf("%s: %s %s: DO changes the reply: %s", s.Name, c.Qname, dns.TypeToString[c.Qtype], diff)
			}
		}
	}
	if tested == 0 {
		t.Fatal("no server of only unsigned zones in the sandbox to test")
	}
}
