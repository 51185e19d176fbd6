package dnssec

import (
	"testing"

	"github.com/miekg/dns"
)

// nsecZone is the NSEC chain of a zone like RFC 4035 Appendix A's: a signed
// delegation (a), an unsigned one (b), a CNAME (cn), a DNAME (d), a wildcard
// (*.w) and empty non-terminals (w, y.w).
var nsecZone = map[string]string{
	"example.":       "example. 3600 IN NSEC a.example. NS SOA MX RRSIG NSEC DNSKEY",
	"a.example.":     "a.example. 3600 IN NSEC ai.example. NS DS RRSIG NSEC",
	"ai.example.":    "ai.example. 3600 IN NSEC b.example. A HINFO AAAA RRSIG NSEC",
	"b.example.":     "b.example. 3600 IN NSEC cn.example. NS RRSIG NSEC",
	"cn.example.":    "cn.example. 3600 IN NSEC d.example. CNAME RRSIG NSEC",
	"d.example.":     "d.example. 3600 IN NSEC ns1.example. DNAME RRSIG NSEC",
	"ns1.example.":   "ns1.example. 3600 IN NSEC ns2.example. A RRSIG NSEC",
	"ns2.example.":   "ns2.example. 3600 IN NSEC *.w.example. A RRSIG NSEC",
	"*.w.example.":   "*.w.example. 3600 IN NSEC x.w.example. MX RRSIG NSEC",
	"x.w.example.":   "x.w.example. 3600 IN NSEC x.y.w.example. MX RRSIG NSEC",
	"x.y.w.example.": "x.y.w.example. 3600 IN NSEC xx.example. MX RRSIG NSEC",
	"xx.example.":    "xx.example. 3600 IN NSEC example. A HINFO AAAA RRSIG NSEC",
}

func nsecs(t testing.TB, zone map[string]string, owners ...string) []dns.RR {
	t.Helper()
	var out []dns.RR
	for _, o := range owners {
		line, ok := zone[o]
		if !ok {
			t.Fatalf("no record at %s", o)
		}
		out = append(out, rrs(t, line)...)
	}
	return out
}

type proofCase struct {
	name   string
	qname  string
	qtype  uint16 // ProveNoData
	wild   string // ProveWildcardAnswer
	owners []string
	status Status
	ede    uint16
}

const noNSEC = dns.ExtendedErrorCodeNSECMissing

func TestNSECNXDomain(t *testing.T) {
	tests := []proofCase{
		{name: "covered, wildcard covered", qname: "ml.example.", owners: []string{"d.example.", "example."}, status: Secure},
		{name: "one NSEC covers both", qname: "a.x.w.example.", owners: []string{"x.w.example."}, status: Secure},
		{name: "after the last name", qname: "zz.example.", owners: []string{"xx.example.", "example."}, status: Secure},
		{name: "wildcard not denied", qname: "ml.example.", owners: []string{"d.example."}, status: Bogus, ede: noNSEC},
		{name: "qname not denied", qname: "ml.example.", owners: []string{"example."}, status: Bogus, ede: noNSEC},
		{name: "the wildcard exists", qname: "b.w.example.", owners: []string{"*.w.example.", "ns2.example."}, status: Bogus, ede: noNSEC},
		{name: "name exists", qname: "ns1.example.", owners: []string{"ns1.example.", "example."}, status: Bogus, ede: noNSEC},
		{name: "below a delegation", qname: "foo.b.example.", owners: []string{"b.example.", "example."}, status: Bogus, ede: noNSEC},
		{name: "below a DNAME", qname: "foo.d.example.", owners: []string{"d.example.", "example."}, status: Bogus, ede: noNSEC},
		{name: "out of zone", qname: "ml.example.net.", owners: []string{"d.example.", "example."}, status: Bogus, ede: noNSEC},
		{name: "nothing", qname: "ml.example.", status: Bogus, ede: noNSEC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVerdict(t, ProveNXDomain(tt.qname, "example.", nsecs(t, nsecZone, tt.owners...), nil), tt.status, tt.ede)
		})
	}
}

func TestNSECNoData(t *testing.T) {
	tests := []proofCase{
		{name: "type absent", qname: "ns1.example.", qtype: dns.TypeMX, owners: []string{"ns1.example."}, status: Secure},
		{name: "type present", qname: "ns1.example.", qtype: dns.TypeA, owners: []string{"ns1.example."}, status: Bogus, ede: noNSEC},
		{name: "CNAME present", qname: "cn.example.", qtype: dns.TypeA, owners: []string{"cn.example."}, status: Bogus, ede: noNSEC},
		{name: "apex, other type", qname: "example.", qtype: dns.TypeTXT, owners: []string{"example."}, status: Secure},
		{name: "empty non-terminal", qname: "w.example.", qtype: dns.TypeA, owners: []string{"ns2.example."}, status: Secure},
		{name: "empty non-terminal deeper", qname: "y.w.example.", qtype: dns.TypeA, owners: []string{"x.w.example."}, status: Secure},
		{name: "DS at an unsigned delegation", qname: "b.example.", qtype: dns.TypeDS, owners: []string{"b.example."}, status: Secure},
		{name: "DS at a signed delegation", qname: "a.example.", qtype: dns.TypeDS, owners: []string{"a.example."}, status: Bogus, ede: noNSEC},
		{name: "A at the parent side of a delegation", qname: "b.example.", qtype: dns.TypeA, owners: []string{"b.example."}, status: Bogus, ede: noNSEC},
		{name: "wildcard NODATA", qname: "b.w.example.", qtype: dns.TypeAAAA, owners: []string{"*.w.example."}, status: Secure},
		{name: "wildcard NODATA, RFC 4035 B.6", qname: "a.z.w.example.", qtype: dns.TypeAAAA, owners: []string{"x.y.w.example.", "*.w.example."}, status: Secure},
		{name: "wildcard NODATA without the wildcard's NSEC", qname: "a.z.w.example.", qtype: dns.TypeAAAA, owners: []string{"x.y.w.example."}, status: Bogus, ede: noNSEC},
		{name: "wildcard has the type", qname: "b.w.example.", qtype: dns.TypeMX, owners: []string{"*.w.example."}, status: Bogus, ede: noNSEC},
		{name: "no wildcard proof", qname: "zz.example.", qtype: dns.TypeA, owners: []string{"xx.example."}, status: Bogus, ede: noNSEC},
		{name: "nothing at qname", qname: "ml.example.", qtype: dns.TypeA, owners: []string{"ns1.example."}, status: Bogus, ede: noNSEC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVerdict(t, ProveNoData(tt.qname, tt.qtype, "example.", nsecs(t, nsecZone, tt.owners...), nil), tt.status, tt.ede)
		})
	}
	// A DS NODATA from the child's apex NSEC is no proof (RFC 6840 4.3),
	// whether the child or the parent is named the signer.
	apex := rrs(t, "b.example. 3600 IN NSEC ns.b.example. NS SOA RRSIG NSEC DNSKEY")
	checkVerdict(t, ProveNoData("b.example.", dns.TypeDS, "b.example.", apex, nil), Bogus, noNSEC)
	checkVerdict(t, ProveNoData("b.example.", dns.TypeDS, "example.", apex, nil), Bogus, noNSEC)
	checkVerdict(t, ProveNoData("b.example.", dns.TypeA, "b.example.", apex, nil), Secure, 0)
}

func TestNSECWildcardAnswer(t *testing.T) {
	tests := []proofCase{
		{name: "qname denied", qname: "b.w.example.", wild: "*.w.example.", owners: []string{"*.w.example."}, status: Secure},
		{name: "two labels below", qname: "a.z.w.example.", wild: "*.w.example.", owners: []string{"x.y.w.example."}, status: Secure},
		{name: "closer wildcard implied", qname: "a.z.w.example.", wild: "*.example.", owners: []string{"x.y.w.example."}, status: Bogus, ede: noNSEC},
		{name: "qname exists", qname: "x.w.example.", wild: "*.w.example.", owners: []string{"x.w.example."}, status: Bogus, ede: noNSEC},
		{name: "no NSEC", qname: "b.w.example.", wild: "*.w.example.", status: Bogus, ede: noNSEC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVerdict(t, ProveWildcardAnswer(tt.qname, tt.wild, "example.", nsecs(t, nsecZone, tt.owners...), nil), tt.status, tt.ede)
		})
	}
}

func TestNSECNoDS(t *testing.T) {
	tests := []proofCase{
		{name: "unsigned delegation", qname: "b.example.", owners: []string{"b.example."}, status: Secure},
		{name: "signed delegation", qname: "a.example.", owners: []string{"a.example."}, status: Bogus, ede: noNSEC},
		{name: "not a delegation", qname: "ns1.example.", owners: []string{"ns1.example."}, status: Bogus, ede: noNSEC},
		{name: "the child's apex", qname: "b.example.", owners: nil, status: Bogus, ede: noNSEC},
		{name: "name does not exist", qname: "zz.example.", owners: []string{"xx.example."}, status: Bogus, ede: noNSEC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVerdict(t, ProveNoDS(tt.qname, "example.", nsecs(t, nsecZone, tt.owners...), nil), tt.status, tt.ede)
		})
	}
	apex := rrs(t, "b.example. 3600 IN NSEC ns.b.example. NS SOA RRSIG NSEC DNSKEY")
	checkVerdict(t, ProveNoDS("b.example.", "example.", apex, nil), Bogus, noNSEC)
}

// TestNSECLeavingItsZone: an NSEC whose next name lies outside its zone
// proves nothing, in that zone or another (Unbound's val_nx_overreach).
func TestNSECLeavingItsZone(t *testing.T) {
	// The apex's NSEC covers the wildcard *.example.com.; the second
	// runs on into foo.com.
	var rrs []dns.RR
	for _, s := range []string{
		"example.com. 3600 IN NSEC a.example.com. SOA NS RRSIG NSEC DNSKEY",
		"wab.example.com. 3600 IN NSEC wzz.foo.com. A RRSIG NSEC",
	} {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		rrs = append(rrs, rr)
	}
	for _, name := range []string{"wb.example.com.", "www.example.com."} {
		// Bogus, not "NSEC missing": a signed record of the zone is broken.
		checkVerdict(t, ProveNXDomain(name, "example.com.", rrs, nil), Bogus, dns.ExtendedErrorCodeDNSBogus)
		checkVerdict(t, ProveNoData(name, dns.TypeA, "example.com.", rrs[1:], nil), Bogus, dns.ExtendedErrorCodeDNSBogus)
	}
	// Nor may it deny a name of the zone it runs into.
	if v := ProveNXDomain("x.foo.com.", "foo.com.", rrs, nil); v.Status == Secure {
		t.Errorf("the overreaching NSEC denied a name of foo.com.: %+v", v)
	}
}

// TestNSECEmptyNonTerminalIsNoNXDOMAIN: an NSEC that covers a name and
// whose next name lies below it shows the name exists (an empty
// non-terminal): NODATA, never NXDOMAIN (Unbound's val_nodata_entnx).
func TestNSECEmptyNonTerminalIsNoNXDOMAIN(t *testing.T) {
	rr, err := dns.NewRR("example.com. 3600 IN NSEC a.0.example.com. SOA NS RRSIG NSEC DNSKEY")
	if err != nil {
		t.Fatal(err)
	}
	if v := ProveNXDomain("0.example.com.", "example.com.", []dns.RR{rr}, nil); v.Status == Secure {
		t.Errorf("NXDOMAIN proven for an empty non-terminal: %+v", v)
	}
	if v := ProveNoData("0.example.com.", dns.TypeA, "example.com.", []dns.RR{rr}, nil); v.Status != Secure {
		t.Errorf("NODATA not proven for an empty non-terminal: %+v", v)
	}
}
