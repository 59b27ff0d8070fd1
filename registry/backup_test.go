package registry_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

func TestBackupRoundTrip(t *testing.T) {
	src, _ := newRegistry(t, registry.Config{})
	mustApply(t, src, mysqlStatic())
	mustRegister(t, src, withTTL(inst("web", "w1", "10.0.0.1", 80, "blue"), 15*time.Second))
	mustRegister(t, src, inst("web", "w2", "2001:db8::2", 8080))
	var buf bytes.Buffer
	if err := src.SaveBackup(&buf); err != nil {
		t.Fatal(err)
	}

	// Restore into a persisted registry that holds other registrations.
	dir := t.TempDir()
	dst := openRegistry(t, dir, registry.Config{})
	mustApply(t, dst, redisStatic())
	mustRegister(t, dst, inst("old", "o1", "10.0.9.9", 80))
	if err := dst.RestoreBackup(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	snap := dst.Snapshot()
	if snap.Service("old") != nil {
		t.Error("restore kept an API registration the backup does not hold")
	}
	if snap.Service("redis") == nil {
		t.Error("restore dropped a Corefile service")
	}
	if snap.Service("mysql") != nil {
		t.Error("restore brought Corefile instances of the source server as API registrations")
	}
	if w1 := get(t, dst, "web", "w1"); w1.TTL != 15*time.Second || strings.Join(w1.Tags, ",") != "blue" {
		t.Errorf("w1 restored as %+v", w1)
	}
	get(t, dst, "web", "w2")
	mustCheck(t, snap)

	// The restore is durable.
	dst.Stop()
	again := openRegistry(t, dir, registry.Config{})
	if again.Snapshot().Service("old") != nil || again.Snapshot().Service("web").Len() != 2 {
		t.Error("the restore did not reach the data directory")
	}
}

func TestRestoreRefusesBadBackup(t *testing.T) {
	tests := map[string]string{
		"not json":        `{`,
		"unknown version": `{"version":2,"index":1,"instances":[]}`,
		"unknown field":   `{"version":1,"index":1,"instances":[],"extra":1}`,
		"bad instance": `{"version":1,"index":1,"instances":[
			{"v":1,"service":"web","id":"w1","address":"10.0.0.1","port":80,"weight":1},
			{"v":1,"service":"web","id":"w2","address":"nowhere","port":80,"weight":1}]}`,
		"duplicate": `{"version":1,"index":1,"instances":[
			{"v":1,"service":"web","id":"w1","address":"10.0.0.1","port":80,"weight":1},
			{"v":1,"service":"web","id":"w1","address":"10.0.0.2","port":80,"weight":1}]}`,
	}
	for name, doc := range tests {
		t.Run(name, func(t *testing.T) {
			r, _ := newRegistry(t, registry.Config{})
			mustRegister(t, r, inst("keep", "k1", "10.0.0.1", 80))
			before := r.Snapshot()
			if err := r.RestoreBackup(strings.NewReader(doc)); err == nil {
				t.Fatal("bad backup accepted")
			}
			if r.Snapshot() != before {
				t.Error("a refused backup changed the registry")
			}
		})
	}
}
