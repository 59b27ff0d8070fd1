package clientapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/api"
	"github.com/signpost-dns/signpost/client"
	"github.com/signpost-dns/signpost/registry"
)

// TestHeartbeatsAgainstServer renews leases in one call through the real
// API: known instances are renewed, one whose lease ran out comes back,
// and the unknown and unleased ones are named so that an agent can
// register them again.
func TestHeartbeatsAgainstServer(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	reg := registry.New(registry.Config{Now: clock, SelfPreservation: -1})
	srv := httptest.NewServer(api.NewHandler(reg, api.Options{Token: "s3cret"}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, client.WithToken("s3cret"))
	ctx := context.Background()
	for _, r := range []client.Registration{web("w1", "10.0.0.5"), web("w2", "10.0.0.6")} {
		if _, err := c.Register(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	probed := web("p1", "10.0.0.7")
	probed.TTL = 0
	if _, err := c.Register(ctx, probed); err != nil {
		t.Fatal(err)
	}
	// w2's lease runs out.
	if _, err := reg.Heartbeat("web", "w1"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(16 * time.Second)
	mu.Unlock()
	reg.Sweep()
	if in, _ := reg.Snapshot().Service("web").Instance("w2"); in.Health != registry.Critical {
		t.Fatalf("w2 %s after its lease ran out", in.Health)
	}

	refs := []client.InstanceRef{{Service: "web", ID: "w1"}, {Service: "web", ID: "w2"}, {Service: "web", ID: "p1"}, {Service: "api", ID: "gone"}}
	res, err := c.Heartbeats(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	want := client.HeartbeatsResult{
		Renewed: 2,
		Unknown: []client.InstanceRef{{Service: "api", ID: "gone"}},
		NoLease: []client.InstanceRef{{Service: "web", ID: "p1"}},
	}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("result %+v, want %+v", res, want)
	}
	for _, id := range []string{"w1", "w2"} {
		in, _ := reg.Snapshot().Service("web").Instance(id)
		_, deadline, _ := reg.Lease("web", id)
		if in.Health != registry.Passing || !deadline.Equal(clock().Add(15*time.Second)) {
			t.Errorf("%s after the batch: %s, lease until %v", id, in.Health, deadline)
		}
	}

	// The token rule of every write.
	_, err = newClient(t, srv.URL).Heartbeats(ctx, refs)
	if client.StatusCode(err) != http.StatusUnauthorized {
		t.Errorf("without the token: %v", err)
	}
	// A bad entry refuses the whole batch.
	_, err = c.Heartbeats(ctx, []client.InstanceRef{{Service: "web", ID: "w1"}, {Service: "Web", ID: "w1"}})
	if client.StatusCode(err) != http.StatusBadRequest {
		t.Errorf("a bad service name: %v", err)
	}
}
