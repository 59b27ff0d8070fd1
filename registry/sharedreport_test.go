package registry_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/etcdtest"
	"github.com/signpost-dns/signpost/registry"
)

// TestSharedReportThroughLaggingServer reports an instance critical through
// one server and at once passing through another, which may not have seen
// the first report yet: the last report is what etcd, and so every server,
// ends up holding, every time.
func TestSharedReportThroughLaggingServer(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{})
	a := openShared(t, c, "/signpost-lag", "a")
	b := openShared(t, c, "/signpost-lag", "b")
	cli := c.Client(t)
	if _, err := a.Register(sharedInstance("w1", "10.0.0.1", time.Minute)); err != nil {
		t.Fatal(err)
	}
	for round := range 20 {
		if _, _, err := a.Report("web", "w1", registry.Critical, "GET /healthz: 503"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := b.Report("web", "w1", registry.Passing, ""); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := cli.Get(ctx, "/signpost-lag/instances/web/w1")
		cancel()
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("reading the record: %v", err)
		}
		var rec struct {
			Health registry.Health `json:"health"`
		}
		if err := json.Unmarshal(resp.Kvs[0].Value, &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Health != registry.Passing {
			t.Fatalf("round %d: etcd holds %s after a report of passing", round, rec.Health)
		}
	}
}
