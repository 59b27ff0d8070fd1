package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/api"
	"github.com/signpost-dns/signpost/client"
	"github.com/signpost-dns/signpost/registry"
)

// sidecarEnv is a real API server that counts the calls it gets and can
// pretend to be down, and a sidecar pointed at it with short intervals.
type sidecarEnv struct {
	reg        *registry.Registry
	srv        *httptest.Server
	down       atomic.Bool
	registers  atomic.Int32
	heartbeats atomic.Int32
	log        syncBuffer
	healthy    atomic.Bool
	s          *sidecar
}

func newSidecarEnv(t *testing.T, opts api.Options, clientOpts ...client.Option) *sidecarEnv {
	t.Helper()
	e := &sidecarEnv{reg: registry.New(registry.Config{})}
	h := api.NewHandler(e.reg, opts)
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		switch {
		case strings.HasSuffix(r.URL.Path, "/heartbeat"):
			e.heartbeats.Add(1)
		case r.Method == http.MethodPut:
			e.registers.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	c, err := client.New([]string{e.srv.URL}, append(clientOpts, client.WithRetry(2, time.Millisecond, 2*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	reg := client.Registration{Service: "web", ID: "w1", Address: "10.0.0.5", Port: 8080, Tags: []string{"v2"}, TTL: 3 * time.Second}
	e.s = newSidecar(c, reg, &e.log)
	e.s.interval, e.s.backoff, e.s.maxBack = 10*time.Millisecond, 2*time.Millisecond, 10*time.Millisecond
	e.healthy.Store(true)
	return e
}

// gate makes the sidecar's local health check follow e.healthy.
func (e *sidecarEnv) gate() {
	e.s.health = func(context.Context) error {
		if e.healthy.Load() {
			return nil
		}
		return errors.New("GET http://127.0.0.1:8080/healthz: 503 Service Unavailable")
	}
}

// start runs the sidecar until the returned stop is called, which returns
// what run returned.
func (e *sidecarEnv) start(t *testing.T) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.s.run(ctx) }()
	var stopped bool
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			t.Fatal("sidecar did not stop")
			return nil
		}
	}
	t.Cleanup(func() { stop() })
	return stop
}

func (e *sidecarEnv) registered() bool {
	svc := e.reg.Snapshot().Service("web")
	if svc == nil {
		return false
	}
	_, ok := svc.Instance("w1")
	return ok
}

func (e *sidecarEnv) logged(t *testing.T, s string) {
	t.Helper()
	eventually(t, fmt.Sprintf("log line %q", s), func() bool { return strings.Contains(e.log.String(), s) })
}

func TestSidecarLifecycle(t *testing.T) {
	e := newSidecarEnv(t, api.Options{Token: "t"}, client.WithToken("t"))
	stop := e.start(t)
	eventually(t, "registration", e.registered)
	eventually(t, "heartbeats", func() bool { return e.heartbeats.Load() >= 3 })
	in, _ := e.reg.Snapshot().Service("web").Instance("w1")
	if in.TTL != 3*time.Second || in.Port != 8080 || !in.HasTag("v2") || in.Health != registry.Passing {
		t.Errorf("registered %+v", in)
	}
	if n := e.registers.Load(); n != 1 {
		t.Errorf("%d registrations, want 1", n)
	}
	if err := stop(); err != nil {
		t.Fatalf("run returned %v", err)
	}
	if e.registered() {
		t.Error("still registered after the sidecar stopped")
	}
	e.logged(t, "registered instance w1 of service web at 10.0.0.5:8080 (passing)")
	e.logged(t, "deregistered instance w1 of service web")
}

func TestSidecarRegistersAgainOn404(t *testing.T) {
	e := newSidecarEnv(t, api.Options{})
	e.start(t)
	eventually(t, "registration", e.registered)
	// As when the server restarts with an empty registry.
	if err := e.reg.Deregister("web", "w1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "registration again", e.registered)
	e.logged(t, "server does not hold the lease of the instance (instance w1 of service web not found (HTTP 404)), registering again")
	if n := e.registers.Load(); n != 2 {
		t.Errorf("%d registrations, want 2", n)
	}
}

func TestSidecarHealthGate(t *testing.T) {
	e := newSidecarEnv(t, api.Options{})
	e.gate()
	e.healthy.Store(false)
	e.start(t)
	e.logged(t, "local health check failing, no longer renewing the lease")
	time.Sleep(50 * time.Millisecond)
	if e.registers.Load() != 0 {
		t.Fatal("registered while the local health check fails")
	}

	e.healthy.Store(true)
	e.logged(t, "local health check passing again, renewing the lease")
	eventually(t, "registration", e.registered)
	eventually(t, "heartbeats", func() bool { return e.heartbeats.Load() >= 2 })

	e.healthy.Store(false)
	e.logged(t, "local health check failing, no longer renewing the lease: DNS drops the instance within 3s")
	// Let a renewal in flight finish, then none may follow.
	time.Sleep(30 * time.Millisecond)
	before := e.heartbeats.Load()
	time.Sleep(60 * time.Millisecond)
	if after := e.heartbeats.Load(); after != before {
		t.Errorf("%d heartbeats while the local check failed", after-before)
	}

	e.healthy.Store(true)
	eventually(t, "heartbeats again", func() bool { return e.heartbeats.Load() > before })
}

func TestSidecarDeregistersWhileUnhealthy(t *testing.T) {
	e := newSidecarEnv(t, api.Options{})
	e.gate()
	stop := e.start(t)
	eventually(t, "registration", e.registered)
	e.healthy.Store(false)
	e.logged(t, "local health check failing")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if e.registered() {
		t.Error("still registered after the sidecar stopped")
	}
}

func TestSidecarWaitsForServers(t *testing.T) {
	e := newSidecarEnv(t, api.Options{})
	e.down.Store(true)
	e.start(t)
	e.logged(t, "cannot renew, retrying with backoff: ")
	time.Sleep(30 * time.Millisecond)
	e.down.Store(false)
	eventually(t, "registration", e.registered)
	e.logged(t, "servers reachable again after")
	// One line for the whole outage, not one per attempt.
	if n := strings.Count(e.log.String(), "cannot renew"); n != 1 {
		t.Errorf("logged the outage %d times", n)
	}
}

func TestSidecarStopsOnRefusal(t *testing.T) {
	e := newSidecarEnv(t, api.Options{Token: "t"})
	done := make(chan error, 1)
	go func() { done <- e.s.run(context.Background()) }()
	select {
	case err := <-done:
		if err == nil || err.Error() != `registering instance w1 of service web: missing or invalid token: send "Authorization: Bearer <token>" (HTTP 401)` {
			t.Errorf("run returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("sidecar kept going after a 401")
	}
}

func TestHTTPCheck(t *testing.T) {
	var status atomic.Int32
	status.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	check := httpCheck(srv.URL+"/healthz", time.Second)
	ctx := context.Background()
	for code, ok := range map[int32]bool{200: true, 204: true, 301: true, 404: false, 429: false, 500: false, 503: false} {
		status.Store(code)
		if err := check(ctx); (err == nil) != ok {
			t.Errorf("status %d: err %v", code, err)
		}
	}
	status.Store(503)
	if err := check(ctx); err == nil || err.Error() != "GET "+srv.URL+"/healthz: 503 Service Unavailable" {
		t.Errorf("err %v", err)
	}
	srv.Close()
	if err := check(ctx); err == nil {
		t.Error("no error with the service down")
	}
}

func TestSidecarCommand(t *testing.T) {
	reg, srv := newServer(t, api.Options{})
	health := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer health.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"sidecar", "--server", srv.URL, "--service", "web", "--id", "w1",
			"--address", "10.0.0.5", "--port", "8080", "--ttl", "3s", "--tag", "v2", "--health-url", health.URL},
			func(string) string { return "" }, &stdout, &stderr)
	}()
	eventually(t, "registration", func() bool {
		svc := reg.Snapshot().Service("web")
		return svc != nil && svc.Len() == 1
	})
	cancel() // as SIGTERM does
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("sidecar did not stop")
	}
	if reg.Snapshot().Service("web") != nil {
		t.Error("still registered after SIGTERM")
	}
	if !strings.Contains(stderr.String(), "signpostctl: sidecar: deregistered instance w1 of service web") {
		t.Errorf("log: %s", stderr.String())
	}
}

func TestSidecarCommandRefused(t *testing.T) {
	_, srv := newServer(t, api.Options{})
	r := ctl(context.Background(), nil, "sidecar", "--server", srv.URL, "--service", "addr", "--id", "w1", "--address", "10.0.0.5", "--port", "8080")
	if r.code != 1 || !strings.HasSuffix(r.stderr, "signpostctl: sidecar: registering instance w1 of service addr: service: \"addr\" is reserved for address records (HTTP 400)\n") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}
