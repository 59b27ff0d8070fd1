package signpost

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/healthcheck"
	"github.com/signpost-dns/signpost/registry"
)

// waitHealth polls until the instance is in state want, bounded.
func waitHealth(t *testing.T, reg *registry.Registry, service, id string, want registry.Health) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if svc := reg.Snapshot().Service(service); svc != nil {
			if in, ok := svc.Instance(id); ok && in.Health == want {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("instance %s of %s did not turn %s", id, service, want)
}

func TestCheckerFollowsProbes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ap := netip.MustParseAddrPort(ln.Addr().String())

	reg := registry.New(registry.Config{})
	c := newChecker(reg)
	c.start()
	defer c.stop()
	spec := healthcheck.Spec{Type: "tcp", Interval: "50ms", Timeout: "40ms", Rise: 2, Fall: 2}.Encode()
	must(t, reg.ApplyStatic([]registry.StaticService{{
		Config:    registry.ServiceConfig{Name: "db"},
		Instances: []registry.Instance{{ID: "d1", Address: ap.Addr(), Port: ap.Port(), Weight: 1, Check: spec}},
	}}))
	waitHealth(t, reg, "db", "d1", registry.Passing)

	ln.Close() // the service goes away
	waitHealth(t, reg, "db", "d1", registry.Critical)

	// An API registration with a check is probed too, and deregistering it
	// stops its probe.
	_, err = reg.Register(registry.Instance{Service: "web", ID: "w1", Address: ap.Addr(), Port: ap.Port(), Weight: 1, Check: spec})
	must(t, err)
	must(t, reg.Deregister("web", "w1"))
	must(t, reg.ApplyStatic(nil))
	if n := len(reg.Snapshot().CheckedServices()); n != 0 {
		t.Errorf("%d services with checks after everything was removed", n)
	}
}

func TestCheckerStopsItsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	reg := registry.New(registry.Config{})
	c := newChecker(reg)
	c.start()
	spec := healthcheck.Spec{Type: "tcp", Interval: "20ms", Timeout: "10ms"}.Encode()
	var static []registry.StaticService
	for i := range 50 {
		static = append(static, registry.StaticService{
			Config:    registry.ServiceConfig{Name: fmt.Sprintf("s%d", i)},
			Instances: []registry.Instance{{ID: "i", Address: netip.MustParseAddr("127.0.0.1"), Port: 9, Weight: 1, Check: spec}},
		})
	}
	must(t, reg.ApplyStatic(static))
	time.Sleep(100 * time.Millisecond)
	c.stop()
	c.stop() // twice is fine
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after stop, %d before start", n, before)
	}
}
