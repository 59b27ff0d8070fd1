package registry_test

import (
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/signpost-dns/signpost/registry"
)

// served returns the IDs of the instances of service that answers hold.
func served(r *registry.Registry, service string) []string {
	svc := r.Snapshot().Service(service)
	if svc == nil {
		return nil
	}
	var ids []string
	for _, in := range svc.Select(nil, "", false) {
		ids = append(ids, in.ID)
	}
	return ids
}

// TestStoreKeepsReportedHealth restarts a server whose instances with a
// lease were reported critical and warning: they come back in that health,
// with the output their sidecar gave, and one reported critical is served
// again only once it reports passing, which a restart keeps too.
func TestStoreKeepsReportedHealth(t *testing.T) {
	dir := t.TempDir()
	clock := newClock()
	cfg := registry.Config{Now: clock.Now, HeartbeatGrace: 30 * time.Second, SelfPreservation: -1}
	r := openRegistry(t, dir, cfg)
	mustRegister(t, r, withTTL(inst("web", "w1", "10.0.0.1", 80), 15*time.Second))
	mustRegister(t, r, withTTL(inst("web", "w2", "10.0.0.2", 80), 15*time.Second))
	mustRegister(t, r, withTTL(inst("web", "w3", "10.0.0.3", 80), 15*time.Second))
	if _, _, err := r.Report("web", "w1", registry.Critical, "disk full"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Report("web", "w2", registry.Warning, "slow"); err != nil {
		t.Fatal(err)
	}
	r.Stop()

	r2 := openRegistry(t, dir, cfg)
	w1 := get(t, r2, "web", "w1")
	if w1.Health != registry.Critical {
		t.Errorf("w1 %s after a restart, was reported critical", w1.Health)
	}
	if out := r2.CheckOutput(w1); out != "disk full" {
		t.Errorf("w1's output after a restart %q, want %q", out, "disk full")
	}
	if h := get(t, r2, "web", "w2").Health; h != registry.Warning {
		t.Errorf("w2 %s after a restart, was reported warning", h)
	}
	if h := get(t, r2, "web", "w3").Health; h != registry.Passing {
		t.Errorf("w3 %s after a restart, was never reported otherwise", h)
	}
	if got := served(r2, "web"); len(got) != 1 || got[0] != "w3" {
		t.Errorf("served after a restart: %v, want [w3]", got)
	}
	// It keeps its lease (with the grace) while critical.
	if _, _, ok := r2.Lease("web", "w1"); !ok {
		t.Error("w1 has no lease after a restart")
	}

	if _, err := r2.Heartbeat("web", "w1"); err != nil {
		t.Fatal(err)
	}
	if got := served(r2, "web"); len(got) != 2 {
		t.Errorf("served after w1 reported passing: %v, want [w1 w3]", got)
	}
	r2.Stop()
	r3 := openRegistry(t, dir, cfg)
	if h := get(t, r3, "web", "w1").Health; h != registry.Passing {
		t.Errorf("w1 %s after a second restart, last reported passing", h)
	}
	if out := r3.CheckOutput(get(t, r3, "web", "w1")); out != "" {
		t.Errorf("w1's output %q after it reported passing without one", out)
	}
}

// TestStoreKeepsRegisteredHealth restarts a server holding an instance
// registered critical: it stays out of answers until it reports passing.
func TestStoreKeepsRegisteredHealth(t *testing.T) {
	dir := t.TempDir()
	clock := newClock()
	cfg := registry.Config{Now: clock.Now, SelfPreservation: -1}
	r := openRegistry(t, dir, cfg)
	if _, err := r.RegisterStarting(withTTL(inst("api", "a1", "10.0.1.1", 80), 10*time.Second), registry.Critical); err != nil {
		t.Fatal(err)
	}
	r.Stop()

	r2 := openRegistry(t, dir, cfg)
	if h := get(t, r2, "api", "a1").Health; h != registry.Critical {
		t.Errorf("a1 %s after a restart, was registered critical", h)
	}
	if got := served(r2, "api"); len(got) != 0 {
		t.Errorf("served after a restart: %v, want none", got)
	}
	if _, err := r2.Heartbeat("api", "a1"); err != nil {
		t.Fatal(err)
	}
	if got := served(r2, "api"); len(got) != 1 {
		t.Errorf("served after a1 reported passing: %v, want [a1]", got)
	}
}

// TestStoreLoadsRecordWithoutHealth loads a record written before health
// was kept: its instance is passing, with its lease, as before.
func TestStoreLoadsRecordWithoutHealth(t *testing.T) {
	dir := t.TempDir()
	r := openRegistry(t, dir, registry.Config{})
	mustRegister(t, r, inst("web", "w0", "10.0.0.9", 80))
	r.Stop()
	corrupt(t, dir, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("instances")).Put([]byte("web/w1"),
			[]byte(`{"v":1,"service":"web","id":"w1","address":"10.0.0.1","port":80,"weight":1,"ttl":"15s","create_index":1,"modify_index":1}`))
	})
	r2 := openRegistry(t, dir, registry.Config{})
	w1 := get(t, r2, "web", "w1")
	if w1.Health != registry.Passing || w1.TTL != 15*time.Second {
		t.Errorf("w1 from an old record: %s, TTL %s; want passing, 15s", w1.Health, w1.TTL)
	}
	if _, _, ok := r2.Lease("web", "w1"); !ok {
		t.Error("w1 from an old record has no lease")
	}
}

// TestStoreProbedHealthNotKept restarts a server holding a probed
// instance its probe found passing: the probe decides again, so it starts
// critical.
func TestStoreProbedHealthNotKept(t *testing.T) {
	dir := t.TempDir()
	r := openRegistry(t, dir, registry.Config{})
	in := inst("db", "d1", "10.0.0.2", 3306)
	in.Check = `{"type":"tcp","interval":"2s"}`
	mustRegister(t, r, in)
	if err := r.SetHealth("db", "d1", registry.Passing); err != nil {
		t.Fatal(err)
	}
	r.Stop()
	r2 := openRegistry(t, dir, registry.Config{})
	if h := get(t, r2, "db", "d1").Health; h != registry.Critical {
		t.Errorf("probed d1 %s after a restart, want critical until its probe runs", h)
	}
}
