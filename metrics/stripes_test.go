package metrics

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/recursor-dns/recursor/dnssec"
	"github.com/recursor-dns/recursor/server"
)

// TestStripesAddUp: queries counted in many stripes are scraped as one
// series each, and the duration histogram has Prometheus's cumulative
// buckets (a duration equal to a bound is in that bound's bucket), its
// count and its sum.
func TestStripesAddUp(t *testing.T) {
	r := New()
	durations := []time.Duration{
		10 * time.Microsecond, 50 * time.Microsecond, // le 5e-05
		3 * time.Millisecond,               // le 0.005
		11 * time.Second, 20 * time.Second, // above every bound
	}
	for i, d := range durations {
		for port := range uint16(numStripes * 2) { // every stripe, twice
			r.Query(server.QueryEvent{
				Transport: server.TransportUDP, Cached: true, Qtype: dns.TypeA, Rcode: dns.RcodeSuccess,
				EDE: -1, Security: int(dnssec.Secure), Duration: d,
				Client: netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), port+uint16(i)),
			})
		}
	}
	r.Answer(dnssec.Insecure) // from the engine: no client
	var buf bytes.Buffer
	if err := r.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	n := numStripes * 2
	var sum time.Duration
	for _, d := range durations {
		sum += d * time.Duration(n)
	}
	for _, want := range []string{
		`recursor_client_queries_total{qtype="A",rcode="NOERROR",transport="udp"} ` + strconv.Itoa(5*n),
		`recursor_dnssec_answers_total{result="secure"} ` + strconv.Itoa(5*n),
		`recursor_dnssec_answers_total{result="insecure"} 1`,
		`recursor_client_query_duration_seconds_bucket{cached="true",le="5e-05"} ` + strconv.Itoa(2*n),
		`recursor_client_query_duration_seconds_bucket{cached="true",le="0.0025"} ` + strconv.Itoa(2*n),
		`recursor_client_query_duration_seconds_bucket{cached="true",le="0.005"} ` + strconv.Itoa(3*n),
		`recursor_client_query_duration_seconds_bucket{cached="true",le="10"} ` + strconv.Itoa(3*n),
		`recursor_client_query_duration_seconds_bucket{cached="true",le="+Inf"} ` + strconv.Itoa(5*n),
		`recursor_client_query_duration_seconds_count{cached="true"} ` + strconv.Itoa(5*n),
		`recursor_client_query_duration_seconds_sum{cached="true"} ` + strconv.FormatFloat(sum.Seconds(), 'g', -1, 64),
		`recursor_client_query_duration_seconds_count{cached="false"} 0`,
	} {
		if !strings.Contains(buf.String(), want+"\n") {
			t.Errorf("no line %q in the scrape", want)
		}
	}
}
