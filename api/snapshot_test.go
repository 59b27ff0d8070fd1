package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

// persistedFixture is a fixture over a registry kept in a data directory.
func persistedFixture(t *testing.T, dir string, opts Options) *fixture {
	t.Helper()
	clock := newClock()
	reg, err := registry.Open(dir, registry.Config{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Stop)
	return &fixture{t: t, reg: reg, clock: clock, h: newHandler(reg, opts)}
}

// save fetches a backup and fails the test unless it gets 200.
func (f *fixture) save(hdr ...string) string {
	f.t.Helper()
	rec := f.do("GET", snapshotPath, "", hdr...)
	if rec.Code != http.StatusOK {
		f.t.Fatalf("GET %s: %d %s", snapshotPath, rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		f.t.Errorf("Content-Type %q, want application/json", ct)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		f.t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if got, want := indexOf(f.t, rec), f.reg.Index(); got != want {
		f.t.Errorf("%s %d, want %d", IndexHeader, got, want)
	}
	return rec.Body.String()
}

// backupDoc is the part of a backup the tests look into.
type backupDoc struct {
	Version   int               `json:"version"`
	Index     uint64            `json:"index"`
	Instances []json.RawMessage `json:"instances"`
}

func parseBackup(t *testing.T, s string) backupDoc {
	t.Helper()
	var doc backupDoc
	if err := json.Unmarshal([]byte(s), &doc); err != nil {
		t.Fatalf("backup %q: %v", s, err)
	}
	return doc
}

// instancesOf returns the instances of a service as the API shows them,
// without what a restore may change: indexes, health and lease deadlines.
func instancesOf(f *fixture, service string) []instanceJSON {
	f.t.Helper()
	rec := f.do("GET", "/v1/services/"+service, "")
	if rec.Code != http.StatusOK {
		f.t.Fatalf("GET %s: %d %s", service, rec.Code, rec.Body)
	}
	var svc serviceJSON
	decode(f.t, rec, &svc)
	for i := range svc.Instances {
		in := &svc.Instances[i]
		in.CreateIndex, in.ModifyIndex, in.LeaseExpires = 0, 0, time.Time{}
	}
	return svc.Instances
}

func TestSnapshotRoundTrip(t *testing.T) {
	src := newFixture(t, Options{})
	src.static() // Corefile instances stay out of a backup
	src.register("web", "w1", `{"address":"10.0.0.5","port":8080,"tags":["v2","canary"],"meta":{"zone":"a"},"weight":10,"ttl":"15s"}`)
	src.register("web", "w2", `{"address":"2001:db8::6","port":8081,"weight":0}`)
	src.register("api", "a1", `{"address":"10.0.1.5","port":9000,"ttl":"1m"}`)
	src.register("gone", "g1", `{"address":"10.0.2.5","port":9000}`)
	src.do("DELETE", "/v1/services/gone/instances/g1", "")
	body := src.save()
	doc := parseBackup(t, body)
	if doc.Version != 1 || doc.Index != src.reg.Index() || len(doc.Instances) != 3 {
		t.Fatalf("backup: version %d index %d with %d instances, want 1, %d, 3:\n%s", doc.Version, doc.Index, len(doc.Instances), src.reg.Index(), body)
	}

	// Restore into a persisted registry that holds a registration of its own.
	dir := t.TempDir()
	dst := persistedFixture(t, dir, Options{})
	dst.register("old", "o1", `{"address":"10.0.9.9","port":80}`)
	rec := dst.do("PUT", snapshotPath, body)
	if rec.Code != http.StatusOK {
		t.Fatalf("PUT %s: %d %s", snapshotPath, rec.Code, rec.Body)
	}
	var got restoreJSON
	decode(t, rec, &got)
	if got.Instances != 3 || got.Index != dst.reg.Index() || indexOf(t, rec) != got.Index {
		t.Errorf("restore answered %+v with %s %d; registry index %d", got, IndexHeader, indexOf(t, rec), dst.reg.Index())
	}
	for _, svc := range []string{"web", "api"} {
		if a, b := instancesOf(src, svc), instancesOf(dst, svc); !reflect.DeepEqual(a, b) {
			t.Errorf("service %s:\nsource   %+v\nrestored %+v", svc, a, b)
		}
	}
	for _, svc := range []string{"old", "mysql", "gone"} {
		if rec := dst.do("GET", "/v1/services/"+svc, ""); rec.Code != http.StatusNotFound {
			t.Errorf("service %s after the restore: %d %s, want 404", svc, rec.Code, rec.Body)
		}
	}
	// A restored lease gets the heartbeat grace, as after a restart.
	if _, deadline, ok := dst.reg.Lease("web", "w1"); !ok || deadline.Sub(dst.clock.Now()) != registry.DefaultHeartbeatGrace {
		t.Errorf("lease of w1 runs out at %s, want now + %s", deadline, registry.DefaultHeartbeatGrace)
	}

	// The restore reached the data directory, and a backup of the restored
	// registry holds the same records.
	again := parseBackup(t, dst.save())
	dst.reg.Stop()
	reopened := persistedFixture(t, dir, Options{})
	for _, svc := range []string{"web", "api"} {
		if a, b := instancesOf(src, svc), instancesOf(reopened, svc); !reflect.DeepEqual(a, b) {
			t.Errorf("service %s after reopening:\nsource %+v\nstored %+v", svc, a, b)
		}
	}
	if len(again.Instances) != 3 {
		t.Errorf("backup of the restored registry holds %d instances, want 3", len(again.Instances))
	}
}

func TestSnapshotEmpty(t *testing.T) {
	f := newFixture(t, Options{})
	doc := parseBackup(t, f.save())
	if doc.Version != 1 || doc.Index != 0 || doc.Instances == nil || len(doc.Instances) != 0 {
		t.Errorf("empty backup %+v", doc)
	}
	g := newFixture(t, Options{})
	g.register("web", "w1", web1)
	rec := g.do("PUT", snapshotPath, f.save())
	var got restoreJSON
	decode(t, rec, &got)
	if rec.Code != http.StatusOK || got.Instances != 0 || g.reg.Snapshot().Len() != 0 {
		t.Errorf("restoring an empty backup: %d %+v, %d services left", rec.Code, got, g.reg.Snapshot().Len())
	}
}

func TestSnapshotAuth(t *testing.T) {
	const token = "s3cret"
	tests := []struct {
		name   string
		opts   Options
		method string
		auth   string
		status int
	}{
		{"no token set, save", Options{}, "GET", "", 200},
		{"no token set, restore", Options{}, "PUT", "", 200},
		{"save without token", Options{Token: token}, "GET", "", 401},
		{"save with wrong token", Options{Token: token}, "GET", "Bearer wrong", 401},
		{"save with token", Options{Token: token}, "GET", "Bearer s3cret", 200},
		{"save with token-read, without token", Options{Token: token, TokenRead: true}, "GET", "", 401},
		{"restore without token", Options{Token: token}, "PUT", "", 401},
		{"restore with wrong token", Options{Token: token}, "PUT", "Bearer wrong", 401},
		{"restore with token", Options{Token: token}, "PUT", "Bearer s3cret", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.opts)
			f.register("web", "w1", web1)
			before := f.reg.Snapshot()
			body := ""
			if tc.method == "PUT" {
				body = `{"version":1,"index":9,"instances":[]}`
			}
			rec := f.do(tc.method, snapshotPath, body, "Authorization", tc.auth)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d (%s)", rec.Code, tc.status, rec.Body)
			}
			if tc.status != 401 {
				return
			}
			wantError(t, rec, 401, `missing or invalid token: send "Authorization: Bearer <token>"`)
			if strings.Contains(rec.Body.String(), "10.0.0.5") {
				t.Error("a refused save leaked the registry")
			}
			if f.reg.Snapshot() != before {
				t.Error("a refused restore changed the registry")
			}
		})
	}
}

func TestRestoreRefusesBadBackup(t *testing.T) {
	const w1 = `{"v":1,"service":"web","id":"w1","address":"10.0.0.1","port":80,"weight":1}`
	tests := []struct {
		name, body, msg string
	}{
		{"empty", "", "body: is empty, must be a backup as GET /v1/snapshot returns it"},
		{"blank", " \n", "body: is empty, must be a backup as GET /v1/snapshot returns it"},
		{"not json", "{", "body: is not a backup: unexpected end of JSON input"},
		{"not an object", `[1,2]`, "body: is not a backup: must be a JSON object"},
		{"instances not a list", `{"version":1,"index":1,"instances":{}}`, `body: is not a backup: "instances" must be a list`},
		{"trailing data", `{"version":1,"index":1,"instances":[]} {"version":1}`, "body: is not a backup: invalid character '{' after top-level value"},
		{"unknown version", `{"version":2,"index":1,"instances":[]}`, "backup: format version 2, this server reads version 1"},
		{"unknown field", `{"version":1,"index":1,"instances":[],"extra":1}`, `backup: json: unknown field "extra"`},
		{"bad address", `{"version":1,"index":1,"instances":[` + w1 + `,{"v":1,"service":"web","id":"w2","address":"nowhere","port":80,"weight":1}]}`,
			`backup: instance 1 (web/w2): address: "nowhere" must be an IPv4 or IPv6 address`},
		{"bad record version", `{"version":1,"index":1,"instances":[{"v":7,"service":"web","id":"w2","address":"10.0.0.2","port":80,"weight":1}]}`,
			"backup: instance 0 (web/w2): record format version 7, this server reads version 1"},
		{"bad service name", `{"version":1,"index":1,"instances":[{"v":1,"service":"Web","id":"w2","address":"10.0.0.2","port":80,"weight":1}]}`,
			`backup: instance 0 (Web/w2): service: "Web" may hold only lowercase a-z, 0-9 and '-'`},
		{"duplicate", `{"version":1,"index":1,"instances":[` + w1 + `,` + w1 + `]}`, "backup: instance w1 of service web appears twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			f.register("keep", "k1", web1)
			before := f.reg.Snapshot()
			wantError(t, f.do("PUT", snapshotPath, tc.body), http.StatusBadRequest, tc.msg)
			if f.reg.Snapshot() != before {
				t.Error("a refused backup changed the registry")
			}
		})
	}
}

func TestRestoreTooLarge(t *testing.T) {
	if got := (Options{}).withDefaults().MaxSnapshotBytes; got != 256<<20 {
		t.Errorf("default MaxSnapshotBytes %d, want 256 MiB", got)
	}
	src := newFixture(t, Options{})
	for _, id := range []string{"w1", "w2", "w3"} {
		src.register("web", id, web1)
	}
	body := src.save()

	// The limit of a registration does not apply to a backup.
	f := newFixture(t, Options{MaxBodyBytes: 64, MaxSnapshotBytes: int64(len(body))})
	if rec := f.do("PUT", snapshotPath, body); rec.Code != http.StatusOK {
		t.Fatalf("a backup of exactly the limit: %d %s", rec.Code, rec.Body)
	}

	g := newFixture(t, Options{MaxSnapshotBytes: int64(len(body)) - 1})
	g.register("keep", "k1", web1)
	before := g.reg.Snapshot()
	wantError(t, g.do("PUT", snapshotPath, body), http.StatusRequestEntityTooLarge, sprintf("body: larger than %d bytes", len(body)-1))
	if g.reg.Snapshot() != before {
		t.Error("an oversized backup changed the registry")
	}
}

func TestSnapshotRouting(t *testing.T) {
	f := newFixture(t, Options{})
	rec := f.do("POST", snapshotPath, "")
	wantError(t, rec, http.StatusMethodNotAllowed, "method POST is not allowed on /v1/snapshot")
	if got := rec.Header().Get("Allow"); got != "GET, HEAD, PUT" {
		t.Errorf("Allow %q", got)
	}
}

func TestRestoreAfterStop(t *testing.T) {
	f := persistedFixture(t, t.TempDir(), Options{})
	f.register("web", "w1", web1)
	f.reg.Stop()
	wantError(t, f.do("PUT", snapshotPath, `{"version":1,"index":1,"instances":[]}`), http.StatusServiceUnavailable, "registry is shutting down, try again")
}

// TestRestoreErrorClassifies checks the status each kind of RestoreBackup
// error answers with: the registry's typed errors decide it, whatever
// their messages say.
func TestRestoreErrorClassifies(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int // 0: passed on as it is, the server's fault
	}{
		{"bad backup", &registry.BackupError{Err: errors.New("format version 2")}, http.StatusBadRequest},
		{"bad record", &registry.BackupError{Err: fmt.Errorf("instance 0: %w", &registry.FieldError{Field: "port", Reason: "out of range"})}, http.StatusBadRequest},
		{"wrapped", fmt.Errorf("restoring: %w", &registry.BackupError{Err: errors.New("x")}), http.StatusBadRequest},
		{"invalid field", &registry.FieldError{Field: "service", Reason: "bad"}, http.StatusBadRequest},
		{"closed", fmt.Errorf("restore: %w", registry.ErrClosed), http.StatusServiceUnavailable},
		{"write failed, message like a backup's", errors.New("backup: writing registry.db: no space left on device"), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := restoreError(tc.err)
			var se *statusError
			switch {
			case tc.status == 0 && got != tc.err:
				t.Errorf("restoreError = %v, want the error passed on", got)
			case tc.status != 0 && !errors.As(got, &se):
				t.Errorf("restoreError = %v (%T), want a status", got, got)
			case tc.status != 0 && se.status != tc.status:
				t.Errorf("status %d, want %d", se.status, tc.status)
			}
		})
	}
}

// TestRestoreBackupErrorsAreTyped checks that every backup the registry
// refuses comes back as a *registry.BackupError, which restoreError relies
// on, and that the instance errors within keep their own types.
func TestRestoreBackupErrorsAreTyped(t *testing.T) {
	const w1 = `{"v":1,"service":"web","id":"w1","address":"10.0.0.1","port":80,"weight":1}`
	tests := []struct {
		name, doc string
		field     string // the FieldError within, if any
	}{
		{"not json", `{`, ""},
		{"unknown version", `{"version":2,"index":1,"instances":[]}`, ""},
		{"unknown field", `{"version":1,"index":1,"instances":[],"extra":1}`, ""},
		{"record not an object", `{"version":1,"index":1,"instances":[1]}`, ""},
		{"bad address", `{"version":1,"index":1,"instances":[{"v":1,"service":"web","id":"w2","address":"nowhere","port":80,"weight":1}]}`, "address"},
		{"bad service", `{"version":1,"index":1,"instances":[{"v":1,"service":"Web","id":"w2","address":"10.0.0.2","port":80,"weight":1}]}`, "service"},
		{"duplicate", `{"version":1,"index":1,"instances":[` + w1 + `,` + w1 + `]}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := registry.New(registry.Config{})
			err := reg.RestoreBackup(strings.NewReader(tc.doc))
			var be *registry.BackupError
			if !errors.As(err, &be) {
				t.Fatalf("RestoreBackup = %v (%T), want a *registry.BackupError", err, err)
			}
			var fe *registry.FieldError
			if tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field) {
				t.Errorf("RestoreBackup = %v, want it to hold a FieldError for %s", err, tc.field)
			}
		})
	}
	// A good backup that a stopped registry cannot take is not the
	// backup's fault.
	f := persistedFixture(t, t.TempDir(), Options{})
	f.register("web", "w1", web1)
	f.reg.Stop()
	err := f.reg.RestoreBackup(strings.NewReader(`{"version":1,"index":1,"instances":[]}`))
	var be *registry.BackupError
	if !errors.Is(err, registry.ErrClosed) || errors.As(err, &be) {
		t.Errorf("RestoreBackup on a stopped registry = %v, want ErrClosed and no BackupError", err)
	}
}
