package registry

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// writeSizes are the registries BenchmarkRegisterAtScale writes into;
// SIGNPOST_BENCH_WRITES replaces them, e.g. "1000,100000,1000000".
func writeSizes(b *testing.B) []int {
	sizes := []int{1_000, 100_000}
	if s := os.Getenv("SIGNPOST_BENCH_WRITES"); s != "" {
		sizes = nil
		for f := range strings.SplitSeq(s, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				b.Fatalf("SIGNPOST_BENCH_WRITES: %v", err)
			}
			sizes = append(sizes, n)
		}
	}
	return sizes
}

// BenchmarkRegisterAtScale is the latency of one registration (a real
// change: a new port for an instance of a service of three, picked at
// random) into a registry of n instances with leases, in memory and with a
// data directory (each write committed with fsync before it returns), one
// writer at a time. It reports the median and the 99th percentile besides
// the mean: what a write costs must not grow with the registry, since a
// write copies one service and one leaf of each table, not the registry.
//
//	SIGNPOST_BENCH_WRITES=1000,100000,1000000 go test -run '^$' -bench RegisterAtScale -benchtime 3000x ./registry/
func BenchmarkRegisterAtScale(b *testing.B) {
	for _, persisted := range []bool{false, true} {
		for _, n := range writeSizes(b) {
			name := "memory/" + strconv.Itoa(n)
			if persisted {
				name = "persisted/" + strconv.Itoa(n)
			}
			b.Run(name, func(b *testing.B) {
				var r *Registry
				if persisted {
					dir := b.TempDir()
					writeRecords(b, dir, n)
					var err error
					if r, err = Open(dir, Config{}); err != nil {
						b.Fatal(err)
					}
					defer r.Stop()
				} else {
					r = New(Config{})
					r.restore(benchInstances(n), uint64(n))
				}
				rng := rand.New(rand.NewPCG(1, 2))
				lat := make([]time.Duration, 0, b.N)
				b.ResetTimer()
				for i := range b.N {
					k := rng.IntN(n)
					in := Instance{
						Service: fmt.Sprintf("svc%d", k/3), ID: fmt.Sprintf("i%d", k%3),
						Address: netip.AddrFrom4([4]byte{10, byte(k >> 16), byte(k >> 8), byte(k)}),
						Port:    uint16(10000 + i%50000), Weight: 1, Tags: []string{"v2"}, TTL: 30 * time.Second,
					}
					start := time.Now()
					if _, err := r.Register(in); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(start))
				}
				b.StopTimer()
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
				b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
			})
		}
	}
}

// benchInstances returns n instances as writeRecords stores them, three
// per service, with leases.
func benchInstances(n int) []stored {
	out := make([]stored, n)
	for k := range n {
		out[k].Instance = &Instance{
			Service: fmt.Sprintf("svc%d", k/3), ID: fmt.Sprintf("i%d", k%3),
			Address: netip.AddrFrom4([4]byte{10, byte(k >> 16), byte(k >> 8), byte(k)}),
			Port:    8080, Weight: 1, Tags: []string{"v2"}, TTL: 30 * time.Second,
			CreateIndex: uint64(k + 1), ModifyIndex: uint64(k + 1),
		}
	}
	return out
}
