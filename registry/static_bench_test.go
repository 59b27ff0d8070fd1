package registry_test

import (
	"net/netip"
	"strconv"
	"testing"

	"github.com/signpost-dns/signpost/registry"
)

// oneStaticService is one Corefile service of n instances.
func oneStaticService(n int) registry.StaticService {
	s := registry.StaticService{Config: registry.ServiceConfig{Name: "big"}}
	s.Instances = make([]registry.Instance, n)
	for j := range s.Instances {
		s.Instances[j] = registry.Instance{ID: "i" + strconv.Itoa(j), Address: netip.AddrFrom4([4]byte{10, byte(j >> 16), byte(j >> 8), byte(j)}), Port: 80, Weight: 1}
	}
	return s
}

// BenchmarkApplyStaticOneService loads one service with many static
// instances into an empty registry: the cost of a Corefile that declares
// them, including the check that no instance ID is declared twice.
func BenchmarkApplyStaticOneService(b *testing.B) {
	for _, n := range []int{20_000, 100_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			s := oneStaticService(n)
			b.ReportAllocs()
			for b.Loop() {
				r := registry.New(registry.Config{})
				if err := r.ApplyStatic([]registry.StaticService{s}); err != nil {
					b.Fatal(err)
				}
				if got := r.Snapshot().Service("big").Len(); got != n {
					b.Fatalf("loaded %d instances, want %d", got, n)
				}
				r.Stop()
			}
		})
	}
}
