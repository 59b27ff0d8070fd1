package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/signpost-dns/signpost/api"
	"github.com/signpost-dns/signpost/registry"
)

// explainStub answers GET /v1/explain/web as a server with a lease
// instance served, a probed one critical and max-answers 1 would.
func explainStub(_ context.Context, service, tag string) (api.Explanation, error) {
	if service != "web" {
		return api.Explanation{}, fmt.Errorf("service %s %w", service, registry.ErrNotFound)
	}
	return api.Explanation{
		Service: service, Tag: tag, Zones: []string{"svc.internal."}, Index: 9,
		Settings: api.ExplainSettings{TTL: 5, NegativeTTL: 5, MaxAnswers: 1},
		Eligible: 1, Answered: 1,
		StalenessBudget: api.StalenessBudget{Seconds: 20, Detection: 15, TTL: 5, NegativeTTL: 5, DetectionBy: "lease TTL 15s of w1"},
		Instances: []api.InstanceReport{
			{ID: "w1", Address: "10.0.1.1", Port: 8080, Health: "passing", Served: true, Source: api.HealthSource{Kind: api.SourceLease},
				Reasons: []api.Reason{{Code: api.ReasonLeaseLive, Text: "lease of 15s renewed"}, {Code: api.ReasonPassing, Text: "passing: answered"}}},
			{ID: "w2", Address: "2001:db8::2", Port: 8080, Health: "critical", Source: api.HealthSource{Kind: api.SourceProbe},
				Reasons: []api.Reason{{Code: api.ReasonProbe, Text: "tcp check: connection refused"}, {Code: api.ReasonCritical, Text: "critical: not answered"}}},
		},
		Records: []api.Record{
			{Question: "web.svc.internal. A", Name: "web.svc.internal.", Type: "A", Section: "answer", RR: "web.svc.internal.\t5\tIN\tA\t10.0.1.1"},
			{Question: "web.svc.internal. SRV", Name: "web.svc.internal.", Type: "SRV", Section: "answer", RR: "web.svc.internal.\t5\tIN\tSRV\t0 1 8080 10-0-1-1.addr.svc.internal."},
			{Question: "web.svc.internal. SRV", Name: "10-0-1-1.addr.svc.internal.", Type: "A", Section: "additional", RR: "10-0-1-1.addr.svc.internal.\t5\tIN\tA\t10.0.1.1"},
		},
	}, nil
}

func TestExplainCommand(t *testing.T) {
	_, srv := newServer(t, api.Options{Explain: explainStub})
	env := []string{"SIGNPOST_SERVER=" + srv.URL}
	r := ctl(context.Background(), env, "explain", "web")
	for _, want := range []string{
		"service web at index 9: 2 instances, 1 eligible, 1 in each answer\n",
		"settings: ttl 5s, negative-ttl 5s, max-answers 1, serve-warning off\n",
		"staleness budget: 20s = detection 15s (lease TTL 15s of w1) + ttl 5s; a name that was missing: negative-ttl 5s\n",
		"w1 10.0.1.1:8080 served, passing, health from lease\n",
		"w2 [2001:db8::2]:8080 NOT SERVED, critical, health from probe\n",
		"  critical  critical: not answered\n",
		";; web.svc.internal. SRV\nweb.svc.internal.\t5\tIN\tSRV\t0 1 8080 10-0-1-1.addr.svc.internal.\n10-0-1-1.addr.svc.internal.\t5\tIN\tA\t10.0.1.1\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if r.code != exitOK {
		t.Errorf("exit %d: %s", r.code, r.stderr)
	}

	r = ctl(context.Background(), env, "explain", "web", "--tag", "blue", "--json")
	r.check(t, exitOK, `"tag":"blue"`, "")
	ctl(context.Background(), env, "explain", "nosuch").check(t, exitError, "", "service nosuch not found")
	ctl(context.Background(), env, "explain").check(t, exitUsage, "", "SERVICE")
}
