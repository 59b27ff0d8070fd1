package clientapi_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/api"
	"github.com/signpost-dns/signpost/client"
	"github.com/signpost-dns/signpost/healthcheck"
	"github.com/signpost-dns/signpost/registry"
)

// TestRegisterCheckRoundTrip registers an instance with a check through the
// real API and reads it back: the server stores the check the probes run,
// answers with it (defaults filled in, secrets masked), and the instance
// starts critical.
func TestRegisterCheckRoundTrip(t *testing.T) {
	reg, srv := newServer(t, api.Options{})
	c := newClient(t, srv.URL)
	ctx := context.Background()
	sent := &client.CheckSpec{
		Type: "http", Path: "/healthz", Interval: 5 * time.Second, Fall: 4,
		Header: map[string]string{"X-Probe": "signpost"}, Expect: "ok",
	}
	in, err := c.Register(ctx, client.Registration{Service: "web", ID: "w1", Address: "10.0.0.5", Port: 8080, Check: sent})
	if err != nil {
		t.Fatal(err)
	}
	want := &client.CheckSpec{
		Type: "http", Path: "/healthz", Interval: 5 * time.Second, Timeout: 2 * time.Second, Rise: 2, Fall: 4,
		Method: "GET", Header: map[string]string{"X-Probe": "***"}, Expect: "ok",
	}
	if !reflect.DeepEqual(in.Check, want) || in.Health != client.Critical || in.TTL != 0 {
		t.Errorf("registered %+v with check %+v\nwant critical with check %+v", in, in.Check, want)
	}
	stored, _ := reg.Snapshot().Service("web").Instance("w1")
	hc, err := healthcheck.DecodeSpec(stored.Check)
	if err != nil || hc.Path != "/healthz" || hc.Interval != 5*time.Second || hc.Fall != 4 || hc.Expect != "ok" || hc.Header.Get("X-Probe") != "signpost" {
		t.Errorf("the registry holds %q (%+v, %v)", stored.Check, hc, err)
	}

	// A redis password reaches the probes but never comes back.
	in, err = c.Register(ctx, client.Registration{Service: "cache", ID: "c1", Address: "10.0.0.7", Port: 6379,
		Check: &client.CheckSpec{Type: "redis", Password: "s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	if in.Check == nil || in.Check.Password != "***" {
		t.Errorf("check %+v, want the password shown as ***", in.Check)
	}
	if err := reg.SetHealth("cache", "c1", registry.Passing); err != nil {
		t.Fatal(err)
	}
	info, err := c.Service(ctx, "cache")
	if err != nil || len(info.Instances) != 1 || info.Instances[0].Check == nil || info.Instances[0].Check.Type != "redis" ||
		info.Instances[0].Health != client.Passing {
		t.Errorf("service: %+v, %v", info, err)
	}

	// The server refuses what it cannot probe, with its reason.
	_, err = c.Register(ctx, client.Registration{Service: "web", ID: "w2", Address: "10.0.0.6", Port: 80,
		TTL: 15 * time.Second, Check: &client.CheckSpec{Type: "tcp"}})
	if err == nil || !strings.Contains(err.Error(), "check: cannot be combined with ttl") {
		t.Errorf("ttl and check: %v", err)
	}
	_, err = c.Register(ctx, client.Registration{Service: "web", ID: "w2", Address: "10.0.0.6", Port: 80,
		Check: &client.CheckSpec{Type: "tcp", Interval: time.Second, Timeout: 2 * time.Second}})
	if err == nil || !strings.Contains(err.Error(), "check: timeout 2s: must be less than interval 1s") {
		t.Errorf("bad check: %v", err)
	}
}
