package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
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

// TestExplanationJSONShape pins the names readers of the JSON (signpostctl,
// the dashboard, scripts) rely on.
func TestExplanationJSONShape(t *testing.T) {
	e := Explanation{
		Service:         "web",
		Failover:        FailoverState{Configured: true, Active: true, Target: "10.0.0.100", MinHealthy: 1},
		StalenessBudget: StalenessBudget{Seconds: 20, Detection: 15, TTL: 5, NegativeTTL: 5},
		Instances: []InstanceReport{{ID: "w1", Address: "10.0.0.1", Port: 80, Tags: []string{"blue"}, Health: "passing", Served: true,
			Source:  HealthSource{Kind: SourceProbe, LastProbe: &ProbeResult{Status: "passing"}, Check: &CheckSettings{Type: "tcp"}},
			Reasons: []Reason{{Code: ReasonPassing, Text: "passing: answered"}}}},
		Records: []Record{{Question: "web.svc.internal. A", Name: "web.svc.internal.", Type: "A", Section: "answer", RR: "web.svc.internal.\t5\tIN\tA\t10.0.0.1"}},
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	keys := func(v any) []string {
		var out []string
		for k := range v.(map[string]any) {
			out = append(out, k)
		}
		return out
	}
	in := m["instances"].([]any)[0].(map[string]any)
	for _, tc := range []struct {
		what string
		obj  any
		want []string
	}{
		{"explanation", m, []string{"service", "zones", "index", "time", "settings", "eligible", "answered", "self_preservation", "failover", "staleness_budget", "reasons", "instances", "records"}},
		{"staleness_budget", m["staleness_budget"], []string{"seconds", "detection", "ttl", "negative_ttl"}},
		{"failover", m["failover"], []string{"configured", "active", "target", "min_healthy", "healthy"}},
		{"settings", m["settings"], []string{"ttl", "negative_ttl", "max_answers", "serve_warning"}},
		{"instance", in, []string{"id", "address", "port", "tags", "weight", "health", "source", "served", "reasons"}},
		{"source", in["source"], []string{"kind", "check", "last_probe"}},
		{"last_probe", in["source"].(map[string]any)["last_probe"], []string{"status", "latency", "time", "streak"}},
		{"reason", in["reasons"].([]any)[0], []string{"code", "text"}},
		{"record", m["records"].([]any)[0], []string{"question", "name", "type", "section", "rr"}},
	} {
		got := keys(tc.obj)
		for _, k := range tc.want {
			if !slices.Contains(got, k) {
				t.Errorf("%s lacks %q: has %v", tc.what, k, got)
			}
		}
	}
}
