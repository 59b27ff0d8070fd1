package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/client"
	"github.com/signpost-dns/signpost/registry"
)

// BenchmarkHTTPRenew measures lease renewals per second over real HTTP on
// loopback, from the real client with its keep-alive connections, against
// a registry of 10,000 leased instances:
//
//   - single: one PUT .../heartbeat per renewal (Client.Heartbeat);
//   - empty: the same calls answered by a handler that renews nothing and
//     writes a fixed answer of the same shape, behind the same mux and
//     token check: the cost of the HTTP stack alone;
//   - batch-N: PUT /v1/heartbeats naming N instances (Client.Heartbeats).
//
// Clients run in parallel (RunParallel, GOMAXPROCS of them). Besides time
// per renewal it reports renewals per second, and the process's CPU time
// per renewal (client and server together, from getrusage), whose inverse
// is renewals per second per core.
//
//	go test -run '^$' -bench HTTPRenew -benchtime 3s -count 5 ./api/
func BenchmarkHTTPRenew(b *testing.B) {
	const n = 10_000
	reg := registry.New(registry.Config{})
	refs := make([]client.InstanceRef, n)
	for k := range n {
		in := registry.Instance{
			Service: fmt.Sprintf("svc%d", k/4), ID: fmt.Sprintf("i%d", k%4),
			Address: netip.AddrFrom4([4]byte{10, 1, byte(k >> 8), byte(k)}), Port: 8080, Weight: 1, TTL: time.Minute,
		}
		if _, err := reg.Register(in); err != nil {
			b.Fatal(err)
		}
		refs[k] = client.InstanceRef{Service: in.Service, ID: in.ID}
	}
	h := newHandler(reg, Options{Token: "t"})
	srv := httptest.NewServer(h)
	defer srv.Close()

	// The empty handler answers a heartbeat's route with a fixed lease.
	empty := newHandler(reg, Options{Token: "t"})
	answer := appendLease(nil, registry.Instance{Service: "svc0", ID: "i0", TTL: time.Minute}, time.Now())
	empty.mux = http.NewServeMux()
	empty.mux.Handle("PUT "+instancePath+"/heartbeat", empty.write(func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Content-Type"] = jsonContentType
		w.Write(answer)
	}))
	emptySrv := httptest.NewServer(empty)
	defer emptySrv.Close()

	newClient := func(url string) *client.Client {
		c, err := client.New([]string{url}, client.WithToken("t"))
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	single := func(url string) func(b *testing.B) {
		return func(b *testing.B) {
			c := newClient(url)
			measure(b, 1, func(pb *testing.PB, i int) error {
				ref := refs[i%n]
				_, err := c.Heartbeat(context.Background(), ref.Service, ref.ID)
				return err
			})
		}
	}
	b.Run("single", single(srv.URL))
	b.Run("empty", single(emptySrv.URL))
	for _, size := range []int{100, 1000} {
		b.Run(fmt.Sprintf("batch-%d", size), func(b *testing.B) {
			c := newClient(srv.URL)
			measure(b, size, func(pb *testing.PB, i int) error {
				start := i * size % n
				res, err := c.Heartbeats(context.Background(), refs[start:start+size])
				if err == nil && res.Renewed != size {
					err = fmt.Errorf("renewed %d of %d", res.Renewed, size)
				}
				return err
			})
		})
	}
}

// measure runs call in parallel b.N times, each renewing per leases, and
// reports time, CPU and throughput per renewal. i counts the calls of
// each goroutine.
func measure(b *testing.B, per int, call func(pb *testing.PB, i int) error) {
	b.Helper()
	cpu0 := cpuTime(b)
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			if err := call(pb, i); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	elapsed, cpu := time.Since(start), cpuTime(b)-cpu0
	renewals := float64(b.N * per)
	b.ReportMetric(float64(elapsed.Nanoseconds())/renewals, "ns/renewal")
	b.ReportMetric(renewals/elapsed.Seconds(), "renewals/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/renewals, "cpu-ns/renewal")
}

// cpuTime is the user and system CPU time the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
