package clientapi_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/api"
	"github.com/signpost-dns/signpost/client"
)

// apiServer runs the real API over a fresh registry.
func apiServer(t *testing.T, opts api.Options) *httptest.Server {
	t.Helper()
	_, srv := newServer(t, opts)
	return srv
}

func fastRetry(attempts int) client.Option {
	return client.WithRetry(attempts, time.Millisecond, 5*time.Millisecond)
}

// fake is a scripted server that counts its requests.
type fake struct {
	*httptest.Server
	hits atomic.Int32
}

func newFake(t *testing.T, h http.HandlerFunc) *fake {
	t.Helper()
	f := &fake{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

// status answers every request with code and body.
func status(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

func TestSnapshotRestoreAgainstServers(t *testing.T) {
	src := apiServer(t, api.Options{Token: "s3cret", TokenRead: false})
	dst := apiServer(t, api.Options{Token: "s3cret"})
	ctx := context.Background()
	a, _ := client.New([]string{src.URL}, client.WithToken("s3cret"), fastRetry(2))
	b, _ := client.New([]string{dst.URL}, client.WithToken("s3cret"), fastRetry(2))
	regs := []client.Registration{
		{Service: "web", ID: "w1", Address: "10.0.0.5", Port: 8080, Tags: []string{"v2"}, Meta: map[string]string{"zone": "a"}, TTL: 15 * time.Second},
		{Service: "web", ID: "w2", Address: "2001:db8::6", Port: 8081, Weight: new(0)},
		{Service: "db", ID: "d1", Address: "10.0.1.5", Port: 3306},
	}
	for _, r := range regs {
		if _, err := a.Register(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Register(ctx, client.Registration{Service: "old", ID: "o1", Address: "10.0.9.9", Port: 80}); err != nil {
		t.Fatal(err)
	}

	var backup bytes.Buffer
	if err := a.Snapshot(ctx, &backup); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(backup.String(), `"instances"`) {
		t.Fatalf("backup %s", backup.String())
	}
	if err := b.Restore(ctx, bytes.NewReader(backup.Bytes())); err != nil {
		t.Fatal(err)
	}
	for _, svc := range []string{"web", "db"} {
		want, _ := a.Service(ctx, svc)
		got, err := b.Service(ctx, svc)
		if err != nil {
			t.Fatalf("%s after the restore: %v", svc, err)
		}
		if len(got.Instances) != len(want.Instances) {
			t.Fatalf("%s: %d instances, want %d", svc, len(got.Instances), len(want.Instances))
		}
		for i, in := range got.Instances {
			w := want.Instances[i]
			if in.ID != w.ID || in.Address != w.Address || in.Port != w.Port || in.Weight != w.Weight || in.TTL != w.TTL ||
				strings.Join(in.Tags, ",") != strings.Join(w.Tags, ",") || in.Meta["zone"] != w.Meta["zone"] {
				t.Errorf("%s: restored %+v, want %+v", svc, in, w)
			}
		}
	}
	if _, err := b.Service(ctx, "old"); !client.IsNotFound(err) {
		t.Errorf("old after the restore: %v, want not found", err)
	}
}

func TestSnapshotNeedsToken(t *testing.T) {
	srv := apiServer(t, api.Options{Token: "s3cret"})
	c, _ := client.New([]string{srv.URL}, fastRetry(2))
	var w bytes.Buffer
	if err := c.Snapshot(context.Background(), &w); client.StatusCode(err) != http.StatusUnauthorized || w.Len() != 0 {
		t.Errorf("snapshot without token: %v, %d bytes written", err, w.Len())
	}
	if err := c.Restore(context.Background(), strings.NewReader(`{"version":1,"index":0,"instances":[]}`)); client.StatusCode(err) != http.StatusUnauthorized {
		t.Errorf("restore without token: %v", err)
	}
}

// TestSnapshotRefusedWithoutServerToken checks that a server without a
// token refuses both calls with 403, which no other server is asked about.
func TestSnapshotRefusedWithoutServerToken(t *testing.T) {
	srv := apiServer(t, api.Options{})
	second := newFake(t, status(200, `{"instances":0,"index":1}`))
	c, _ := client.New([]string{srv.URL, second.URL}, fastRetry(4), client.WithToken("s3cret"))
	var w bytes.Buffer
	if err := c.Snapshot(context.Background(), &w); client.StatusCode(err) != http.StatusForbidden || w.Len() != 0 {
		t.Errorf("snapshot: %v, %d bytes written", err, w.Len())
	}
	err := c.Restore(context.Background(), strings.NewReader(`{"version":1,"index":0,"instances":[]}`))
	var e *client.Error
	if !errors.As(err, &e) || e.Status != http.StatusForbidden || !strings.Contains(e.Message, `set "token" or "token-file"`) {
		t.Errorf("restore: %v", err)
	}
	if second.hits.Load() != 0 {
		t.Error("a refused call was sent to another server")
	}
}

func TestRestoreRefused(t *testing.T) {
	srv := apiServer(t, api.Options{Token: "s3cret"})
	second := newFake(t, status(200, `{"instances":0,"index":1}`))
	c, _ := client.New([]string{srv.URL, second.URL}, fastRetry(4), client.WithToken("s3cret"))
	err := c.Restore(context.Background(), strings.NewReader(`{"version":2,"index":0,"instances":[]}`))
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 400 || e.Message != "backup: format version 2, this server reads version 1" {
		t.Errorf("err %v", err)
	}
	if second.hits.Load() != 0 {
		t.Error("a refused restore was sent to another server")
	}
}
