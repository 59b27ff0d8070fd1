package main

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestThousands(t *testing.T) {
	tests := map[float64]string{0: "0", 999.4: "999", 1000: "1,000", 1234567.8: "1,234,568", math.NaN(): "n/a"}
	for x, want := range tests {
		if got := thousands(x); got != want {
			t.Errorf("thousands(%v) = %q, want %q", x, got, want)
		}
	}
}

func TestRotate(t *testing.T) {
	var systems []*system
	for _, id := range strings.Split("abcdefg", "") {
		systems = append(systems, &system{id: id})
	}
	want := []string{"abcdefg", "cdefgab", "efgabcd"}
	for r, w := range want {
		var got string
		for _, s := range rotate(systems, r, 3) {
			got += s.id
		}
		if got != w {
			t.Errorf("round %d: order %s, want %s", r, got, w)
		}
	}
}

func TestRunWarnings(t *testing.T) {
	clean := perfResult{sent: 1000, completed: 1000, rcodes: map[string]int{"NOERROR": 1000},
		cpu: cpuUse{serverCPU: 0.99, perfCPU: 0.8}}
	if w := runWarnings(clean, true); len(w) != 0 {
		t.Errorf("clean run warned: %v", w)
	}
	bad := perfResult{sent: 1000, completed: 900, lost: 100, rcodes: map[string]int{"NOERROR": 800, "SERVFAIL": 100},
		cpu: cpuUse{serverCPU: 0.5, perfCPU: 0.99, other: 0.3}}
	if w := runWarnings(bad, true); len(w) != 5 {
		t.Errorf("bad run: %d warnings, want 5: %v", len(w), w)
	}
	if w := runWarnings(bad, false); len(w) != 3 {
		t.Errorf("bad fixed-load run: %d warnings, want 3: %v", len(w), w)
	}
}

func TestUse(t *testing.T) {
	at := time.Unix(0, 0)
	before := cpuSample{at: at, busy: 10 * time.Second, server: 2 * time.Second, serverCPUs: time.Second}
	after := cpuSample{at: at.Add(10 * time.Second), busy: 30 * time.Second, server: 12 * time.Second, steal: time.Second,
		serverCPUs: 11 * time.Second, perfCPUs: 9 * time.Second, serverIRQ: time.Second}
	u := use(before, after, 8*time.Second)
	want := cpuUse{wall: 10, server: 1, dnsperf: 0.8, serverCPU: 1, perfCPU: 0.9, serverCost: 1.1, other: 0.2, steal: 0.1}
	for _, d := range []float64{u.wall - want.wall, u.server - want.server, u.dnsperf - want.dnsperf, u.serverCPU - want.serverCPU,
		u.perfCPU - want.perfCPU, u.serverCost - want.serverCost, u.other - want.other, u.steal - want.steal} {
		if math.Abs(d) > 1e-9 {
			t.Fatalf("use = %+v, want %+v", u, want)
		}
	}
	if !u.disturbed() {
		t.Error("20% other should count as disturbed")
	}
}

func TestSampleCPUSelf(t *testing.T) {
	s := sampleCPU(1, pinning{server: []int{0}})
	if s.busy <= 0 || s.serverCPUs <= 0 {
		t.Errorf("no CPU time read from /proc/stat: %+v", s)
	}
}

func TestParseCPUList(t *testing.T) {
	tests := []struct {
		in   string
		want []int
	}{
		{"1", []int{1}},
		{"0,2-4", []int{0, 2, 3, 4}},
		{"", nil},
		{"3-1", nil},
		{"a", nil},
	}
	for _, tc := range tests {
		got, err := parseCPUList(tc.in)
		if (err != nil) != (tc.want == nil) || !slices.Equal(got, tc.want) {
			t.Errorf("parseCPUList(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestCPUPerQuery(t *testing.T) {
	res := perfResult{completed: 50000, cpu: cpuUse{wall: 2, serverCost: 0.5}}
	if got := res.cpuPerQuery(); math.Abs(got-20e-6) > 1e-12 {
		t.Errorf("cpuPerQuery = %v, want 20µs", got)
	}
}

func TestPairedRatio(t *testing.T) {
	runs := func(qps ...float64) *system {
		s := &system{}
		for _, q := range qps {
			s.runs = append(s.runs, perfResult{qps: q})
		}
		return s
	}
	// Round 2 ran on a slow machine for both: the paired ratio ignores it.
	num, den := runs(110, 55, 120), runs(100, 50, 100)
	if got := pairedRatio(num, den); math.Abs(got-1.1) > 1e-9 {
		t.Errorf("pairedRatio = %v, want 1.1", got)
	}
}
