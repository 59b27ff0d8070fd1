package registry_test

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

func staticInst(id, address string, port uint16, tags ...string) registry.Instance {
	return registry.Instance{ID: id, Address: addr(address), Port: port, Tags: tags, Weight: 1}
}

func mysqlStatic() registry.StaticService {
	return registry.StaticService{
		Config: registry.ServiceConfig{Name: "mysql", Failover: registry.Failover{Addrs: []netip.Addr{addr("10.0.0.100")}}},
		Instances: []registry.Instance{
			staticInst("db1", "10.0.0.5", 3306, "primary"),
			staticInst("db2", "10.0.0.6", 3306, "replica"),
		},
	}
}

func redisStatic() registry.StaticService {
	return registry.StaticService{
		Config:    registry.ServiceConfig{Name: "redis", Failover: registry.Failover{Name: "redis-lb.example.com."}, MinHealthy: 2},
		Instances: []registry.Instance{staticInst("r1", "10.0.1.1", 6379)},
	}
}

func mustApply(t *testing.T, r *registry.Registry, svcs ...registry.StaticService) {
	t.Helper()
	if err := r.ApplyStatic(svcs); err != nil {
		t.Fatalf("ApplyStatic: %v", err)
	}
}

func TestApplyStaticAdds(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	my := mysqlStatic()
	my.Instances[0].TTL = 10 * time.Second // a Corefile instance never has a lease
	my.Instances[0].Source = registry.SourceAPI
	my.Instances[1].Service = "ignored" // the service it is declared in wins
	mustApply(t, r, my, redisStatic())

	s := r.Snapshot()
	mustCheck(t, s)
	if s.Len() != 2 || s.Index() == 0 {
		t.Fatalf("%d services at index %d", s.Len(), s.Index())
	}
	svc := s.Service("mysql")
	if svc == nil || svc.Len() != 2 {
		t.Fatalf("mysql: %v", svc)
	}
	for _, in := range svc.Instances() {
		if in.Source != registry.SourceCorefile || in.TTL != 0 || in.Service != "mysql" || in.Health != registry.Passing {
			t.Errorf("static instance %+v", in)
		}
		if _, _, ok := r.Lease("mysql", in.ID); ok {
			t.Errorf("static instance %s has a lease", in.ID)
		}
	}
	cfg := svc.Config()
	if cfg.Name != "mysql" || cfg.Source != registry.SourceCorefile {
		t.Errorf("config %+v", cfg)
	}
	fo, min := svc.Failover()
	if len(fo.Addrs) != 1 || fo.Addrs[0] != addr("10.0.0.100") || !fo.IsSet() || min != 1 {
		t.Errorf("mysql failover %+v, min-healthy %d; want the VIP and min-healthy defaulted to 1", fo, min)
	}
	if !s.HasAddr(addr("10.0.0.100")) {
		t.Error("failover VIP not known to HasAddr")
	}
	fo, min = s.Service("redis").Failover()
	if fo.Name != "redis-lb.example.com." || len(fo.Addrs) != 0 || min != 2 {
		t.Errorf("redis failover %+v, min-healthy %d", fo, min)
	}
	if got := ids(svc.Select(nil, "primary", false)); !equalStrings(got, []string{"db1"}) {
		t.Errorf("Select(primary) = %v", got)
	}
}

func TestApplyStaticServiceWithoutInstances(t *testing.T) {
	// A service may be declared with only a failover: it exists, empty.
	r, _ := newRegistry(t, registry.Config{})
	mustApply(t, r, registry.StaticService{Config: registry.ServiceConfig{Name: "legacy", Failover: registry.Failover{Addrs: []netip.Addr{addr("::ffff:10.9.9.9")}}}})
	svc := r.Snapshot().Service("legacy")
	if svc == nil || svc.Len() != 0 || svc.CommonPort() != 0 {
		t.Fatalf("legacy: %v", svc)
	}
	if fo, _ := svc.Failover(); fo.Addrs[0] != addr("10.9.9.9") {
		t.Errorf("failover address %v not unmapped", fo.Addrs[0])
	}
	if !r.Snapshot().HasAddr(addr("10.9.9.9")) {
		t.Error("HasAddr false for the unmapped VIP")
	}
	mustCheck(t, r.Snapshot())
	mustApply(t, r)
	if r.Snapshot().Service("legacy") != nil || r.Snapshot().Len() != 0 || r.Snapshot().HasAddr(addr("10.9.9.9")) {
		t.Error("undeclared service kept")
	}
}

func TestApplyStaticReplacesAndRemoves(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	mustApply(t, r, mysqlStatic(), redisStatic())
	db1 := get(t, r, "mysql", "db1")
	db2 := get(t, r, "mysql", "db2")

	// Reload: db1 unchanged, db2 moved, db3 new, redis gone, VIP changed.
	my := mysqlStatic()
	my.Config.Failover.Addrs = []netip.Addr{addr("10.0.0.101")}
	my.Instances[1] = staticInst("db2", "10.0.0.66", 3307, "replica")
	my.Instances = append(my.Instances, staticInst("db3", "10.0.0.7", 3306))
	mustApply(t, r, my)

	s := r.Snapshot()
	mustCheck(t, s)
	if s.Service("redis") != nil || s.HasAddr(addr("10.0.1.1")) {
		t.Error("redis kept after the Corefile dropped it")
	}
	svc := s.Service("mysql")
	var names []string
	for _, in := range svc.Instances() {
		names = append(names, in.ID)
	}
	if !equalStrings(names, []string{"db1", "db2", "db3"}) {
		t.Fatalf("mysql instances %v", names)
	}
	if got := get(t, r, "mysql", "db1"); got.ModifyIndex != db1.ModifyIndex || got.CreateIndex != db1.CreateIndex {
		t.Errorf("unchanged db1: indexes %d/%d -> %d/%d", db1.CreateIndex, db1.ModifyIndex, got.CreateIndex, got.ModifyIndex)
	}
	got := get(t, r, "mysql", "db2")
	if got.Address != addr("10.0.0.66") || got.Port != 3307 || got.CreateIndex != db2.CreateIndex || got.ModifyIndex <= db2.ModifyIndex {
		t.Errorf("replaced db2: %+v", got)
	}
	if s.HasAddr(addr("10.0.0.6")) || !s.HasAddr(addr("10.0.0.66")) || !s.HasAddr(addr("10.0.0.7")) {
		t.Error("addresses not moved with the instances")
	}
	if s.HasAddr(addr("10.0.0.100")) || !s.HasAddr(addr("10.0.0.101")) {
		t.Error("failover VIP not replaced")
	}
	if svc.CommonPort() != 0 {
		t.Errorf("CommonPort = %d with ports 3306 and 3307", svc.CommonPort())
	}

	// Dropping an instance.
	my.Instances = my.Instances[:1]
	mustApply(t, r, my)
	if exists(r, "mysql", "db2") || exists(r, "mysql", "db3") || !exists(r, "mysql", "db1") {
		t.Error("instances no longer declared kept")
	}
	if r.Snapshot().HasAddr(addr("10.0.0.66")) {
		t.Error("address of a dropped static instance kept")
	}
	mustCheck(t, r.Snapshot())
}

func TestApplyStaticKeepsAPIInstances(t *testing.T) {
	r, clock := newRegistry(t, registry.Config{})
	mustApply(t, r, mysqlStatic())
	api := mustRegister(t, r, withTTL(inst("mysql", "adhoc", "10.0.0.50", 3306, "replica"), 10*time.Second))

	// A reload that changes the service keeps the API instance and its lease.
	my := mysqlStatic()
	my.Instances = my.Instances[:1]
	mustApply(t, r, my)
	if got := get(t, r, "mysql", "adhoc"); got.Source != registry.SourceAPI || got.CreateIndex != api.CreateIndex {
		t.Errorf("API instance after reload: %+v", got)
	}
	if _, _, ok := r.Lease("mysql", "adhoc"); !ok {
		t.Error("API instance lost its lease in a reload")
	}
	// Dropping the service from the Corefile drops its config and static
	// instances, not what services registered themselves.
	mustApply(t, r)
	svc := r.Snapshot().Service("mysql")
	if svc == nil || svc.Len() != 1 {
		t.Fatalf("mysql after dropping it from the Corefile: %v", svc)
	}
	if _, ok := svc.Instance("adhoc"); !ok {
		t.Fatal("API instance removed with the static service")
	}
	if fo, _ := svc.Failover(); fo.IsSet() || svc.Config().Source != registry.SourceAPI || svc.Config().Name != "" {
		t.Errorf("static configuration kept: %+v", svc.Config())
	}
	if r.Snapshot().HasAddr(addr("10.0.0.100")) {
		t.Error("VIP kept after the failover was dropped")
	}
	clock.Advance(5 * time.Second)
	if _, err := r.Heartbeat("mysql", "adhoc"); err != nil {
		t.Errorf("Heartbeat of the API instance: %v", err)
	}
	mustCheck(t, r.Snapshot())
}

func TestApplyStaticTakesOverAPIInstance(t *testing.T) {
	log := &recLogger{}
	r, clock := newRegistry(t, registry.Config{Logger: log})
	api := mustRegister(t, r, withTTL(inst("mysql", "db1", "10.0.0.9", 3306), 5*time.Second))
	mustApply(t, r, mysqlStatic())

	got := get(t, r, "mysql", "db1")
	if got.Source != registry.SourceCorefile || got.Address != addr("10.0.0.5") || got.TTL != 0 {
		t.Fatalf("Corefile did not take over db1: %+v", got)
	}
	if got.CreateIndex != api.CreateIndex {
		t.Errorf("CreateIndex %d -> %d", api.CreateIndex, got.CreateIndex)
	}
	if _, _, ok := r.Lease("mysql", "db1"); ok {
		t.Error("the API lease survived the Corefile taking over")
	}
	if r.Snapshot().HasAddr(addr("10.0.0.9")) {
		t.Error("address of the replaced API registration kept")
	}
	if log.count("W ") == 0 {
		t.Error("no warning logged for a Corefile instance replacing an API registration")
	}
	// The old lease must not expire the static instance.
	clock.Advance(time.Hour)
	r.Sweep()
	if healthOf(t, r, "mysql", "db1") != registry.Passing {
		t.Error("static instance expired on the API lease it replaced")
	}
}

func TestApplyStaticKeepsHealth(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	mustApply(t, r, mysqlStatic(), redisStatic())
	// Probes report db1 down and db2 degraded.
	if err := r.SetHealth("mysql", "db1", registry.Critical); err != nil {
		t.Fatal(err)
	}
	if err := r.SetHealth("mysql", "db2", registry.Warning); err != nil {
		t.Fatal(err)
	}
	db1 := get(t, r, "mysql", "db1")

	// A reload with the same instances (the Corefile never says a health)
	// must not mark them passing again.
	my := mysqlStatic()
	my.Instances = append(my.Instances, staticInst("db3", "10.0.0.7", 3306))
	mustApply(t, r, my)
	if got := get(t, r, "mysql", "db1"); got.Health != registry.Critical || got.ModifyIndex != db1.ModifyIndex {
		t.Errorf("db1 after reload: %v (index %d -> %d), want critical and untouched", got.Health, db1.ModifyIndex, got.ModifyIndex)
	}
	if got := healthOf(t, r, "mysql", "db2"); got != registry.Warning {
		t.Errorf("db2 after reload: %v, want warning", got)
	}
	if got := healthOf(t, r, "mysql", "db3"); got != registry.Passing {
		t.Errorf("new db3: %v, want passing", got)
	}
	if s := r.Snapshot(); s.Count(registry.Critical) != 1 || s.Count(registry.Warning) != 1 || s.Count(registry.Passing) != 1 {
		t.Errorf("counts after reload: %d/%d/%d", s.Count(registry.Passing), s.Count(registry.Warning), s.Count(registry.Critical))
	}
	mustCheck(t, r.Snapshot())
}

func TestAPICannotTouchStaticInstances(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	mustApply(t, r, mysqlStatic())
	snap := r.Snapshot()

	_, err := r.Register(inst("mysql", "db1", "10.0.0.99", 3306))
	if !errors.Is(err, registry.ErrStatic) {
		t.Errorf("Register over a static instance = %v, want ErrStatic", err)
	}
	if err := r.Deregister("mysql", "db2"); !errors.Is(err, registry.ErrStatic) {
		t.Errorf("Deregister of a static instance = %v, want ErrStatic", err)
	}
	if _, err := r.Heartbeat("mysql", "db1"); !errors.Is(err, registry.ErrNoLease) {
		t.Errorf("Heartbeat of a static instance = %v, want ErrNoLease", err)
	}
	if r.Snapshot() != snap {
		t.Fatal("refused API writes to static instances published a snapshot")
	}
	if got := get(t, r, "mysql", "db1"); got.Address != addr("10.0.0.5") || got.Source != registry.SourceCorefile {
		t.Errorf("static instance changed: %+v", got)
	}
	// New ids in a static service are fine.
	if _, err := r.Register(inst("mysql", "db9", "10.0.0.9", 3306)); err != nil {
		t.Errorf("Register of a new id in a static service: %v", err)
	}
	// Probes may still set the health of a static instance.
	if err := r.SetHealth("mysql", "db1", registry.Critical); err != nil {
		t.Errorf("SetHealth of a static instance: %v", err)
	}
}

func TestApplyStaticRefusesWithoutApplying(t *testing.T) {
	bad := func(edit func(*[]registry.StaticService)) []registry.StaticService {
		svcs := []registry.StaticService{mysqlStatic(), redisStatic(), {
			Config:    registry.ServiceConfig{Name: "pg"},
			Instances: []registry.Instance{staticInst("p1", "10.0.2.1", 5432)},
		}}
		edit(&svcs)
		return svcs
	}
	tests := []struct {
		name  string
		svcs  []registry.StaticService
		field string
	}{
		{"bad instance among good", bad(func(s *[]registry.StaticService) {
			(*s)[2].Instances = append((*s)[2].Instances, staticInst("p2", "10.0.2.2", 0))
		}), "port"},
		{"bad instance id", bad(func(s *[]registry.StaticService) { (*s)[0].Instances[1].ID = "DB2" }), "id"},
		{"bad tag", bad(func(s *[]registry.StaticService) { (*s)[1].Instances[0].Tags = []string{"a_b"} }), "tags"},
		{"zoned address", bad(func(s *[]registry.StaticService) { (*s)[1].Instances[0].Address = addr("fe80::1%lo") }), "address"},
		{"bad service name", bad(func(s *[]registry.StaticService) { (*s)[2].Config.Name = "Pg" }), "service"},
		{"reserved service name", bad(func(s *[]registry.StaticService) { (*s)[2].Config.Name = "addr" }), "service"},
		{"duplicate service", bad(func(s *[]registry.StaticService) { (*s)[2].Config.Name = "mysql" }), "service"},
		{"duplicate instance", bad(func(s *[]registry.StaticService) {
			(*s)[0].Instances = append((*s)[0].Instances, staticInst("db1", "10.0.0.8", 3306))
		}), "id"},
		{"negative min-healthy", bad(func(s *[]registry.StaticService) { (*s)[2].Config.MinHealthy = -1 }), "min-healthy"},
		{"failover both", bad(func(s *[]registry.StaticService) {
			(*s)[1].Config.Failover.Addrs = []netip.Addr{addr("10.0.0.1")}
		}), "failover"},
		{"failover zoned", bad(func(s *[]registry.StaticService) {
			(*s)[0].Config.Failover.Addrs = []netip.Addr{addr("fe80::1%eth0")}
		}), "failover"},
		{"failover invalid", bad(func(s *[]registry.StaticService) {
			(*s)[0].Config.Failover.Addrs = []netip.Addr{{}}
		}), "failover"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newRegistry(t, registry.Config{})
			// What the previous Corefile declared, plus an API instance.
			old := mysqlStatic()
			old.Instances = old.Instances[:1]
			mustApply(t, r, old)
			mustRegister(t, r, inst("web", "n1", "10.0.3.1", 80))
			if err := r.SetHealth("mysql", "db1", registry.Critical); err != nil {
				t.Fatal(err)
			}
			before := r.Snapshot()

			wantFieldError(t, r.ApplyStatic(tt.svcs), tt.field)
			s := r.Snapshot()
			if s != before || s.Index() != before.Index() {
				t.Fatalf("refused ApplyStatic published a snapshot: index %d -> %d", before.Index(), s.Index())
			}
			if s.Len() != 2 || s.Service("redis") != nil || s.Service("pg") != nil || s.Service("mysql").Len() != 1 {
				t.Fatalf("refused ApplyStatic changed the services: %d", s.Len())
			}
			if s.HasAddr(addr("10.0.1.1")) || s.HasAddr(addr("10.0.2.1")) {
				t.Error("refused ApplyStatic added addresses")
			}
			// The registry still works and the next good Corefile applies
			// against the old state, not a half-applied one.
			mustApply(t, r, old)
			if got := healthOf(t, r, "mysql", "db1"); got != registry.Critical {
				t.Errorf("db1 health after a refused then a good apply: %v", got)
			}
			if !exists(r, "web", "n1") {
				t.Error("API instance lost")
			}
			// A static service removed later must still be removable, which
			// it is not if the refused apply recorded it as static.
			mustApply(t, r)
			if r.Snapshot().Service("mysql") != nil {
				t.Error("static service not removed")
			}
			mustCheck(t, r.Snapshot())
		})
	}
}

func TestApplyStaticIdenticalKeepsInstances(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	mustApply(t, r, mysqlStatic(), redisStatic())
	before := r.Snapshot()
	mustApply(t, r, mysqlStatic(), redisStatic())
	after := r.Snapshot()
	for _, name := range []string{"mysql", "redis"} {
		b, a := before.Service(name).Instances(), after.Service(name).Instances()
		if len(a) != len(b) {
			t.Fatalf("%s: %d instances -> %d", name, len(b), len(a))
		}
		for i := range a {
			if a[i].ModifyIndex != b[i].ModifyIndex || a[i].CreateIndex != b[i].CreateIndex {
				t.Errorf("%s/%s indexes changed by an identical reload", name, a[i].ID)
			}
		}
	}
	if after.Count(registry.Passing) != before.Count(registry.Passing) || after.Len() != before.Len() {
		t.Error("counts changed by an identical reload")
	}
	if after != before {
		t.Errorf("an identical reload published a new snapshot (index %d -> %d), waking every watcher", before.Index(), after.Index())
	}
	mustCheck(t, after)
}

func TestCheckedInstancesStartCritical(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	svc := mysqlStatic()
	for i := range svc.Instances {
		svc.Instances[i].Check = `{"type":"mysql"}`
	}
	mustApply(t, r, svc)
	if h := get(t, r, "mysql", "db1").Health; h != registry.Critical {
		t.Fatalf("a probed instance starts %s, want critical until its check passes", h)
	}
	if err := r.SetHealth("mysql", "db1", registry.Passing); err != nil {
		t.Fatal(err)
	}
	mustApply(t, r, svc) // a reload with the same check keeps the probe's verdict
	if h := get(t, r, "mysql", "db1").Health; h != registry.Passing {
		t.Errorf("after an identical reload db1 is %s", h)
	}
	svc.Instances[0].Port = 3307
	mustApply(t, r, svc) // the same check on another port starts over
	if h := get(t, r, "mysql", "db1").Health; h != registry.Critical {
		t.Errorf("moved to a port never probed, db1 is %s, want critical", h)
	}
	if err := r.SetHealth("mysql", "db1", registry.Passing); err != nil {
		t.Fatal(err)
	}
	svc.Instances[0].Check = `{"type":"tcp"}`
	mustApply(t, r, svc) // a new check starts over
	if h := get(t, r, "mysql", "db1").Health; h != registry.Critical {
		t.Errorf("with a new check db1 is %s, want critical", h)
	}
	svc.Instances[0].Check = ""
	mustApply(t, r, svc) // no check: nothing probes it, so it counts as passing
	if h := get(t, r, "mysql", "db1").Health; h != registry.Passing {
		t.Errorf("without a check db1 is %s, want passing", h)
	}

	api := inst("web", "w1", "10.0.0.1", 80)
	api.Check = `{"type":"tcp"}`
	if got := mustRegister(t, r, api); got.Health != registry.Critical {
		t.Errorf("API instance with a check registered %s", got.Health)
	}
}
