package clientapi_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/api"
	"github.com/signpost-dns/signpost/client"
	"github.com/signpost-dns/signpost/registry"
)

func TestEventsAgainstServer(t *testing.T) {
	reg, srv := newServer(t, api.Options{})
	c := newClient(t, srv.URL)
	ctx := context.Background()
	if _, err := c.Register(ctx, web("w1", "10.0.0.5")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Report(ctx, "web", "w1", client.Critical, "GET /healthz: 503"); err != nil {
		t.Fatal(err)
	}
	if err := reg.ApplyStatic([]registry.StaticService{{Config: registry.ServiceConfig{Name: "db"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Register(registry.Instance{Service: "db", ID: "d1", Address: netip.MustParseAddr("10.0.0.6"), Port: 5432}); err != nil {
		t.Fatal(err)
	}

	page, err := c.Events(ctx, 0, "")
	if err != nil || len(page.Events) != 3 || page.Index != 3 || page.Missed {
		t.Fatalf("events: %+v, %v", page, err)
	}
	e := page.Events[1]
	if e.Index != 2 || e.Type != client.EventHealth || e.Service != "web" || e.Instance != "w1" ||
		e.Health != client.Critical || e.Reason != "GET /healthz: 503" || e.Time.IsZero() {
		t.Errorf("health event %+v", e)
	}
	if page, err = c.Events(ctx, 1, "web"); err != nil || len(page.Events) != 1 || page.Events[0].Index != 2 {
		t.Errorf("web's events after 1: %+v, %v", page, err)
	}
	if _, err := c.Events(ctx, 0, "not_a_label"); client.StatusCode(err) != 400 {
		t.Errorf("bad service: %v, want 400", err)
	}
}

func TestEventsMissedAgainstServer(t *testing.T) {
	reg := registry.New(registry.Config{Events: 2})
	srv := httptest.NewServer(api.NewHandler(reg, api.Options{}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL)
	for _, id := range []string{"w1", "w2", "w3", "w4"} {
		if _, err := c.Register(context.Background(), web(id, "10.0.0.5")); err != nil {
			t.Fatal(err)
		}
	}
	page, err := c.Events(context.Background(), 1, "")
	if err != nil || !page.Missed || len(page.Events) != 2 || page.Events[0].Index != 3 {
		t.Errorf("after 1 of a log keeping 2: %+v, %v", page, err)
	}
	if page, err = c.Events(context.Background(), 2, ""); err != nil || page.Missed {
		t.Errorf("after 2: %+v, %v", page, err)
	}
}

func TestFollowEvents(t *testing.T) {
	reg, srv := newServer(t, api.Options{})
	c := newClient(t, srv.URL, client.WithWatchWait(time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.Register(ctx, web("w1", "10.0.0.5")); err != nil {
		t.Fatal(err)
	}

	got := make(chan client.Event, 10)
	done := make(chan error, 1)
	go func() {
		done <- c.FollowEvents(ctx, 0, "web", func(p client.EventPage) error {
			for _, e := range p.Events {
				got <- e
			}
			return nil
		})
	}()
	next := func() client.Event {
		t.Helper()
		select {
		case e := <-got:
			return e
		case <-ctx.Done():
			t.Fatal("no event")
		}
		return client.Event{}
	}
	if e := next(); e.Type != client.EventRegistered || e.Instance != "w1" {
		t.Errorf("first event %+v", e)
	}
	// Another service's event does not reach a follower of web.
	if _, err := reg.Register(registry.Instance{Service: "api", ID: "a1", Address: netip.MustParseAddr("10.0.0.7"), Port: 80}); err != nil {
		t.Fatal(err)
	}
	if err := c.Deregister(ctx, "web", "w1"); err != nil {
		t.Fatal(err)
	}
	if e := next(); e.Type != client.EventDeregistered || e.Index != 3 {
		t.Errorf("then %+v, want web's deregistration, event 3", e)
	}

	// fn's error ends the follow.
	stop := errors.New("stop")
	err := c.FollowEvents(ctx, 0, "", func(client.EventPage) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("FollowEvents returned %v, want fn's error", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("FollowEvents after cancel: %v", err)
	}
}
