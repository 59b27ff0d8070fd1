package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/signpost-dns/signpost/registry"
)

// Registrations per second that the API acknowledges, with the registry in
// memory and with a data directory, where each acknowledgement waits for
// its commit (fsync) and concurrent writers share commits. Every request
// changes an instance (its port), so none is a no-op that skips the disk.
// Run with -cpu to vary the writers, e.g.
//
//	go test -run '^$' -bench 'Register(Persisted|Memory)' -cpu 1,8,64 ./api/
func BenchmarkRegisterMemory(b *testing.B) {
	benchmarkRegister(b, registry.New(registry.Config{}))
}

func BenchmarkRegisterPersisted(b *testing.B) {
	reg, err := registry.Open(b.TempDir(), registry.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(reg.Stop)
	benchmarkRegister(b, reg)
}

// The registrations cycle over a fixed set of instances, so that the
// registry, and the cost of a write, stays the same size however long the
// benchmark runs.
const (
	benchServices  = 64
	benchInstances = 16 // per service
)

func benchmarkRegister(b *testing.B, reg *registry.Registry) {
	h := NewHandler(reg, Options{})
	var n atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			slot := i % (benchServices * benchInstances)
			round := i / (benchServices * benchInstances)
			path := fmt.Sprintf("/v1/services/svc-%d/instances/i-%d", slot%benchServices, slot/benchServices)
			body := fmt.Sprintf(`{"address":"10.%d.%d.1","port":%d}`, slot%benchServices, slot/benchServices, 1+round%60000)
			req := httptest.NewRequest(http.MethodPut, path, strings.NewReader(body))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Errorf("PUT %s: %d %s", path, rec.Code, rec.Body)
				return
			}
		}
	})
	b.StopTimer()
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "registrations/s")
	}
}
