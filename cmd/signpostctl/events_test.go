package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/api"
	"github.com/signpost-dns/signpost/registry"
)

func registerIn(t *testing.T, reg *registry.Registry, service, id string) {
	t.Helper()
	in := registry.Instance{Service: service, ID: id, Address: netip.MustParseAddr("10.0.0.5"), Port: 80, TTL: 10 * time.Second}
	if _, err := reg.Register(in); err != nil {
		t.Fatal(err)
	}
}

func TestEvents(t *testing.T) {
	reg, srv := newServer(t, api.Options{})
	registerIn(t, reg, "web", "w1")
	if _, _, err := reg.Report("web", "w1", registry.Critical, "GET /healthz: 503"); err != nil {
		t.Fatal(err)
	}
	registerIn(t, reg, "api", "a1")
	ctx := context.Background()
	env := []string{"SIGNPOST_SERVER=" + srv.URL}

	ctl(ctx, env, "events").check(t, 0, "2026-01-02T03:04:05Z #1 registered web/w1 passing: registered through the API\n"+
		"2026-01-02T03:04:05Z #2 health web/w1 critical: GET /healthz: 503\n"+
		"2026-01-02T03:04:05Z #3 registered api/a1 passing", "")
	r := ctl(ctx, env, "events", "--service", "web", "--index", "1")
	r.check(t, 0, "#2 health web/w1 critical", "")
	if strings.Contains(r.stdout, "api/a1") || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("--service web --index 1 printed:\n%s", r.stdout)
	}
	r = ctl(ctx, env, "events", "--json", "--index", "2")
	var e map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &e); err != nil || e["type"] != "registered" || e["index"] != 3.0 || e["service"] != "api" {
		t.Errorf("--json: %s (%v)", r.stdout, err)
	}
	ctl(ctx, env, "events", "--service", "Not_A_Label").check(t, 1, "", "service")
	ctl(ctx, env, "events", "extra").check(t, 2, "", "argument")
}

func TestEventsMissed(t *testing.T) {
	reg := registry.New(registry.Config{Events: 2})
	srv := httptest.NewServer(api.NewHandler(reg, api.Options{}))
	t.Cleanup(srv.Close)
	for _, id := range []string{"w1", "w2", "w3", "w4"} {
		registerIn(t, reg, "web", id)
	}
	r := ctl(context.Background(), []string{"SIGNPOST_SERVER=" + srv.URL}, "events", "--index", "1")
	r.check(t, 0, "#3 registered web/w3", "no longer kept by the server")
}

func TestEventsFollow(t *testing.T) {
	reg, srv := newServer(t, api.Options{})
	registerIn(t, reg, "web", "w1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	getenv := func(k string) string {
		if k == "SIGNPOST_SERVER" {
			return srv.URL
		}
		return ""
	}
	go func() { done <- run(ctx, []string{"events", "--follow", "--service", "web"}, getenv, &stdout, &stderr) }()

	waitFor := func(what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(stdout.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q within 10s; stdout:\n%s\nstderr:\n%s", what, stdout.String(), stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("#1 registered web/w1")
	registerIn(t, reg, "api", "a1")
	if err := reg.Deregister("web", "w1"); err != nil {
		t.Fatal(err)
	}
	waitFor("#3 deregistered web/w1: deregistered through the API")
	if strings.Contains(stdout.String(), "api/a1") {
		t.Errorf("followed another service's events:\n%s", stdout.String())
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after an interrupt; stderr: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("events --follow did not end when interrupted")
	}
}
