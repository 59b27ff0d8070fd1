// Command benchrun is the benchmark harness behind `make bench`. In one run it
// builds Signpost, a CoreDNS reference build and a bare miekg/dns server,
// installs dnsperf if it is missing, generates one data set (services with
// instances), loads it into every system (Signpost through its HTTP API,
// CoreDNS as a hosts file and a zone file), checks that every system answers
// every name correctly, and then measures the systems with dnsperf in
// alternating rounds. It prints a markdown table of QPS, latency and the
// ratios of Signpost to the others.
//
// Every server listens on 127.0.0.1 on a free port and is pinned to CPU 0,
// dnsperf to CPU 1. Everything started is stopped on the way out, also on
// failure or interrupt.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// config is what the flags set.
type config struct {
	root        string        // repository root
	goCmd       string        // the go command
	out         string        // also write the report here
	keep        bool          // keep the work directory
	seconds     int           // dnsperf time limit per measured run
	warmup      int           // unrecorded dnsperf run before each measured run, seconds
	rounds      int           // rounds of throughput runs, order rotated
	latSeconds  int           // length of each fixed-load latency run
	latShare    float64       // fixed load as a share of the slowest system's QPS
	retries     int           // extra tries of a run that other processes disturbed
	quietWait   time.Duration // how long to wait for an idle machine before a run
	services    int           // services in the data set
	instances   int           // instances per service
	clients     int           // dnsperf -c
	outstanding int           // dnsperf -q
	serverCPU   string        // taskset CPU list for the servers
	perfCPU     string        // taskset CPU list for dnsperf
	startWait   time.Duration // how long a server may take to come up
}

func parseFlags() config {
	var c config
	flag.StringVar(&c.root, "root", ".", "repository root (where go.mod is)")
	flag.StringVar(&c.goCmd, "go", "go", "the go command used to build")
	flag.StringVar(&c.out, "out", "", "also write the markdown report to this file")
	flag.BoolVar(&c.keep, "keep", false, "keep the work directory (data, Corefiles, logs)")
	flag.IntVar(&c.seconds, "seconds", 10, "length of each measured dnsperf run, seconds")
	flag.IntVar(&c.warmup, "warmup", 1, "unrecorded warm-up run before each measured run, seconds (0: none)")
	flag.IntVar(&c.rounds, "rounds", 3, "rounds over all systems, order rotated each round")
	flag.IntVar(&c.latSeconds, "latency-seconds", 5, "length of each fixed-load latency run, seconds (0: no latency percentiles)")
	flag.Float64Var(&c.latShare, "latency-load", 0.5, "fixed load of the latency runs, as a share of the slowest system's median QPS")
	flag.IntVar(&c.retries, "retries", 1, "run again, up to this many times, a run during which other processes used over 10% of a CPU")
	flag.DurationVar(&c.quietWait, "quiet-wait", 10*time.Second, "before each run, wait up to this long for other processes to leave the CPUs idle (0: do not wait)")
	flag.IntVar(&c.services, "services", 1000, "services in the data set")
	flag.IntVar(&c.instances, "instances", 3, "instances per service")
	flag.IntVar(&c.clients, "clients", 10, "dnsperf -c: client sockets")
	flag.IntVar(&c.outstanding, "outstanding", 200, "dnsperf -q: queries in flight")
	flag.StringVar(&c.serverCPU, "server-cpu", "0", "taskset CPU list of the servers")
	flag.StringVar(&c.perfCPU, "dnsperf-cpu", "1", "taskset CPU list of dnsperf")
	flag.DurationVar(&c.startWait, "start-timeout", 30*time.Second, "how long a server may take to start")
	flag.Parse()
	return c
}

func (c config) validate() error {
	switch {
	case c.seconds < 1 || c.rounds < 1:
		return fmt.Errorf("-seconds and -rounds must be at least 1")
	case c.warmup < 0 || c.latSeconds < 0 || c.retries < 0:
		return fmt.Errorf("-warmup, -latency-seconds and -retries must not be negative")
	case c.latShare <= 0 || c.latShare > 1:
		return fmt.Errorf("-latency-load must be in (0, 1]")
	case c.clients < 1 || c.outstanding < 1:
		return fmt.Errorf("-clients and -outstanding must be at least 1")
	}
	if _, err := parseCPUList(c.serverCPU); err != nil {
		return fmt.Errorf("-server-cpu: %w", err)
	}
	if _, err := parseCPUList(c.perfCPU); err != nil {
		return fmt.Errorf("-dnsperf-cpu: %w", err)
	}
	return validateSize(c.services, c.instances)
}

func main() {
	cfg := parseFlags()
	if err := cfg.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, cfg)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchrun: FAILED:", err)
		os.Exit(1)
	}
}

// run does the whole benchmark. Whatever it started is stopped before it
// returns.
func run(ctx context.Context, cfg config) error {
	h, err := newHarness(cfg)
	if err != nil {
		return err
	}
	defer h.close()
	steps := []func(context.Context) error{
		h.checkTools, h.build, h.writeData, h.startServers,
		h.loadSignpost, h.verify, h.measure, h.report,
	}
	for _, step := range steps {
		err := step(ctx)
		if ctx.Err() != nil {
			return errors.New("interrupted; everything started is stopped")
		}
		if err != nil {
			return err
		}
	}
	return nil
}
