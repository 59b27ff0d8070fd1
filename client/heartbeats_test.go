package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/signpost-dns/signpost/client"
)

// TestHeartbeatsRequest checks what goes on the wire, and that a list
// longer than a server takes is split into several calls whose results
// add up.
func TestHeartbeatsRequest(t *testing.T) {
	type call struct {
		method, path, auth string
		refs               []client.InstanceRef
	}
	calls := make(chan call, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var refs []client.InstanceRef
		if err := json.NewDecoder(r.Body).Decode(&refs); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		calls <- call{r.Method, r.URL.Path, r.Header.Get("Authorization"), refs}
		// The server knows every instance but the last of each call.
		last := refs[len(refs)-1]
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"renewed":%d,"unknown":[{"service":%q,"id":%q}],"no_lease":[]}`+"\n", len(refs)-1, last.Service, last.ID)
	}))
	defer srv.Close()
	c, err := client.New([]string{srv.URL}, client.WithToken("tok"))
	if err != nil {
		t.Fatal(err)
	}

	refs := []client.InstanceRef{{Service: "web", ID: "w1"}, {Service: "api", ID: "a1"}}
	res, err := c.Heartbeats(context.Background(), refs)
	if err != nil {
		t.Fatal(err)
	}
	want := client.HeartbeatsResult{Renewed: 1, Unknown: []client.InstanceRef{{Service: "api", ID: "a1"}}}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("result %+v, want %+v", res, want)
	}
	got := <-calls
	if got.method != "PUT" || got.path != "/v1/heartbeats" || got.auth != "Bearer tok" || !reflect.DeepEqual(got.refs, refs) {
		t.Errorf("request %+v", got)
	}

	// MaxHeartbeats+1 instances: two calls.
	refs = make([]client.InstanceRef, client.MaxHeartbeats+1)
	for i := range refs {
		refs[i] = client.InstanceRef{Service: "web", ID: fmt.Sprintf("i%d", i)}
	}
	res, err = c.Heartbeats(context.Background(), refs)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := <-calls, <-calls; len(a.refs) != client.MaxHeartbeats || len(b.refs) != 1 {
		t.Errorf("split into calls of %d and %d", len(a.refs), len(b.refs))
	}
	if res.Renewed != client.MaxHeartbeats-1 || len(res.Unknown) != 2 {
		t.Errorf("result of a split batch: renewed %d, unknown %v", res.Renewed, res.Unknown)
	}

	// Nothing to renew: no call.
	if res, err := c.Heartbeats(context.Background(), nil); err != nil || res.Renewed != 0 {
		t.Errorf("empty list: %+v, %v", res, err)
	}
	select {
	case got := <-calls:
		t.Errorf("an empty list made a call: %+v", got)
	default:
	}
}

// TestConnectionsReused counts the connections a client opens over many
// calls of every kind, answered with small bodies, large chunked ones and
// errors: one connection serves them all, since every answer's body is read
// to its end before the connection goes back to the pool.
func TestConnectionsReused(t *testing.T) {
	large := `[` + strings.Repeat(`{"name":"web","instances":3,"passing":3,"warning":0,"critical":0},`, 2000) +
		`{"name":"x","instances":0,"passing":0,"warning":0,"critical":0}]`
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/v1/heartbeats":
			io.WriteString(w, `{"renewed":1,"unknown":[],"no_lease":[]}`+"\n")
		case r.URL.Path == "/v1/services":
			// Written in pieces, so that it goes chunked, with trailing
			// white space that a JSON decoder does not read.
			for i := 0; i < len(large); i += 1000 {
				io.WriteString(w, large[i:min(i+1000, len(large))])
				w.(http.Flusher).Flush()
			}
			io.WriteString(w, strings.Repeat("\n", 16<<10))
		case strings.HasSuffix(r.URL.Path, "/heartbeat") && strings.Contains(r.URL.Path, "/gone/"):
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":"instance x of service gone not found"}`+"\n")
		case strings.HasSuffix(r.URL.Path, "/heartbeat"):
			io.WriteString(w, `{"service":"web","id":"w1","health":"passing","ttl":"15s","lease_expires":"2026-01-02T03:04:20Z"}`+"\n")
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"port: must be between 1 and 65535"}`+"\n")
		}
	}))
	var opened atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c, err := client.New([]string{srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const n = 50
	for i := range n {
		if _, err := c.Heartbeat(ctx, "web", "w1"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Heartbeats(ctx, []client.InstanceRef{{Service: "web", ID: "w1"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Heartbeat(ctx, "gone", "x"); !client.IsNotFound(err) {
			t.Fatalf("heartbeat of an unknown instance: %v", err)
		}
		if _, err := c.Register(ctx, client.Registration{Service: "web", ID: "w1"}); client.StatusCode(err) != http.StatusBadRequest {
			t.Fatalf("bad registration: %v", err)
		}
		if err := c.Deregister(ctx, "web", "w1"); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			if s, err := c.Services(ctx); err != nil || len(s) != 2001 {
				t.Fatalf("services: %d, %v", len(s), err)
			}
		}
	}
	if got := opened.Load(); got != 1 {
		t.Errorf("%d calls opened %d connections, want 1", 5*n+n/10, got)
	}
}
