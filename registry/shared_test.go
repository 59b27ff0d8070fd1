package registry_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/etcdtest"
	"github.com/signpost-dns/signpost/registry"
)

// openShared opens a registry on the etcd cluster c under prefix, started,
// with expiry swept every 50ms.
func openShared(t *testing.T, c *etcdtest.Cluster, prefix, name string) *registry.Registry {
	t.Helper()
	r, err := registry.OpenEtcd(
		registry.EtcdConfig{Endpoints: c.Endpoints(), Prefix: prefix, Name: name},
		registry.Config{SweepInterval: 50 * time.Millisecond, DeregisterAfter: time.Hour},
	)
	if err != nil {
		t.Fatalf("OpenEtcd: %v", err)
	}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// eventually polls cond every 20ms until it holds, or fails the test after
// bound with what.
func eventually(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", bound, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func healthIn(r *registry.Registry, service, id string) (registry.Health, bool) {
	svc := r.Snapshot().Service(service)
	if svc == nil {
		return 0, false
	}
	in, ok := svc.Instance(id)
	return in.Health, ok
}

func sharedInstance(id, addr string, ttl time.Duration) registry.Instance {
	return registry.Instance{Service: "web", ID: id, Address: netip.MustParseAddr(addr), Port: 80, Weight: 1, TTL: ttl}
}

func TestSharedRegistry(t *testing.T) {
	for _, bin := range etcdtest.Binaries(t) {
		t.Run(bin.String(), func(t *testing.T) {
			c := etcdtest.Start(t, etcdtest.Options{Binary: bin})
			a := openShared(t, c, "/signpost-test", "a")
			b := openShared(t, c, "/signpost-test", "b")
			t.Run("a registration through one is in the other's snapshot", func(t *testing.T) {
				in, err := a.Register(sharedInstance("w1", "10.0.0.1", time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				if h, ok := healthIn(a, "web", "w1"); !ok || h != registry.Passing {
					t.Fatalf("the writer's own snapshot does not hold it on return: %v %v", h, ok)
				}
				if in.Health != registry.Passing {
					t.Errorf("stored as %v", in.Health)
				}
				eventually(t, 2*time.Second, "b never saw w1", func() bool {
					h, ok := healthIn(b, "web", "w1")
					return ok && h == registry.Passing
				})
			})
			t.Run("any server renews any lease", func(t *testing.T) {
				if _, _, err := b.Renew("web", "w1"); err != nil {
					t.Fatal(err)
				}
				if _, _, err := b.Renew("web", "nope"); !errors.Is(err, registry.ErrNotFound) {
					t.Errorf("renewing an unknown instance: %v, want ErrNotFound", err)
				}
			})
			t.Run("a heartbeat right after a registration elsewhere finds it", func(t *testing.T) {
				for i := range 20 {
					id := "fresh" + string(rune('a'+i))
					if _, err := a.Register(sharedInstance(id, "10.0.2.1", time.Minute)); err != nil {
						t.Fatal(err)
					}
					if _, _, err := b.Renew("web", id); err != nil {
						t.Fatalf("heartbeat through b at once: %v", err)
					}
				}
			})
			t.Run("a report through one reaches both", func(t *testing.T) {
				if _, _, err := b.Report("web", "w1", registry.Critical, "health URL failing"); err != nil {
					t.Fatal(err)
				}
				eventually(t, 2*time.Second, "a never saw w1 critical", func() bool {
					h, _ := healthIn(a, "web", "w1")
					return h == registry.Critical
				})
				if _, _, err := a.Report("web", "w1", registry.Passing, ""); err != nil {
					t.Fatal(err)
				}
				eventually(t, 2*time.Second, "b never saw w1 passing again", func() bool {
					h, _ := healthIn(b, "web", "w1")
					return h == registry.Passing
				})
			})
			t.Run("a lease that runs out leaves both", func(t *testing.T) {
				for i, id := range []string{"s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8"} {
					ttl := time.Minute
					if i == 0 {
						ttl = time.Second
					}
					if _, err := a.Register(sharedInstance(id, "10.0.1."+string(rune('1'+i)), ttl)); err != nil {
						t.Fatal(err)
					}
				}
				for _, r := range []*registry.Registry{a, b} {
					eventually(t, 5*time.Second, "s1 never turned critical", func() bool {
						h, _ := healthIn(r, "web", "s1")
						return h == registry.Critical
					})
				}
				// A heartbeat brings it back, through either server.
				if _, _, err := b.Renew("web", "s1"); err != nil {
					t.Fatal(err)
				}
				eventually(t, 2*time.Second, "s1 never came back in a", func() bool {
					h, _ := healthIn(a, "web", "s1")
					return h == registry.Passing
				})
			})
			t.Run("deregistration through the other", func(t *testing.T) {
				if err := b.Deregister("web", "w1"); err != nil {
					t.Fatal(err)
				}
				if _, ok := healthIn(b, "web", "w1"); ok {
					t.Error("still in the deregistering server's snapshot on return")
				}
				eventually(t, 2*time.Second, "a still holds w1", func() bool {
					_, ok := healthIn(a, "web", "w1")
					return !ok
				})
				if err := a.Deregister("web", "w1"); !errors.Is(err, registry.ErrNotFound) {
					t.Errorf("deregistering twice: %v, want ErrNotFound", err)
				}
			})
			t.Run("a server started later loads everything", func(t *testing.T) {
				late := openShared(t, c, "/signpost-test", "late")
				if got, want := late.Snapshot().Service("web").Len(), a.Snapshot().Service("web").Len(); got != want {
					t.Errorf("loaded %d instances, want %d", got, want)
				}
			})
			t.Run("one server probes each service", func(t *testing.T) {
				eventually(t, 5*time.Second, "web is not probed by exactly one server", func() bool {
					return a.Probes("web") != b.Probes("web")
				})
			})
		})
	}
}

func TestSharedRegistryWithoutEtcd(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{Binary: etcdtest.Latest(t)})
	a := openShared(t, c, "/signpost-test", "a")
	for _, id := range []string{"w1", "w2", "w3", "w4"} {
		if _, err := a.Register(sharedInstance(id, "10.0.0.1", 2*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	c.Stop()
	start := time.Now()
	_, err := a.Register(sharedInstance("w5", "10.0.0.5", time.Minute))
	if !errors.Is(err, registry.ErrUnavailable) || !strings.Contains(err.Error(), "etcd") {
		t.Fatalf("a write without etcd: %v, want ErrUnavailable naming etcd", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the write failed after %v, want under 2s", d)
	}
	// Nothing is known to have died: past every TTL, all still pass.
	time.Sleep(3 * time.Second)
	if got := a.Snapshot().Count(registry.Passing); got != 4 {
		t.Errorf("%d passing with etcd gone, want 4", got)
	}
	if a.Ready() {
		t.Error("ready while etcd is gone")
	}
	c.Restart()
	eventually(t, 10*time.Second, "writes still fail after etcd came back", func() bool {
		_, err := a.Register(sharedInstance("w5", "10.0.0.5", time.Minute))
		return err == nil
	})
	eventually(t, 5*time.Second, "not ready after etcd came back", a.Ready)
}

func TestSharedRegistryReloadsAfterCompaction(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{Binary: etcdtest.Latest(t)})
	a := openShared(t, c, "/signpost-test", "a")
	// b loads now and starts following only after a's changes were
	// compacted away: its watch must load everything anew.
	b, err := registry.OpenEtcd(registry.EtcdConfig{Endpoints: c.Endpoints(), Prefix: "/signpost-test", Name: "b"}, registry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Stop)
	for _, id := range []string{"w1", "w2", "w3"} {
		if _, err := a.Register(sharedInstance(id, "10.0.0.1", time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	cli := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, resp.Header.Revision); err != nil {
		t.Fatal(err)
	}
	b.Start()
	eventually(t, 5*time.Second, "b never caught up after the compaction", func() bool {
		svc := b.Snapshot().Service("web")
		return svc != nil && svc.Len() == 3
	})
}
