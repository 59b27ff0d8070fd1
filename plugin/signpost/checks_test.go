package signpost

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/healthcheck"
	"github.com/signpost-dns/signpost/registry"
)

// waitHealth waits for the registry's changes until the instance is in
// state want, and fails the test when it is not within a few seconds.
func waitHealth(t *testing.T, reg *registry.Registry, service, id string, want registry.Health) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	snap := reg.Snapshot()
	for {
		var got any = "absent"
		if svc := snap.Service(service); svc != nil {
			if in, ok := svc.Instance(id); ok {
				if in.Health == want {
					return
				}
				got = in.Health
			}
		}
		var err error
		if snap, err = reg.WaitIndex(ctx, snap.Index()); err != nil {
			t.Fatalf("instance %s of %s did not turn %s within 5s: it is %v", id, service, want, got)
		}
	}
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
	// Nothing listens on port 9: once every instance is critical, every
	// check has probed.
	for _, st := range static {
		waitHealth(t, reg, st.Config.Name, "i", registry.Critical)
	}
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

// TestHealthOf checks the mapping of every check state to a registry
// health state. It runs through every value a Status can take: each one
// healthcheck names must map to the registry state of the same name, and
// every other value to critical, not ok. A state added to healthcheck
// without a case in healthOf fails here.
func TestHealthOf(t *testing.T) {
	tests := []struct {
		in   healthcheck.Status
		want registry.Health
	}{
		{healthcheck.Passing, registry.Passing},
		{healthcheck.Warning, registry.Warning},
		{healthcheck.Critical, registry.Critical},
	}
	for _, tc := range tests {
		if got, ok := healthOf(tc.in); got != tc.want || !ok {
			t.Errorf("healthOf(%v) = %v, %v; want %v, true", tc.in, got, ok, tc.want)
		}
	}
	for i := range 256 {
		s := healthcheck.Status(i)
		got, ok := healthOf(s)
		if s.String() == "unknown" {
			if ok || got != registry.Critical {
				t.Errorf("healthOf(Status(%d)) = %v, %v; want critical, false for a state healthcheck does not name", i, got, ok)
			}
			continue
		}
		if !ok || got.String() != s.String() {
			t.Errorf("healthOf(%s) = %v, %v; want %s, true: every named state needs a case", s, got, ok, s)
		}
	}
}

// TestCheckerUnknownStateIsCritical checks that a state the registry does
// not know takes an instance out of the answers rather than being cast to
// whatever registry state shares its number.
func TestCheckerUnknownStateIsCritical(t *testing.T) {
	reg := registry.New(registry.Config{})
	c := newChecker(reg)
	defer c.sched.Stop()
	spec := healthcheck.Spec{Type: "tcp", Interval: "1h"}.Encode()
	must(t, reg.ApplyStatic([]registry.StaticService{{
		Config:    registry.ServiceConfig{Name: "db"},
		Instances: []registry.Instance{{ID: "d1", Address: netip.MustParseAddr("127.0.0.1"), Port: 9, Weight: 1, Check: spec}},
	}}))
	c.transition("db/d1", healthcheck.Passing)
	waitHealth(t, reg, "db", "d1", registry.Passing)
	c.transition("db/d1", healthcheck.Status(7))
	waitHealth(t, reg, "db", "d1", registry.Critical)
}
