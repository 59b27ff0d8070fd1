package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// explainBody is an answer of GET /v1/explain/web as the server writes it.
const explainBody = `{"service":"web","tag":"blue","zones":["svc.internal."],"index":7,"time":"2030-01-02T03:04:05Z",
"settings":{"ttl":5,"negative_ttl":5,"max_answers":1,"serve_warning":false},"eligible":2,"answered":1,
"self_preservation":false,"failover":{"configured":false,"active":false,"min_healthy":0,"healthy":2},
"staleness_budget":{"seconds":20,"detection":15,"ttl":5,"negative_ttl":5,"detection_by":"lease TTL 15s of w1"},
"reasons":[{"code":"max-answers","text":"max-answers 1"}],
"instances":[{"id":"w1","address":"10.0.1.1","port":8080,"tags":["blue"],"weight":1,"health":"passing",
"source":{"kind":"lease","lease_ttl":15,"lease_deadline":"2030-01-02T03:04:15Z"},"served":true,
"reasons":[{"code":"lease-live","text":"..."},{"code":"passing","text":"passing: answered"}]}],
"records":[{"question":"blue.web.svc.internal. A","name":"blue.web.svc.internal.","type":"A","section":"answer","rr":"blue.web.svc.internal.\t5\tIN\tA\t10.0.1.1"}]}`

func TestExplain(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method != http.MethodGet:
			http.Error(w, `{"error":"method"}`, http.StatusMethodNotAllowed)
		case r.URL.Path == "/v1/explain/web" && r.URL.Query().Get("tag") == "blue":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(explainBody))
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":"service nosuch not found"}`))
		}
	}))
	defer srv.Close()
	c, err := New([]string{srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	e, err := c.Explain(context.Background(), "web", "blue")
	if err != nil {
		t.Fatal(err)
	}
	if e.Service != "web" || e.Answered != 1 || e.StalenessBudget.Seconds != 20 || len(e.Instances) != 1 || len(e.Records) != 1 {
		t.Fatalf("decoded %+v", e)
	}
	in := e.Instances[0]
	if in.Health != Passing || in.Source.Kind != "lease" || in.Source.LeaseTTL != 15 || !in.Served || in.Reasons[1].Code != "passing" {
		t.Errorf("instance %+v", in)
	}
	if r := e.Records[0]; r.RR != "blue.web.svc.internal.\t5\tIN\tA\t10.0.1.1" || r.Question != "blue.web.svc.internal. A" {
		t.Errorf("record %+v", r)
	}
	if _, err := c.Explain(context.Background(), "nosuch", ""); !IsNotFound(err) {
		t.Errorf("unknown service: %v, want a not-found error", err)
	}
}
