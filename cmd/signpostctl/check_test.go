package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/api"
	"github.com/signpost-dns/signpost/healthcheck"
	"github.com/signpost-dns/signpost/registry"
)

func TestRegisterCheck(t *testing.T) {
	reg, srv := newServer(t, api.Options{})
	ctx := context.Background()
	env := []string{"SIGNPOST_SERVER=" + srv.URL}

	ctl(ctx, env, "register", "web", "w3", "10.0.0.7:8080", "--check", `{"type":"http","path":"/healthz","interval":"5s"}`, "--tag", "v2").
		check(t, 0, "registered instance w3 of service web at 10.0.0.7:8080 (critical, http check every 5s)\n", "")
	in, ok := reg.Snapshot().Service("web").Instance("w3")
	if !ok || in.Health != registry.Critical || in.TTL != 0 || strings.Join(in.Tags, ",") != "v2" {
		t.Fatalf("registered %+v", in)
	}
	c, err := healthcheck.DecodeSpec(in.Check)
	if err != nil || c.Type != "http" || c.Path != "/healthz" || c.Interval != 5*time.Second {
		t.Errorf("stored check %q: %+v, %v", in.Check, c, err)
	}
	// The check shows in the JSON, its password masked.
	ctl(ctx, env, "register", "redis", "r1", "10.0.0.8:6379", "--check", `{"type":"redis","interval":"2s","password":"s3cret"}`).
		check(t, 0, "(critical, redis check every 2s)", "")
	r := ctl(ctx, env, "show", "redis", "--json")
	r.check(t, 0, `"check":{"type":"redis","interval":"2s","timeout":"1s","rise":2,"fall":3,"password":"***"}`, "")
	if strings.Contains(r.stdout, "s3cret") {
		t.Errorf("show --json prints the password: %s", r.stdout)
	}

	// What the server refuses comes back with its reason.
	ctl(ctx, env, "register", "web", "w4", "10.0.0.9:80", "--check", `{"type":"tcp","interval":"1ms"}`).
		check(t, 1, "", "signpostctl: register: check: interval 1ms: must be at least 10ms (HTTP 400)")
	ctl(ctx, env, "register", "web", "w4", "10.0.0.9:80", "--check", `{"type":"postgres"}`).
		check(t, 1, "", `signpostctl: register: check: type "postgres": want one of tcp, http, https, grpc, redis, mysql (HTTP 400)`)
	if _, ok := reg.Snapshot().Service("web").Instance("w4"); ok {
		t.Error("a refused check was registered")
	}
}

func TestRegisterCheckUsage(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"--check", `{"type":"tcp"`}, `signpostctl: register: invalid value "{\"type\":\"tcp\"" for --check: check: unexpected EOF`},
		{[]string{"--check", `{"type":"tcp","colour":"red"}`}, `for --check: check: unknown field "colour"`},
		{[]string{"--check", `{"interval":"5s"}`}, `for --check: check: "type" is required`},
		{[]string{"--check", `{"type":"tcp","interval":"soon"}`}, `for --check: check: interval "soon": want a duration such as "5s"`},
		{[]string{"--check", `tcp`}, `for --check: check: invalid character`},
		{[]string{"--check"}, "signpostctl: register: flag --check needs a value"},
		{[]string{"--check", `{"type":"tcp"}`, "--ttl", "15s"}, "signpostctl: register: --ttl and --check: give one or the other"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			args := append([]string{"register", "web", "w1", "10.0.0.5:80"}, tc.args...)
			ctl(ctx, nil, args...).check(t, 2, "", tc.msg)
		})
	}
	r := ctl(ctx, nil, "register", "--help")
	r.check(t, 0, "--check JSON\n", "")
	if !strings.Contains(r.stdout, `--check '{"type":"http","path":"/healthz","interval":"5s"}'`) {
		t.Errorf("register --help has no --check example:\n%s", r.stdout)
	}
}
