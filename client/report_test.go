package client_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/client"
)

// TestReportRequest checks what goes on the wire: a PUT of the health
// resource with a JSON body, the output left out when empty, and the
// token.
func TestReportRequest(t *testing.T) {
	type seen struct{ method, path, ctype, auth, body string }
	got := make(chan seen, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.EscapedPath(), r.Header.Get("Content-Type"), r.Header.Get("Authorization"), string(b)}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"service":"web","id":"w1","health":"critical","ttl":"15s","lease_expires":"2026-01-02T03:04:20Z"}`+"\n")
	}))
	defer srv.Close()
	c, err := client.New([]string{srv.URL}, client.WithToken("tok"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := c.Report(context.Background(), "web", "w1", client.Critical, `GET /healthz: "503"`)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 1, 2, 3, 4, 20, 0, time.UTC); in.Health != client.Critical || in.TTL != 15*time.Second || !in.LeaseExpires.Equal(want) {
		t.Errorf("decoded %+v", in)
	}
	want := seen{"PUT", "/v1/services/web/instances/w1/health", "application/json", "Bearer tok", `{"status":"critical","output":"GET /healthz: \"503\""}`}
	if s := <-got; s != want {
		t.Errorf("request %+v, want %+v", s, want)
	}
	if _, err := c.Report(context.Background(), "web", "w1", client.Passing, ""); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s.body != `{"status":"passing"}` {
		t.Errorf("body %s, want the output left out", s.body)
	}
}
