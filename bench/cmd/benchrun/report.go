package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// Thresholds above which a run is flagged: a benchmark of a server that
// drops or fails queries measures the wrong thing.
const (
	maxLostShare  = 0.001
	minNoerrShare = 0.999
	maxPerfCPU    = 0.95 // dnsperf's CPU this busy may be the limit itself
	minServerCPU  = 0.90 // a server's CPU less busy than this was not saturated
)

// report prints the markdown report to stdout and writes it to -out.
func (h *harness) report(ctx context.Context) error {
	var b strings.Builder
	h.writeHeader(ctx, &b)
	h.writeTable(&b)
	h.writeRatios(&b)
	h.writeWarnings(&b)
	fmt.Print(b.String())
	if h.cfg.out == "" {
		return nil
	}
	if err := os.WriteFile(h.cfg.out, []byte(b.String()), 0o644); err != nil {
		return err
	}
	logf("report written to %s", h.cfg.out)
	return nil
}

func (h *harness) writeHeader(ctx context.Context, b *strings.Builder) {
	c := h.cfg
	fmt.Fprintf(b, "## Signpost DNS benchmark\n\n")
	fmt.Fprintf(b, "- date: %s\n", h.env.started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(b, "- machine: %s, %d CPUs; load average (1 5 15 min) at the start %s\n",
		h.env.cpu, runtime.NumCPU(), h.env.loadBefore)
	fmt.Fprintf(b, "- software: %s, %s, dnsperf %s\n", h.env.goVersion, h.moduleVersions(ctx), h.env.dnsperf)
	fmt.Fprintf(b, "- data: %d services x %d instances; queries cycle over all %d services (`svcN.%s` A or SRV); UDP, no EDNS0\n",
		c.services, c.instances, c.services, strings.TrimSuffix(zone, "."))
	fmt.Fprintf(b, "- method: each server on CPU %s (taskset, so GOMAXPROCS 1), dnsperf on CPU %s; rounds: %d, the order rotated each round; each run %d s after a %d s warm-up, `dnsperf -c %d -q %d -t %d` with no rate limit\n",
		c.serverCPU, c.perfCPU, c.rounds, c.seconds, c.warmup, c.clients, c.outstanding, queryTimeout)
	b.WriteString("- CPU (from /proc, medians of the full-load runs): µs per query is the server's CPU time per query answered, with the irq and softirq time of its CPU (where the kernel accounts loopback sends), which is what a query costs the server even where dnsperf was the limit, and is less skewed by other processes than QPS; busy is the share of the server's CPU and of dnsperf's CPU that was not idle, and the CPU that other processes used\n")
	h.writeLatencyMethod(b)
	b.WriteString("\n")
}

func (h *harness) writeLatencyMethod(b *strings.Builder) {
	b.WriteString("- latency: the mean comes from the full-load runs, where it is mostly queueing (about -q / QPS)")
	if h.cfg.latSeconds == 0 {
		b.WriteString("; p50 and p99 were not measured (-latency-seconds 0)\n")
		return
	}
	fmt.Fprintf(b, "; p50 and p99 come from separate runs at one fixed load for every system, %d qps (%.0f%% of the slowest system's median QPS), %d x %d s each, from dnsperf -v's per-query latencies (this dnsperf has no latency histogram, and per-query output at full load would slow dnsperf itself)\n",
		h.latRate, h.cfg.latShare*100, h.cfg.rounds, h.cfg.latSeconds)
}

// moduleVersions names the versions of CoreDNS and miekg/dns built with.
func (h *harness) moduleVersions(ctx context.Context) string {
	cmd := exec.CommandContext(ctx, h.cfg.goCmd, "list", "-m", "-f", "{{.Path}} {{.Version}}",
		"github.com/coredns/coredns", "github.com/miekg/dns")
	cmd.Dir = h.cfg.root
	out, err := cmd.Output()
	if err != nil {
		return "CoreDNS (unknown version)"
	}
	return strings.Join(strings.Split(strings.TrimSpace(string(out)), "\n"), ", ")
}

func (h *harness) writeTable(b *strings.Builder) {
	b.WriteString("| system | query | QPS (median) | QPS per round | µs per query | mean latency, full load (ms) | p50 / p99, fixed load (ms) | lost | NOERROR | busy: server CPU / dnsperf CPU / other |\n")
	b.WriteString("|---|---|--:|---|--:|--:|--:|--:|--:|--:|\n")
	for _, sys := range h.systems {
		fmt.Fprintf(b, "| %s | %s | %s | %s | %.1f | %.3f | %s | %s | %s | %s |\n",
			sys.label, sys.qtype, thousands(medianQPS(sys)), perRound(sys), medianCost(sys)*1e6,
			medianOf(sys, func(r perfResult) float64 { return r.mean })*1e3,
			percentiles(sys), lostShare(sys), noerrShare(sys), cpuShares(sys))
	}
	b.WriteString("\n")
}

func (h *harness) writeRatios(b *strings.Builder) {
	b.WriteString("| ratio | of median QPS | median of per-round QPS ratios | of median µs per query (inverse) |\n|---|--:|--:|--:|\n")
	for _, r := range ratios {
		num, den := h.system(r.num), h.system(r.den)
		fmt.Fprintf(b, "| %s | %.2fx | %.2fx | %.2fx |\n", r.label,
			medianQPS(num)/medianQPS(den), pairedRatio(num, den), medianCost(den)/medianCost(num))
	}
	b.WriteString("\n")
}

// writeWarnings flags the runs whose figure is suspect: queries lost or
// failed, CPU taken by other processes or the hypervisor, a load generator
// at its limit or a server that was not saturated.
func (h *harness) writeWarnings(b *strings.Builder) {
	for _, sys := range h.systems {
		for i, res := range sys.runs {
			if w := runWarnings(res, true); len(w) > 0 {
				fmt.Fprintf(b, "**warning**: %s %s, round %d: %s\n\n", sys.label, sys.qtype, i+1, strings.Join(w, "; "))
			}
		}
		for i, res := range sys.lat {
			if w := runWarnings(res, false); len(w) > 0 {
				fmt.Fprintf(b, "**warning**: %s %s, latency run %d: %s\n\n", sys.label, sys.qtype, i+1, strings.Join(w, "; "))
			}
		}
	}
}

// runWarnings says what is wrong with a run; the CPU of the load generator
// and the server matter only in a full-load run.
func runWarnings(res perfResult, fullLoad bool) []string {
	var warn []string
	if lost := float64(res.lost) / float64(max(res.sent, 1)); lost > maxLostShare {
		warn = append(warn, fmt.Sprintf("lost %.2f%% of its queries", lost*100))
	}
	if noerrorShare(res) < minNoerrShare {
		warn = append(warn, rcodeSummary(res))
	}
	u := res.cpu
	if u.disturbed() {
		warn = append(warn, fmt.Sprintf("other processes used %.0f%% of a CPU and the hypervisor stole %.0f%%, so the figure is noisy", u.other*100, u.steal*100))
	}
	if !fullLoad {
		return warn
	}
	if u.perfCPU > maxPerfCPU {
		warn = append(warn, fmt.Sprintf("dnsperf's CPU was %.0f%% busy, so dnsperf may be the limit rather than the server (see µs per query)", u.perfCPU*100))
	}
	if u.serverCPU < minServerCPU {
		warn = append(warn, fmt.Sprintf("the server's CPU was only %.0f%% busy (not saturated)", u.serverCPU*100))
	}
	return warn
}

func perRound(sys *system) string {
	var s []string
	for _, r := range sys.runs {
		s = append(s, thousands(r.qps))
	}
	return strings.Join(s, " / ")
}

// medianOf is the median over the full-load runs of f.
func medianOf(sys *system, f func(perfResult) float64) float64 {
	var xs []float64
	for _, r := range sys.runs {
		xs = append(xs, f(r))
	}
	return median(xs)
}

func cpuShares(sys *system) string {
	return fmt.Sprintf("%.0f%% / %.0f%% / %.0f%%",
		medianOf(sys, func(r perfResult) float64 { return r.cpu.serverCPU })*100,
		medianOf(sys, func(r perfResult) float64 { return r.cpu.perfCPU })*100,
		medianOf(sys, func(r perfResult) float64 { return r.cpu.other })*100)
}

// pairedRatio is the median over the rounds of num's QPS over den's in the
// same round: machine drift slower than a round cancels out of it.
func pairedRatio(num, den *system) float64 {
	var xs []float64
	for i := range min(len(num.runs), len(den.runs)) {
		xs = append(xs, num.runs[i].qps/den.runs[i].qps)
	}
	return median(xs)
}

// medianCost is the median over the full-load runs of the server's CPU
// time per query, seconds.
func medianCost(sys *system) float64 {
	return medianOf(sys, perfResult.cpuPerQuery)
}

// percentiles pools the latency runs' per-query latencies.
func percentiles(sys *system) string {
	var all []float64
	for _, r := range sys.lat {
		all = append(all, r.latencies...)
	}
	if len(all) == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.3f / %.3f", percentile(all, 0.50)*1e3, percentile(all, 0.99)*1e3)
}

func lostShare(sys *system) string {
	var lost, sent int
	for _, r := range sys.runs {
		lost, sent = lost+r.lost, sent+r.sent
	}
	return fmt.Sprintf("%.3f%%", 100*float64(lost)/float64(max(sent, 1)))
}

func noerrShare(sys *system) string {
	var noerr, done int
	for _, r := range sys.runs {
		noerr, done = noerr+r.rcodes["NOERROR"], done+r.completed
	}
	return fmt.Sprintf("%.2f%%", 100*float64(noerr)/float64(max(done, 1)))
}

// thousands formats a rate as an integer with thousands separators.
func thousands(x float64) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	s := fmt.Sprintf("%.0f", x)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
