package main

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
)

// measure runs the throughput rounds and then the fixed-load latency rounds.
func (h *harness) measure(ctx context.Context) error {
	for r := range h.cfg.rounds {
		for _, sys := range rotate(h.systems, r, h.cfg.rounds) {
			if err := h.measureThroughput(ctx, sys, r); err != nil {
				return err
			}
		}
	}
	if h.cfg.latSeconds == 0 {
		return nil
	}
	h.latRate = h.latencyRate()
	for r := range h.cfg.rounds {
		for _, sys := range rotate(h.systems, r, h.cfg.rounds) {
			if err := h.measureLatency(ctx, sys, r, h.latRate); err != nil {
				return err
			}
		}
	}
	return nil
}

// rotate is the order of round r: the systems rotated so that each round
// starts at a different place and machine drift is spread over all.
func rotate(systems []*system, r, rounds int) []*system {
	off := r * len(systems) / rounds
	return append(append([]*system{}, systems[off:]...), systems[:off]...)
}

// measureThroughput runs an unrecorded warm-up and then one unlimited run.
func (h *harness) measureThroughput(ctx context.Context, sys *system, round int) error {
	if h.cfg.warmup > 0 {
		if _, err := h.dnsperf(ctx, sys, perfRun{seconds: h.cfg.warmup}); err != nil {
			return err
		}
	}
	res, err := h.cleanRun(ctx, sys, perfRun{seconds: h.cfg.seconds})
	if err != nil {
		return err
	}
	sys.runs = append(sys.runs, res)
	logf("round %d/%d  %-46s %-3s %7.0f qps  %5.1f µs/query  mean %.3f ms  lost %d  %s  %s",
		round+1, h.cfg.rounds, sys.label, sys.qtype, res.qps, res.cpuPerQuery()*1e6, res.mean*1e3, res.lost, rcodeSummary(res), res.cpu)
	return nil
}

// cleanRun runs dnsperf and runs it again, up to -retries times, while
// other processes took more than maxOtherCPU of the machine during the run.
// It returns the run least disturbed.
func (h *harness) cleanRun(ctx context.Context, sys *system, pr perfRun) (perfResult, error) {
	var best perfResult
	for try := 0; try <= h.cfg.retries; try++ {
		h.waitQuiet(ctx)
		res, err := h.dnsperf(ctx, sys, pr)
		if err != nil {
			return res, err
		}
		if try == 0 || res.cpu.other < best.cpu.other {
			best = res
		}
		if !res.cpu.disturbed() {
			break
		}
		logf("%s %s: other processes used %.0f%% of a CPU during the run; try %d of %d",
			sys.label, sys.qtype, res.cpu.other*100, try+1, h.cfg.retries+1)
	}
	return best, nil
}

// waitQuiet gives other processes up to -quiet-wait to finish what they
// are doing before a run.
func (h *harness) waitQuiet(ctx context.Context) {
	if h.cfg.quietWait <= 0 {
		return
	}
	start := time.Now()
	quiet := waitQuiet(ctx, h.cfg.quietWait)
	if waited := time.Since(start); waited > 2*quietWindow {
		logf("waited %s for other processes to quiet down (quiet: %v)", waited.Round(time.Second), quiet)
	}
}

// latencyRate is the offered load of the latency runs: a share of the
// slowest system's median QPS, so that every system gets the same load and
// none is saturated.
func (h *harness) latencyRate() int {
	slowest := math.Inf(1)
	for _, sys := range h.systems {
		slowest = min(slowest, medianQPS(sys))
	}
	rate := max(int(slowest*h.cfg.latShare), 1)
	logf("latency runs at a fixed %d qps (%.0f%% of the slowest system's median)", rate, h.cfg.latShare*100)
	return rate
}

func (h *harness) measureLatency(ctx context.Context, sys *system, round, rate int) error {
	res, err := h.cleanRun(ctx, sys, perfRun{seconds: h.cfg.latSeconds, rate: rate, verbose: true})
	if err != nil {
		return err
	}
	if len(res.latencies) == 0 {
		return fmt.Errorf("dnsperf -v printed no per-query latencies for %s %s", sys.label, sys.qtype)
	}
	sys.lat = append(sys.lat, res)
	logf("latency %d/%d %-46s %-3s %7.0f qps  p50 %.3f ms  p99 %.3f ms  %s",
		round+1, h.cfg.rounds, sys.label, sys.qtype, res.qps,
		percentile(res.latencies, 0.50)*1e3, percentile(res.latencies, 0.99)*1e3, res.cpu)
	return nil
}

func medianQPS(sys *system) float64 {
	return medianOf(sys, func(r perfResult) float64 { return r.qps })
}

// rcodeSummary is the share of NOERROR replies, and any other rcode seen.
func rcodeSummary(res perfResult) string {
	s := fmt.Sprintf("NOERROR %.2f%%", noerrorShare(res)*100)
	for _, code := range slices.Sorted(maps.Keys(res.rcodes)) {
		if code != "NOERROR" {
			s += fmt.Sprintf(", %s %d", code, res.rcodes[code])
		}
	}
	return s
}

func noerrorShare(res perfResult) float64 {
	if res.completed == 0 {
		return 0
	}
	return float64(res.rcodes["NOERROR"]) / float64(res.completed)
}
