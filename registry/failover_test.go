package registry_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/signpost-dns/signpost/registry"
)

// failoverService declares service svc with failover set (or not) and
// min-healthy, and instances a (passing, tag blue), b (warning, tag blue)
// and c (passing, tag green).
func failoverService(t *testing.T, failover bool, minHealthy int) *registry.Service {
	t.Helper()
	r := registry.New(registry.Config{})
	cfg := registry.ServiceConfig{Name: "svc", MinHealthy: minHealthy}
	if failover {
		cfg.Failover.Addrs = []netip.Addr{addr("10.0.0.100")}
	}
	err := r.ApplyStatic([]registry.StaticService{{Config: cfg, Instances: []registry.Instance{
		{ID: "a", Address: addr("10.0.0.1"), Port: 80, Weight: 1, Tags: []string{"blue"}},
		{ID: "b", Address: addr("10.0.0.2"), Port: 80, Weight: 1, Tags: []string{"blue"}},
		{ID: "c", Address: addr("10.0.0.3"), Port: 80, Weight: 1, Tags: []string{"green"}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetHealth("svc", "b", registry.Warning); err != nil {
		t.Fatal(err)
	}
	return r.Snapshot().Service("svc")
}

func TestFailingOver(t *testing.T) {
	tests := []struct {
		failover     bool
		minHealthy   int // 0 is the default, 1, once a failover is set
		tag          string
		serveWarning bool
		healthy      int
		want         bool
	}{
		{false, 0, "", false, 2, false},
		{false, 5, "", false, 2, false}, // min-healthy without a failover: nothing to fail over to
		{false, 5, "blue", true, 2, false},

		{true, 0, "", false, 2, false},
		{true, 1, "", false, 2, false},
		{true, 2, "", false, 2, false},
		{true, 3, "", false, 2, true},
		{true, 3, "", true, 3, false},

		{true, 0, "blue", false, 1, false},
		{true, 1, "blue", false, 1, false},
		{true, 2, "blue", false, 1, true}, // b is warning: one blue is healthy
		{true, 2, "blue", true, 2, false}, // unless warning is served
		{true, 1, "green", false, 1, false},
		{true, 2, "green", true, 1, true}, // the tag's own count, not the service's 3
		{true, 0, "red", false, 0, true},  // no instance carries the tag
		{true, 1, "red", true, 0, true},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("failover=%v/min=%d/tag=%q/warning=%v", tt.failover, tt.minHealthy, tt.tag, tt.serveWarning)
		t.Run(name, func(t *testing.T) {
			svc := failoverService(t, tt.failover, tt.minHealthy)
			if got := svc.Healthy(tt.tag, tt.serveWarning); got != tt.healthy {
				t.Errorf("Healthy = %d, want %d", got, tt.healthy)
			}
			if got := len(svc.Select(nil, tt.tag, tt.serveWarning)); got != tt.healthy {
				t.Errorf("Select gave %d instances, Healthy counts %d", got, tt.healthy)
			}
			if got := svc.FailingOver(tt.tag, tt.serveWarning); got != tt.want {
				t.Errorf("FailingOver = %v, want %v", got, tt.want)
			}
		})
	}
	var none *registry.Service
	if none.FailingOver("", true) || none.Healthy("", true) != 0 {
		t.Error("a service that does not exist fails over or has healthy instances")
	}
}
