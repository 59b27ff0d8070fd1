package registry_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/signpost-dns/signpost/registry"
)

func openRegistry(t *testing.T, dir string, cfg registry.Config) *registry.Registry {
	t.Helper()
	r, err := registry.Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

func TestStoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	r := openRegistry(t, dir, registry.Config{})
	a := mustRegister(t, r, withTTL(inst("web", "w1", "10.0.0.1", 80, "blue", "east"), 15*time.Second))
	in := inst("web", "w2", "2001:db8::2", 8080)
	in.Meta = map[string]string{"version": "1.2.3"}
	in.Weight = 7
	b := mustRegister(t, r, in)
	mustRegister(t, r, inst("db", "d1", "10.0.0.3", 3306))
	if err := r.Deregister("db", "d1"); err != nil {
		t.Fatal(err)
	}
	index := r.Index()
	r.Stop()

	r2 := openRegistry(t, dir, registry.Config{})
	if got := r2.Index(); got != index {
		t.Errorf("index after restart %d, want %d: blocking-query clients would see it go back", got, index)
	}
	if r2.Snapshot().Service("db") != nil {
		t.Error("a deregistered service came back after the restart")
	}
	for _, want := range []registry.Instance{a, b} {
		got := get(t, r2, want.Service, want.ID)
		if got.Address != want.Address || got.Port != want.Port || got.Weight != want.Weight || got.TTL != want.TTL ||
			strings.Join(got.Tags, ",") != strings.Join(want.Tags, ",") || fmt.Sprint(got.Meta) != fmt.Sprint(want.Meta) ||
			got.CreateIndex != want.CreateIndex || got.ModifyIndex != want.ModifyIndex || got.Health != registry.Passing {
			t.Errorf("after restart:\n got %+v\nwant %+v", got, want)
		}
	}
	mustCheck(t, r2.Snapshot())
	// Writes go on from the loaded index.
	c := mustRegister(t, r2, inst("web", "w3", "10.0.0.9", 80))
	if c.CreateIndex <= index {
		t.Errorf("new write at index %d, not after the loaded %d", c.CreateIndex, index)
	}
}

func TestStoreKeepsStaticOut(t *testing.T) {
	dir := t.TempDir()
	r := openRegistry(t, dir, registry.Config{})
	mustApply(t, r, mysqlStatic())
	mustRegister(t, r, inst("web", "w1", "10.0.0.1", 80))
	r.Stop()
	r2 := openRegistry(t, dir, registry.Config{})
	if r2.Snapshot().Service("mysql") != nil {
		t.Error("Corefile services were persisted; the Corefile is their source")
	}
	get(t, r2, "web", "w1")
}

func TestStoreStaticTakeoverDeletesRecord(t *testing.T) {
	dir := t.TempDir()
	r := openRegistry(t, dir, registry.Config{})
	mustRegister(t, r, inst("mysql", "db1", "10.9.9.9", 3306))
	mustApply(t, r, mysqlStatic()) // the Corefile now declares mysql/db1
	r.Stop()
	r2 := openRegistry(t, dir, registry.Config{})
	if r2.Snapshot().Service("mysql") != nil {
		t.Error("the API record of an instance the Corefile took over survived")
	}
}

func TestStoreHeartbeatGrace(t *testing.T) {
	dir := t.TempDir()
	clock := newClock()
	r := openRegistry(t, dir, registry.Config{Now: clock.Now})
	mustRegister(t, r, withTTL(inst("web", "w1", "10.0.0.1", 80), 5*time.Second))
	mustRegister(t, r, withTTL(inst("web", "w2", "10.0.0.2", 80), time.Minute))
	r.Stop()

	clock.Advance(time.Hour) // the server was down for an hour
	r2 := openRegistry(t, dir, registry.Config{Now: clock.Now, HeartbeatGrace: 30 * time.Second, SelfPreservation: -1})
	clock.Advance(29 * time.Second)
	r2.Sweep()
	if h := get(t, r2, "web", "w1").Health; h != registry.Passing {
		t.Fatalf("w1 %s inside the grace period", h)
	}
	if _, err := r2.Heartbeat("web", "w1"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Second) // past the grace, inside w1's renewed lease and w2's longer TTL
	r2.Sweep()
	if h := get(t, r2, "web", "w1").Health; h != registry.Passing {
		t.Errorf("w1 %s after renewing", h)
	}
	if h := get(t, r2, "web", "w2").Health; h != registry.Passing {
		t.Errorf("w2 %s: a TTL longer than the grace must be kept", h)
	}
	clock.Advance(time.Minute)
	r2.Sweep()
	if h := get(t, r2, "web", "w2").Health; h != registry.Critical {
		t.Errorf("w2 %s after its lease ran out without a heartbeat", h)
	}
}

func TestStoreHeartbeatWritesNothing(t *testing.T) {
	dir := t.TempDir()
	r := openRegistry(t, dir, registry.Config{})
	mustRegister(t, r, withTTL(inst("web", "w1", "10.0.0.1", 80), 15*time.Second))
	before := r.Index()
	for range 100 {
		if _, err := r.Heartbeat("web", "w1"); err != nil {
			t.Fatal(err)
		}
	}
	if r.Index() != before {
		t.Errorf("heartbeats moved the index %d -> %d", before, r.Index())
	}
}

// corrupt opens the store file directly and changes it.
func corrupt(t *testing.T, dir string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, registry.StoreFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	db.Close()
}

func TestStoreRefusesBadData(t *testing.T) {
	tests := []struct {
		name string
		fn   func(tx *bolt.Tx) error
		want string
	}{
		{"undecodable", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("instances")).Put([]byte("web/w1"), []byte("{not json"))
		}, `key "web/w1": undecodable record`},
		{"unknown record version", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("instances")).Put([]byte("web/w1"),
				[]byte(`{"v":9,"service":"web","id":"w1","address":"10.0.0.1","port":80,"weight":1}`))
		}, `key "web/w1": record format version 9`},
		{"bad address", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("instances")).Put([]byte("web/w1"),
				[]byte(`{"v":1,"service":"web","id":"w1","address":"nowhere","port":80,"weight":1}`))
		}, `key "web/w1": address: "nowhere"`},
		{"invalid name", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("instances")).Put([]byte("Web/w1"),
				[]byte(`{"v":1,"service":"Web","id":"w1","address":"10.0.0.1","port":80,"weight":1}`))
		}, `key "Web/w1": service: "Web"`},
		{"key does not match", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("instances")).Put([]byte("web/w2"),
				[]byte(`{"v":1,"service":"web","id":"w1","address":"10.0.0.1","port":80,"weight":1}`))
		}, `key "web/w2": record holds instance w1`},
		{"unknown file version", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("meta")).Put([]byte("version"), []byte("2"))
		}, `key "version": format version "2"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			r := openRegistry(t, dir, registry.Config{})
			mustRegister(t, r, inst("web", "w0", "10.0.0.1", 80))
			r.Stop()
			corrupt(t, dir, tc.fn)
			_, err := registry.Open(dir, registry.Config{})
			if err == nil {
				t.Fatal("opened a store with bad data")
			}
			if !strings.Contains(err.Error(), registry.StoreFile) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want the file name and %q", err, tc.want)
			}
		})
	}
}

func TestStoreLocked(t *testing.T) {
	dir := t.TempDir()
	openRegistry(t, dir, registry.Config{})
	_, err := registry.Open(dir, registry.Config{})
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second Open of one directory: %v, want a locked error", err)
	}
}

func TestStoreConcurrentWritersShareCommits(t *testing.T) {
	dir := t.TempDir()
	r := openRegistry(t, dir, registry.Config{})
	const writers, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				in := inst(fmt.Sprintf("svc%d", w), fmt.Sprintf("i%d", i), fmt.Sprintf("10.%d.0.%d", w, i+1), 80)
				if _, err := r.Register(in); err != nil {
					errs <- err
					return
				}
				// Acknowledged means visible.
				if svc := r.Snapshot().Service(in.Service); svc == nil {
					errs <- fmt.Errorf("%s/%s acknowledged but not visible", in.Service, in.ID)
					return
				} else if _, ok := svc.Instance(in.ID); !ok {
					errs <- fmt.Errorf("%s/%s acknowledged but not visible", in.Service, in.ID)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := r.Snapshot().Count(registry.Passing); got != writers*each {
		t.Fatalf("%d instances, want %d", got, writers*each)
	}
	r.Stop()
	r2 := openRegistry(t, dir, registry.Config{})
	if got := r2.Snapshot().Count(registry.Passing); got != writers*each {
		t.Fatalf("after restart %d instances, want %d", got, writers*each)
	}
	mustCheck(t, r2.Snapshot())
}

func TestStoreWriteAfterStop(t *testing.T) {
	r := openRegistry(t, t.TempDir(), registry.Config{})
	r.Stop()
	_, err := r.Register(inst("web", "w1", "10.0.0.1", 80))
	if !errors.Is(err, registry.ErrClosed) {
		t.Fatalf("Register after Stop: %v, want ErrClosed", err)
	}
	if r.Snapshot().Service("web") != nil {
		t.Error("a refused write is visible")
	}
}

func TestStoreKeepsCheck(t *testing.T) {
	dir := t.TempDir()
	r := openRegistry(t, dir, registry.Config{})
	in := inst("db", "d1", "10.0.0.2", 3306)
	in.Check = `{"type":"mysql","interval":"2s"}`
	mustRegister(t, r, in)
	r.Stop()
	r2 := openRegistry(t, dir, registry.Config{})
	if got := get(t, r2, "db", "d1").Check; got != in.Check {
		t.Errorf("check after restart %q, want %q", got, in.Check)
	}
	if n := len(r2.Snapshot().CheckedServices()); n != 1 {
		t.Errorf("%d checked services after restart", n)
	}
}

func TestStoreKeepsExpiredLeasesExpired(t *testing.T) {
	dir := t.TempDir()
	clock := newClock()
	cfg := registry.Config{Now: clock.Now, SelfPreservation: -1, DeregisterAfter: time.Minute}
	r := openRegistry(t, dir, cfg)
	mustRegister(t, r, withTTL(inst("web", "w1", "10.0.0.1", 80), 5*time.Second))
	mustRegister(t, r, withTTL(inst("web", "w2", "10.0.0.2", 80), time.Hour))
	clock.Advance(10 * time.Second)
	r.Sweep()
	if h := get(t, r, "web", "w1").Health; h != registry.Critical {
		t.Fatalf("w1 %s after its lease ran out", h)
	}
	r.Stop()

	r2 := openRegistry(t, dir, cfg)
	if h := get(t, r2, "web", "w1").Health; h != registry.Critical {
		t.Errorf("a restart revived w1 (%s), whose lease had run out", h)
	}
	if h := get(t, r2, "web", "w2").Health; h != registry.Passing {
		t.Errorf("w2 %s after restart", h)
	}
	clock.Advance(time.Minute) // deregister-after counts from the expiry, across the restart
	r2.Sweep()
	if svc := r2.Snapshot().Service("web"); svc == nil || svc.Len() != 1 {
		t.Errorf("w1 not removed deregister-after its expiry")
	}
	// A heartbeat revives it, on disk too.
	r2.Stop()
}

func TestStoreCorruptedFile(t *testing.T) {
	dir := t.TempDir()
	r := openRegistry(t, dir, registry.Config{})
	mustRegister(t, r, inst("web", "w1", "10.0.0.1", 80))
	r.Stop()
	path := filepath.Join(dir, registry.StoreFile)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0}, 6*4096), 2*4096); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = registry.Open(dir, registry.Config{})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open of a corrupted file: %v, want an error naming %s", err, path)
	}
}

// TestStoreRefusesEmptyFile checks that a data file cut to zero bytes (a
// crash or a full disk while it was first written) stops Open with an error
// naming it, rather than passing for a new, empty registry, and that the
// file is left as it was for the operator to look at.
func TestStoreRefusesEmptyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, registry.StoreFile)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := registry.Open(dir, registry.Config{})
	if err == nil {
		r.Stop()
		t.Fatal("opened a zero-length data file as an empty registry")
	}
	for _, want := range []string{path, "empty"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("the refused file was changed: %v, %v", fi, err)
	}
}

// TestStoreRefusesTruncatedFile cuts a data file that held a registration
// at several lengths short of a whole database; each must be refused with
// an error naming the file.
func TestStoreRefusesTruncatedFile(t *testing.T) {
	dir := t.TempDir()
	r := openRegistry(t, dir, registry.Config{})
	mustRegister(t, r, inst("web", "w1", "10.0.0.1", 80))
	r.Stop()
	path := filepath.Join(dir, registry.StoreFile)
	intact, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := os.Getpagesize()
	for _, size := range []int{1, 100, 1023, 1024, page - 1, page, page + 1, 2*page - 1} {
		t.Run(fmt.Sprint(size, "_bytes"), func(t *testing.T) {
			if size >= len(intact) {
				t.Skipf("the file is only %d bytes", len(intact))
			}
			if err := os.WriteFile(path, intact[:size], 0o600); err != nil {
				t.Fatal(err)
			}
			r, err := registry.Open(dir, registry.Config{})
			if err == nil {
				r.Stop()
				t.Fatalf("opened a data file cut to %d of %d bytes", size, len(intact))
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
		})
	}
	// The intact file still opens: the checks refuse only damage.
	if err := os.WriteFile(path, intact, 0o600); err != nil {
		t.Fatal(err)
	}
	r = openRegistry(t, dir, registry.Config{})
	if svc := r.Snapshot().Service("web"); svc == nil || svc.Len() != 1 {
		t.Error("the intact file did not load w1")
	}
}

// TestStoreMissingFileIsNew checks that a data directory without a file,
// or that does not exist yet, opens as a new, empty registry.
func TestStoreMissingFileIsNew(t *testing.T) {
	for _, dir := range []string{t.TempDir(), filepath.Join(t.TempDir(), "not", "yet")} {
		r := openRegistry(t, dir, registry.Config{})
		if n := r.Snapshot().Len(); n != 0 {
			t.Errorf("%s: new registry holds %d services", dir, n)
		}
		mustRegister(t, r, inst("web", "w1", "10.0.0.1", 80))
		r.Stop()
		if fi, err := os.Stat(filepath.Join(dir, registry.StoreFile)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: no data file written: %v", dir, err)
		}
	}
}
