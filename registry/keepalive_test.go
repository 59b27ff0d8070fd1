package registry

import (
	"context"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/signpost-dns/signpost/internal/etcdtest"
)

func TestKeepAlivesManyInFlight(t *testing.T) {
	for _, bin := range etcdtest.Binaries(t) {
		t.Run(bin.String(), func(t *testing.T) {
			c := etcdtest.Start(t, etcdtest.Options{Binary: bin})
			cli := c.Client(t)
			ka := newKeepAlives(cli)
			defer ka.close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
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
			if _, err := cli.Revoke(ctx, ids[0]); err != nil {
				t.Fatal(err)
			}
			if ttl, err := ka.renew(ctx, ids[0]); err != nil || ttl > 0 {
				t.Errorf("revoked lease: ttl %d, %v; want no TTL", ttl, err)
			}
			// When etcd goes and comes back, renewals fail, then work again.
			c.Stop()
			sctx, scancel := context.WithTimeout(ctx, time.Second)
			if _, err := ka.renew(sctx, ids[1]); err == nil {
				t.Error("renewal succeeded with etcd stopped")
			}
			scancel()
			c.Restart()
			deadline := time.Now().Add(5 * time.Second)
			for {
				rctx, rcancel := context.WithTimeout(ctx, time.Second)
				ttl, err := ka.renew(rctx, ids[1])
				rcancel()
				if err == nil && ttl > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("renewals still fail 5s after etcd came back: ttl %d, %v", ttl, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}
