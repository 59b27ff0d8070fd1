package registry

import (
	"context"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/signpost-dns/signpost/internal/etcdtest"
)

// TestKeepAlivesManyInFlight renews leases through the store's own client,
// so that how soon renewals work again after an outage is the store's
// reconnect pacing (etcdReconnect), not a test client's.
func TestKeepAlivesManyInFlight(t *testing.T) {
	for _, bin := range etcdtest.Binaries(t) {
		t.Run(bin.String(), func(t *testing.T) {
			c := etcdtest.Start(t, etcdtest.Options{Binary: bin})
			st, err := openEtcd(EtcdConfig{Endpoints: c.Endpoints()})
			if err != nil {
				t.Fatal(err)
			}
			defer st.close()
			cli, ka := st.cli, st.ka
			// Each step has a bound of its own: stopping etcd 3.7 may
			// take seconds with keep-alive streams open, which must not
			// eat into the time the renewals have.
			step := func(d time.Duration) context.Context {
				ctx, cancel := context.WithTimeout(context.Background(), d)
				t.Cleanup(cancel)
				return ctx
			}
			ctx := step(10 * time.Second)
			var ids []clientv3.LeaseID
			for range 5 {
				l, err := cli.Grant(ctx, 30)
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, l.ID)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 500)
			for i := range 500 {
				wg.Go(func() {
					ttl, err := ka.renew(ctx, ids[i%len(ids)])
					if err == nil && ttl <= 0 {
						t.Errorf("lease %x: ttl %d after renewal", ids[i%len(ids)], ttl)
					}
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			// A lease that is gone answers with no TTL, not an error.
			ctx = step(10 * time.Second)
			if _, err := cli.Revoke(ctx, ids[0]); err != nil {
				t.Fatal(err)
			}
			if ttl, err := ka.renew(ctx, ids[0]); err != nil || ttl > 0 {
				t.Errorf("revoked lease: ttl %d, %v; want no TTL", ttl, err)
			}
			// When etcd goes and comes back, renewals fail, then work again
			// once the client has redialled: within etcdReconnect's
			// longest delay, a second, and a margin for a loaded machine.
			c.Stop()
			if _, err := ka.renew(step(time.Second), ids[1]); err == nil {
				t.Error("renewal succeeded with etcd stopped")
			}
			c.Restart()
			const bound = 5 * time.Second
			back := time.Now()
			for {
				ttl, err := ka.renew(step(time.Second), ids[1])
				if err == nil && ttl > 0 {
					t.Logf("renewals work again %v after etcd came back", time.Since(back).Round(time.Millisecond))
					break
				}
				if time.Since(back) > bound {
					t.Fatalf("renewals still fail %v after etcd came back: ttl %d, %v", bound, ttl, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}
