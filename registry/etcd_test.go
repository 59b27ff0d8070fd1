package registry

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/signpost-dns/signpost/internal/etcdtest"
)

// TestWatchAppliesEachRevision watches from before a run of writes, so
// that etcd delivers them in one catch-up response: each revision must
// still reach the registry as a batch of its own, in order, the two keys of
// a transaction together, so that no transition between them is lost.
func TestWatchAppliesEachRevision(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{})
	st, err := openEtcd(EtcdConfig{Endpoints: c.Endpoints(), Prefix: "/watch-revisions"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	k := key{"web", "w1"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var revs []int64
	put := func(ops ...clientv3.Op) {
		t.Helper()
		resp, err := st.cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, resp.Header.Revision)
	}
	put(clientv3.OpPut(st.instanceKey(k), `{"health":"passing"}`), clientv3.OpPut(st.leaseKey(k), "30s"))
	put(clientv3.OpPut(st.instanceKey(k), `{"health":"critical"}`))
	put(clientv3.OpPut(st.instanceKey(k), `{"health":"passing"}`))
	put(clientv3.OpDelete(st.instanceKey(k)), clientv3.OpDelete(st.leaseKey(k)))

	type batch struct {
		rev   int64
		kinds []changeKind
	}
	var got []batch
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	last := revs[len(revs)-1]
	err = st.watch(wctx, revs[0], func(changes []change, rev int64) {
		var kinds []changeKind
		for _, c := range changes {
			kinds = append(kinds, c.kind)
		}
		got = append(got, batch{rev, kinds})
		if rev >= last {
			wcancel()
		}
	})
	if ctx.Err() != nil {
		t.Fatalf("watch: %v; batches %v", err, got)
	}
	want := []batch{
		{revs[0], []changeKind{instancePut, leasePut}},
		{revs[1], []changeKind{instancePut}},
		{revs[2], []changeKind{instancePut}},
		{revs[3], []changeKind{instanceDelete, leaseDelete}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("batches (revision, change kinds) %v, want %v", got, want)
	}
}
