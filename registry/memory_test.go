package registry_test

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

// BenchmarkMemoryPerInstance reports the heap a registry of a million
// instances (three per service, with heartbeat leases, no meta) holds per
// instance, after garbage collection.
func BenchmarkMemoryPerInstance(b *testing.B) {
	const n = 1_000_000
	for range b.N {
		before := heapInUse()
		r := registry.New(registry.Config{})
		backup := make([]registry.StaticService, 0, n/3)
		for i := 0; i < n; i += 3 {
			s := registry.StaticService{Config: registry.ServiceConfig{Name: fmt.Sprintf("svc%d", i/3)}}
			for j := range 3 {
				k := i + j
				s.Instances = append(s.Instances, registry.Instance{
					ID: fmt.Sprintf("i%d", j), Address: netip.AddrFrom4([4]byte{10, byte(k >> 16), byte(k >> 8), byte(k)}),
					Port: 8080, Weight: 1, Tags: []string{"v2"},
				})
			}
			backup = append(backup, s)
		}
		if err := r.ApplyStatic(backup); err != nil {
			b.Fatal(err)
		}
		backup = nil
		after := heapInUse()
		b.ReportMetric(float64(after-before)/n, "B/instance")
		runtime.KeepAlive(r)
	}
}

// BenchmarkMemoryPerLease is BenchmarkMemoryPerInstance for instances
// registered through the API with a heartbeat lease.
func BenchmarkMemoryPerLease(b *testing.B) {
	const n = 1_000_000
	for range b.N {
		before := heapInUse()
		r := registry.New(registry.Config{})
		for k := range n {
			_, err := r.Register(registry.Instance{
				Service: fmt.Sprintf("svc%d", k/3), ID: fmt.Sprintf("i%d", k%3),
				Address: netip.AddrFrom4([4]byte{10, byte(k >> 16), byte(k >> 8), byte(k)}),
				Port:    8080, Weight: 1, Tags: []string{"v2"}, TTL: 30 * time.Second,
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		after := heapInUse()
		b.ReportMetric(float64(after-before)/n, "B/instance")
		runtime.KeepAlive(r)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
