package api

import (
	"io"
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

// benchmarkHTTP sends the same request over real HTTP connections to a
// server on loopback, from parallel clients with keep-alive, as sidecars do.
func benchmarkHTTP(b *testing.B, h http.Handler, method, path string) {
	b.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(method, srv.URL+path, nil)
			req.Header.Set("Authorization", "Bearer t")
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// BenchmarkHTTPHeartbeat and BenchmarkHTTPEmptyHandler compare a heartbeat
// with a handler that does nothing, on the same server, over loopback HTTP:
// what renewing a lease adds to a request.
func BenchmarkHTTPHeartbeat(b *testing.B) {
	f := newFixture(b, Options{Token: "t"})
	f.register("web", "w1", web1)
	benchmarkHTTP(b, f.h, "PUT", "/v1/services/web/instances/w1/heartbeat")
}

func BenchmarkHTTPEmptyHandler(b *testing.B) {
	f := newFixture(b, Options{Token: "t"})
	f.h.mux.Handle("PUT "+instancePath+"/empty", f.h.write(func(http.ResponseWriter, *http.Request) {}))
	benchmarkHTTP(b, f.h, "PUT", "/v1/services/web/instances/w1/empty")
}
