package dnssec

import (
	"os"
	"testing"

	"github.com/miekg/dns"
)

// The testdata zones were signed by ldns-signzone (ldnsutils), a signer
// independent of miekg/dns, valid 2026-05-01 to 2026-07-01:
// example-ED448.signed (alg 16, which miekg cannot sign), example-DSA.signed
// (alg 3, AllowWeak only) and example-nsec3.signed (P-256, NSEC3 with 5
// iterations and salt beef, no opt-out).

// signedZone reads a signed zone file into its RRsets, their RRSIGs and keys.
func signedZone(t *testing.T, file string) (sets map[[2]any][]dns.RR, sigs []*dns.RRSIG, keys []*Key, all []dns.RR) {
	t.Helper()
	f, err := os.Open("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sets = map[[2]any][]dns.RR{}
	zp := dns.NewZoneParser(f, "example.", file)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		all = append(all, rr)
		if s, ok := rr.(*dns.RRSIG); ok {
			sigs = append(sigs, s)
			continue
		}
		k := [2]any{dns.CanonicalName(rr.Header().Name), rr.Header().Rrtype}
		sets[k] = append(sets[k], rr)
	}
	if err := zp.Err(); err != nil {
		t.Fatal(err)
	}
	return sets, sigs, ParseKeys(all), all
}

func TestIndependentSigner(t *testing.T) {
	for _, tt := range []struct {
		file  string
		weak  bool
		count int // RRsets, NSEC and NSEC3 included
	}{
		{"example-ED448.signed", false, 11},
		{"example-DSA.signed", true, 11},
		{"example-nsec3.signed", false, 13},
	} {
		t.Run(tt.file, func(t *testing.T) {
			sets, sigs, keys, _ := signedZone(t, tt.file)
			verified := 0
			for k, set := range sets {
				v := VerifyRRset(set, sigs, "example.", keys, now, NewBudget(Limits{AllowWeak: tt.weak}))
				if v.Status != Secure {
					t.Errorf("%v: %s", k, v.Why)
					continue
				}
				verified++
				if tt.weak {
					if v := VerifyRRset(set, sigs, "example.", keys, now, nil); v.Status == Secure {
						t.Errorf("%v: a DSA signature verifies without AllowWeak", k)
					}
				}
			}
			www := sets[[2]any{"www.example.", dns.TypeA}]
			www[0].(*dns.A).A[3]++
			if v := VerifyRRset(www, sigs, "example.", keys, now, NewBudget(Limits{AllowWeak: tt.weak})); v.Status == Secure {
				t.Error("a changed A set still verifies")
			}
			if tt.weak {
				keySet := sets[[2]any{"example.", dns.TypeDNSKEY}]
				ds := []*dns.DS{keySet[0].(*dns.DNSKEY).ToDS(dns.SHA256)}
				v, _ := VerifyKeySet("example.", keySet, sigs, ds, nil, now, nil)
				checkVerdict(t, v, Insecure, dns.ExtendedErrorCodeUnsupportedDNSKEYAlgorithm)
				v, _ = VerifyKeySet("example.", keySet, sigs, ds, nil, now, NewBudget(Limits{AllowWeak: true}))
				checkVerdict(t, v, Secure, 0)
			}
			if verified != tt.count {
				t.Errorf("%d RRsets verified, want %d", verified, tt.count)
			}
		})
	}
}

func TestIndependentNSEC3(t *testing.T) {
	sets, sigs, keys, _ := signedZone(t, "example-nsec3.signed")
	var nsec3s []dns.RR
	for k, set := range sets {
		if k[1] == dns.TypeNSEC3 {
			if v := VerifyRRset(set, sigs, "example.", keys, now, nil); v.Status != Secure {
				t.Fatalf("%v: %s", k, v.Why)
			}
			nsec3s = append(nsec3s, set...)
		}
	}
	b := NewBudget(DefaultLimits)
	checkVerdict(t, ProveNXDomain("nope.example.", "example.", nsec3s, b), Secure, 0)
	checkVerdict(t, ProveNXDomain("a.nope.example.", "example.", nsec3s, b), Secure, 0)
	checkVerdict(t, ProveNXDomain("www.example.", "example.", nsec3s, b), Bogus, noNSEC)
	checkVerdict(t, ProveNXDomain("a.w.example.", "example.", nsec3s, b), Bogus, noNSEC) // the wildcard answers it
	checkVerdict(t, ProveNoData("www.example.", dns.TypeTXT, "example.", nsec3s, b), Secure, 0)
	checkVerdict(t, ProveNoData("w.example.", dns.TypeA, "example.", nsec3s, b), Secure, 0)
	checkVerdict(t, ProveNoData("a.w.example.", dns.TypeA, "example.", nsec3s, b), Secure, 0)
	checkVerdict(t, ProveNoData("a.w.example.", dns.TypeTXT, "example.", nsec3s, b), Bogus, noNSEC)
	checkVerdict(t, ProveWildcardAnswer("a.w.example.", "*.w.example.", "example.", nsec3s, b), Secure, 0)
	checkVerdict(t, ProveWildcardAnswer("www.example.", "*.example.", "example.", nsec3s, b), Bogus, noNSEC)
}
