package main

import (
	"math"
	"os"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

const dnsperfVerbose = `DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 127.0.0.1 -p 5301 -d cold.txt -n 1 -q 100 -l 15 -v
[Status] Sending queries (to 127.0.0.1:5301)
[Status] Stopping after 15.000000 seconds or 1 run through file
> NOERROR www.d000000.com. A 0.008773
> NOERROR www.d000002.bench. A 0.013307
> SERVFAIL www.d000003.com. A 0.500000
> T www.d000004.net. A
[Status] Testing complete (end of file)

Statistics:

  Queries sent:         4
  Queries completed:    3 (75.00%)
  Queries lost:         1 (25.00%)

  Response codes:       NOERROR 2 (66.67%), SERVFAIL 1 (33.33%)
  Average packet size:  request 33, response 49
  Run time (s):         0.418596
  Queries per second:   7166.814781

  Average Latency (s):  0.013322 (min 0.000323, max 0.040181)
  Latency StdDev (s):   0.004068
`

const dnsperfAllLost = `[Status] Testing complete (end of file)

Statistics:

  Queries sent:         2
  Queries completed:    0 (0.00%)
  Queries lost:         2 (100.00%)

  Response codes:       
  Average packet size:  request 27, response 0
  Run time (s):         0.001619
  Queries per second:   0.000000
`

func TestParseDnsperf(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    perfResult
		wantErr bool
	}{
		{
			name: "verbose with a timeout",
			in:   dnsperfVerbose,
			want: perfResult{Sent: 4, Completed: 3, Lost: 1, RunTime: 0.418596, QPS: 7166.814781,
				Rcodes: map[string]int{"NOERROR": 2, "SERVFAIL": 1}, Latencies: []float64{0.008773, 0.013307, 0.5}},
		},
		{
			name: "all lost",
			in:   dnsperfAllLost,
			want: perfResult{Sent: 2, Lost: 2, RunTime: 0.001619, Rcodes: map[string]int{}},
		},
		{name: "cut short", in: "> NOERROR a. A 0.1\n[Status] Sending queries\n", wantErr: true},
		{name: "garbled count", in: strings.Replace(dnsperfVerbose, "Queries sent:         4", "Queries sent:         four", 1), wantErr: true},
		{name: "empty", in: "", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseDnsperf(strings.NewReader(tc.in))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("parseDnsperf succeeded, want an error; got %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Sent != tc.want.Sent || got.Completed != tc.want.Completed || got.Lost != tc.want.Lost ||
				got.RunTime != tc.want.RunTime || got.QPS != tc.want.QPS {
				t.Errorf("counts = %+v, want %+v", got, tc.want)
			}
			if len(got.Rcodes) != len(tc.want.Rcodes) {
				t.Errorf("rcodes = %v, want %v", got.Rcodes, tc.want.Rcodes)
			}
			for k, v := range tc.want.Rcodes {
				if got.Rcodes[k] != v {
					t.Errorf("rcode %s = %d, want %d", k, got.Rcodes[k], v)
				}
			}
			if len(got.Latencies) != len(tc.want.Latencies) {
				t.Fatalf("latencies = %v, want %v", got.Latencies, tc.want.Latencies)
			}
			for i := range got.Latencies {
				if got.Latencies[i] != tc.want.Latencies[i] {
					t.Errorf("latency %d = %v, want %v", i, got.Latencies[i], tc.want.Latencies[i])
				}
			}
		})
	}
}

func TestPercentileAndMedian(t *testing.T) {
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(100 - i) // 100 .. 1, unsorted on purpose
	}
	for _, tc := range []struct {
		name string
		got  float64
		want float64
	}{
		{"p50 of 1..100", percentile(hundred, 50), 50},
		{"p99 of 1..100", percentile(hundred, 99), 99},
		{"p100 of 1..100", percentile(hundred, 100), 100},
		{"p1 of one value", percentile([]float64{7}, 1), 7},
		{"median odd", median([]float64{3, 1, 2}), 2},
		{"median even", median([]float64{4, 1, 3, 2}), 2.5},
		{"median skips NaN", median([]float64{math.NaN(), 5, 1, 3}), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
	if hundred[0] != 100 {
		t.Error("percentile reordered its input")
	}
	for _, v := range []float64{percentile(nil, 50), median(nil), median([]float64{math.NaN()})} {
		if !math.IsNaN(v) {
			t.Errorf("empty input gave %v, want NaN", v)
		}
	}
}

func TestCountCPUList(t *testing.T) {
	for list, want := range map[string]int{"0": 1, "0-1": 2, "0,2-3": 3, "0-3,6,8-9": 7} {
		if n, err := countCPUList(list); err != nil || n != want {
			t.Errorf("countCPUList(%q) = %d, %v; want %d", list, n, err, want)
		}
	}
	for _, bad := range []string{"", "a", "3-1", "0-"} {
		if _, err := countCPUList(bad); err == nil {
			t.Errorf("countCPUList(%q) accepted", bad)
		}
	}
}

func TestThreadCPU(t *testing.T) {
	if ns, err := parseSchedstat("123456789 2000 17\n"); err != nil || ns != 123456789 {
		t.Errorf("parseSchedstat = %d, %v; want 123456789", ns, err)
	}
	for _, bad := range []string{"", "x 1 2"} {
		if _, err := parseSchedstat(bad); err == nil {
			t.Errorf("parseSchedstat(%q) accepted", bad)
		}
	}
	before := threadCPU{1: 1000, 2: 500}
	if d, err := (threadCPU{1: 4000, 2: 500, 3: 250}).since(before); err != nil || d != 3250 {
		t.Errorf("since = %v, %v; want 3.25µs (one thread grew, one started)", d, err)
	}
	if _, err := (threadCPU{1: 4000}).since(before); err == nil {
		t.Error("a thread that ended was not reported")
	}
	self, err := readThreadCPU(os.Getpid())
	if err != nil || len(self) == 0 {
		t.Fatalf("readThreadCPU(self) = %v, %v", self, err)
	}
}

func TestParseStatusRSS(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{"present", "Name:\tunbound\nVmPeak:\t  99 kB\nVmRSS:\t   16692 kB\nThreads:\t1\n", 16692 * 1024, false},
		{"absent (zombie)", "Name:\tunbound\nState:\tZ (zombie)\n", 0, true},
		{"odd unit", "VmRSS:\t 12 MB\n", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatusRSS(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("parseStatusRSS = %d, %v; want %d, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParseCounters(t *testing.T) {
	const listed = `table ip bench_upstream {
	counter upstream_udp {
		packets 6005 bytes 436358
	}
	counter upstream_tcp_syn {
		packets 3 bytes 180
	}
}
`
	got, err := parseCounters(listed)
	if err != nil || got != 6008 {
		t.Errorf("parseCounters = %d, %v; want 6008", got, err)
	}
	if _, err := parseCounters("table ip bench_upstream {\n}\n"); err == nil {
		t.Error("parseCounters accepted a table without counters")
	}
}

func TestExtendedErrors(t *testing.T) {
	withEDE := func(codes ...uint16) *dns.Msg {
		m := new(dns.Msg)
		m.SetEdns0(1232, false)
		opt := m.IsEdns0()
		for _, c := range codes {
			opt.Option = append(opt.Option, &dns.EDNS0_EDE{InfoCode: c, ExtraText: "why"})
		}
		return m
	}
	for _, tc := range []struct {
		name string
		msg  *dns.Msg
		want string
	}{
		{"no EDNS", new(dns.Msg), ""},
		{"EDNS without EDE", withEDE(), ""},
		{"one", withEDE(22), " (EDE 22: why)"},
		{"two", withEDE(22, 23), " (EDE 22: why; EDE 23: why)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := extendedErrors(tc.msg); got != tc.want {
				t.Errorf("extendedErrors = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestWarnFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  perfResult
		want string
	}{
		{"all answered", perfResult{Sent: 1000, Rcodes: map[string]int{"NOERROR": 1000}}, ""},
		{"under 1% failed", perfResult{Sent: 1000, Rcodes: map[string]int{"NOERROR": 991, "SERVFAIL": 9}}, ""},
		{"many failed", perfResult{Sent: 1000, Lost: 5, Rcodes: map[string]int{"NOERROR": 800, "SERVFAIL": 190, "REFUSED": 5}},
			"cold: only 800 of 1000 names answered NOERROR (REFUSED 5, SERVFAIL 190, lost 5)"},
		{"nothing sent", perfResult{Rcodes: map[string]int{}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			warnFailures(func(s string) { got = append(got, s) }, "cold", tc.res)
			switch {
			case tc.want == "" && len(got) > 0:
				t.Errorf("warned %q, want nothing", got)
			case tc.want != "" && (len(got) != 1 || got[0] != tc.want):
				t.Errorf("warned %q, want %q", got, tc.want)
			}
		})
	}
}
