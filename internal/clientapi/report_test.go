package clientapi_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/api"
	"github.com/signpost-dns/signpost/client"
	"github.com/signpost-dns/signpost/registry"
)

// served reports whether DNS would answer with the instance: whether it is
// among the passing instances of its service.
func served(reg *registry.Registry, service, id string) bool {
	svc := reg.Snapshot().Service(service)
	if svc == nil {
		return false
	}
	for _, in := range svc.Select(nil, "", false) {
		if in.ID == id {
			return true
		}
	}
	return false
}

func TestReportAgainstServer(t *testing.T) {
	reg, srv := newServer(t, api.Options{Token: "s3cret"})
	c := newClient(t, srv.URL, client.WithToken("s3cret"))
	ctx := context.Background()
	if _, err := c.Register(ctx, web("w1", "10.0.0.5")); err != nil {
		t.Fatal(err)
	}

	in, err := c.Report(ctx, "web", "w1", client.Critical, "GET http://127.0.0.1:8080/healthz: 503 Service Unavailable")
	if err != nil {
		t.Fatal(err)
	}
	if in.Service != "web" || in.ID != "w1" || in.Health != client.Critical || in.TTL != 15*time.Second || in.LeaseExpires.IsZero() {
		t.Errorf("critical report answered %+v", in)
	}
	if served(reg, "web", "w1") {
		t.Error("w1 served after Report(Critical) returned")
	}
	// It keeps its registration: the service still lists it, critical.
	info, err := c.Service(ctx, "web")
	if err != nil || len(info.Instances) != 1 || info.Critical != 1 || info.Instances[0].Health != client.Critical {
		t.Errorf("service after the critical report: %+v, %v", info, err)
	}

	if in, err = c.Report(ctx, "web", "w1", client.Passing, ""); err != nil || in.Health != client.Passing {
		t.Errorf("passing report: %+v, %v", in, err)
	}
	if !served(reg, "web", "w1") {
		t.Error("w1 not served after Report(Passing) returned")
	}
	if in, err = c.Report(ctx, "web", "w1", client.Warning, "slow"); err != nil || in.Health != client.Warning {
		t.Errorf("warning report: %+v, %v", in, err)
	}
}

func TestReportErrors(t *testing.T) {
	reg, srv := newServer(t, api.Options{})
	c := newClient(t, srv.URL)
	ctx := context.Background()
	if _, err := c.Register(ctx, web("w1", "10.0.0.5")); err != nil {
		t.Fatal(err)
	}
	nolease := web("w2", "10.0.0.6")
	nolease.TTL = 0
	if _, err := c.Register(ctx, nolease); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, id string
		status   client.Health
		output   string
		code     int
		msg      string
	}{
		{"unknown instance", "w9", client.Critical, "", 404, "instance w9 of service web not found"},
		{"no lease", "w2", client.Critical, "", 409, "instance w2 of service web has no heartbeat lease: it was registered without a ttl"},
		{"unknown status", "w1", "down", "", 400, `status: "down" must be passing, warning or critical`},
		{"empty status", "w1", "", "", 400, "status: must be passing, warning or critical"},
		{"newline in output", "w1", client.Critical, "a\nb", 400, "output: must not hold control characters, has U+000A at byte 1"},
		{"output too long", "w1", client.Critical, strings.Repeat("x", client.MaxOutputBytes+1), 400, "output: is longer than 4096 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Report(ctx, "web", tc.id, tc.status, tc.output)
			var e *client.Error
			if !errors.As(err, &e) || e.Status != tc.code || e.Message != tc.msg {
				t.Errorf("err %v, want %q (HTTP %d)", err, tc.msg, tc.code)
			}
			if client.IsNotFound(err) != (tc.code == 404) {
				t.Errorf("IsNotFound(%v) = %v", err, client.IsNotFound(err))
			}
		})
	}
	if !served(reg, "web", "w1") {
		t.Error("a refused report changed w1's health")
	}
}
