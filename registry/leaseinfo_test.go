package registry_test

import (
	"slices"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

func TestLeaseInfo(t *testing.T) {
	r, clock := newRegistry(t, registry.Config{SelfPreservation: -1})
	mustRegister(t, r, withTTL(inst("web", "a", "10.0.0.1", 80), 9*time.Second))
	mustRegister(t, r, inst("web", "static", "10.0.0.2", 80))
	if _, ok := r.LeaseInfo("web", "static"); ok {
		t.Error("an instance without a TTL has a lease")
	}
	if _, ok := r.LeaseInfo("web", "nosuch"); ok {
		t.Error("an unknown instance has a lease")
	}
	clock.Advance(2 * time.Second)
	if _, err := r.Heartbeat("web", "a"); err != nil {
		t.Fatal(err)
	}
	got, ok := r.LeaseInfo("web", "a")
	got.LastRenewal, got.Deadline = got.LastRenewal.UTC(), got.Deadline.UTC()
	want := registry.LeaseInfo{TTL: 9 * time.Second, LastRenewal: t0.Add(2 * time.Second), Deadline: t0.Add(11 * time.Second)}
	if !ok || got != want {
		t.Fatalf("live lease: %+v, want %+v", got, want)
	}
	clock.Advance(7 * time.Second) // two thirds of the TTL without a renewal
	r.Sweep()
	if got, _ := r.LeaseInfo("web", "a"); !got.Overdue || got.Expired {
		t.Errorf("after 7s: %+v, want overdue", got)
	}
	clock.Advance(3 * time.Second)
	r.Sweep()
	got, _ = r.LeaseInfo("web", "a")
	if !got.Expired || !got.ExpiredAt.Equal(t0.Add(12*time.Second)) || !got.Deadline.Equal(t0.Add(11*time.Second)) {
		t.Errorf("after the deadline: %+v, want expired at t0+12s with its deadline t0+11s", got)
	}
}

func TestLeaseInfoHeld(t *testing.T) {
	r, clock := newRegistry(t, registry.Config{})
	for i := range 5 {
		mustRegister(t, r, withTTL(inst("web", idName(i), "10.0.0.1", 80), 10*time.Second))
	}
	clock.Advance(11 * time.Second)
	r.Sweep()
	if !r.SelfPreserving() {
		t.Fatal("self-preservation is off with every lease out")
	}
	got, _ := r.LeaseInfo("web", idName(0))
	if !got.Held || got.Expired {
		t.Errorf("lease during self-preservation: %+v, want held", got)
	}
}

func TestOnLapse(t *testing.T) {
	var lapses []registry.Lapse
	r, clock := newRegistry(t, registry.Config{SelfPreservation: -1, OnLapse: func(l registry.Lapse) { lapses = append(lapses, l) }})
	mustRegister(t, r, withTTL(inst("web", "quiet", "10.0.0.1", 80), 10*time.Second))
	mustRegister(t, r, withTTL(inst("web", "sick", "10.0.0.2", 80), 10*time.Second))
	clock.Advance(3 * time.Second)
	for _, id := range []string{"quiet", "sick"} {
		if _, err := r.Heartbeat("web", id); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(2 * time.Second)
	if _, _, err := r.Report("web", "sick", registry.Critical, "db down"); err != nil {
		t.Fatal(err)
	}
	// A second critical report and a recovery are no lapse.
	if _, _, err := r.Report("web", "sick", registry.Critical, "db down"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(9 * time.Second) // quiet's lease ran out at t0+13s
	r.Sweep()
	if _, err := r.Heartbeat("web", "sick"); err != nil {
		t.Fatal(err)
	}
	want := []registry.Lapse{
		{Service: "web", ID: "sick", From: registry.Passing, To: registry.Critical, Reported: true, LastRenewal: t0.Add(3 * time.Second), At: t0.Add(5 * time.Second)},
		{Service: "web", ID: "quiet", From: registry.Passing, To: registry.Critical, LastRenewal: t0.Add(3 * time.Second), At: t0.Add(14 * time.Second)},
	}
	for i := range lapses {
		lapses[i].LastRenewal, lapses[i].At = lapses[i].LastRenewal.UTC(), lapses[i].At.UTC()
	}
	if !slices.Equal(lapses, want) {
		t.Errorf("lapses:\n got %+v\nwant %+v", lapses, want)
	}
}
