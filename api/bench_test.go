package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// benchmark serves the same request b.N times.
func benchmark(b *testing.B, h http.Handler, method, path string) {
	b.Helper()
	req := httptest.NewRequest(method, path, nil)
	req.Header.Set("Authorization", "Bearer t")
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkHeartbeat is the call a fleet of sidecars makes most often.
func BenchmarkHeartbeat(b *testing.B) {
	f := newFixture(b, Options{Token: "t"})
	f.register("web", "w1", web1)
	benchmark(b, f.h, "PUT", "/v1/services/web/instances/w1/heartbeat")
}

// BenchmarkEmptyHandler is the cost of routing and auth alone, for
// comparison with BenchmarkHeartbeat: a handler that does nothing, behind
// the same mux and token check.
func BenchmarkEmptyHandler(b *testing.B) {
	f := newFixture(b, Options{Token: "t"})
	f.h.mux.Handle("PUT "+instancePath+"/empty", f.h.write(func(http.ResponseWriter, *http.Request) {}))
	benchmark(b, f.h, "PUT", "/v1/services/web/instances/w1/empty")
}

func BenchmarkShowService(b *testing.B) {
	f := newFixture(b, Options{})
	for _, id := range []string{"w1", "w2", "w3", "w4", "w5"} {
		f.register("web", id, web1)
	}
	benchmark(b, f.h, "GET", "/v1/services/web")
}
