package signpost

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/pkg/upstream"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/signpost-dns/signpost/internal/etcdtest"
	"github.com/signpost-dns/signpost/registry"
)

// etcdBenchSize is the registry of BenchmarkServeDNSEtcd: 100,000
// instances, three per service, as BenchmarkServeDNS's middle size.
const etcdBenchSize = 100_000

// BenchmarkServeDNSEtcd compares the query path on a registry loaded from
// etcd with one in memory holding the same instances, in one run: a query
// reads the registry's snapshot, which has the same shape whichever backend
// filled it, so the two should not differ. The instances are written to a
// three-member etcd cluster in the key layout of registry/etcd.go, loaded
// with OpenEtcd (which follows etcd from then on), and registered one by
// one into a registry in memory.
//
//	go test -run '^$' -bench ServeDNSEtcd -benchtime 300000x -count 5 ./plugin/signpost/
func BenchmarkServeDNSEtcd(b *testing.B) {
	c := etcdtest.Start(b, etcdtest.Options{Members: 3, Binary: etcdtest.Latest(b), Timeout: time.Minute})
	const prefix = "/signpost-bench"
	etcdBenchPut(b, c.Client(b), prefix, etcdBenchSize)
	shared, err := registry.OpenEtcd(registry.EtcdConfig{Endpoints: c.Endpoints(), Prefix: prefix, Name: "bench"}, registry.Config{})
	if err != nil {
		b.Fatal(err)
	}
	shared.Start()
	b.Cleanup(shared.Stop)
	memory := registry.New(registry.Config{})
	for _, svc := range shared.Snapshot().Services() {
		for _, in := range svc.Instances() {
			if _, err := memory.Register(in); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, r := range []*registry.Registry{shared, memory} {
		if got := r.Snapshot().Count(registry.Passing); got != etcdBenchSize {
			b.Fatalf("%d passing instances, want %d", got, etcdBenchSize)
		}
	}
	regs := map[string]*registry.Registry{"memory": memory, "etcd": shared}
	for _, qtype := range []uint16{dns.TypeA, dns.TypeSRV} {
		for _, path := range []string{"general", "packed"} {
			for _, backend := range []string{"memory", "etcd"} {
				b.Run(fmt.Sprintf("%s/%s/%s", dns.TypeToString[qtype], path, backend), func(b *testing.B) {
					benchServeDNS(b, regs[backend], etcdBenchSize, qtype, path == "packed")
				})
			}
			b.Run(fmt.Sprintf("%s/%s/ratio", dns.TypeToString[qtype], path), func(b *testing.B) {
				benchServeDNSRatio(b, memory, shared, qtype, path == "packed")
			})
		}
	}
}

// benchServeDNSRatio runs the queries of benchServeDNS on the two registries
// in alternating blocks of 1,000, so that both see the same load from the
// rest of the machine, and reports the time per query of each and their
// ratio (etcd over memory).
func benchServeDNSRatio(b *testing.B, memory, shared *registry.Registry, qtype uint16, cache bool) {
	const block = 1000
	type side struct {
		sp      *Signpost
		writers []dns.ResponseWriter
		elapsed time.Duration
		n       int
	}
	services := etcdBenchSize / 3
	queries := make([]*dns.Msg, 1024)
	for i := range queries {
		queries[i] = new(dns.Msg).SetQuestion(fmt.Sprintf("svc%d.svc.internal.", (i*7919)%services), qtype)
	}
	var sides [2]*side
	for i, reg := range []*registry.Registry{memory, shared} {
		sp := &Signpost{Zones: []string{testZone}, reg: reg, upstream: upstream.New(), opts: options{ttl: 5, negativeTTL: 5}}
		if cache {
			sp.cache = newAnswerCache(defaultCacheSize)
		}
		s := &side{sp: sp}
		for _, q := range queries {
			s.writers = append(s.writers, request.NewScrubWriter(q, &discardWriter{}))
		}
		sides[i] = s
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		for _, s := range sides {
			start := time.Now()
			for j := range min(block, b.N-done) {
				k := (s.n + j) % len(queries)
				if _, err := s.sp.ServeDNS(ctx, s.writers[k], queries[k]); err != nil {
					b.Fatal(err)
				}
			}
			s.elapsed += time.Since(start)
			s.n += min(block, b.N-done)
		}
		done += min(block, b.N-done)
	}
	b.StopTimer()
	mem, etcd := sides[0].elapsed.Seconds()/float64(sides[0].n), sides[1].elapsed.Seconds()/float64(sides[1].n)
	b.ReportMetric(mem*1e9, "memory-ns/query")
	b.ReportMetric(etcd*1e9, "etcd-ns/query")
	b.ReportMetric(etcd/mem, "etcd/memory")
}

// etcdBenchPut writes instances 0 to n-1 (service svcK/3, id iK%3, with a
// 30 s TTL and one tag) into etcd as registry/etcd.go stores them, 64 to a
// transaction, their lease keys sharing one etcd lease of an hour per
// transaction (the registry reads only a lease key's lease ID).
func etcdBenchPut(b *testing.B, cli *clientv3.Client, prefix string, n int) {
	b.Helper()
	const perTxn = 64
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				from := int(next.Add(perTxn)) - perTxn
				if from >= n {
					return
				}
				if err := etcdBenchBatch(cli, prefix, from, min(from+perTxn, n)); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		b.Fatalf("loading etcd: %v", err)
	}
}

func etcdBenchBatch(cli *clientv3.Client, prefix string, from, to int) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lease, err := cli.Grant(ctx, 3600)
	if err != nil {
		return err
	}
	var ops []clientv3.Op
	for k := from; k < to; k++ {
		service, id := "svc"+strconv.Itoa(k/3), "i"+strconv.Itoa(k%3)
		rec, err := json.Marshal(map[string]any{
			"v": 1, "service": service, "id": id,
			"address": netip.AddrFrom4([4]byte{10, byte(k >> 16), byte(k >> 8), byte(k)}).String(),
			"port":    8080, "tags": []string{"v2"}, "weight": 1, "ttl": "30s",
			"create_index": 0, "modify_index": 0, "health": "passing",
		})
		if err != nil {
			return err
		}
		name := service + "/" + id
		ops = append(ops,
			clientv3.OpPut(prefix+"/instances/"+name, string(rec)),
			clientv3.OpPut(prefix+"/leases/"+name, "30s", clientv3.WithLease(lease.ID)))
	}
	_, err = cli.Txn(ctx).Then(ops...).Commit()
	return err
}
