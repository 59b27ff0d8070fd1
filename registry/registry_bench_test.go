package registry_test

import (
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

// populate loads n static instances, 100 per service, in one ApplyStatic,
// which is much faster than n registrations.
func populate(b *testing.B, n int) *registry.Registry {
	b.Helper()
	r := registry.New(registry.Config{})
	const per = 100
	var svcs []registry.StaticService
	for i := 0; i < n; i += per {
		s := registry.StaticService{Config: registry.ServiceConfig{Name: "svc-" + strconv.Itoa(i/per)}}
		for j := i; j < i+per && j < n; j++ {
			in := registry.Instance{ID: "i" + strconv.Itoa(j), Address: netip.AddrFrom4([4]byte{10, byte(j >> 16), byte(j >> 8), byte(j)}), Port: 80, Weight: 1}
			if j%2 == 0 {
				in.Tags = []string{"even"}
			}
			s.Instances = append(s.Instances, in)
		}
		svcs = append(svcs, s)
	}
	if err := r.ApplyStatic(svcs); err != nil {
		b.Fatal(err)
	}
	return r
}

func BenchmarkRegister(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			r := populate(b, n)
			const ids = 1000
			names := make([]string, ids)
			for i := range names {
				names[i] = "api-" + strconv.Itoa(i)
			}
			in := registry.Instance{Service: "bench", Address: netip.MustParseAddr("10.200.0.1"), Weight: 1, Tags: []string{"v1"}}
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				// Every call is a real change: the port differs from the
				// previous registration of the same id.
				in.ID = names[i%ids]
				in.Port = uint16(1 + i%60000)
				if _, err := r.Register(in); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func BenchmarkHeartbeat(b *testing.B) {
	r := registry.New(registry.Config{})
	const n = 1000
	names := make([]string, n)
	for i := range names {
		names[i] = "i" + strconv.Itoa(i)
		in := registry.Instance{Service: "web", ID: names[i], Address: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), Port: 80, TTL: 30 * time.Second}
		if _, err := r.Register(in); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Heartbeat("web", names[i%n]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkLookupSelect is the DNS read path: load the snapshot, find the
// service, select its servable instances into a reused buffer.
func BenchmarkLookupSelect(b *testing.B) {
	r := populate(b, 100_000)
	names := make([]string, 1000)
	for i := range names {
		names[i] = "svc-" + strconv.Itoa(i)
	}
	b.Run("serial", func(b *testing.B) {
		buf := make([]*registry.Instance, 0, 128)
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			svc := r.Snapshot().Service(names[i%len(names)])
			if svc == nil {
				b.Fatal("service missing")
			}
			buf = svc.Select(buf[:0], "even", false)
			if len(buf) != 50 {
				b.Fatalf("selected %d, want 50", len(buf))
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			buf := make([]*registry.Instance, 0, 128)
			i := 0
			for pb.Next() {
				buf = r.Snapshot().Service(names[i%len(names)]).Select(buf[:0], "", false)
				i++
			}
		})
	})
}
