package clientapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/api"
	"github.com/signpost-dns/signpost/client"
	"github.com/signpost-dns/signpost/registry"
)

// newServer runs the real API over a fresh registry. Only tests import the
// server packages; the client itself does not.
func newServer(t testing.TB, opts api.Options) (*registry.Registry, *httptest.Server) {
	t.Helper()
	reg := registry.New(registry.Config{})
	srv := httptest.NewServer(api.NewHandler(reg, opts))
	t.Cleanup(srv.Close)
	return reg, srv
}

func newClient(t testing.TB, url string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New([]string{url}, append(opts, client.WithRetry(2, time.Millisecond, 5*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func web(id, addr string) client.Registration {
	return client.Registration{Service: "web", ID: id, Address: addr, Port: 8080, Tags: []string{"v2"}, TTL: 15 * time.Second}
}

func TestAgainstServer(t *testing.T) {
	reg, srv := newServer(t, api.Options{Token: "s3cret"})
	c := newClient(t, srv.URL, client.WithToken("s3cret"))
	ctx := context.Background()

	in, err := c.Register(ctx, web("w1", "10.0.0.5"))
	if err != nil {
		t.Fatal(err)
	}
	if in.Service != "web" || in.ID != "w1" || in.Health != client.Passing || in.TTL != 15*time.Second || in.Weight != 1 || in.LeaseExpires.IsZero() {
		t.Errorf("registered %+v", in)
	}
	if _, ok := reg.Snapshot().Service("web").Instance("w1"); !ok {
		t.Error("not in the registry after Register returned")
	}
	if in, err = c.Heartbeat(ctx, "web", "w1"); err != nil || in.ID != "w1" {
		t.Errorf("heartbeat: %+v, %v", in, err)
	}
	info, err := c.Service(ctx, "web")
	if err != nil || len(info.Instances) != 1 || info.Passing != 1 || info.Index != reg.Index() || info.Instances[0].Tags[0] != "v2" {
		t.Errorf("service: %+v, %v", info, err)
	}
	list, err := c.Services(ctx)
	if err != nil || len(list) != 1 || list[0] != (client.ServiceSummary{Name: "web", Instances: 1, Passing: 1, ModifyIndex: 1}) {
		t.Errorf("services: %+v, %v", list, err)
	}
	if err := c.Deregister(ctx, "web", "w1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Heartbeat(ctx, "web", "w1"); !client.IsNotFound(err) {
		t.Errorf("heartbeat after deregister: %v, want not found", err)
	}
	if err := c.Deregister(ctx, "web", "w1"); !client.IsNotFound(err) {
		t.Errorf("deregister twice: %v, want not found", err)
	}
	if _, err := c.Service(ctx, "web"); !client.IsNotFound(err) {
		t.Errorf("service after deregister: %v, want not found", err)
	}
}

func TestAgainstServerErrors(t *testing.T) {
	_, srv := newServer(t, api.Options{Token: "s3cret"})
	ctx := context.Background()
	_, err := newClient(t, srv.URL).Register(ctx, web("w1", "10.0.0.5"))
	if client.StatusCode(err) != http.StatusUnauthorized {
		t.Errorf("without token: %v", err)
	}
	c := newClient(t, srv.URL, client.WithToken("s3cret"))
	_, err = c.Register(ctx, web("w1", "db.example.com"))
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 400 || e.Message != `address: "db.example.com" must be an IPv4 or IPv6 address` {
		t.Errorf("bad address: %v", err)
	}
	r := web("w1", "10.0.0.5")
	r.Weight = new(70000)
	if _, err = c.Register(ctx, r); err == nil || err.Error() != `weight: "70000" must be between 0 and 65535 (HTTP 400)` {
		t.Errorf("bad weight: %v", err)
	}
}

func TestWaitService(t *testing.T) {
	_, srv := newServer(t, api.Options{})
	c := newClient(t, srv.URL)
	ctx := context.Background()
	if _, err := c.Register(ctx, web("w1", "10.0.0.5")); err != nil {
		t.Fatal(err)
	}
	info, err := c.Service(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	same, err := c.WaitService(ctx, "web", info.Index, 100*time.Millisecond)
	if err != nil || same.Index != info.Index || time.Since(start) < 100*time.Millisecond {
		t.Errorf("timeout: %+v, %v after %s", same, err, time.Since(start))
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		c.Register(ctx, web("w2", "10.0.0.6"))
	}()
	next, err := c.WaitService(ctx, "web", info.Index, 10*time.Second)
	if err != nil || len(next.Instances) != 2 || next.Index <= info.Index {
		t.Errorf("change: %+v, %v", next, err)
	}
}

// recorder keeps what Watch reports.
type recorder struct {
	mu    sync.Mutex
	calls [][]string
	c     chan struct{}
}

func newRecorder() *recorder { return &recorder{c: make(chan struct{}, 100)} }

func (r *recorder) fn(info client.ServiceInfo) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := []string{}
	for _, in := range info.Instances {
		ids = append(ids, in.ID+":"+string(in.Health))
	}
	r.calls = append(r.calls, ids)
	r.c <- struct{}{}
	return nil
}

func (r *recorder) next(t *testing.T) []string {
	t.Helper()
	select {
	case <-r.c:
	case <-time.After(5 * time.Second):
		t.Fatal("no call of the watch function")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[len(r.calls)-1]
}

func (r *recorder) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-r.c:
		t.Fatalf("unexpected call: %v", r.calls[len(r.calls)-1])
	case <-time.After(d):
	}
}

func TestWatch(t *testing.T) {
	reg, srv := newServer(t, api.Options{})
	c := newClient(t, srv.URL, client.WithWatchWait(50*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	rec := newRecorder()
	done := make(chan error, 1)
	go func() { done <- c.Watch(ctx, "web", rec.fn) }()

	if got := rec.next(t); len(got) != 0 {
		t.Fatalf("first call %v, want no instances", got)
	}
	c.Register(ctx, web("w1", "10.0.0.5"))
	if got := rec.next(t); len(got) != 1 || got[0] != "w1:passing" {
		t.Fatalf("after register: %v", got)
	}
	// Waits running out and changes to other services report nothing.
	c.Register(ctx, client.Registration{Service: "api", ID: "a1", Address: "10.0.1.5", Port: 80})
	rec.none(t, 200*time.Millisecond)

	reg.SetHealth("web", "w1", registry.Critical)
	if got := rec.next(t); len(got) != 1 || got[0] != "w1:critical" {
		t.Fatalf("after health change: %v", got)
	}
	c.Deregister(ctx, "web", "w1")
	if got := rec.next(t); len(got) != 0 {
		t.Fatalf("after deregister: %v", got)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Watch returned %v, want context.Canceled", err)
	}
}

func TestWatchSurvivesServerErrors(t *testing.T) {
	reg := registry.New(registry.Config{})
	h := api.NewHandler(reg, api.Options{})
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "restarting", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, client.WithWatchWait(20*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := newRecorder()
	go c.Watch(ctx, "web", rec.fn)
	rec.next(t)
	down.Store(true)
	time.Sleep(100 * time.Millisecond)
	reg.Register(registry.Instance{Service: "web", ID: "w1", Address: mustAddr("10.0.0.5"), Port: 80, Weight: 1})
	down.Store(false)
	if got := rec.next(t); len(got) != 1 {
		t.Fatalf("after the outage: %v", got)
	}
}

func TestWatchEndsOnRefusal(t *testing.T) {
	_, srv := newServer(t, api.Options{Token: "s3cret", TokenRead: true})
	c := newClient(t, srv.URL)
	err := c.Watch(context.Background(), "web", func(client.ServiceInfo) error { return nil })
	if client.StatusCode(err) != http.StatusUnauthorized {
		t.Errorf("Watch returned %v, want 401", err)
	}
}

func TestWatchEndsWithCallbackError(t *testing.T) {
	_, srv := newServer(t, api.Options{})
	c := newClient(t, srv.URL)
	stop := errors.New("stop")
	if err := c.Watch(context.Background(), "web", func(client.ServiceInfo) error { return stop }); err != stop {
		t.Errorf("Watch returned %v, want the callback's error", err)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
