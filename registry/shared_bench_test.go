package registry_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/signpost-dns/signpost/internal/etcdtest"
	"github.com/signpost-dns/signpost/registry"
)

// The benchmarks of a registry shared through etcd run against a
// three-member cluster of the newest etcd (etcdtest.Latest) on loopback,
// each beside its single-server baseline in the same run:
//
//	go test -run '^$' -bench 'Shared' -benchtime 2s ./registry/
//
// Every load is bounded: by b.N (use -benchtime Nx or a duration), by the
// write timeout of the registry, and by the waits below.

// benchWait bounds every wait of these benchmarks for etcd or a follower.
const benchWait = 60 * time.Second

// benchCluster starts the cluster that a benchmark and its sub-benchmarks
// share, each under its own key prefix.
func benchCluster(b *testing.B) *etcdtest.Cluster {
	b.Helper()
	return etcdtest.Start(b, etcdtest.Options{Members: 3, Binary: etcdtest.Latest(b), Timeout: benchWait})
}

var benchPrefixes atomic.Int64

// benchPrefix returns a key prefix no other benchmark of this process uses.
func benchPrefix() string { return "/signpost-bench-" + strconv.FormatInt(benchPrefixes.Add(1), 10) }

// benchOpen opens a registry on c under prefix, started or not.
func benchOpen(b *testing.B, c *etcdtest.Cluster, prefix, name string, start bool) *registry.Registry {
	b.Helper()
	r, err := registry.OpenEtcd(registry.EtcdConfig{Endpoints: c.Endpoints(), Prefix: prefix, Name: name}, registry.Config{})
	if err != nil {
		b.Fatalf("OpenEtcd: %v", err)
	}
	if start {
		r.Start()
	}
	b.Cleanup(r.Stop)
	return r
}

// benchRecord is an instance record as registry/etcd.go stores it under
// PREFIX/instances/SERVICE/ID: the data directory's record and the health.
type benchRecord struct {
	Version     int      `json:"v"`
	Service     string   `json:"service"`
	ID          string   `json:"id"`
	Address     string   `json:"address"`
	Port        uint16   `json:"port"`
	Tags        []string `json:"tags,omitempty"`
	Weight      uint16   `json:"weight"`
	TTL         string   `json:"ttl,omitempty"`
	CreateIndex uint64   `json:"create_index"`
	ModifyIndex uint64   `json:"modify_index"`
	Health      string   `json:"health"`
}

// benchFleetInstance is instance k of a fleet shaped as in
// BenchmarkMemoryPerLease: three per service, one tag, a 30 s lease.
func benchFleetInstance(k int) registry.Instance {
	return registry.Instance{
		Service: "svc" + strconv.Itoa(k/3), ID: "i" + strconv.Itoa(k%3),
		Address: netip.AddrFrom4([4]byte{10, byte(k >> 16), byte(k >> 8), byte(k)}),
		Port:    8080, Weight: 1, Tags: []string{"v2"}, TTL: 30 * time.Second,
	}
}

// benchPutFleet writes instances 0 to n-1 of the fleet straight into etcd
// in the key layout of registry/etcd.go, in transactions of 64 instances
// (128 keys), from 4 writers. Each instance has its lease key; to spare n
// lease grants, the 64 instances of a transaction share one etcd lease of
// an hour, which outlives any benchmark. The registry only reads a lease
// key's lease ID, so this loads the same as n leases would.
func benchPutFleet(b *testing.B, cli *clientv3.Client, prefix string, n int) {
	b.Helper()
	const perTxn, writers = 64, 4
	var next atomic.Int64
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for {
				start := int(next.Add(perTxn)) - perTxn
				if start >= n {
					return
				}
				if err := benchPutBatch(cli, prefix, start, min(start+perTxn, n)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatalf("loading etcd: %v", err)
	}
}

func benchPutBatch(cli *clientv3.Client, prefix string, from, to int) error {
	ctx, cancel := context.WithTimeout(context.Background(), benchWait)
	defer cancel()
	lease, err := cli.Grant(ctx, 3600)
	if err != nil {
		return err
	}
	ops := make([]clientv3.Op, 0, 2*(to-from))
	for k := from; k < to; k++ {
		in := benchFleetInstance(k)
		rec, err := json.Marshal(benchRecord{
			Version: 1, Service: in.Service, ID: in.ID, Address: in.Address.String(), Port: in.Port,
			Tags: in.Tags, Weight: in.Weight, TTL: in.TTL.String(), Health: "passing",
		})
		if err != nil {
			return err
		}
		name := in.Service + "/" + in.ID
		ops = append(ops,
			clientv3.OpPut(prefix+"/instances/"+name, string(rec)),
			clientv3.OpPut(prefix+"/leases/"+name, in.TTL.String(), clientv3.WithLease(lease.ID)))
	}
	_, err = cli.Txn(ctx).Then(ops...).Commit()
	return err
}

// benchLoadSizes are the registry sizes of BenchmarkSharedLoad;
// SIGNPOST_BENCH_LOAD (comma-separated) replaces them, e.g. 1000000.
func benchLoadSizes() []int {
	sizes := []int{10_000, 100_000}
	if env := os.Getenv("SIGNPOST_BENCH_LOAD"); env != "" {
		sizes = nil
		for f := range strings.SplitSeq(env, ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
				sizes = append(sizes, n)
			}
		}
	}
	return sizes
}

// BenchmarkSharedLoad measures a server's start-up on etcd: OpenEtcd, from
// dialing the cluster to a registry that holds every instance (one range
// read and the registry built from it), and the heap that registry then
// holds per instance. The baseline "memory" is the same instances
// registered one by one into a registry in memory, as
// BenchmarkMemoryPerLease does, in the same run.
func BenchmarkSharedLoad(b *testing.B) {
	c := benchCluster(b)
	cli := c.Client(b)
	for _, n := range benchLoadSizes() {
		prefix := benchPrefix()
		start := time.Now()
		benchPutFleet(b, cli, prefix, n)
		b.Logf("%d instances written to etcd in %v", n, time.Since(start).Round(time.Millisecond))
		b.Run(fmt.Sprintf("etcd/%d", n), func(b *testing.B) {
			var perInstance, peak float64
			for b.Loop() {
				b.StopTimer()
				before := heapInUse()
				stop := samplePeakHeap()
				b.StartTimer()
				r, err := registry.OpenEtcd(registry.EtcdConfig{Endpoints: c.Endpoints(), Prefix: prefix, Name: "load"}, registry.Config{})
				if err != nil {
					b.Fatalf("OpenEtcd: %v", err)
				}
				b.StopTimer()
				peak = float64(stop()-before) / float64(n)
				if got := r.Snapshot().Count(registry.Passing); got != n {
					b.Fatalf("loaded %d passing instances, want %d", got, n)
				}
				perInstance = float64(heapInUse()-before) / float64(n)
				runtime.KeepAlive(r)
				r.Stop()
				b.StartTimer()
			}
			b.ReportMetric(perInstance, "B/instance")
			b.ReportMetric(peak, "peak-B/instance")
		})
		b.Run(fmt.Sprintf("memory/%d", n), func(b *testing.B) {
			var perInstance float64
			for b.Loop() {
				before := heapInUse()
				r := registry.New(registry.Config{})
				for k := range n {
					if _, err := r.Register(benchFleetInstance(k)); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				perInstance = float64(heapInUse()-before) / float64(n)
				runtime.KeepAlive(r)
				b.StartTimer()
			}
			b.ReportMetric(perInstance, "B/instance")
		})
	}
}

// samplePeakHeap samples the heap in use every 10 ms until the function it
// returns is called, which returns the highest sample: what a load needs at
// its height, garbage not yet collected included.
func samplePeakHeap() func() uint64 {
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-stopped
		return peak.Load()
	}
}

// benchWriters are the numbers of concurrent writers of the throughput
// benchmarks.
var benchWriters = []int{1, 8, 64}

// benchParallel calls op b.N times from writers goroutines, each call with
// its own sequence number, and reports the calls that succeeded per second
// as unit. A call that fails with ErrUnavailable (etcd did not answer within
// the registry's write timeout, as the API's 503) is counted in failed/op
// rather than failing the benchmark; any other error fails it.
func benchParallel(b *testing.B, writers int, unit string, op func(i int) error) {
	b.Helper()
	var next, unavailable atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range writers {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				switch err := op(i); {
				case err == nil:
				case errors.Is(err, registry.ErrUnavailable):
					unavailable.Add(1)
				default:
					b.Error(err)
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(int64(b.N)-unavailable.Load())/elapsed.Seconds(), unit)
	b.ReportMetric(float64(unavailable.Load())/float64(b.N), "failed/op")
}

// etcdProposals returns the raft proposals the cluster has committed, as
// the first member's etcd_server_proposals_committed_total says (every
// member commits every proposal).
func etcdProposals(b *testing.B, c *etcdtest.Cluster) float64 {
	b.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(c.Endpoints()[0] + "/metrics")
	if err != nil {
		b.Fatalf("etcd metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "etcd_server_proposals_committed_total "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				b.Fatalf("etcd metrics: %q: %v", sc.Text(), err)
			}
			return f
		}
	}
	b.Fatalf("etcd metrics: no etcd_server_proposals_committed_total (%v)", sc.Err())
	return 0
}

// settledProposals waits, at most 10 s, until the cluster has committed no
// proposal for half a second (the revocations and elections of earlier runs
// done), and returns the count.
func settledProposals(b *testing.B, c *etcdtest.Cluster) float64 {
	b.Helper()
	prev := etcdProposals(b, c)
	for range 20 {
		time.Sleep(500 * time.Millisecond)
		cur := etcdProposals(b, c)
		if cur == prev {
			break
		}
		prev = cur
	}
	return prev
}

// reportProposals reports the raft proposals per operation since before,
// once the background lease revocations of the last writes have landed.
func reportProposals(b *testing.B, c *etcdtest.Cluster, before float64) {
	b.Helper()
	time.Sleep(2 * time.Second) // revocations run in the background, bounded by the write timeout
	b.ReportMetric((etcdProposals(b, c)-before)/float64(b.N), "proposals/op")
}

// benchRegistries returns the backends of the throughput benchmarks: a
// registry in memory, one with a data directory (bbolt, fsync per commit,
// concurrent writes sharing a commit) and one on the etcd cluster c.
func benchRegistries(b *testing.B, c *etcdtest.Cluster) map[string]func(*testing.B) *registry.Registry {
	return map[string]func(*testing.B) *registry.Registry{
		"memory": func(*testing.B) *registry.Registry { return registry.New(registry.Config{}) },
		"data": func(b *testing.B) *registry.Registry {
			r, err := registry.Open(b.TempDir(), registry.Config{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(r.Stop)
			return r
		},
		"etcd": func(b *testing.B) *registry.Registry { return benchOpen(b, c, benchPrefix(), "bench", true) },
	}
}

// deregisterLater deregisters, when b's run ends and before the registry
// stops, the instances of the first n slots: otherwise their leases would
// run out in etcd during a later sub-benchmark and add their revocations to
// its load and its count of proposals.
func deregisterLater(b *testing.B, r *registry.Registry, n int) {
	b.Cleanup(func() {
		for slot := range min(n, benchSlots) {
			in := benchSlot(slot, 0, 0)
			r.Deregister(in.Service, in.ID)
		}
		time.Sleep(2 * time.Second) // lease revocations run in the background
	})
}

// benchSlot is the instance of slot, registered for the round-th time.
func benchSlot(slot, round int, ttl time.Duration) registry.Instance {
	return registry.Instance{
		Service: "svc-" + strconv.Itoa(slot%64), ID: "i-" + strconv.Itoa(slot/64),
		Address: netip.AddrFrom4([4]byte{10, byte(slot % 64), byte(slot / 64), 1}),
		Port:    uint16(1 + round%60000), Weight: 1, TTL: ttl,
	}
}

// benchSlots is how many instances the throughput benchmarks cycle over, so
// that the registry stays the same size however long they run.
const benchSlots = 1024

// BenchmarkSharedRegister measures acknowledged registrations per second:
// Register returning, which is what the API's 200 waits for (on etcd: the
// transaction committed and this server's snapshot holding it; with a data
// directory: the commit on disk). Every call changes its instance (the
// port), so none is a no-op. "ttl" registers with a 30 s heartbeat lease,
// as sidecars do; on etcd that is a lease grant and a transaction, and the
// previous lease of the instance revoked in the background.
func BenchmarkSharedRegister(b *testing.B) {
	c := benchCluster(b)
	backends := benchRegistries(b, c)
	for _, ttl := range []time.Duration{0, 30 * time.Second} {
		for _, backend := range []string{"memory", "data", "etcd"} {
			for _, w := range benchWriters {
				b.Run(fmt.Sprintf("ttl=%v/%s/writers=%d", ttl, backend, w), func(b *testing.B) {
					r := backends[backend](b)
					var before float64
					if backend == "etcd" {
						deregisterLater(b, r, b.N)
						before = settledProposals(b, c)
					}
					benchParallel(b, w, "registrations/s", func(i int) error {
						_, err := r.Register(benchSlot(i%benchSlots, i/benchSlots, ttl))
						return err
					})
					if backend == "etcd" {
						reportProposals(b, c, before)
					}
				})
			}
		}
	}
}

// BenchmarkSharedHeartbeat measures lease renewals per second (Renew, what
// the API's heartbeat calls) over 1,024 instances with 60 s leases: on etcd
// a lease keep-alive, against the single server's renewal in memory.
func BenchmarkSharedHeartbeat(b *testing.B) {
	benchLeased(b, "heartbeats/s", func(r *registry.Registry, i int) error {
		in := benchSlot(i%benchSlots, 0, 0)
		_, _, err := r.Renew(in.Service, in.ID)
		return err
	})
}

// BenchmarkSharedReport measures health transitions written through etcd:
// each call reports one of 1,024 instances (60 s leases) critical or, the
// next time round, passing again, as a sidecar whose health URL fails and
// recovers does. On etcd each is a lease keep-alive and a conditional
// transaction; in memory a renewal and a new snapshot.
func BenchmarkSharedReport(b *testing.B) {
	benchLeased(b, "transitions/s", func(r *registry.Registry, i int) error {
		in := benchSlot(i%benchSlots, 0, 0)
		h := registry.Critical
		if (i/benchSlots)%2 == 1 {
			h = registry.Passing
		}
		_, _, err := r.Report(in.Service, in.ID, h, "bench")
		return err
	})
}

// benchLeased runs op, reported in unit, over benchSlots instances
// registered with 60 s leases, in memory and on etcd, for each count of
// writers; on etcd it also reports raft proposals per operation.
func benchLeased(b *testing.B, unit string, op func(r *registry.Registry, i int) error) {
	c := benchCluster(b)
	backends := benchRegistries(b, c)
	for _, backend := range []string{"memory", "etcd"} {
		for _, w := range benchWriters {
			b.Run(fmt.Sprintf("%s/writers=%d", backend, w), func(b *testing.B) {
				r := backends[backend](b)
				for slot := range benchSlots {
					if _, err := r.Register(benchSlot(slot, 0, time.Minute)); err != nil {
						b.Fatal(err)
					}
				}
				var before float64
				if backend == "etcd" {
					deregisterLater(b, r, benchSlots)
					before = settledProposals(b, c)
				}
				benchParallel(b, w, unit, func(i int) error { return op(r, i) })
				if backend == "etcd" {
					reportProposals(b, c, before)
				}
			})
		}
	}
}

// BenchmarkSharedExpiry counts what a lease running out costs etcd, from
// the lease to the removal: b.N instances with 10 s leases are registered
// through server A and never renewed; etcd revokes the leases, both servers
// A and B see the lease keys go, turn the instances critical, and one of
// them removes each (deregister-after 1 s; self-preservation off, since
// all of them run out at once). Reported: raft proposals per instance from
// the registrations' end until both servers are empty.
func BenchmarkSharedExpiry(b *testing.B) {
	c := benchCluster(b)
	prefix := benchPrefix()
	cfg := registry.Config{DeregisterAfter: time.Second, SelfPreservation: -1}
	var servers []*registry.Registry
	for _, name := range []string{"a", "b"} {
		r, err := registry.OpenEtcd(registry.EtcdConfig{Endpoints: c.Endpoints(), Prefix: prefix, Name: name}, cfg)
		if err != nil {
			b.Fatal(err)
		}
		r.Start()
		b.Cleanup(r.Stop)
		servers = append(servers, r)
	}
	b.ResetTimer()
	var regs float64
	for i := range b.N {
		before := etcdProposals(b, c)
		if _, err := servers[0].Register(benchSlot(i%benchSlots, i/benchSlots, 10*time.Second)); err != nil {
			b.Fatal(err)
		}
		regs += etcdProposals(b, c) - before
	}
	before := etcdProposals(b, c)
	deadline := time.Now().Add(benchWait)
	for servers[0].Snapshot().Count(registry.Passing)+servers[0].Snapshot().Count(registry.Critical) > 0 ||
		servers[1].Snapshot().Count(registry.Passing)+servers[1].Snapshot().Count(registry.Critical) > 0 {
		if time.Now().After(deadline) {
			b.Fatalf("instances left after %v", benchWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	time.Sleep(2 * time.Second) // removals that lost the race, and revocations, land
	b.ReportMetric(regs/float64(b.N), "register-proposals/op")
	b.ReportMetric((etcdProposals(b, c)-before)/float64(b.N), "expiry-proposals/op")
}

// BenchmarkSharedDeregister measures deregistrations through etcd, one
// writer: b.N instances with 30 s leases are registered first (not
// measured), then deregistered. Reported: deregistrations per second and
// raft proposals per deregistration (the transaction deleting the record
// and the lease key, and the lease's revocation, done in the background).
func BenchmarkSharedDeregister(b *testing.B) {
	c := benchCluster(b)
	r := benchOpen(b, c, benchPrefix(), "bench", true)
	for i := range b.N {
		if _, err := r.Register(benchSlot(i%benchSlots, i/benchSlots, 30*time.Second)); err != nil {
			b.Fatal(err)
		}
	}
	before := settledProposals(b, c)
	benchParallel(b, 1, "deregistrations/s", func(i int) error {
		in := benchSlot(i%benchSlots, 0, 0)
		return r.Deregister(in.Service, in.ID)
	})
	reportProposals(b, c, before)
}

// BenchmarkSharedKeepAliveStream is the ceiling that BenchmarkSharedHeartbeat's
// etcd figures are measured against: lease keep-alives sent straight on
// long-lived LeaseKeepAlive streams, one per writer, each request answered
// before the next is sent, over 1,024 leases of a minute. The registry's
// renewal instead opens a stream per keep-alive (clientv3's KeepAliveOnce).
// "to=all" spreads the streams over the three members as the registry's
// client does, "to=leader" and "to=follower" send them all to one member (a
// follower hands each keep-alive on to the leader).
func BenchmarkSharedKeepAliveStream(b *testing.B) {
	c := benchCluster(b)
	cli := c.Client(b)
	leader := c.Leader()
	var follower *etcdtest.Member
	for i := range c.Members() {
		if m := c.Member(i); m != leader {
			follower = m
			break
		}
	}
	targets := map[string]*clientv3.Client{"all": cli, "leader": leader.Client(b), "follower": follower.Client(b)}
	for _, to := range []string{"all", "leader", "follower"} {
		for _, w := range benchWriters {
			b.Run(fmt.Sprintf("to=%s/writers=%d", to, w), func(b *testing.B) {
				benchKeepAliveStreams(b, cli, targets[to], w)
			})
		}
	}
}

func benchKeepAliveStreams(b *testing.B, cli, target *clientv3.Client, writers int) {
	ctx, cancel := context.WithTimeout(context.Background(), benchWait)
	defer cancel()
	leases := make([]clientv3.LeaseID, benchSlots)
	for i := range leases {
		l, err := cli.Grant(ctx, 60)
		if err != nil {
			b.Fatal(err)
		}
		leases[i] = l.ID
	}
	b.Cleanup(func() {
		for _, id := range leases {
			cli.Revoke(context.Background(), id)
		}
	})
	streams := make([]pb.Lease_LeaseKeepAliveClient, writers)
	for i := range streams {
		s, err := pb.NewLeaseClient(target.ActiveConnection()).LeaseKeepAlive(ctx)
		if err != nil {
			b.Fatal(err)
		}
		streams[i] = s
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for _, s := range streams {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if err := s.Send(&pb.LeaseKeepAliveRequest{ID: int64(leases[i%benchSlots])}); err != nil {
					b.Error(err)
					return
				}
				if resp, err := s.Recv(); err != nil || resp.TTL <= 0 {
					b.Errorf("keep-alive: %v, TTL %d", err, resp.GetTTL())
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "heartbeats/s")
}

// BenchmarkSharedPropagation measures, in one process, the time from
// Register returning on server A (the API's 200) to server B's snapshot
// holding the instance, B following etcd's watch; p50 and p99 over b.N
// registrations, one at a time.
func BenchmarkSharedPropagation(b *testing.B) {
	c := benchCluster(b)
	prefix := benchPrefix()
	a := benchOpen(b, c, prefix, "a", true)
	other := benchOpen(b, c, prefix, "b", true)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		in := benchFleetInstance(i)
		in.Service, in.TTL = "prop", 0
		if _, err := a.Register(in); err != nil {
			b.Fatal(err)
		}
		acked := time.Now()
		deadline := time.NewTimer(benchWait)
		for {
			s := other.Snapshot()
			if svc := s.Service("prop"); svc != nil {
				if _, ok := svc.Instance(in.ID); ok {
					break
				}
			}
			select {
			case <-s.Changed():
			case <-deadline.C:
				b.Fatalf("instance %s not on the other server after %v", in.ID, benchWait)
			}
		}
		lat = append(lat, time.Since(acked))
		deadline.Stop()
	}
	b.StopTimer()
	reportLatency(b, lat)
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
}

// BenchmarkSharedWatch measures how fast changes reach the servers that
// follow etcd: 64 writers put b.N instance records with their lease keys
// (two keys, one transaction each, as a registration does) while one
// registry follows the prefix and, in "watchers=100", 100 more watches on
// as many clients count the events, standing for 100 servers. Reported:
// writes per second until the last follower and watcher had everything,
// the events etcd delivered per second to all of them, and how long after
// the last write the slowest of them was done.
func BenchmarkSharedWatch(b *testing.B) {
	c := benchCluster(b)
	for _, watchers := range []int{0, 100} {
		b.Run(fmt.Sprintf("watchers=%d", watchers), func(b *testing.B) {
			prefix := benchPrefix()
			follower := benchOpen(b, c, prefix, "follower", true)
			cli := c.Client(b)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var seen atomic.Int64 // events counted by all watchers
			var wg sync.WaitGroup
			for range watchers {
				wcli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: benchWait, Logger: zap.NewNop()})
				if err != nil {
					b.Fatal(err)
				}
				defer wcli.Close()
				wc := wcli.Watch(ctx, prefix+"/", clientv3.WithPrefix())
				wg.Go(func() {
					for resp := range wc {
						seen.Add(int64(len(resp.Events)))
					}
				})
			}
			lease, err := cli.Grant(ctx, 3600)
			if err != nil {
				b.Fatal(err)
			}
			var lastWrite atomic.Int64 // unix nanoseconds
			b.ResetTimer()
			start := time.Now()
			benchParallel(b, 64, "writes/s", func(i int) error {
				in := benchFleetInstance(i)
				rec, _ := json.Marshal(benchRecord{Version: 1, Service: in.Service, ID: in.ID, Address: in.Address.String(),
					Port: in.Port, Tags: in.Tags, Weight: in.Weight, TTL: in.TTL.String(), Health: "passing"})
				wctx, wcancel := context.WithTimeout(ctx, benchWait)
				defer wcancel()
				name := in.Service + "/" + in.ID
				_, err := cli.Txn(wctx).Then(
					clientv3.OpPut(prefix+"/instances/"+name, string(rec)),
					clientv3.OpPut(prefix+"/leases/"+name, in.TTL.String(), clientv3.WithLease(lease.ID)),
				).Commit()
				if err != nil {
					return err
				}
				lastWrite.Store(time.Now().UnixNano())
				return nil
			})
			b.StartTimer()
			want := int64(2 * b.N * watchers)
			deadline := time.Now().Add(benchWait)
			for follower.Snapshot().Count(registry.Passing) < b.N || seen.Load() < want {
				if time.Now().After(deadline) {
					b.Fatalf("after %v: the follower holds %d of %d, the watchers saw %d of %d events",
						benchWait, follower.Snapshot().Count(registry.Passing), b.N, seen.Load(), want)
				}
				time.Sleep(time.Millisecond)
			}
			done := time.Now()
			b.StopTimer()
			elapsed := done.Sub(start).Seconds()
			b.ReportMetric(float64(b.N)/elapsed, "writes/s")
			b.ReportMetric(float64(2*b.N*(watchers+1))/elapsed, "events/s")
			b.ReportMetric(float64(done.Sub(time.Unix(0, lastWrite.Load())).Microseconds()), "tail-µs")
			cancel()
			wg.Wait()
		})
	}
}
