package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// harness holds the state of one benchmark run.
type harness struct {
	cfg     config
	work    string // temporary directory: data, Corefiles, logs
	data    dataset
	fleet   fleet
	servers []*server
	systems []*system
	env     environment
	latRate int     // the fixed load of the latency runs, qps
	pin     pinning // CPUs of the servers and of dnsperf
}

// environment describes the machine and tools, for the report.
type environment struct {
	cpu, goVersion, dnsperf string
	loadBefore              string
	started                 time.Time
}

func newHarness(cfg config) (*harness, error) {
	root, err := filepath.Abs(cfg.root)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return nil, fmt.Errorf("-root %s: no go.mod there; run from the repository root", root)
	}
	cfg.root = root
	work, err := os.MkdirTemp("", "signpost-bench-")
	if err != nil {
		return nil, err
	}
	h := &harness{cfg: cfg, work: work, data: newDataset(cfg.services, cfg.instances)}
	h.pin.server, _ = parseCPUList(cfg.serverCPU) // checked by validate
	h.pin.perf, _ = parseCPUList(cfg.perfCPU)
	h.env.started = time.Now()
	return h, nil
}

// close stops every process started and removes the work directory.
func (h *harness) close() {
	h.fleet.stopAll()
	if h.cfg.keep {
		logf("work directory kept: %s", h.work)
		return
	}
	os.RemoveAll(h.work)
}

// checkTools makes sure taskset and dnsperf are there, installing dnsperf
// with apt-get when it is missing, and that there are two CPUs to pin to.
func (h *harness) checkTools(ctx context.Context) error {
	if _, err := exec.LookPath("taskset"); err != nil {
		return errors.New("taskset not found: install util-linux")
	}
	if runtime.NumCPU() < 2 {
		return fmt.Errorf("need 2 CPUs (server and dnsperf pinned apart), have %d", runtime.NumCPU())
	}
	if err := ensureDNSPerf(ctx); err != nil {
		return err
	}
	h.env.dnsperf = dnsperfVersion(ctx)
	h.env.cpu = cpuModel()
	h.env.goVersion = goVersion(ctx, h.cfg.goCmd)
	h.env.loadBefore = loadAvg()
	logf("machine: %s, %d CPUs; %s; dnsperf %s; load average %s",
		h.env.cpu, runtime.NumCPU(), h.env.goVersion, h.env.dnsperf, h.env.loadBefore)
	return nil
}

// ensureDNSPerf installs Debian's dnsperf package when dnsperf is missing.
func ensureDNSPerf(ctx context.Context) error {
	if _, err := exec.LookPath("dnsperf"); err == nil {
		return nil
	}
	logf("dnsperf not found: installing it with apt-get")
	if os.Geteuid() != 0 {
		return errors.New("dnsperf is missing and this is not root: run `apt-get install dnsperf` as root")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return errors.New("dnsperf is missing and there is no apt-get: install dnsperf by hand")
	}
	for _, args := range [][]string{{"update"}, {"install", "-y", "dnsperf"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %s: %v\n%s", strings.Join(args, " "), err, tail(out, 2000))
		}
	}
	if _, err := exec.LookPath("dnsperf"); err != nil {
		return errors.New("apt-get installed dnsperf but it is not on PATH")
	}
	return nil
}

// build builds the three servers into bin/.
func (h *harness) build(ctx context.Context) error {
	targets := [][2]string{
		{"bin/signpost", "./cmd/signpost"},
		{"bin/corednsref", "./bench/cmd/corednsref"},
		{"bin/miekgceiling", "./bench/cmd/miekgceiling"},
	}
	for _, t := range targets {
		logf("building %s", t[0])
		cmd := exec.CommandContext(ctx, h.cfg.goCmd, "build", "-o", t[0], t[1])
		cmd.Dir = h.cfg.root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", t[1], err, tail(out, 4000))
		}
	}
	return nil
}

// bin is the path of a built binary.
func (h *harness) bin(name string) string { return filepath.Join(h.cfg.root, "bin", name) }

// path is the path of a file in the work directory.
func (h *harness) path(name string) string { return filepath.Join(h.work, name) }

// writeData writes the hosts file, the zone file and the dnsperf query files.
func (h *harness) writeData(context.Context) error {
	files := map[string][]byte{
		"hosts":           h.data.hostsFile(),
		"db.svc.internal": h.data.zoneFile(),
		"queries-A.txt":   h.data.queryFile("A"),
		"queries-SRV.txt": h.data.queryFile("SRV"),
	}
	for name, b := range files {
		if err := os.WriteFile(h.path(name), b, 0o644); err != nil {
			return err
		}
	}
	logf("data: %d services x %d instances in %s", h.cfg.services, h.cfg.instances, h.work)
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// tail returns at most the last n bytes of b.
func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
