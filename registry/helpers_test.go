package registry_test

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

// t0 is the start of every fake clock, far from the zero time so that an
// unset deadline can never look like a real one.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeClock is the injected Config.Now: time moves only when a test says so.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newRegistry returns a registry on a fake clock; it is never started.
func newRegistry(t testing.TB, cfg registry.Config) (*registry.Registry, *fakeClock) {
	t.Helper()
	c := newClock()
	if cfg.Now == nil {
		cfg.Now = c.Now
	}
	return registry.New(cfg), c
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// inst returns a valid API instance with weight 1 and no lease.
func inst(service, id, address string, port uint16, tags ...string) registry.Instance {
	return registry.Instance{Service: service, ID: id, Address: addr(address), Port: port, Tags: tags, Weight: 1}
}

func withTTL(in registry.Instance, ttl time.Duration) registry.Instance {
	in.TTL = ttl
	return in
}

func mustRegister(t testing.TB, r *registry.Registry, in registry.Instance) registry.Instance {
	t.Helper()
	got, err := r.Register(in)
	if err != nil {
		t.Fatalf("Register(%s/%s): %v", in.Service, in.ID, err)
	}
	return got
}

// get returns the instance as the current snapshot holds it.
func get(t testing.TB, r *registry.Registry, service, id string) registry.Instance {
	t.Helper()
	svc := r.Snapshot().Service(service)
	if svc == nil {
		t.Fatalf("service %s not in snapshot", service)
	}
	in, ok := svc.Instance(id)
	if !ok {
		t.Fatalf("instance %s/%s not in snapshot", service, id)
	}
	return in
}

func healthOf(t testing.TB, r *registry.Registry, service, id string) registry.Health {
	t.Helper()
	return get(t, r, service, id).Health
}

func exists(r *registry.Registry, service, id string) bool {
	svc := r.Snapshot().Service(service)
	if svc == nil {
		return false
	}
	_, ok := svc.Instance(id)
	return ok
}

func ids(ins []*registry.Instance) []string {
	out := make([]string, len(ins))
	for i, in := range ins {
		out[i] = in.ID
	}
	return out
}

// wantFieldError fails unless err is a *registry.FieldError naming field.
func wantFieldError(t testing.TB, err error, field string) {
	t.Helper()
	var fe *registry.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error = %v (%T), want a *registry.FieldError for %q", err, err, field)
	}
	if fe.Field != field {
		t.Fatalf("FieldError.Field = %q, want %q (error: %v)", fe.Field, field, err)
	}
	if fe.Error() == "" {
		t.Fatalf("FieldError for %q has an empty message", field)
	}
}

// checkSnapshot verifies everything a reader relies on in one snapshot: the
// totals agree with the services, every instance sits in the service that
// names it, sorted and unique, with sane indexes, and its address and tags
// are known. It returns an error rather than failing so that concurrent
// readers can use it.
func checkSnapshot(s *registry.Snapshot) error {
	svcs := s.Services()
	if len(svcs) != s.Len() {
		return fmt.Errorf("Len() = %d, Services() has %d", s.Len(), len(svcs))
	}
	var total [registry.Critical + 1]int
	for i, svc := range svcs {
		if i > 0 && svcs[i-1].Name() >= svc.Name() {
			return fmt.Errorf("services not sorted: %s before %s", svcs[i-1].Name(), svc.Name())
		}
		if s.Service(svc.Name()) != svc {
			return fmt.Errorf("Service(%q) does not return the listed service", svc.Name())
		}
		if svc.ModifyIndex() > s.Index() {
			return fmt.Errorf("service %s ModifyIndex %d > snapshot index %d", svc.Name(), svc.ModifyIndex(), s.Index())
		}
		var counts [registry.Critical + 1]int
		ins := svc.Instances()
		if len(ins) != svc.Len() {
			return fmt.Errorf("service %s: Len() = %d, Instances() has %d", svc.Name(), svc.Len(), len(ins))
		}
		if len(ins) == 0 && svc.Config().Name == "" {
			return fmt.Errorf("service %s is empty and has no configuration", svc.Name())
		}
		for j, in := range ins {
			if j > 0 && ins[j-1].ID >= in.ID {
				return fmt.Errorf("service %s: instances not sorted/unique: %s before %s", svc.Name(), ins[j-1].ID, in.ID)
			}
			if in.Service != svc.Name() {
				return fmt.Errorf("instance %s has Service %q inside service %q", in.ID, in.Service, svc.Name())
			}
			if in.Health > registry.Critical {
				return fmt.Errorf("instance %s/%s has health %v", in.Service, in.ID, in.Health)
			}
			if in.CreateIndex == 0 || in.CreateIndex > in.ModifyIndex || in.ModifyIndex > svc.ModifyIndex() {
				return fmt.Errorf("instance %s/%s: CreateIndex %d, ModifyIndex %d, service index %d", in.Service, in.ID, in.CreateIndex, in.ModifyIndex, svc.ModifyIndex())
			}
			if !s.HasAddr(in.Address) {
				return fmt.Errorf("instance %s/%s: HasAddr(%s) = false", in.Service, in.ID, in.Address)
			}
			if in.Address.Is4In6() || in.Address.Zone() != "" {
				return fmt.Errorf("instance %s/%s: address %s not normalized", in.Service, in.ID, in.Address)
			}
			if !slices.IsSorted(in.Tags) || len(slices.Compact(slices.Clone(in.Tags))) != len(in.Tags) {
				return fmt.Errorf("instance %s/%s: tags %v not sorted and unique", in.Service, in.ID, in.Tags)
			}
			for _, tag := range in.Tags {
				if !svc.HasTag(tag) {
					return fmt.Errorf("service %s: HasTag(%q) = false, instance %s carries it", svc.Name(), tag, in.ID)
				}
				if !s.HasTag(tag) {
					return fmt.Errorf("snapshot: HasTag(%q) = false, instance %s/%s carries it", tag, svc.Name(), in.ID)
				}
			}
			if got, ok := svc.Instance(in.ID); !ok || got.ID != in.ID {
				return fmt.Errorf("service %s: Instance(%q) not found", svc.Name(), in.ID)
			}
			counts[in.Health]++
		}
		for h := registry.Passing; h <= registry.Critical; h++ {
			if svc.Count(h) != counts[h] {
				return fmt.Errorf("service %s: Count(%v) = %d, instances say %d", svc.Name(), h, svc.Count(h), counts[h])
			}
			total[h] += counts[h]
		}
		if n := len(svc.Select(nil, "", true)); n != counts[registry.Passing]+counts[registry.Warning] {
			return fmt.Errorf("service %s: Select with warning gave %d, want %d", svc.Name(), n, counts[registry.Passing]+counts[registry.Warning])
		}
	}
	for h := registry.Passing; h <= registry.Critical; h++ {
		if s.Count(h) != total[h] {
			return fmt.Errorf("snapshot Count(%v) = %d, services sum to %d", h, s.Count(h), total[h])
		}
	}
	return nil
}

func mustCheck(t testing.TB, s *registry.Snapshot) {
	t.Helper()
	if err := checkSnapshot(s); err != nil {
		t.Fatal(err)
	}
}
