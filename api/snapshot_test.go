package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
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

// adminToken is the token of the fixtures that save and restore backups:
// without one, a server refuses both.
const adminToken = "s3cret"

// admin serves one request with the fixture's token.
func (f *fixture) admin(method, path, body string) *httptest.ResponseRecorder {
	f.t.Helper()
	return f.do(method, path, body, "Authorization", "Bearer "+f.h.opts.Token)
}

// save fetches a backup and fails the test unless it gets 200.
func (f *fixture) save(hdr ...string) string {
	f.t.Helper()
	if len(hdr) == 0 {
		hdr = []string{"Authorization", "Bearer " + f.h.opts.Token}
	}
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
	src := newFixture(t, Options{Token: adminToken})
	src.static() // Corefile instances stay out of a backup
	src.register("web", "w1", `{"address":"10.0.0.5","port":8080,"tags":["v2","canary"],"meta":{"zone":"a"},"weight":10,"ttl":"15s"}`)
	src.register("web", "w2", `{"address":"2001:db8::6","port":8081,"weight":0}`)
	src.register("api", "a1", `{"address":"10.0.1.5","port":9000,"ttl":"1m"}`)
	src.register("gone", "g1", `{"address":"10.0.2.5","port":9000}`)
	src.admin("DELETE", "/v1/services/gone/instances/g1", "")
	body := src.save()
	doc := parseBackup(t, body)
	if doc.Version != 1 || doc.Index != src.reg.Index() || len(doc.Instances) != 3 {
		t.Fatalf("backup: version %d index %d with %d instances, want 1, %d, 3:\n%s", doc.Version, doc.Index, len(doc.Instances), src.reg.Index(), body)
	}

	// Restore into a persisted registry that holds a registration of its own.
	dir := t.TempDir()
	dst := persistedFixture(t, dir, Options{Token: adminToken})
	dst.register("old", "o1", `{"address":"10.0.9.9","port":80}`)
	rec := dst.admin("PUT", snapshotPath, body)
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
	reopened := persistedFixture(t, dir, Options{Token: adminToken})
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
	f := newFixture(t, Options{Token: adminToken})
	doc := parseBackup(t, f.save())
	if doc.Version != 1 || doc.Index != 0 || doc.Instances == nil || len(doc.Instances) != 0 {
		t.Errorf("empty backup %+v", doc)
	}
	g := newFixture(t, Options{Token: adminToken})
	g.register("web", "w1", web1)
	rec := g.admin("PUT", snapshotPath, f.save())
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
		{"no token set, save", Options{}, "GET", "", 403},
		{"no token set, restore", Options{}, "PUT", "", 403},
		{"no token set, restore with a token", Options{}, "PUT", "Bearer s3cret", 403},
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
			switch tc.status {
			case 401:
				wantError(t, rec, 401, `missing or invalid token: send "Authorization: Bearer <token>"`)
			case 403:
				wantError(t, rec, 403, tc.method+` /v1/snapshot needs a token and this server has none: set "token" or "token-file" in the signpost block of the Corefile`)
			default:
				return
			}
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
		{"not json", "{", "body: ends in the middle of the backup"},
		{"not an object", `[1,2]`, "body: is not a backup: must be a JSON object"},
		{"instances not a list", `{"version":1,"index":1,"instances":{}}`, `body: is not a backup: "instances" must be a list`},
		{"trailing data", `{"version":1,"index":1,"instances":[]} {"version":1}`, "body: must hold one backup and nothing after it"},
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
			f := newFixture(t, Options{Token: adminToken})
			f.register("keep", "k1", web1)
			before := f.reg.Snapshot()
			wantError(t, f.admin("PUT", snapshotPath, tc.body), http.StatusBadRequest, tc.msg)
			if f.reg.Snapshot() != before {
				t.Error("a refused backup changed the registry")
			}
		})
	}
}

func TestRestoreTooLarge(t *testing.T) {
	if got := (Options{}).withDefaults().MaxSnapshotBytes; got != 64<<20 {
		t.Errorf("default MaxSnapshotBytes %d, want 64 MiB", got)
	}
	src := newFixture(t, Options{Token: adminToken})
	for _, id := range []string{"w1", "w2", "w3"} {
		src.register("web", id, web1)
	}
	body := src.save()

	// The limit of a registration does not apply to a backup.
	f := newFixture(t, Options{Token: adminToken, MaxBodyBytes: 64, MaxSnapshotBytes: int64(len(body))})
	if rec := f.admin("PUT", snapshotPath, body); rec.Code != http.StatusOK {
		t.Fatalf("a backup of exactly the limit: %d %s", rec.Code, rec.Body)
	}

	g := newFixture(t, Options{Token: adminToken, MaxSnapshotBytes: int64(len(body)) - 1})
	g.register("keep", "k1", web1)
	before := g.reg.Snapshot()
	wantError(t, g.admin("PUT", snapshotPath, body), http.StatusRequestEntityTooLarge, sprintf("body: larger than %d bytes", len(body)-1))
	if g.reg.Snapshot() != before {
		t.Error("an oversized backup changed the registry")
	}
}

func TestSnapshotRouting(t *testing.T) {
	f := newFixture(t, Options{Token: adminToken})
	rec := f.do("POST", snapshotPath, "")
	wantError(t, rec, http.StatusMethodNotAllowed, "method POST is not allowed on /v1/snapshot")
	if got := rec.Header().Get("Allow"); got != "GET, HEAD, PUT" {
		t.Errorf("Allow %q", got)
	}
}

func TestRestoreAfterStop(t *testing.T) {
	f := persistedFixture(t, t.TempDir(), Options{Token: adminToken})
	f.register("web", "w1", web1)
	f.reg.Stop()
	wantError(t, f.admin("PUT", snapshotPath, `{"version":1,"index":1,"instances":[]}`), http.StatusServiceUnavailable, "registry is shutting down, try again")
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
			got := restoreError(tc.err, 1<<20)
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
	f := persistedFixture(t, t.TempDir(), Options{Token: adminToken})
	f.register("web", "w1", web1)
	f.reg.Stop()
	err := f.reg.RestoreBackup(strings.NewReader(`{"version":1,"index":1,"instances":[]}`))
	var be *registry.BackupError
	if !errors.Is(err, registry.ErrClosed) || errors.As(err, &be) {
		t.Errorf("RestoreBackup on a stopped registry = %v, want ErrClosed and no BackupError", err)
	}
}

// firstRead closes started when the body is first read.
type firstRead struct {
	r       io.Reader
	once    sync.Once
	started chan struct{}
}

func (f *firstRead) Read(p []byte) (int, error) {
	f.once.Do(func() { close(f.started) })
	return f.r.Read(p)
}

// TestRestoreOneAtATime checks that a restore while another one is reading
// its body is refused at once, before its own body is read, and that
// everything else goes on meanwhile.
func TestRestoreOneAtATime(t *testing.T) {
	f := newFixture(t, Options{Token: adminToken})
	f.register("keep", "k1", web1)
	pr, pw := io.Pipe()
	body := &firstRead{r: pr, started: make(chan struct{})}
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		req := httptest.NewRequest("PUT", snapshotPath, body)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		done <- rec
	}()
	select {
	case <-body.started:
	case <-time.After(5 * time.Second):
		t.Fatal("the first restore did not start reading its body")
	}
	wantError(t, f.admin("PUT", snapshotPath, `{"version":1,"index":1,"instances":[]}`), http.StatusConflict,
		"another restore is in progress: try again once it is done")
	f.save()
	f.register("web", "w1", web1)

	if _, err := io.WriteString(pw, `{"version":1,"index":1,"instances":[]}`); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	select {
	case rec := <-done:
		if rec.Code != http.StatusOK {
			t.Fatalf("the first restore: %d %s", rec.Code, rec.Body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first restore did not finish")
	}
	if rec := f.admin("PUT", snapshotPath, `{"version":1,"index":1,"instances":[]}`); rec.Code != http.StatusOK {
		t.Errorf("a restore after the first one: %d %s", rec.Code, rec.Body)
	}
}

// endless is a backup that never ends: its list of instances goes on for
// ever. It counts the bytes read from it.
type endless struct {
	head []byte
	n    int64
}

const endlessRecord = `{"v":1,"service":"web","id":"w1","address":"10.0.0.1","port":80,"weight":1},`

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		if e.n < int64(len(e.head)) {
			p[i] = e.head[e.n]
		} else {
			p[i] = endlessRecord[(e.n-int64(len(e.head)))%int64(len(endlessRecord))]
		}
		e.n++
	}
	return len(p), nil
}

// TestRestoreStopsAtLimit checks that a restore reads no more of a body
// than the limit, whether or not the body says its length, and answers 413
// with the limit.
func TestRestoreStopsAtLimit(t *testing.T) {
	const limit = 1 << 20
	tests := []struct {
		name string
		body func() (io.Reader, int64) // the body and its declared length, -1 for none
		most int64                     // bytes that may be read from it
	}{
		{"endless list of instances", func() (io.Reader, int64) {
			return &endless{head: []byte(`{"version":1,"index":1,"instances":[`)}, -1
		}, limit + 64<<10},
		{"white space", func() (io.Reader, int64) {
			return io.LimitReader(&endless{head: bytes.Repeat([]byte(" "), 2*limit)}, 2*limit), -1
		}, limit + 64<<10},
		{"a backup followed by endless white space", func() (io.Reader, int64) {
			return io.MultiReader(strings.NewReader(`{"version":1,"index":1,"instances":[]}`),
				io.LimitReader(&endless{head: bytes.Repeat([]byte("\n"), 2*limit)}, 2*limit)), -1
		}, limit + 64<<10},
		{"declared too large", func() (io.Reader, int64) {
			return &endless{head: []byte(`{"version":1,"index":1,"instances":[`)}, limit + 1
		}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{Token: adminToken, MaxSnapshotBytes: limit})
			f.register("keep", "k1", web1)
			before := f.reg.Snapshot()
			src, length := tc.body()
			counted := &countingReader{r: src}
			req := httptest.NewRequest("PUT", snapshotPath, counted)
			req.ContentLength = length
			req.Header.Set("Authorization", "Bearer "+adminToken)
			rec := httptest.NewRecorder()
			f.h.ServeHTTP(rec, req)
			wantError(t, rec, http.StatusRequestEntityTooLarge, sprintf("body: larger than %d bytes", limit))
			if counted.n > tc.most {
				t.Errorf("read %d bytes of the body, want at most %d", counted.n, tc.most)
			}
			if f.reg.Snapshot() != before {
				t.Error("an oversized backup changed the registry")
			}
		})
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestRestoreBodyEnds checks what may follow a backup in the body, read in
// pieces of every size, and that a body cut short changes nothing.
func TestRestoreBodyEnds(t *testing.T) {
	const doc = `{"version":1,"index":4,"instances":[{"v":1,"service":"web","id":"w9","address":"10.0.0.9","port":80,"weight":1,"meta":{"note":"}]{\"x\\\\"}}]}`
	tests := []struct {
		name, body string
		status     int
		msg        string
	}{
		{"exact", doc, 200, ""},
		{"white space around", " \r\n\t" + doc + "\n\n  \t", 200, ""},
		{"a second object", doc + "{}", 400, "body: must hold one backup and nothing after it"},
		{"garbage after white space", doc + "\n   x", 400, "body: must hold one backup and nothing after it"},
		{"a closing brace too many", doc + "}", 400, "body: must hold one backup and nothing after it"},
		{"cut short", doc[:len(doc)-1], 400, "body: ends in the middle of the backup"},
		{"cut within a string", doc[:len(doc)-12], 400, "body: ends in the middle of the backup"},
		{"a string", `"backup"`, 400, "body: is not a backup: must be a JSON object"},
		{"null", `null`, 400, "body: is not a backup: must be a JSON object"},
	}
	for _, tc := range tests {
		for _, piece := range []string{"whole", "bytes"} {
			t.Run(tc.name+" "+piece, func(t *testing.T) {
				f := newFixture(t, Options{Token: adminToken})
				f.register("keep", "k1", web1)
				before := f.reg.Snapshot()
				var r io.Reader = strings.NewReader(tc.body)
				if piece == "bytes" {
					r = iotest.OneByteReader(r)
				}
				req := httptest.NewRequest("PUT", snapshotPath, r)
				req.Header.Set("Authorization", "Bearer "+adminToken)
				rec := httptest.NewRecorder()
				f.h.ServeHTTP(rec, req)
				if tc.status == 200 {
					var got restoreJSON
					decode(t, rec, &got)
					if rec.Code != 200 || got.Instances != 1 || f.reg.Snapshot().Service("web") == nil {
						t.Fatalf("%d %s", rec.Code, rec.Body)
					}
					return
				}
				wantError(t, rec, tc.status, tc.msg)
				if f.reg.Snapshot() != before {
					t.Error("a refused backup changed the registry")
				}
			})
		}
	}
}
