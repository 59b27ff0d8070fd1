package api

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

// consulBenchFixture is a handler with the Consul API over a registry of
// services × perService instances with TTL leases, the last service's
// first instance registered through the Consul API with a custom check ID.
func consulBenchFixture(b *testing.B, services, perService int) *fixture {
	b.Helper()
	f := newFixture(b, Options{Token: "t", Consul: &ConsulOptions{}})
	for s := range services {
		for i := range perService {
			_, err := f.reg.Register(registry.Instance{
				Service: fmt.Sprintf("svc-%d", s), ID: fmt.Sprintf("i-%d-%d", s, i),
				Address: netip.AddrFrom4([4]byte{10, byte(s >> 8), byte(s), byte(i)}), Port: 8080,
				Weight: 1, TTL: time.Minute, Source: registry.SourceAPI, Tags: []string{"v1"},
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	body := fmt.Sprintf(`{"ID":"custom","Name":"svc-%d","Address":"10.9.9.9","Port":80,"Check":{"TTL":"1m","CheckID":"custom-check"}}`, services-1)
	if rec := f.do("PUT", "/v1/agent/service/register", body, "X-Consul-Token", "t"); rec.Code != 200 {
		b.Fatalf("register: %d %s", rec.Code, rec.Body)
	}
	return f
}

// BenchmarkConsulCheckPass is a TTL check update, the Consul call made most
// often, beside Signpost's own heartbeat of the same instance as the
// baseline, in registries of 10 and 10,000 instances: the default check ID
// is resolved service by service, a custom one by looking through every
// instance.
func BenchmarkConsulCheckPass(b *testing.B) {
	for _, size := range []struct{ services, per int }{{1, 10}, {1000, 10}} {
		name := fmt.Sprintf("instances=%d", size.services*size.per)
		f := consulBenchFixture(b, size.services, size.per)
		last := size.services - 1
		b.Run(name+"/heartbeat", func(b *testing.B) {
			benchmark(b, f.h, "PUT", fmt.Sprintf("/v1/services/svc-%d/instances/i-%d-0/heartbeat", last, last))
		})
		b.Run(name+"/consul-default-id", func(b *testing.B) {
			benchmark(b, f.h, "PUT", fmt.Sprintf("/v1/agent/check/pass/service:i-%d-0", last))
		})
		b.Run(name+"/consul-custom-id", func(b *testing.B) {
			benchmark(b, f.h, "PUT", "/v1/agent/check/pass/custom-check")
		})
	}
}

// BenchmarkConsulHealthService is the read Prometheus and Consul's clients
// make of one service of 10 instances, beside Signpost's own read of it, in
// a registry of 10,000 instances.
func BenchmarkConsulHealthService(b *testing.B) {
	f := consulBenchFixture(b, 1000, 10)
	b.Run("signpost", func(b *testing.B) { benchmark(b, f.h, "GET", "/v1/services/svc-7") })
	b.Run("consul-health", func(b *testing.B) { benchmark(b, f.h, "GET", "/v1/health/service/svc-7") })
	b.Run("consul-catalog-services", func(b *testing.B) { benchmark(b, f.h, "GET", "/v1/catalog/services") })
}

// BenchmarkConsulIndexBuild is what the first Consul read or check update
// after a change to the registry pays: the index of 10,000 instances by
// id, check ID and service tags.
func BenchmarkConsulIndexBuild(b *testing.B) {
	f := consulBenchFixture(b, 1000, 10)
	snap := f.reg.Snapshot()
	b.ReportAllocs()
	for b.Loop() {
		buildIndex(snap)
	}
}
