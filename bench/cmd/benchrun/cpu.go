package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Above these a run counts as disturbed, in CPUs.
const (
	maxOtherCPU = 0.10 // used by other processes
	maxSteal    = 0.05 // stolen by the hypervisor
)

// clockTick is the unit of /proc CPU times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// cpuSample is the CPU time used so far: by the machine, on the CPUs the
// server and dnsperf are pinned to, and by the server process.
type cpuSample struct {
	at          time.Time
	busy, steal time.Duration // user+nice+system over all CPUs; stolen by the hypervisor
	serverCPUs  time.Duration // all but idle time of the server's CPUs
	serverIRQ   time.Duration // irq and softirq time of the server's CPUs
	perfCPUs    time.Duration // all but idle time of dnsperf's CPUs
	server      time.Duration // the server process's user+system
}

// cpuUse is where the CPU time of one run went, in CPUs (1 = one CPU busy
// for the whole run). A pinned CPU's busy share counts the kernel's work for
// its process too (softirq, where the loopback sends are accounted), which
// the process's own times leave out.
type cpuUse struct {
	wall               float64 // seconds
	server, dnsperf    float64 // the two processes
	serverCPU, perfCPU float64 // their CPUs' busy share
	serverCost         float64 // the server process plus its CPUs' irq and softirq
	other, steal       float64 // other processes; the hypervisor
}

// pinning is the CPUs the server and dnsperf are pinned to.
type pinning struct {
	server, perf []int
}

// sampleCPU reads /proc/stat and, for a serverPID above 0, the server's
// /proc/PID/stat.
func sampleCPU(serverPID int, pin pinning) cpuSample {
	s := cpuSample{at: time.Now()}
	stat := procStat()
	if f := stat["cpu"]; len(f) >= 8 {
		s.busy = ticks(f[0]) + ticks(f[1]) + ticks(f[2])
		s.steal = ticks(f[7])
	}
	s.serverCPUs = cpuTime(stat, pin.server, 0, 1, 2, 5, 6, 7)
	s.serverIRQ = cpuTime(stat, pin.server, 5, 6)
	s.perfCPUs = cpuTime(stat, pin.perf, 0, 1, 2, 5, 6, 7)
	if serverPID > 0 {
		s.server = procTime(serverPID)
	}
	return s
}

// procStat is /proc/stat's lines by label ("cpu", "cpu0", ...).
func procStat() map[string][]string {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil
	}
	stat := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			stat[f[0]] = f[1:]
		}
	}
	return stat
}

// cpuTime adds up columns of the cpus' lines in /proc/stat: 0 user, 1 nice,
// 2 system, 3 idle, 4 iowait, 5 irq, 6 softirq, 7 steal (guest time is
// counted in user already).
func cpuTime(stat map[string][]string, cpus []int, columns ...int) time.Duration {
	var d time.Duration
	for _, c := range cpus {
		f := stat["cpu"+strconv.Itoa(c)]
		if len(f) < 8 {
			continue
		}
		for _, i := range columns {
			d += ticks(f[i])
		}
	}
	return d
}

// procTime is a process's user+system time: fields 14 and 15 of
// /proc/PID/stat, 12 and 13 after the ")" that ends the command name.
func procTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	_, rest, ok := strings.Cut(string(b), ") ")
	if f := strings.Fields(rest); ok && len(f) > 12 {
		return ticks(f[11]) + ticks(f[12])
	}
	return 0
}

func ticks(s string) time.Duration {
	n, _ := strconv.ParseInt(s, 10, 64)
	return time.Duration(n) * clockTick
}

// use works out where the CPU went between two samples, given dnsperf's
// own CPU time. What neither the server nor dnsperf used was someone
// else's: another process on the machine skews the figures.
func use(before, after cpuSample, dnsperf time.Duration) cpuUse {
	wall := after.at.Sub(before.at).Seconds()
	if wall <= 0 {
		return cpuUse{}
	}
	share := func(d time.Duration) float64 { return d.Seconds() / wall }
	server := after.server - before.server
	return cpuUse{
		wall:       wall,
		server:     share(server),
		dnsperf:    share(dnsperf),
		serverCPU:  share(after.serverCPUs - before.serverCPUs),
		serverCost: share(server + after.serverIRQ - before.serverIRQ),
		perfCPU:    share(after.perfCPUs - before.perfCPUs),
		other:      share(max(after.busy-before.busy-server-dnsperf, 0)),
		steal:      share(after.steal - before.steal),
	}
}

func (u cpuUse) String() string {
	return fmt.Sprintf("busy: server CPU %.0f%% dnsperf CPU %.0f%%, other processes %.0f%%, steal %.0f%%",
		u.serverCPU*100, u.perfCPU*100, u.other*100, u.steal*100)
}

// disturbed reports whether other processes or the hypervisor took enough
// CPU during the run to skew it.
func (u cpuUse) disturbed() bool { return u.other > maxOtherCPU || u.steal > maxSteal }

// parseCPUList reads a taskset CPU list such as "1" or "0,2-3".
func parseCPUList(s string) ([]int, error) {
	var cpus []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		a, errA := strconv.Atoi(lo)
		b, errB := strconv.Atoi(hi)
		if errA != nil || errB != nil || a < 0 || b < a {
			return nil, fmt.Errorf("bad CPU list %q", s)
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

// quietWindow is how long the machine is watched to tell whether it is
// idle.
const quietWindow = 500 * time.Millisecond

// waitQuiet waits, up to limit, until the machine has been idle (under
// maxOtherCPU busy, the servers being idle) for a quietWindow, so that a
// run does not start in the middle of someone else's build. It reports
// whether the machine was quiet.
func waitQuiet(ctx context.Context, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for {
		before := sampleCPU(0, pinning{})
		select {
		case <-ctx.Done():
			return false
		case <-time.After(quietWindow):
		}
		if use(before, sampleCPU(0, pinning{}), 0).other <= maxOtherCPU {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}
