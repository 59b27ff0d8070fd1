package main

import (
	"math"
	"strings"
	"testing"
)

const perfOutput = `DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 127.0.0.1 -p 15354 -d /tmp/qa.txt -n 1 -v
[Status] Sending queries (to 127.0.0.1:15354)
> NOERROR svc1.svc.internal A 0.000453
> NOERROR svc3.svc.internal A 0.000103
> SERVFAIL svc2.svc.internal A 0.000124
> T svc4.svc.internal A
[Status] Testing complete (end of file)

Statistics:

  Queries sent:         4
  Queries completed:    3 (75.00%)
  Queries lost:         1 (25.00%)

  Response codes:       NOERROR 2 (66.67%), SERVFAIL 1 (33.33%)
  Average packet size:  request 35, response 51
  Run time (s):         0.001234
  Queries per second:   2431.118314

  Average Latency (s):  0.000227 (min 0.000103, max 0.000453)
  Latency StdDev (s):   0.000160

`

func TestParsePerf(t *testing.T) {
	res, err := parsePerf(strings.NewReader(perfOutput))
	if err != nil {
		t.Fatal(err)
	}
	if res.sent != 4 || res.completed != 3 || res.lost != 1 {
		t.Errorf("sent %d completed %d lost %d", res.sent, res.completed, res.lost)
	}
	if res.rcodes["NOERROR"] != 2 || res.rcodes["SERVFAIL"] != 1 {
		t.Errorf("rcodes %v", res.rcodes)
	}
	if res.qps != 2431.118314 || res.mean != 0.000227 {
		t.Errorf("qps %v mean %v", res.qps, res.mean)
	}
	if len(res.latencies) != 3 || res.latencies[0] != 0.000453 {
		t.Errorf("latencies %v", res.latencies)
	}
}

func TestParsePerfNoStatistics(t *testing.T) {
	if _, err := parsePerf(strings.NewReader("dnsperf: could not open datafile\n")); err == nil {
		t.Fatal("want an error without statistics")
	}
}

func TestPercentile(t *testing.T) {
	xs := make([]float64, 100)
	for i := range xs {
		xs[i] = float64(100 - i) // 100 .. 1, unsorted
	}
	tests := []struct{ p, want float64 }{{0.5, 50}, {0.99, 99}, {1, 100}, {0.001, 1}}
	for _, tc := range tests {
		if got := percentile(xs, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if !math.IsNaN(percentile(nil, 0.5)) {
		t.Error("percentile of nothing should be NaN")
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		xs   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	}
	for _, tc := range tests {
		if got := median(tc.xs); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing should be NaN")
	}
}
