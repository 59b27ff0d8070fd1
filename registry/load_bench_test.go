package registry

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// loadSizes are the registries BenchmarkOpen loads; SIGNPOST_BENCH_OPEN
// replaces them, e.g. "100000,1000000".
func loadSizes(b *testing.B) []int {
	sizes := []int{100_000}
	if s := os.Getenv("SIGNPOST_BENCH_OPEN"); s != "" {
		sizes = nil
		for f := range strings.SplitSeq(s, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				b.Fatalf("SIGNPOST_BENCH_OPEN: %v", err)
			}
			sizes = append(sizes, n)
		}
	}
	return sizes
}

// BenchmarkOpen is the start of a server on a data directory of n
// instances registered through the API (three per service, one tag, a 30 s
// lease, as BenchmarkMemoryPerLease): from opening the file to a registry
// that answers, everything loaded. It reports the seconds per start and
// the file's bytes per instance, and the CPU time of the start (all of the
// process's, garbage collection included), which a busy machine does not
// inflate as it does the elapsed time.
//
//	SIGNPOST_BENCH_OPEN=100000,1000000 go test -run '^$' -bench Open -benchtime 3x ./registry/
func BenchmarkOpen(b *testing.B) {
	for _, n := range loadSizes(b) {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			dir := b.TempDir()
			writeRecords(b, dir, n)
			fi, err := os.Stat(filepath.Join(dir, StoreFile))
			if err != nil {
				b.Fatal(err)
			}
			var cpu time.Duration
			b.ResetTimer()
			for range b.N {
				cpu0 := cpuTime(b)
				r, err := Open(dir, Config{})
				cpu += cpuTime(b) - cpu0
				if err != nil {
					b.Fatal(err)
				}
				if got := r.Snapshot().Count(Passing); got != n {
					b.Fatalf("%d instances passing after the load, want %d", got, n)
				}
				b.StopTimer()
				r.Stop()
				b.StartTimer()
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/start")
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/start")
			b.ReportMetric(float64(fi.Size())/float64(n), "file-B/instance")
		})
	}
}

// cpuTime is the user and system CPU time the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// writeRecords fills dir with the records of n registrations, written
// straight to the store in transactions of 10,000.
func writeRecords(b *testing.B, dir string, n int) {
	b.Helper()
	st, err := openStore(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer st.close()
	var ops []op
	for k := range n {
		in := Instance{
			Service: fmt.Sprintf("svc%d", k/3), ID: fmt.Sprintf("i%d", k%3),
			Address: netip.AddrFrom4([4]byte{10, byte(k >> 16), byte(k >> 8), byte(k)}),
			Port:    8080, Weight: 1, Tags: []string{"v2"}, TTL: 30 * time.Second,
			CreateIndex: uint64(k + 1), ModifyIndex: uint64(k + 1),
		}
		ops = append(ops, putOp(&in))
		if len(ops) == 10_000 || k == n-1 {
			if err := st.write(ops, uint64(k+1)); err != nil {
				b.Fatal(err)
			}
			ops = ops[:0]
		}
	}
}
