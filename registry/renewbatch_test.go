package registry_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/etcdtest"
	"github.com/signpost-dns/signpost/registry"
)

func TestRenewBatch(t *testing.T) {
	r, clock := newRegistry(t, registry.Config{SelfPreservation: -1, DeregisterAfter: time.Hour})
	mustRegister(t, r, withTTL(inst("web", "w1", "10.0.0.1", 80), 10*time.Second))
	mustRegister(t, r, withTTL(inst("web", "w2", "10.0.0.2", 80), 10*time.Second))
	mustRegister(t, r, withTTL(inst("api", "a1", "10.0.0.3", 80), 30*time.Second))
	mustRegister(t, r, inst("web", "probed", "10.0.0.4", 80))

	// w2 runs out; a1 reported itself critical.
	clock.Advance(11 * time.Second)
	r.Sweep()
	if _, _, err := r.Report("api", "a1", registry.Critical, "down"); err != nil {
		t.Fatal(err)
	}
	if h := healthOf(t, r, "web", "w2"); h != registry.Critical {
		t.Fatalf("w2 %s after its lease ran out", h)
	}
	clock.Advance(time.Second)

	refs := []registry.Ref{
		{"web", "w1"}, {"web", "w2"}, {"api", "a1"}, {"web", "probed"},
		{"web", "gone"}, {"nosuch", "x"}, {"web", "w1"},
	}
	res, err := r.RenewBatch(refs)
	if err != nil {
		t.Fatal(err)
	}
	if res.Renewed != 4 {
		t.Errorf("renewed %d, want 4 (w1 twice, w2, a1)", res.Renewed)
	}
	if want := []registry.Ref{{"web", "gone"}, {"nosuch", "x"}}; !slices.Equal(res.Unknown, want) {
		t.Errorf("unknown %v, want %v", res.Unknown, want)
	}
	if want := []registry.Ref{{"web", "probed"}}; !slices.Equal(res.NoLease, want) {
		t.Errorf("no lease %v, want %v", res.NoLease, want)
	}
	for _, k := range [][2]string{{"web", "w1"}, {"web", "w2"}, {"api", "a1"}} {
		if h := healthOf(t, r, k[0], k[1]); h != registry.Passing {
			t.Errorf("%s/%s %s after a batch heartbeat, want passing", k[0], k[1], h)
		}
	}
	// Every lease runs from the batch: w1 and w2 are live until 10s later.
	want := clock.Now().Add(10 * time.Second)
	for _, id := range []string{"w1", "w2"} {
		if _, d, _ := r.Lease("web", id); !d.Equal(want) {
			t.Errorf("deadline of %s %v, want %v", id, d, want)
		}
	}
	clock.Advance(10 * time.Second)
	r.Sweep()
	if h := healthOf(t, r, "web", "w2"); h != registry.Passing {
		t.Errorf("w2 %s at its renewed deadline", h)
	}
	mustCheck(t, r.Snapshot())

	// A batch that only renews publishes nothing.
	snap := r.Snapshot()
	if res, err := r.RenewBatch([]registry.Ref{{"web", "w1"}, {"web", "w2"}}); err != nil || res.Renewed != 2 {
		t.Fatalf("RenewBatch: %+v, %v", res, err)
	}
	if r.Snapshot() != snap {
		t.Error("renewing live passing leases published a snapshot")
	}
	// An empty batch is fine.
	if res, err := r.RenewBatch(nil); err != nil || res.Renewed != 0 || res.Unknown != nil {
		t.Errorf("empty batch: %+v, %v", res, err)
	}
}

// TestRenewBatchLarge renews more leases than one hold of the lock takes,
// some of them revived, and checks each.
func TestRenewBatchLarge(t *testing.T) {
	r, clock := newRegistry(t, registry.Config{SelfPreservation: -1, DeregisterAfter: time.Hour})
	const n = 1500
	var refs []registry.Ref
	for i := range n {
		in := withTTL(inst(fmt.Sprintf("s%d", i%7), fmt.Sprintf("i%d", i), fmt.Sprintf("10.1.%d.%d", i/256, i%256), 80), 10*time.Second)
		mustRegister(t, r, in)
		refs = append(refs, registry.Ref{Service: in.Service, ID: in.ID})
	}
	clock.Advance(11 * time.Second)
	r.Sweep()
	if got := r.Snapshot().Count(registry.Critical); got != n {
		t.Fatalf("%d critical after the leases ran out, want %d", got, n)
	}
	res, err := r.RenewBatch(refs)
	if err != nil || res.Renewed != n || len(res.Unknown)+len(res.NoLease) != 0 {
		t.Fatalf("RenewBatch: renewed %d, unknown %d, no lease %d, %v", res.Renewed, len(res.Unknown), len(res.NoLease), err)
	}
	if got := r.Snapshot().Count(registry.Passing); got != n {
		t.Errorf("%d passing after the batch, want %d", got, n)
	}
	mustCheck(t, r.Snapshot())
}

// TestRenewBatchPersisted checks that an instance a batch revived is no
// longer expired on disk: a restart finds it passing.
func TestRenewBatchPersisted(t *testing.T) {
	dir := t.TempDir()
	clock := newClock()
	cfg := registry.Config{Now: clock.Now, SelfPreservation: -1, DeregisterAfter: time.Hour}
	r := openRegistry(t, dir, cfg)
	mustRegister(t, r, withTTL(inst("web", "w1", "10.0.0.1", 80), 5*time.Second))
	mustRegister(t, r, withTTL(inst("web", "w2", "10.0.0.2", 80), 5*time.Second))
	clock.Advance(6 * time.Second)
	r.Sweep()
	res, err := r.RenewBatch([]registry.Ref{{"web", "w1"}})
	if err != nil || res.Renewed != 1 {
		t.Fatalf("RenewBatch: %+v, %v", res, err)
	}
	r.Stop()

	r2 := openRegistry(t, dir, cfg)
	if h := get(t, r2, "web", "w1").Health; h != registry.Passing {
		t.Errorf("w1, revived by a batch, is %s after a restart", h)
	}
	if h := get(t, r2, "web", "w2").Health; h != registry.Critical {
		t.Errorf("w2, not renewed, is %s after a restart", h)
	}
	r2.Stop()
	if _, err := r2.RenewBatch([]registry.Ref{{"web", "w2"}}); err == nil {
		t.Error("a batch that revives an instance of a stopped registry reported no error")
	}
}

func TestRenewBatchShared(t *testing.T) {
	bin := etcdtest.Latest(t)
	c := etcdtest.Start(t, etcdtest.Options{Binary: bin})
	a := openShared(t, c, "/renewbatch/", "a")
	b := openShared(t, c, "/renewbatch/", "b")
	var refs []registry.Ref
	for i := range 100 {
		in := sharedInstance(fmt.Sprintf("w%d", i), fmt.Sprintf("10.0.1.%d", i), 30*time.Second)
		if _, err := a.Register(in); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, registry.Ref{Service: in.Service, ID: in.ID})
	}
	if _, err := a.Register(sharedInstance("nolease", "10.0.2.1", 0)); err != nil {
		t.Fatal(err)
	}
	refs = append(refs, registry.Ref{Service: "web", ID: "nolease"}, registry.Ref{Service: "web", ID: "gone"})
	// Through the other server: it renews leases another one granted.
	res, err := b.RenewBatch(refs)
	if err != nil {
		t.Fatal(err)
	}
	if res.Renewed != 100 {
		t.Errorf("renewed %d, want 100", res.Renewed)
	}
	if want := []registry.Ref{{"web", "gone"}}; !slices.Equal(res.Unknown, want) {
		t.Errorf("unknown %v, want %v", res.Unknown, want)
	}
	if want := []registry.Ref{{"web", "nolease"}}; !slices.Equal(res.NoLease, want) {
		t.Errorf("no lease %v, want %v", res.NoLease, want)
	}
}
