package registry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/etcdtest"
	"github.com/signpost-dns/signpost/registry"
)

// instanceHealths is the health of every event of the instance, oldest
// first: each snapshot change that touched it.
func instanceHealths(r *registry.Registry, service, id string) []registry.Health {
	var hs []registry.Health
	for _, e := range r.Events(0).Events {
		if e.Service == service && e.Instance == id && e.HasHealth() {
			hs = append(hs, e.Health)
		}
	}
	return hs
}

func TestRegisterStarting(t *testing.T) {
	const check = `{"type":"tcp","interval":"5s"}`
	tests := []struct {
		name    string
		ttl     time.Duration
		check   string
		initial registry.Health
		want    registry.Health
	}{
		{"lease critical", time.Minute, "", registry.Critical, registry.Critical},
		{"lease warning", time.Minute, "", registry.Warning, registry.Warning},
		{"lease passing", time.Minute, "", registry.Passing, registry.Passing},
		{"check passing", 0, check, registry.Passing, registry.Passing},
		{"check warning", 0, check, registry.Warning, registry.Warning},
		{"check critical", 0, check, registry.Critical, registry.Critical},
		{"neither: passing whatever is asked", 0, "", registry.Critical, registry.Passing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, dir := range []string{"", t.TempDir()} {
				r := registry.New(registry.Config{})
				if dir != "" {
					var err error
					if r, err = registry.Open(dir, registry.Config{}); err != nil {
						t.Fatal(err)
					}
					r.Start()
					t.Cleanup(r.Stop)
				}
				in := inst("web", "w1", "10.0.0.1", 80)
				in.TTL, in.Check = tt.ttl, tt.check
				stored, err := r.RegisterStarting(in, tt.initial)
				if err != nil {
					t.Fatal(err)
				}
				if stored.Health != tt.want || healthOf(t, r, "web", "w1") != tt.want {
					t.Errorf("data %q: stored %v, snapshot %v, want %v", dir, stored.Health, healthOf(t, r, "web", "w1"), tt.want)
				}
				if hs := instanceHealths(r, "web", "w1"); len(hs) != 1 || hs[0] != tt.want {
					t.Errorf("data %q: events of w1 with healths %v, want one registration %v", dir, hs, tt.want)
				}
			}
		})
	}
}

func TestRegisterStartingKeepsARunningCheck(t *testing.T) {
	r := registry.New(registry.Config{})
	in := inst("web", "w1", "10.0.0.1", 80)
	in.Check = `{"type":"tcp","interval":"5s"}`
	if _, err := r.RegisterStarting(in, registry.Critical); err != nil {
		t.Fatal(err)
	}
	if err := r.SetHealthOutput("web", "w1", registry.Passing, "connected"); err != nil {
		t.Fatal(err)
	}
	// The same check on the same address: its probe keeps running, and its
	// result stands over the declared status.
	in.Tags = []string{"v2"}
	if _, err := r.RegisterStarting(in, registry.Critical); err != nil {
		t.Fatal(err)
	}
	if h := healthOf(t, r, "web", "w1"); h != registry.Passing {
		t.Errorf("re-registered with the same check: %v, want passing as probed", h)
	}
	// Another check starts over.
	in.Check = `{"type":"tcp","interval":"10s"}`
	if _, err := r.RegisterStarting(in, registry.Warning); err != nil {
		t.Fatal(err)
	}
	if h := healthOf(t, r, "web", "w1"); h != registry.Warning {
		t.Errorf("re-registered with another check: %v, want warning", h)
	}
}

func TestRegisterStartingRefusesAnUnknownHealth(t *testing.T) {
	r := registry.New(registry.Config{})
	_, err := r.RegisterStarting(withTTL(inst("web", "w1", "10.0.0.1", 80), time.Minute), registry.Health(7))
	var fe *registry.FieldError
	if !errors.As(err, &fe) || fe.Field != "health" {
		t.Fatalf("err %v, want a FieldError on health", err)
	}
	if exists(r, "web", "w1") {
		t.Error("registered anyway")
	}
}

func TestCheckOutput(t *testing.T) {
	r := registry.New(registry.Config{})
	in := mustRegister(t, r, withTTL(inst("web", "w1", "10.0.0.1", 80), time.Minute))
	if out := r.CheckOutput(in); out != "" {
		t.Errorf("output before any report: %q", out)
	}
	if _, _, err := r.Report("web", "w1", registry.Warning, "disk 91% full"); err != nil {
		t.Fatal(err)
	}
	in = get(t, r, "web", "w1")
	if out := r.CheckOutput(in); out != "disk 91% full" {
		t.Errorf("output %q after a report", out)
	}
	// A report that keeps the health still replaces the output.
	if _, _, err := r.Report("web", "w1", registry.Warning, "disk 92% full"); err != nil {
		t.Fatal(err)
	}
	if out := r.CheckOutput(in); out != "disk 92% full" {
		t.Errorf("output %q after a second report", out)
	}
	// Deregistered and registered again: the old output is gone.
	if err := r.Deregister("web", "w1"); err != nil {
		t.Fatal(err)
	}
	in = mustRegister(t, r, withTTL(inst("web", "w1", "10.0.0.1", 80), time.Minute))
	if out := r.CheckOutput(in); out != "" {
		t.Errorf("output %q of a new registration", out)
	}
}

// TestRegisterStartingShared registers through one server of a shared
// registry and watches another: neither ever holds the instance passing.
func TestRegisterStartingShared(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{Binary: etcdtest.Latest(t)})
	a := openShared(t, c, "/signpost-initial", "a")
	b := openShared(t, c, "/signpost-initial", "b")
	if _, err := a.RegisterStarting(sharedInstance("w1", "10.0.0.1", time.Minute), registry.Critical); err != nil {
		t.Fatal(err)
	}
	if h, ok := healthIn(a, "web", "w1"); !ok || h != registry.Critical {
		t.Fatalf("the writer holds %v %v on return, want critical", h, ok)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for after := uint64(0); ; {
		page, err := b.WaitEvents(ctx, after)
		if err != nil {
			t.Fatalf("the other server never saw w1: %v", err)
		}
		after = page.Last
		if h, ok := healthIn(b, "web", "w1"); ok && h == registry.Critical {
			break
		}
	}
	for _, r := range []*registry.Registry{a, b} {
		for _, h := range instanceHealths(r, "web", "w1") {
			if h != registry.Critical {
				t.Errorf("an event shows w1 %v: healths %v", h, instanceHealths(r, "web", "w1"))
			}
		}
	}
}
