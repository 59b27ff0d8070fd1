package registry_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

// recLogger records the registry's log lines.
type recLogger struct {
	mu    sync.Mutex
	lines []string
}

func (l *recLogger) Infof(format string, args ...any) { l.add("I " + fmt.Sprintf(format, args...)) }
func (l *recLogger) Warningf(format string, args ...any) {
	l.add("W " + fmt.Sprintf(format, args...))
}

func (l *recLogger) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
}

func (l *recLogger) count(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
			n++
		}
	}
	return n
}

func TestLeaseExpiryAndRevival(t *testing.T) {
	r, clock := newRegistry(t, registry.Config{DeregisterAfter: 30 * time.Second})
	reg := mustRegister(t, r, withTTL(inst("web", "n1", "10.0.0.1", 80), 10*time.Second))
	mustRegister(t, r, inst("web", "keep", "10.0.0.2", 80)) // no lease: never expires

	// At the deadline the lease still holds; just past it, it runs out.
	clock.Advance(10 * time.Second)
	snap := r.Snapshot()
	r.Sweep()
	if healthOf(t, r, "web", "n1") != registry.Passing || r.Snapshot() != snap {
		t.Fatal("lease ran out at its deadline, not after it")
	}
	clock.Advance(time.Nanosecond)
	r.Sweep()
	crit := get(t, r, "web", "n1")
	if crit.Health != registry.Critical {
		t.Fatalf("health after expiry = %v, want critical", crit.Health)
	}
	if crit.ModifyIndex <= reg.ModifyIndex || crit.CreateIndex != reg.CreateIndex {
		t.Errorf("expiry indexes: create %d modify %d (registered %d)", crit.CreateIndex, crit.ModifyIndex, reg.ModifyIndex)
	}
	if got := ids(r.Snapshot().Service("web").Select(nil, "", true)); !equalStrings(got, []string{"keep"}) {
		t.Errorf("served after expiry: %v", got)
	}
	if healthOf(t, r, "web", "keep") != registry.Passing {
		t.Error("an instance without lease expired")
	}
	// Sweeping again changes nothing.
	snap = r.Snapshot()
	clock.Advance(time.Second)
	r.Sweep()
	if r.Snapshot() != snap {
		t.Error("a sweep with nothing to do published a snapshot")
	}

	// A heartbeat revives it.
	clock.Advance(5 * time.Second)
	got, err := r.Heartbeat("web", "n1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Health != registry.Passing || healthOf(t, r, "web", "n1") != registry.Passing {
		t.Fatalf("after heartbeat: returned %v, stored %v; want passing", got.Health, healthOf(t, r, "web", "n1"))
	}
	if got.ModifyIndex <= crit.ModifyIndex || got.CreateIndex != reg.CreateIndex {
		t.Errorf("revival indexes: create %d modify %d", got.CreateIndex, got.ModifyIndex)
	}
	wantDeadline := clock.Now().Add(10 * time.Second)
	if _, d, _ := r.Lease("web", "n1"); !d.Equal(wantDeadline) {
		t.Errorf("deadline after revival = %v, want %v", d, wantDeadline)
	}
	// The revived lease expires again, on its new deadline.
	clock.Advance(10 * time.Second)
	r.Sweep()
	if healthOf(t, r, "web", "n1") != registry.Passing {
		t.Fatal("revived lease expired before its new deadline")
	}
	clock.Advance(time.Second)
	r.Sweep()
	if healthOf(t, r, "web", "n1") != registry.Critical {
		t.Fatal("revived lease did not expire again")
	}
	mustCheck(t, r.Snapshot())
}

func TestLeaseRemovalAfterDeregisterAfter(t *testing.T) {
	r, clock := newRegistry(t, registry.Config{DeregisterAfter: 30 * time.Second})
	mustRegister(t, r, withTTL(inst("web", "n1", "10.0.0.1", 80), 5*time.Second))
	mustRegister(t, r, inst("web", "n2", "10.0.0.2", 80))

	clock.Advance(6 * time.Second)
	r.Sweep() // expires at t0+6s
	if healthOf(t, r, "web", "n1") != registry.Critical {
		t.Fatal("lease did not expire")
	}
	clock.Advance(29 * time.Second)
	r.Sweep()
	if !exists(r, "web", "n1") {
		t.Fatal("removed before DeregisterAfter had passed")
	}
	clock.Advance(time.Second)
	r.Sweep()
	if exists(r, "web", "n1") {
		t.Fatal("not removed DeregisterAfter after its lease ran out")
	}
	if !exists(r, "web", "n2") {
		t.Fatal("removal took another instance")
	}
	if _, _, ok := r.Lease("web", "n1"); ok {
		t.Error("lease kept after removal")
	}
	if r.Snapshot().HasAddr(addr("10.0.0.1")) {
		t.Error("address kept after removal")
	}
	if _, err := r.Heartbeat("web", "n1"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Heartbeat after removal = %v, want ErrNotFound (so the client registers again)", err)
	}
	mustCheck(t, r.Snapshot())
}

func TestReregisterRevivesExpiredLease(t *testing.T) {
	r, clock := newRegistry(t, registry.Config{DeregisterAfter: 30 * time.Second})
	in := withTTL(inst("web", "n1", "10.0.0.1", 80), 5*time.Second)
	mustRegister(t, r, in)
	clock.Advance(6 * time.Second)
	r.Sweep()
	clock.Advance(20 * time.Second)
	if got := mustRegister(t, r, in); got.Health != registry.Passing {
		t.Fatalf("re-registration of an expired instance: %v, want passing", got.Health)
	}
	// The removal clock started by the old expiry must not carry over.
	clock.Advance(4 * time.Second)
	r.Sweep()
	clock.Advance(10 * time.Second) // 36s after the first expiry
	if !exists(r, "web", "n1") {
		t.Fatal("re-registered instance removed on the old lease's schedule")
	}
}

func TestSelfPreservationThreshold(t *testing.T) {
	tests := []struct {
		name     string
		share    float64
		min      int
		total    int
		expiring int
		preserve bool
	}{
		{"share exactly reached", 0.25, 3, 20, 5, false},
		{"share exceeded", 0.25, 3, 20, 6, true},
		{"all at once", 0.25, 3, 20, 20, true},
		{"default share, all", 0, 0, 10, 10, true},
		{"default min, two of four", 0.15, 0, 4, 2, false},
		{"default min, three of four", 0.15, 0, 4, 3, true},
		{"small registry below min", 0.15, 3, 2, 2, false},
		{"one lease", 0, 0, 1, 1, false},
		{"higher min", 0.1, 10, 20, 9, false},
		{"higher min reached", 0.1, 10, 20, 10, true},
		{"disabled", -1, 0, 20, 20, false},
		{"none expiring", 0.25, 1, 20, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, clock := newRegistry(t, registry.Config{SelfPreservation: tt.share, SelfPreservationMin: tt.min})
			for i := range tt.total {
				mustRegister(t, r, withTTL(inst("web", idName(i), "10.0.0.1", 80), 10*time.Second))
			}
			clock.Advance(5 * time.Second)
			for i := tt.expiring; i < tt.total; i++ {
				if _, err := r.Heartbeat("web", idName(i)); err != nil {
					t.Fatal(err)
				}
			}
			clock.Advance(6 * time.Second) // past the first deadline only
			snap := r.Snapshot()
			r.Sweep()
			if got := r.SelfPreserving(); got != tt.preserve {
				t.Fatalf("SelfPreserving = %v, want %v", got, tt.preserve)
			}
			s := r.Snapshot()
			wantCrit := tt.expiring
			if tt.preserve {
				wantCrit = 0
				if s != snap {
					t.Error("self-preservation published a snapshot")
				}
			}
			if got := s.Count(registry.Critical); got != wantCrit {
				t.Errorf("critical = %d, want %d", got, wantCrit)
			}
			if got := s.Count(registry.Passing); got != tt.total-wantCrit {
				t.Errorf("passing = %d, want %d", got, tt.total-wantCrit)
			}
		})
	}
}

func TestSelfPreservationResumes(t *testing.T) {
	log := &recLogger{}
	r, clock := newRegistry(t, registry.Config{DeregisterAfter: 30 * time.Second, Logger: log})
	const n = 10
	for i := range n {
		mustRegister(t, r, withTTL(inst("web", idName(i), "10.0.0.1", 80), 10*time.Second))
	}
	// The network between the sidecars and the server breaks: nobody
	// heartbeats, and every lease would run out in one sweep.
	clock.Advance(11 * time.Second)
	idx := r.Index()
	r.Sweep()
	if !r.SelfPreserving() {
		t.Fatal("self-preservation did not start")
	}
	// It holds as long as the outage does, and removes nobody either.
	for range 10 {
		clock.Advance(time.Minute)
		r.Sweep()
	}
	if !r.SelfPreserving() || r.Index() != idx || r.Snapshot().Count(registry.Passing) != n {
		t.Fatalf("during self-preservation: preserving %v, index %d -> %d, passing %d", r.SelfPreserving(), idx, r.Index(), r.Snapshot().Count(registry.Passing))
	}
	if got := log.count("W self-preservation on"); got != 1 {
		t.Errorf("logged self-preservation on %d times, want once", got)
	}

	// The network heals: all but two heartbeat again. Those two get a fresh
	// lease, in case they are on their way back, and expire when it runs out.
	for i := 2; i < n; i++ {
		if _, err := r.Heartbeat("web", idName(i)); err != nil {
			t.Fatal(err)
		}
	}
	r.Sweep()
	if r.SelfPreserving() {
		t.Fatal("self-preservation still on after heartbeats came back")
	}
	if got := log.count("I self-preservation off"); got != 1 {
		t.Errorf("logged self-preservation off %d times, want once", got)
	}
	if got := r.Snapshot().Count(registry.Passing); got != n {
		t.Errorf("%d passing as self-preservation ends, want all %d", got, n)
	}
	clock.Advance(6 * time.Second)
	for i := 2; i < n; i++ {
		if _, err := r.Heartbeat("web", idName(i)); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(5 * time.Second)
	r.Sweep()
	for i := range n {
		want := registry.Passing
		if i < 2 {
			want = registry.Critical
		}
		if got := healthOf(t, r, "web", idName(i)); got != want {
			t.Errorf("%s: %v, want %v", idName(i), got, want)
		}
	}
	// And removal resumes on schedule.
	clock.Advance(25 * time.Second)
	for i := 2; i < n; i++ {
		if _, err := r.Heartbeat("web", idName(i)); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(5 * time.Second)
	r.Sweep()
	if exists(r, "web", idName(0)) || exists(r, "web", idName(1)) {
		t.Error("expired instances not removed after DeregisterAfter")
	}
	if got := r.Snapshot().Service("web").Len(); got != n-2 {
		t.Errorf("%d instances left, want %d", got, n-2)
	}
	mustCheck(t, r.Snapshot())
}

func TestConfigureChangesExpiry(t *testing.T) {
	r, clock := newRegistry(t, registry.Config{})
	for i := range 5 {
		mustRegister(t, r, withTTL(inst("web", idName(i), "10.0.0.1", 80), 10*time.Second))
	}
	clock.Advance(11 * time.Second)
	r.Sweep()
	if !r.SelfPreserving() {
		t.Fatal("self-preservation did not start with the defaults")
	}
	r.Configure(registry.Config{SelfPreservation: -1, Now: clock.Now, DeregisterAfter: time.Second})
	r.Sweep()
	if r.SelfPreserving() || r.Snapshot().Count(registry.Passing) != 5 {
		t.Fatalf("after disabling: preserving %v, passing %d", r.SelfPreserving(), r.Snapshot().Count(registry.Passing))
	}
	clock.Advance(11 * time.Second) // the fresh leases run out too
	r.Sweep()
	if r.Snapshot().Count(registry.Critical) != 5 {
		t.Fatalf("fresh leases ran out: critical %d, want 5", r.Snapshot().Count(registry.Critical))
	}
	clock.Advance(time.Second)
	r.Sweep()
	if r.Snapshot().Service("web") != nil {
		t.Error("new DeregisterAfter not applied")
	}
}

func TestStartSweeps(t *testing.T) {
	r, clock := newRegistry(t, registry.Config{SweepInterval: 2 * time.Millisecond})
	mustRegister(t, r, withTTL(inst("web", "n1", "10.0.0.1", 80), 5*time.Second))
	at := r.Index()
	r.Start()
	defer r.Stop()
	clock.Advance(6 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := r.WaitIndex(ctx, at); err != nil {
		t.Fatalf("the sweep loop did not expire the lease: %v", err)
	}
	if healthOf(t, r, "web", "n1") != registry.Critical {
		t.Fatalf("health = %v, want critical", healthOf(t, r, "web", "n1"))
	}
}

func TestStartStop(t *testing.T) {
	base := runtime.NumGoroutine()

	r, _ := newRegistry(t, registry.Config{SweepInterval: time.Millisecond})
	r.Start()
	r.Start() // a second Start does not run a second loop
	time.Sleep(5 * time.Millisecond)
	stopped := make(chan struct{})
	go func() {
		r.Stop()
		r.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return")
	}
	r.Start() // after Stop: must not start again
	// Stop without Start returns at once, also twice.
	idle := registry.New(registry.Config{})
	done := make(chan struct{})
	go func() {
		idle.Stop()
		idle.Stop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop without Start blocked")
	}
	idle.Start() // after Stop: a no-op

	waitGoroutines(t, base)
}

func TestConcurrentStop(t *testing.T) {
	base := runtime.NumGoroutine()
	r, _ := newRegistry(t, registry.Config{SweepInterval: time.Millisecond})
	r.Start()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(r.Stop)
	}
	wg.Wait()
	waitGoroutines(t, base)
}

func TestConfigureWhileRunning(t *testing.T) {
	// A Corefile reload reconfigures a registry whose loop is running.
	r, clock := newRegistry(t, registry.Config{SweepInterval: time.Millisecond})
	r.Start()
	r.Configure(registry.Config{Now: clock.Now, SelfPreservation: 0.5, SweepInterval: time.Hour})
	mustRegister(t, r, withTTL(inst("web", "n1", "10.0.0.1", 80), 5*time.Second))
	at := r.Index()
	clock.Advance(6 * time.Second)
	// SweepInterval keeps its first value: the loop still sweeps every ms.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := r.WaitIndex(ctx, at); err != nil {
		t.Fatalf("no sweep after Configure: %v", err)
	}
	r.Stop()
}

// waitGoroutines waits, bounded, for the goroutine count to fall back to base.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	var n int
	for range 200 {
		if n = runtime.NumGoroutine(); n <= base {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	buf := make([]byte, 1<<16)
	t.Fatalf("%d goroutines, want at most %d:\n%s", n, base, buf[:runtime.Stack(buf, true)])
}
