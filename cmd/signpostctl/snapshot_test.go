package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/api"
	"github.com/signpost-dns/signpost/registry"
)

func mustRegister(t *testing.T, reg *registry.Registry, service, id, addr string, ttl time.Duration) {
	t.Helper()
	_, err := reg.Register(registry.Instance{Service: service, ID: id, Address: netip.MustParseAddr(addr), Port: 8080, Weight: 1, Tags: []string{"v2"}, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
}

// dirEntries lists the names in dir, to catch temporary files left behind.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestSnapshotSaveRestore(t *testing.T) {
	src, srcSrv := newServer(t, api.Options{Token: "s3cret"})
	dst, dstSrv := newServer(t, api.Options{Token: "s3cret"})
	mustRegister(t, src, "web", "w1", "10.0.0.5", 15*time.Second)
	mustRegister(t, src, "web", "w2", "10.0.0.6", 0)
	mustRegister(t, src, "db", "d1", "10.0.1.5", 0)
	mustRegister(t, dst, "old", "o1", "10.0.9.9", 0)
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.json")

	env := []string{"SIGNPOST_SERVER=" + srcSrv.URL, "SIGNPOST_TOKEN=s3cret"}
	ctl(ctx, env, "snapshot", "save", file).check(t, 0, fmt.Sprintf("saved 3 instances at index %d to %s\n", src.Index(), file), "")
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600: it holds the whole registry", fi.Mode().Perm())
	}
	if names := dirEntries(t, dir); len(names) != 1 {
		t.Errorf("directory holds %q, want the backup alone", names)
	}

	env = []string{"SIGNPOST_SERVER=" + dstSrv.URL, "SIGNPOST_TOKEN=s3cret"}
	ctl(ctx, env, "snapshot", "restore", file).check(t, 0, fmt.Sprintf("restored 3 instances from %s (saved at index 3)\n", file), "")
	snap := dst.Snapshot()
	if snap.Service("old") != nil || snap.Service("web").Len() != 2 || snap.Service("db").Len() != 1 {
		t.Errorf("after the restore: old %v, web %d, db %d", snap.Service("old") != nil, snap.Service("web").Len(), snap.Service("db").Len())
	}
	if in, _ := snap.Service("web").Instance("w1"); in.TTL != 15*time.Second || in.Address != netip.MustParseAddr("10.0.0.5") {
		t.Errorf("w1 restored as %+v", in)
	}

	// Saving again replaces the file.
	mustRegister(t, src, "db", "d2", "10.0.1.6", 0)
	ctl(ctx, []string{"SIGNPOST_TOKEN=s3cret"}, "snapshot", "save", file, "--server", srcSrv.URL).check(t, 0, "saved 4 instances at index 4", "")
	if b, _ := os.ReadFile(file); !strings.Contains(string(b), `"d2"`) {
		t.Errorf("the second save did not replace the file:\n%s", b)
	}
}

func TestSnapshotSaveKeepsOldFileOnFailure(t *testing.T) {
	_, srv := newServer(t, api.Options{Token: "s3cret"})
	_, noToken := newServer(t, api.Options{})
	notBackup := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<html>captive portal</html>")
	}))
	defer notBackup.Close()
	emptyList := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"services":[]}`)
	}))
	defer emptyList.Close()
	ctx := context.Background()
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no token", []string{"--server", srv.URL}, `signpostctl: snapshot: missing or invalid token: send "Authorization: Bearer <token>" (HTTP 401)`},
		{"server without a token", []string{"--server", noToken.URL, "--token", "s3cret"},
			`signpostctl: snapshot: GET /v1/snapshot needs a token and this server has none: set "token" or "token-file" in the signpost block of the Corefile (HTTP 403)`},
		{"not json", []string{"--server", notBackup.URL}, "signpostctl: snapshot: the server's answer is not a backup: invalid character '<'"},
		{"no instances", []string{"--server", emptyList.URL}, `signpostctl: snapshot: the server's answer is not a backup: it has no "instances" list`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "backup.json")
			const old = `{"version":1,"index":7,"instances":[]}`
			if err := os.WriteFile(file, []byte(old), 0o600); err != nil {
				t.Fatal(err)
			}
			ctl(ctx, nil, append([]string{"snapshot", "save", file}, tc.args...)...).check(t, 1, "", tc.stderr)
			if b, _ := os.ReadFile(file); string(b) != old {
				t.Errorf("a failed save changed the file to %q", b)
			}
			if names := dirEntries(t, dir); len(names) != 1 {
				t.Errorf("directory holds %q after a failed save", names)
			}
		})
	}
	ctl(ctx, []string{"SIGNPOST_SERVER=" + srv.URL}, "snapshot", "save", "/nonexistent/dir/backup.json").
		check(t, 1, "", "signpostctl: snapshot: open /nonexistent/dir/.backup.json.tmp-")
}

func TestSnapshotRestoreErrors(t *testing.T) {
	reg, srv := newServer(t, api.Options{Token: "s3cret"})
	mustRegister(t, reg, "keep", "k1", "10.0.0.5", 0)
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	env := []string{"SIGNPOST_SERVER=" + srv.URL, "SIGNPOST_TOKEN=s3cret"}
	missing := filepath.Join(dir, "missing.json")
	ctl(ctx, env, "snapshot", "restore", missing).check(t, 1, "", "signpostctl: snapshot: open "+missing+": no such file or directory")
	empty := write("empty.json", "")
	ctl(ctx, env, "snapshot", "restore", empty).check(t, 1, "", "signpostctl: snapshot: "+empty+" is not a Signpost backup: it is empty")
	text := write("notes.txt", "hello")
	ctl(ctx, env, "snapshot", "restore", text).check(t, 1, "", "signpostctl: snapshot: "+text+" is not a Signpost backup: invalid character 'h'")
	future := write("future.json", `{"version":2,"index":1,"instances":[]}`)
	ctl(ctx, env, "snapshot", "restore", future).check(t, 1, "", "signpostctl: snapshot: backup: format version 2, this server reads version 1 (HTTP 400)")
	bad := write("bad.json", `{"version":1,"index":1,"instances":[{"v":1,"service":"web","id":"w1","address":"nowhere","port":80,"weight":1}]}`)
	ctl(ctx, env, "snapshot", "restore", bad).check(t, 1, "", `signpostctl: snapshot: backup: instance 0 (web/w1): address: "nowhere" must be an IPv4 or IPv6 address (HTTP 400)`)
	if reg.Snapshot().Service("keep") == nil || reg.Snapshot().Len() != 1 {
		t.Error("a refused restore changed the registry")
	}
}

func TestSnapshotUsage(t *testing.T) {
	ctx := context.Background()
	ctl(ctx, nil, "snapshot").check(t, 2, "", "signpostctl: snapshot: want save FILE or restore FILE, got 0 argument(s) (see 'signpostctl snapshot --help')")
	ctl(ctx, nil, "snapshot", "save").check(t, 2, "", "signpostctl: snapshot: want save FILE or restore FILE, got 1 argument(s)")
	ctl(ctx, nil, "snapshot", "load", "x.json").check(t, 2, "", `signpostctl: snapshot: unknown action "load", want save FILE or restore FILE`)
	ctl(ctx, nil, "snapshot", "save", "a", "b").check(t, 2, "", "got 3 argument(s)")
	r := ctl(ctx, nil, "snapshot", "--help")
	r.check(t, 0, "Usage: signpostctl snapshot save FILE | restore FILE", "")
	if !strings.Contains(r.stdout, "snapshot save /var/backups/signpost.json") || !strings.Contains(r.stdout, "snapshot restore ") {
		t.Errorf("help without examples of both:\n%s", r.stdout)
	}
	ctl(ctx, nil, "--help").check(t, 0, "  snapshot    Save a backup", "")
}
