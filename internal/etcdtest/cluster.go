package etcdtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Options shape a cluster.
type Options struct {
	// Members is the number of members, 1 if zero.
	Members int
	// Binary is the etcd server to run, Latest if zero.
	Binary Binary
	// Timeout bounds each wait: start, readiness, stop. 15 s if zero.
	Timeout time.Duration
}

// Election settings, in milliseconds, far below etcd's defaults (100/1000)
// so that a cluster elects a new leader within a second of a kill.
const (
	heartbeatMillis = 50
	electionMillis  = 500
)

// startTries bounds the attempts at starting a cluster whose ports another
// process took between the pick and etcd's bind.
const startTries = 3

// Cluster is a running etcd cluster, torn down when the test ends.
type Cluster struct {
	t       testing.TB
	bin     Binary
	timeout time.Duration
	members []*Member

	adminOnce sync.Once
	adminCli  *clientv3.Client // for Status calls, made on first use
	adminErr  error
}

// Start starts a cluster and waits until it serves linearizable reads. It
// fails the test if the cluster is not ready within the timeout.
func Start(t testing.TB, o Options) *Cluster {
	t.Helper()
	if o.Members <= 0 {
		o.Members = 1
	}
	if o.Binary.Path == "" {
		o.Binary = Latest(t)
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	for try := 1; ; try++ {
		c := newCluster(t, o)
		err := c.start()
		if err == nil {
			t.Cleanup(c.cleanup)
			return c
		}
		c.killAll()
		if errors.Is(err, errPortTaken) && try < startTries {
			t.Logf("etcdtest: %v; retrying on other ports", err)
			continue
		}
		c.logTails()
		t.Fatalf("etcdtest: %s cluster of %d: %v", o.Binary, o.Members, err)
	}
}

func newCluster(t testing.TB, o Options) *Cluster {
	dir := t.TempDir()
	token := "signpost-test-" + randomHex(4)
	c := &Cluster{t: t, bin: o.Binary, timeout: o.Timeout}
	var peers []string
	for i := range o.Members {
		m := newMember(c, i, dir, token)
		c.members = append(c.members, m)
		peers = append(peers, m.name+"="+m.peerURL)
	}
	for _, m := range c.members {
		m.initialCluster = strings.Join(peers, ",")
	}
	return c
}

func (c *Cluster) start() error {
	for _, m := range c.members {
		if err := m.start(); err != nil {
			return err
		}
	}
	return c.waitReady()
}

// Binary returns the etcd server the cluster runs.
func (c *Cluster) Binary() Binary { return c.bin }

// Endpoints returns the client URLs of all members, running or not.
func (c *Cluster) Endpoints() []string {
	eps := make([]string, len(c.members))
	for i, m := range c.members {
		eps[i] = m.clientURL
	}
	return eps
}

// Members returns the number of members.
func (c *Cluster) Members() int { return len(c.members) }

// Member returns member i, counted from 0.
func (c *Cluster) Member(i int) *Member {
	if i < 0 || i >= len(c.members) {
		c.t.Fatalf("etcdtest: member %d of a cluster of %d", i, len(c.members))
	}
	return c.members[i]
}

// Leader returns the member that the running members agree leads, waiting
// for an election if need be.
func (c *Cluster) Leader() *Member {
	c.t.Helper()
	var m *Member
	err := c.poll(func() error {
		var err error
		m, err = c.leader()
		return err
	})
	if err != nil {
		c.t.Fatalf("etcdtest: no leader: %v", err)
	}
	return m
}

func (c *Cluster) leader() (*Member, error) {
	byID := map[uint64]*Member{}
	leaders := map[uint64]bool{}
	for _, m := range c.members {
		if !m.Running() {
			continue
		}
		st, err := m.status()
		if err != nil {
			return nil, err
		}
		byID[st.Header.MemberId] = m
		leaders[st.Leader] = true
	}
	if len(leaders) == 1 {
		for id := range leaders {
			if m := byID[id]; m != nil {
				return m, nil
			}
		}
	}
	return nil, fmt.Errorf("running members name leaders %x", keys(leaders))
}

// WaitReady waits until every running member serves linearizable reads,
// which takes a leader and a quorum.
func (c *Cluster) WaitReady() {
	c.t.Helper()
	if err := c.waitReady(); err != nil {
		c.t.Fatalf("etcdtest: %v", err)
	}
}

func (c *Cluster) waitReady() error {
	for _, m := range c.members {
		if !m.Running() {
			continue
		}
		if err := m.waitReady(); err != nil {
			return err
		}
	}
	return nil
}

// Stop stops every running member with SIGTERM, one after the other: a
// leader stopped while its followers stop too spends seconds trying to hand
// over its leadership.
func (c *Cluster) Stop() {
	c.t.Helper()
	for _, m := range c.members {
		if m.Running() {
			m.Stop()
		}
	}
}

// Restart starts every member that is not running, on its data directory
// and ports, and waits until the cluster is ready.
func (c *Cluster) Restart() {
	c.t.Helper()
	for _, m := range c.members {
		if !m.Running() {
			m.Start()
		}
	}
	c.WaitReady()
}

// Client returns a client of all members, closed when t ends.
func (c *Cluster) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	return newClient(t, c.Endpoints(), c.timeout)
}

func newClient(t testing.TB, endpoints []string, timeout time.Duration) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: timeout,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("etcdtest: client of %v: %v", endpoints, err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// poll calls f until it succeeds or the timeout passes.
func (c *Cluster) poll(f func() error) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return nil
		}
		var stop stopPoll
		if errors.As(err, &stop) {
			return stop.err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %v: %w", c.timeout, err)
		case <-tick.C:
		}
	}
}

// stopPoll wraps an error that ends a poll at once.
type stopPoll struct{ err error }

func (s stopPoll) Error() string { return s.err.Error() }
func (s stopPoll) Unwrap() error { return s.err }

// admin returns the client that asks members for their status. It does not
// wait for a connection, so that it serves while members are down.
func (c *Cluster) admin() (*clientv3.Client, error) {
	c.adminOnce.Do(func() {
		c.adminCli, c.adminErr = clientv3.New(clientv3.Config{
			Endpoints: c.Endpoints(),
			Logger:    zap.NewNop(),
		})
	})
	if c.adminCli == nil && c.adminErr == nil {
		return nil, errors.New("the cluster is torn down")
	}
	return c.adminCli, c.adminErr
}

// cleanup kills every member, and shows their logs if the test failed.
func (c *Cluster) cleanup() {
	c.adminOnce.Do(func() {}) // no client from now on, and see the one made
	if c.adminCli != nil {
		c.adminCli.Close()
	}
	c.killAll()
	if c.t.Failed() {
		c.logTails()
	}
}

func (c *Cluster) killAll() {
	for _, m := range c.members {
		if err := m.kill(); err != nil && !errors.Is(err, errNotRunning) {
			c.t.Errorf("etcdtest: %v", err)
		}
	}
}

// logLines bounds the log shown for each member of a failed test.
const logLines = 80

func (c *Cluster) logTails() {
	for _, m := range c.members {
		c.t.Logf("etcdtest: %s %s (%s), last %d lines of its log:\n%s",
			c.bin, m.name, m.clientURL, logLines, m.log.tail(logLines))
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func keys(m map[uint64]bool) []uint64 {
	var ks []uint64
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
