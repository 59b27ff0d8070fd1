package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/signpost-dns/signpost/registry"
)

func TestExplainCallsExplainer(t *testing.T) {
	var gotService, gotTag string
	f := newFixture(t, Options{Explain: func(_ context.Context, service, tag string) (Explanation, error) {
		gotService, gotTag = service, tag
		return Explanation{
			Service:   service,
			Tag:       tag,
			Instances: []InstanceReport{{ID: "web-1", Address: "10.0.0.1", Port: 80, Health: "passing", Served: true, Source: HealthSource{Kind: SourceLease}}},
		}, nil
	}})
	rec := f.do("GET", "/v1/explain/web?tag=canary", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if gotService != "web" || gotTag != "canary" {
		t.Errorf("explained %q tag %q, want web tag canary", gotService, gotTag)
	}
	body := rec.Body.String()
	// Empty lists are [], never null: the dashboard iterates them.
	for _, want := range []string{`"reasons":[]`, `"records":[]`, `"tags":[]`, `"zones":[]`, `"kind":"lease"`, `"served":true`} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %s: %s", want, body)
		}
	}
	var e Explanation
	decode(t, rec, &e)
	if len(e.Instances) != 1 || e.Instances[0].ID != "web-1" {
		t.Errorf("instances %+v", e.Instances)
	}
	if indexOf(t, rec) != f.reg.Index() {
		t.Errorf("index header %d, want %d", indexOf(t, rec), f.reg.Index())
	}
}

func TestExplainErrors(t *testing.T) {
	called := false
	explain := func(_ context.Context, service, _ string) (Explanation, error) {
		called = true
		return Explanation{}, fmt.Errorf("service %s %w", service, registry.ErrNotFound)
	}
	for _, tc := range []struct {
		path   string
		opts   Options
		status int
		msg    string
		calls  bool
	}{
		{"/v1/explain/nosuch", Options{Explain: explain}, http.StatusNotFound, "service nosuch not found", true},
		{"/v1/explain/Bad_Name", Options{Explain: explain}, http.StatusBadRequest, "service", false},
		{"/v1/explain/web?tag=Bad_Tag", Options{Explain: explain}, http.StatusBadRequest, "tag", false},
		{"/v1/explain/web", Options{}, http.StatusNotImplemented, "does not explain", false},
		{"/v1/explain/web", Options{Explain: explain, Token: "s3cret", TokenRead: true}, http.StatusUnauthorized, "", false},
	} {
		called = false
		f := newFixture(t, tc.opts)
		rec := f.do("GET", tc.path, "")
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.msg) {
			t.Errorf("%s: %d %s, want %d with %q", tc.path, rec.Code, rec.Body, tc.status, tc.msg)
		}
		if called != tc.calls {
			t.Errorf("%s: explainer called %v, want %v", tc.path, called, tc.calls)
		}
	}
}

func TestExplainMethodNotAllowed(t *testing.T) {
	f := newFixture(t, Options{Explain: func(context.Context, string, string) (Explanation, error) { return Explanation{}, nil }})
	rec := f.do("PUT", "/v1/explain/web", "")
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("PUT: %d, want 405", rec.Code)
	}
}
