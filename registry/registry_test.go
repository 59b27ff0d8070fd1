package registry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

func TestNewIsEmpty(t *testing.T) {
	r := registry.New(registry.Config{})
	s := r.Snapshot()
	if s == nil || s.Index() != 0 || r.Index() != 0 || s.Len() != 0 || len(s.Services()) != 0 {
		t.Fatalf("new registry: index %d, %d services", s.Index(), s.Len())
	}
	if s.Service("web") != nil || s.HasAddr(addr("10.0.0.1")) || r.SelfPreserving() {
		t.Fatal("new registry is not empty")
	}
	mustCheck(t, s)
}

func TestRegisterReplaceIndexes(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	first := mustRegister(t, r, inst("web", "n1", "10.0.0.1", 80))
	if first.CreateIndex == 0 || first.CreateIndex != first.ModifyIndex || first.ModifyIndex != r.Index() {
		t.Fatalf("first registration: create %d modify %d, registry index %d", first.CreateIndex, first.ModifyIndex, r.Index())
	}
	if first.Source != registry.SourceAPI || first.Health != registry.Passing {
		t.Errorf("first registration: source %v health %v", first.Source, first.Health)
	}
	mustRegister(t, r, inst("web", "n2", "10.0.0.2", 80))

	replaced := mustRegister(t, r, inst("web", "n1", "10.0.0.9", 81, "canary"))
	if replaced.CreateIndex != first.CreateIndex {
		t.Errorf("replace changed CreateIndex %d -> %d", first.CreateIndex, replaced.CreateIndex)
	}
	if replaced.ModifyIndex <= first.ModifyIndex || replaced.ModifyIndex != r.Index() {
		t.Errorf("replace: ModifyIndex %d (was %d), registry index %d", replaced.ModifyIndex, first.ModifyIndex, r.Index())
	}
	stored := get(t, r, "web", "n1")
	if stored.Address != addr("10.0.0.9") || stored.Port != 81 || !stored.HasTag("canary") {
		t.Errorf("replace not stored: %+v", stored)
	}
	if stored.CreateIndex != first.CreateIndex || stored.ModifyIndex != replaced.ModifyIndex {
		t.Errorf("snapshot indexes %d/%d, Register returned %d/%d", stored.CreateIndex, stored.ModifyIndex, replaced.CreateIndex, replaced.ModifyIndex)
	}
	if svc := r.Snapshot().Service("web"); svc.Len() != 2 || svc.ModifyIndex() != r.Index() {
		t.Errorf("service: %d instances, ModifyIndex %d, registry index %d", svc.Len(), svc.ModifyIndex(), r.Index())
	}
	mustCheck(t, r.Snapshot())
}

func TestIdenticalRegistrationKeepsIndex(t *testing.T) {
	r, clock := newRegistry(t, registry.Config{})
	in := inst("web", "n1", "10.0.0.1", 80, "b", "a")
	in.Meta = map[string]string{"k": "v"}
	in.TTL = 10 * time.Second
	first := mustRegister(t, r, in)
	snap := r.Snapshot()

	clock.Advance(8 * time.Second)
	// Same registration, tags in another order and duplicated.
	again := in
	again.Tags = []string{"a", "b", "a"}
	again.Meta = map[string]string{"k": "v"}
	got := mustRegister(t, r, again)
	if r.Snapshot() != snap || r.Index() != first.ModifyIndex {
		t.Errorf("identical registration bumped the index %d -> %d", first.ModifyIndex, r.Index())
	}
	if got.ModifyIndex != first.ModifyIndex || got.CreateIndex != first.CreateIndex {
		t.Errorf("identical registration returned indexes %d/%d, want %d/%d", got.CreateIndex, got.ModifyIndex, first.CreateIndex, first.ModifyIndex)
	}
	// It still renews the lease.
	if _, deadline, ok := r.Lease("web", "n1"); !ok || !deadline.Equal(t0.Add(18*time.Second)) {
		t.Errorf("lease deadline %v, want %v", deadline, t0.Add(18*time.Second))
	}

	// Any real difference is a change.
	changes := []func(*registry.Instance){
		func(in *registry.Instance) { in.Port = 81 },
		func(in *registry.Instance) { in.Address = addr("10.0.0.2") },
		func(in *registry.Instance) { in.Weight = 5 },
		func(in *registry.Instance) { in.Tags = []string{"a"} },
		func(in *registry.Instance) { in.Meta = map[string]string{"k": "w"} },
		func(in *registry.Instance) { in.TTL = 20 * time.Second },
		func(in *registry.Instance) { in.TTL = 0; in.Health = registry.Warning },
	}
	for i, change := range changes {
		next := in
		change(&next)
		before := r.Index()
		got := mustRegister(t, r, next)
		if r.Index() <= before || got.ModifyIndex != r.Index() {
			t.Errorf("change %d: index %d -> %d, ModifyIndex %d", i, before, r.Index(), got.ModifyIndex)
		}
		in = next
	}
}

func TestDeregister(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	mustRegister(t, r, withTTL(inst("web", "n1", "10.0.0.1", 80), 5*time.Second))
	mustRegister(t, r, inst("web", "n2", "10.0.0.2", 80))
	mustRegister(t, r, inst("db", "n1", "10.0.0.3", 5432))

	before := r.Index()
	if err := r.Deregister("web", "n1"); err != nil {
		t.Fatal(err)
	}
	if r.Index() <= before {
		t.Errorf("Deregister did not bump the index")
	}
	if exists(r, "web", "n1") || !exists(r, "web", "n2") || !exists(r, "db", "n1") {
		t.Fatal("Deregister removed the wrong instance")
	}
	if _, _, ok := r.Lease("web", "n1"); ok {
		t.Error("lease kept after Deregister")
	}
	if _, err := r.Heartbeat("web", "n1"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Heartbeat after Deregister = %v, want ErrNotFound", err)
	}

	// The last instance takes the service with it.
	if err := r.Deregister("web", "n2"); err != nil {
		t.Fatal(err)
	}
	s := r.Snapshot()
	if s.Service("web") != nil || s.Len() != 1 || len(s.Services()) != 1 {
		t.Errorf("empty service kept: Service(web) = %v, Len %d", s.Service("web"), s.Len())
	}
	mustCheck(t, s)

	for _, tc := range []struct{ service, id string }{{"web", "n1"}, {"db", "n2"}, {"nope", "n1"}, {"", ""}} {
		snap := r.Snapshot()
		err := r.Deregister(tc.service, tc.id)
		if !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("Deregister(%q, %q) = %v, want ErrNotFound", tc.service, tc.id, err)
		}
		if r.Snapshot() != snap {
			t.Errorf("failed Deregister(%q, %q) published a snapshot", tc.service, tc.id)
		}
	}
}

func TestHeartbeatErrors(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	mustRegister(t, r, inst("web", "static-ish", "10.0.0.1", 80))
	snap := r.Snapshot()
	if _, err := r.Heartbeat("web", "nope"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Heartbeat of unknown instance = %v, want ErrNotFound", err)
	}
	if _, err := r.Heartbeat("nope", "n1"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Heartbeat of unknown service = %v, want ErrNotFound", err)
	}
	_, err := r.Heartbeat("web", "static-ish")
	if !errors.Is(err, registry.ErrNoLease) || errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Heartbeat of an instance without TTL = %v, want ErrNoLease", err)
	}
	if r.Snapshot() != snap {
		t.Error("failed heartbeats published a snapshot")
	}
	if _, _, ok := r.Lease("web", "static-ish"); ok {
		t.Error("instance without TTL has a lease")
	}
}

func TestHeartbeatRenewsWithoutChange(t *testing.T) {
	r, clock := newRegistry(t, registry.Config{})
	reg := mustRegister(t, r, withTTL(inst("web", "n1", "10.0.0.1", 80), 10*time.Second))
	if ttl, deadline, ok := r.Lease("web", "n1"); !ok || ttl != 10*time.Second || !deadline.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("Lease = %v %v %v", ttl, deadline, ok)
	}
	snap := r.Snapshot()
	clock.Advance(7 * time.Second)
	got, err := r.Heartbeat("web", "n1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Snapshot() != snap || got.ModifyIndex != reg.ModifyIndex {
		t.Errorf("heartbeat of a passing instance bumped the index %d -> %d", snap.Index(), r.Index())
	}
	if got.Health != registry.Passing || got.ID != "n1" {
		t.Errorf("Heartbeat returned %+v", got)
	}
	if _, deadline, _ := r.Lease("web", "n1"); !deadline.Equal(t0.Add(17 * time.Second)) {
		t.Errorf("deadline %v, want %v", deadline, t0.Add(17*time.Second))
	}
}

func TestRegisterLeaseHandling(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	// A TTL instance starts passing whatever health it asks for.
	in := withTTL(inst("web", "n1", "10.0.0.1", 80), 5*time.Second)
	in.Health = registry.Critical
	if got := mustRegister(t, r, in); got.Health != registry.Passing {
		t.Errorf("TTL instance registered as %v, want passing", got.Health)
	}
	// Without a TTL the health is taken as given, and the lease goes.
	in.TTL, in.Health = 0, registry.Warning
	if got := mustRegister(t, r, in); got.Health != registry.Warning || got.TTL != 0 {
		t.Errorf("instance without TTL registered as %v ttl %v", got.Health, got.TTL)
	}
	if _, _, ok := r.Lease("web", "n1"); ok {
		t.Error("lease kept after re-registering without TTL")
	}
	if _, err := r.Heartbeat("web", "n1"); !errors.Is(err, registry.ErrNoLease) {
		t.Errorf("Heartbeat = %v, want ErrNoLease", err)
	}
}

func TestSetHealth(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	reg := mustRegister(t, r, inst("db", "n1", "10.0.0.1", 5432))
	if err := r.SetHealth("db", "n1", registry.Warning); err != nil {
		t.Fatal(err)
	}
	got := get(t, r, "db", "n1")
	if got.Health != registry.Warning || got.ModifyIndex <= reg.ModifyIndex || got.CreateIndex != reg.CreateIndex {
		t.Errorf("after SetHealth: %v create %d modify %d", got.Health, got.CreateIndex, got.ModifyIndex)
	}
	snap := r.Snapshot()
	if err := r.SetHealth("db", "n1", registry.Warning); err != nil || r.Snapshot() != snap {
		t.Errorf("setting the same health again: err %v, index %d -> %d", err, snap.Index(), r.Index())
	}
	if err := r.SetHealth("db", "n2", registry.Critical); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("SetHealth of unknown instance = %v, want ErrNotFound", err)
	}
	err := r.SetHealth("db", "n1", registry.Critical+1)
	wantFieldError(t, err, "health")
	if r.Snapshot() != snap {
		t.Error("refused SetHealth published a snapshot")
	}
}

func TestSnapshotIsImmutable(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	mustRegister(t, r, inst("web", "n1", "10.0.0.1", 80, "v1"))
	old := r.Snapshot()
	oldSvc := old.Service("web")
	oldIndex := old.Index()

	mustRegister(t, r, inst("web", "n1", "10.0.0.2", 81, "v2"))
	mustRegister(t, r, inst("web", "n2", "10.0.0.3", 80))
	mustRegister(t, r, inst("db", "n1", "10.0.0.4", 5432))
	if err := r.SetHealth("web", "n2", registry.Critical); err != nil {
		t.Fatal(err)
	}

	if old.Index() != oldIndex || old.Len() != 1 || old.Service("db") != nil {
		t.Errorf("old snapshot changed: index %d, %d services", old.Index(), old.Len())
	}
	if old.Service("web") != oldSvc || oldSvc.Len() != 1 || oldSvc.ModifyIndex() != oldIndex {
		t.Errorf("old service changed: %d instances, index %d", oldSvc.Len(), oldSvc.ModifyIndex())
	}
	in, ok := oldSvc.Instance("n1")
	if !ok || in.Address != addr("10.0.0.1") || in.Port != 80 || !in.HasTag("v1") || in.HasTag("v2") {
		t.Errorf("old instance changed: %+v", in)
	}
	if !old.HasAddr(addr("10.0.0.1")) || old.HasAddr(addr("10.0.0.2")) || old.HasAddr(addr("10.0.0.4")) {
		t.Error("old snapshot's addresses changed")
	}
	if old.Count(registry.Passing) != 1 || old.Count(registry.Critical) != 0 {
		t.Errorf("old counts changed: %d passing, %d critical", old.Count(registry.Passing), old.Count(registry.Critical))
	}
	if !oldSvc.HasTag("v1") || oldSvc.HasTag("v2") {
		t.Error("old service tags changed")
	}
	mustCheck(t, old)
	mustCheck(t, r.Snapshot())

	// Copies handed out cannot change the snapshot.
	cur := r.Snapshot()
	list := cur.Service("web").Instances()
	list[0].Port, list[0].Health = 1, registry.Critical
	one, _ := cur.Service("web").Instance("n1")
	one.Port = 2
	if got := get(t, r, "web", "n1"); got.Port != 81 || got.Health != registry.Passing {
		t.Errorf("modifying returned copies changed the registry: %+v", got)
	}
}

func TestChangedClosesWhenSuperseded(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	s0 := r.Snapshot()
	select {
	case <-s0.Changed():
		t.Fatal("Changed closed before any write")
	default:
	}
	// A refused or no-op write does not supersede the snapshot.
	r.Register(inst("Bad", "n1", "10.0.0.1", 80))
	r.Deregister("web", "n1")
	select {
	case <-s0.Changed():
		t.Fatal("Changed closed by a write that changed nothing")
	default:
	}
	mustRegister(t, r, inst("web", "n1", "10.0.0.1", 80))
	select {
	case <-s0.Changed():
	default:
		t.Fatal("Changed not closed after a write")
	}
	s1 := r.Snapshot()
	if s1 == s0 || s1.Index() <= s0.Index() {
		t.Fatalf("new snapshot index %d, old %d", s1.Index(), s0.Index())
	}
	select {
	case <-s1.Changed():
		t.Fatal("the current snapshot's Changed is closed")
	default:
	}
}

func TestWaitIndexAlreadyPast(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	mustRegister(t, r, inst("web", "n1", "10.0.0.1", 80))
	mustRegister(t, r, inst("web", "n2", "10.0.0.2", 80))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, after := range []uint64{0, r.Index() - 1} {
		s, err := r.WaitIndex(ctx, after)
		if err != nil || s != r.Snapshot() {
			t.Errorf("WaitIndex(%d) at index %d = %v, %v; want the current snapshot at once", after, r.Index(), s, err)
		}
	}
	// Even with a done context, a passed index is answered without error.
	done, cancelDone := context.WithCancel(context.Background())
	cancelDone()
	if s, err := r.WaitIndex(done, 0); err != nil || s.Index() != r.Index() {
		t.Errorf("WaitIndex with done ctx and passed index = %v, %v", s, err)
	}
}

func TestWaitIndexBlocksUntilWrite(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	mustRegister(t, r, inst("web", "n1", "10.0.0.1", 80))
	at := r.Index()

	type result struct {
		s   *registry.Snapshot
		err error
	}
	done := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		s, err := r.WaitIndex(ctx, at)
		done <- result{s, err}
	}()

	// A no-op write does not wake it.
	mustRegister(t, r, inst("web", "n1", "10.0.0.1", 80))
	select {
	case res := <-done:
		t.Fatalf("WaitIndex(%d) returned before any change: index %d, %v", at, res.s.Index(), res.err)
	case <-time.After(30 * time.Millisecond):
	}

	mustRegister(t, r, inst("web", "n2", "10.0.0.2", 80))
	select {
	case res := <-done:
		if res.err != nil || res.s.Index() <= at || res.s.Service("web").Len() != 2 {
			t.Fatalf("WaitIndex = index %d, err %v; want a snapshot past %d with the new instance", res.s.Index(), res.err, at)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("WaitIndex did not return after a write")
	}
}

func TestWaitIndexTimeout(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	mustRegister(t, r, inst("web", "n1", "10.0.0.1", 80))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	s, err := r.WaitIndex(ctx, r.Index())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitIndex err = %v, want DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed < 15*time.Millisecond || elapsed > 3*time.Second {
		t.Errorf("WaitIndex returned after %v with a 20ms context", elapsed)
	}
	if s == nil || s.Index() != r.Index() {
		t.Errorf("WaitIndex on timeout returned %v, want the current snapshot", s)
	}

	cctx, ccancel := context.WithCancel(context.Background())
	go func() { time.Sleep(10 * time.Millisecond); ccancel() }()
	if _, err := r.WaitIndex(cctx, r.Index()+5); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitIndex after cancel = %v, want Canceled", err)
	}
}
