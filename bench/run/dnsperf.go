package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// perfResult is what one dnsperf run reports.
type perfResult struct {
	Sent, Completed, Lost int
	Rcodes                map[string]int // from the summary: "NOERROR" -> count
	RunTime               float64        // seconds
	QPS                   float64
	// Latencies holds one value per answered query, in seconds, when
	// dnsperf ran with -v; nil otherwise.
	Latencies []float64
}

// parseDnsperf reads dnsperf's output: the per-query lines of -v
// ("> NOERROR www.d000001.net A 0.000323") and the closing statistics.
// It fails when the statistics are missing, since then the run did not end
// normally.
func parseDnsperf(r io.Reader) (perfResult, error) {
	res := perfResult{Rcodes: map[string]int{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var sawStats, sawQPS bool
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "> ") {
			f := strings.Fields(line)
			if len(f) < 5 {
				continue
			}
			if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil && v >= 0 {
				res.Latencies = append(res.Latencies, v)
			}
			continue
		}
		key, val, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		var err error
		switch key {
		case "Statistics":
			sawStats = true
		case "Queries sent":
			res.Sent, err = leadingInt(val)
		case "Queries completed":
			res.Completed, err = leadingInt(val)
		case "Queries lost":
			res.Lost, err = leadingInt(val)
		case "Run time (s)":
			res.RunTime, err = strconv.ParseFloat(val, 64)
		case "Queries per second":
			res.QPS, err = strconv.ParseFloat(val, 64)
			sawQPS = true
		case "Response codes":
			err = parseRcodes(val, res.Rcodes)
		}
		if err != nil {
			return res, fmt.Errorf("dnsperf output %q: %w", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return res, err
	}
	if !sawStats || !sawQPS {
		return res, fmt.Errorf("dnsperf output has no statistics")
	}
	return res, nil
}

func leadingInt(s string) (int, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return 0, fmt.Errorf("no number")
	}
	return strconv.Atoi(f[0])
}

// parseRcodes reads "NOERROR 2990 (99.67%), SERVFAIL 10 (0.33%)".
func parseRcodes(s string, into map[string]int) error {
	for _, part := range strings.Split(s, ",") {
		f := strings.Fields(part)
		if len(f) < 2 {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			return err
		}
		into[f[0]] = n
	}
	return nil
}

// percentile returns the p-th percentile (0 < p <= 100) of values by the
// nearest-rank method, or NaN when there are none. values is not changed.
func percentile(values []float64, p float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// mean of values, NaN when there are none.
func mean(values []float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	var sum float64
	for _, x := range values {
		sum += x
	}
	return sum / float64(len(values))
}

// median of values, NaN when there are none; NaN values are ignored.
func median(values []float64) float64 {
	var v []float64
	for _, x := range values {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
