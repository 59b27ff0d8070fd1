package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// queryTimeout is dnsperf's -t: a reply later than this counts as lost.
const queryTimeout = 2

// perfResult is what one dnsperf run reports.
type perfResult struct {
	sent, completed, lost int
	rcodes                map[string]int
	qps                   float64
	mean                  float64   // mean latency, seconds
	latencies             []float64 // per query, seconds, from -v runs only
	cpu                   cpuUse
}

// cpuPerQuery is the CPU time of the server per query answered, with the
// interrupt work on its CPU where the kernel accounts loopback sends: what a
// query costs the server, whether or not dnsperf was the limit of the run,
// and less skewed by other processes than QPS.
func (res perfResult) cpuPerQuery() float64 {
	if res.completed == 0 {
		return 0
	}
	return res.cpu.serverCost * res.cpu.wall / float64(res.completed)
}

// perfRun is one dnsperf invocation against a system.
type perfRun struct {
	seconds int
	rate    int  // -Q, 0 for no limit
	verbose bool // -v: one line per reply with its latency
}

// dnsperf runs dnsperf pinned to its CPU against sys and parses its report.
func (h *harness) dnsperf(ctx context.Context, sys *system, pr perfRun) (perfResult, error) {
	outPath := h.path("dnsperf.out")
	out, err := os.Create(outPath)
	if err != nil {
		return perfResult{}, err
	}
	defer out.Close()
	cmd := exec.CommandContext(ctx, "taskset", append([]string{"-c", h.cfg.perfCPU, "dnsperf"}, h.perfArgs(sys, pr)...)...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = procAttr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = stopGrace
	pid := sys.server.proc.cmd.Process.Pid
	before := sampleCPU(pid, h.pin)
	if err := cmd.Run(); err != nil {
		return perfResult{}, fmt.Errorf("dnsperf against %s %s: %v\n%s", sys.label, sys.qtype, err, logTail(outPath))
	}
	after := sampleCPU(pid, h.pin)
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return perfResult{}, err
	}
	res, err := parsePerf(out)
	res.cpu = use(before, after, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
	if err != nil {
		return res, fmt.Errorf("dnsperf against %s %s: %v\n%s", sys.label, sys.qtype, err, logTail(outPath))
	}
	return res, nil
}

func (h *harness) perfArgs(sys *system, pr perfRun) []string {
	args := []string{
		"-s", "127.0.0.1", "-p", strconv.Itoa(sys.server.port),
		"-d", h.path("queries-" + sys.qtype + ".txt"),
		"-l", strconv.Itoa(pr.seconds), "-t", strconv.Itoa(queryTimeout),
		"-c", strconv.Itoa(h.cfg.clients), "-q", strconv.Itoa(h.cfg.outstanding),
	}
	if pr.rate > 0 {
		args = append(args, "-Q", strconv.Itoa(pr.rate))
	}
	if pr.verbose {
		args = append(args, "-v")
	}
	return args
}

// parsePerf reads dnsperf's output: the statistics block, and with -v the
// per-reply lines "> NOERROR name type latency".
func parsePerf(r io.Reader) (perfResult, error) {
	res := perfResult{rcodes: map[string]int{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "> ") {
			res.addReply(line)
			continue
		}
		if err := res.addStat(line); err != nil {
			return res, err
		}
	}
	if err := sc.Err(); err != nil {
		return res, err
	}
	if res.sent == 0 || res.qps == 0 {
		return res, fmt.Errorf("no statistics in dnsperf's output")
	}
	return res, nil
}

// addReply records the latency of a -v reply line; timeouts have none.
func (res *perfResult) addReply(line string) {
	f := strings.Fields(line)
	if len(f) != 5 {
		return
	}
	if v, err := strconv.ParseFloat(f[4], 64); err == nil {
		res.latencies = append(res.latencies, v)
	}
}

// addStat reads one line of the statistics block, if it is one we use.
func (res *perfResult) addStat(line string) error {
	key, val, ok := strings.Cut(strings.TrimSpace(line), ":")
	if !ok {
		return nil
	}
	first := firstField(val)
	var err error
	switch key {
	case "Queries sent":
		res.sent, err = strconv.Atoi(first)
	case "Queries completed":
		res.completed, err = strconv.Atoi(first)
	case "Queries lost":
		res.lost, err = strconv.Atoi(first)
	case "Queries per second":
		res.qps, err = strconv.ParseFloat(first, 64)
	case "Average Latency (s)":
		res.mean, err = strconv.ParseFloat(first, 64)
	case "Response codes":
		err = res.parseRcodes(val)
	}
	if err != nil {
		return fmt.Errorf("dnsperf line %q: %v", line, err)
	}
	return nil
}

// parseRcodes reads "NOERROR 195455 (99.99%), SERVFAIL 12 (0.01%)".
func (res *perfResult) parseRcodes(val string) error {
	for _, part := range strings.Split(val, ",") {
		f := strings.Fields(part)
		if len(f) < 2 {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			return err
		}
		res.rcodes[f[0]] += n
	}
	return nil
}

func firstField(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return ""
}

// percentile is the nearest-rank p-th quantile (0 < p <= 1) of xs, NaN when
// xs is empty. It sorts xs.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	slices.Sort(xs)
	i := int(math.Ceil(p*float64(len(xs)))) - 1
	return xs[max(i, 0)]
}

// median of xs, NaN when empty; xs is not changed.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
