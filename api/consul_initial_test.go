package api

import (
	"sync"
	"testing"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/signpost-dns/signpost/registry"
)

// watchHealth follows the registry's snapshots, which DNS answers from,
// and records every health the instance has in one, until stop is called.
func watchHealth(t *testing.T, reg *registry.Registry, service, id string) (stop func() []registry.Health) {
	t.Helper()
	var (
		mu   sync.Mutex
		seen []registry.Health
		wg   sync.WaitGroup
	)
	done := make(chan struct{})
	snap := reg.Snapshot()
	wg.Go(func() {
		for {
			if svc := snap.Service(service); svc != nil {
				if in, ok := svc.Instance(id); ok {
					mu.Lock()
					if n := len(seen); n == 0 || seen[n-1] != in.Health {
						seen = append(seen, in.Health)
					}
					mu.Unlock()
				}
			}
			select {
			case <-snap.Changed():
				snap = reg.Snapshot()
			case <-done:
				return
			}
		}
	})
	return func() []registry.Health {
		close(done)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return seen
	}
}

// eventHealths is the health of every event of the instance, oldest first:
// every snapshot change that touched it, none skipped.
func eventHealths(reg *registry.Registry, service, id string) []registry.Health {
	var hs []registry.Health
	for _, e := range reg.Events(0).Events {
		if e.Service == service && e.Instance == id && e.HasHealth() {
			hs = append(hs, e.Health)
		}
	}
	return hs
}

// TestConsulRegisterCriticalIsNeverServed registers a TTL check with
// Status critical through the real Consul client: no snapshot, and so no
// DNS answer, ever holds the instance passing before its first update, and
// the reads show the update's output.
func TestConsulRegisterCriticalIsNeverServed(t *testing.T) {
	f := newConsulFixture(t, Options{})
	stop := watchHealth(t, f.reg, "web", "web-1")
	reg := webReg("web-1")
	reg.Check.Status = "critical"
	reg.Check.CheckID = "web-1-ttl"
	f.mustRegister(reg)
	if got := f.status("web", "web-1"); got != "critical" {
		t.Errorf("status after registration %q, want critical", got)
	}
	if err := f.client.Agent().UpdateTTL("web-1-ttl", "output", "warn"); err != nil {
		t.Fatal(err)
	}
	seen := stop()
	if len(seen) == 0 || seen[0] != registry.Critical {
		t.Errorf("snapshots held web-1 as %v, want critical first", seen)
	}
	for _, h := range seen {
		if h == registry.Passing {
			t.Errorf("a snapshot held web-1 passing: %v", seen)
		}
	}
	if hs := eventHealths(f.reg, "web", "web-1"); len(hs) != 2 || hs[0] != registry.Critical || hs[1] != registry.Warning {
		t.Errorf("events of web-1 with healths %v, want critical then warning", hs)
	}

	// Every read shows the output of the update.
	entries, _, err := f.client.Health().Service("web", "", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || len(entries[0].Checks) != 2 || entries[0].Checks[1].Output != "output" || entries[0].Checks[1].Status != "warning" {
		t.Errorf("health/service checks %+v, want web-1-ttl warning with its output", entries)
	}
	checks, err := f.client.Agent().Checks()
	if err != nil {
		t.Fatal(err)
	}
	if c := checks["web-1-ttl"]; c == nil || c.Output != "output" || c.Status != "warning" {
		t.Errorf("agent/checks %+v, want web-1-ttl warning with its output", c)
	}
	hc, _, err := f.client.Health().Checks("web", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(hc) != 1 || hc[0].Output != "output" {
		t.Errorf("health/checks %+v, want the output", hc)
	}
	// An update with the same status replaces the output too.
	if err := f.client.Agent().UpdateTTL("web-1-ttl", "still slow", "warn"); err != nil {
		t.Fatal(err)
	}
	if checks, err = f.client.Agent().Checks(); err != nil || checks["web-1-ttl"].Output != "still slow" {
		t.Errorf("agent/checks after a second update: %v %+v", err, checks["web-1-ttl"])
	}
	// Registered again, the check keeps its status, as in Consul.
	f.mustRegister(reg)
	if got := f.status("web", "web-1"); got != "warning" {
		t.Errorf("status after registering again %q, want warning kept", got)
	}
}

// TestConsulCheckStatus checks that a check's Status is the instance's
// health from its registration on, for every kind of check, and that
// without one it starts critical.
func TestConsulCheckStatus(t *testing.T) {
	tests := []struct {
		name  string
		check consulapi.AgentServiceCheck
		want  registry.Health
	}{
		{"ttl passing", consulapi.AgentServiceCheck{TTL: "10s", Status: "passing"}, registry.Passing},
		{"ttl warning", consulapi.AgentServiceCheck{TTL: "10s", Status: "warning"}, registry.Warning},
		{"ttl default", consulapi.AgentServiceCheck{TTL: "10s"}, registry.Critical},
		{"http passing", consulapi.AgentServiceCheck{HTTP: "http://127.0.0.1:8080/healthz", Interval: "5s", Status: "passing"}, registry.Passing},
		{"http warning", consulapi.AgentServiceCheck{HTTP: "http://127.0.0.1:8080/healthz", Interval: "5s", Status: "warning"}, registry.Warning},
		{"http default", consulapi.AgentServiceCheck{HTTP: "http://127.0.0.1:8080/healthz", Interval: "5s"}, registry.Critical},
		{"tcp passing", consulapi.AgentServiceCheck{TCP: "127.0.0.1:8080", Interval: "5s", Status: "passing"}, registry.Passing},
		{"grpc warning", consulapi.AgentServiceCheck{GRPC: "127.0.0.1:8080", Interval: "5s", Status: "warning"}, registry.Warning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newConsulFixture(t, Options{})
			check := tt.check
			f.mustRegister(&consulapi.AgentServiceRegistration{
				ID: "api-1", Name: "api", Address: "127.0.0.1", Port: 8080, Check: &check,
			})
			if hs := eventHealths(f.reg, "api", "api-1"); len(hs) != 1 || hs[0] != tt.want {
				t.Errorf("events of api-1 with healths %v, want one registration %v", hs, tt.want)
			}
			if got := f.status("api", "api-1"); got != tt.want.String() {
				t.Errorf("status %q, want %v", got, tt.want)
			}
		})
	}
}
