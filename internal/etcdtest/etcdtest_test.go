package etcdtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestBinaries(t *testing.T) {
	for _, b := range etcdtest.Binaries(t) {
		t.Logf("%s at %s", b, b.Path)
	}
}

func TestClusters(t *testing.T) {
	for _, b := range etcdtest.Binaries(t) {
		t.Run(b.String(), func(t *testing.T) {
			t.Parallel()
			t.Run("one member", func(t *testing.T) {
				t.Parallel()
				testOneMember(t, b)
			})
			t.Run("three members", func(t *testing.T) {
				t.Parallel()
				testThreeMembers(t, b)
			})
		})
	}
}

func testOneMember(t *testing.T, b etcdtest.Binary) {
	c := etcdtest.Start(t, etcdtest.Options{Binary: b})
	cli := c.Client(t)
	put(t, cli, "/signpost/a", "1")
	get(t, cli, "/signpost/a", "1")

	m := c.Member(0)
	m.Stop()
	if m.Running() {
		t.Fatal("member runs after Stop")
	}
	m.Start()
	m.WaitReady()
	get(t, m.Client(t), "/signpost/a", "1")
}

func testThreeMembers(t *testing.T, b etcdtest.Binary) {
	c := etcdtest.Start(t, etcdtest.Options{Members: 3, Binary: b})
	if got := len(c.Endpoints()); got != 3 {
		t.Fatalf("%d endpoints, want 3", got)
	}
	cli := c.Client(t)
	put(t, cli, "/signpost/a", "1")
	get(t, cli, "/signpost/a", "1")

	// Losing the leader costs an election, well under the deadline.
	leader := c.Leader()
	leader.Kill()
	if leader.Running() {
		t.Fatal("leader runs after Kill")
	}
	start := time.Now()
	putWithin(t, cli, "/signpost/b", "2", 5*time.Second)
	t.Logf("%s: a write %v after killing the leader", b, time.Since(start).Round(time.Millisecond))
	if c.Leader() == leader {
		t.Fatal("the killed member still leads")
	}

	leader.Start()
	leader.WaitReady()
	get(t, leader.Client(t), "/signpost/b", "2")

	// Every member stopped, then started again on its data.
	c.Stop()
	for i := range c.Members() {
		if c.Member(i).Running() {
			t.Fatalf("member %d runs after Stop", i)
		}
	}
	c.Restart()
	get(t, cli, "/signpost/a", "1")
	get(t, cli, "/signpost/b", "2")
}

func put(t *testing.T, cli *clientv3.Client, key, val string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, key, val); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// putWithin retries a write until it succeeds or d has passed: with a member
// gone, a request can fail before the client moves to another endpoint.
func putWithin(t *testing.T, cli *clientv3.Client, key, val string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cli.Put(ctx, key, val)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("put %s: no success within %v: %v", key, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func get(t *testing.T, cli *clientv3.Client, key, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != want {
		t.Fatalf("get %s = %v, want %q", key, resp.Kvs, want)
	}
}
