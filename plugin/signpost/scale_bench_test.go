package signpost

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/pkg/upstream"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/signpost-dns/signpost/registry"
)

// BenchmarkServeDNSScale measures a query against registries of growing
// size, to show that its cost does not grow with them:
//
//   - many: n instances, three per service, queries cycling over 1,024
//     services (as BenchmarkServeDNS);
//   - one: n instances in one service, every query for it (the reply holds
//     what fits in 512 bytes, TC set).
//
// "packed" is the fast path; "general" is the general path with the answer
// cache on, as behind a plugin that needs the reply as a message (the
// writer here is the log plugin's recorder): it renders the cached answer's
// records as a message. Compare sizes with benchstat (-count 10).
func BenchmarkServeDNSScale(b *testing.B) {
	sizes := []int{1_000, 100_000, 1_000_000}
	for _, shape := range []string{"many", "one"} {
		for _, n := range sizes {
			if shape == "one" && n > 100_000 {
				// The registry loads one service's static instances in
				// O(n²) (a duplicate check per instance): a million in
				// one service does not load in a benchmark's time.
				continue
			}
			b.Run(fmt.Sprintf("shape=%s/n=%d", shape, n), func(b *testing.B) {
				reg := scaleRegistry(b, shape, n)
				for _, qtype := range []uint16{dns.TypeA, dns.TypeSRV} {
					for _, path := range []string{"packed", "general"} {
						b.Run(fmt.Sprintf("type=%s/path=%s", dns.TypeToString[qtype], path), func(b *testing.B) {
							benchScale(b, reg, shape, n, qtype, path == "packed")
						})
					}
				}
			})
		}
	}
}

// scaleRegistries keeps the registries of BenchmarkServeDNSScale from one
// run of -count to the next: a million instances take seconds to load.
var scaleRegistries = map[string]*registry.Registry{}

func scaleRegistry(b *testing.B, shape string, n int) *registry.Registry {
	key := fmt.Sprintf("%s/%d", shape, n)
	if reg := scaleRegistries[key]; reg != nil {
		return reg
	}
	var reg *registry.Registry
	if shape == "many" {
		reg = benchRegistry(b, n)
	} else {
		reg = oneServiceRegistry(b, n)
	}
	scaleRegistries[key] = reg
	return reg
}

// oneServiceRegistry returns a registry of n instances of one service, web.
func oneServiceRegistry(tb testing.TB, n int) *registry.Registry {
	tb.Helper()
	reg := registry.New(registry.Config{})
	s := registry.StaticService{Config: registry.ServiceConfig{Name: "web"}}
	s.Instances = make([]registry.Instance, 0, n)
	for k := range n {
		s.Instances = append(s.Instances, registry.Instance{
			ID:      fmt.Sprintf("i%d", k),
			Address: netip.AddrFrom4([4]byte{10, byte(k >> 16), byte(k >> 8), byte(k)}),
			Port:    8080, Weight: 1,
		})
	}
	if err := reg.ApplyStatic([]registry.StaticService{s}); err != nil {
		tb.Fatal(err)
	}
	return reg
}

func benchScale(b *testing.B, reg *registry.Registry, shape string, n int, qtype uint16, packed bool) {
	sp := &Signpost{Zones: []string{testZone}, reg: reg, upstream: upstream.New(), opts: options{ttl: 5, negativeTTL: 5}}
	sp.cache = newAnswerCache(defaultCacheSize)
	queries := make([]*dns.Msg, 1024)
	for i := range queries {
		name := "web.svc.internal."
		if shape == "many" {
			name = fmt.Sprintf("svc%d.svc.internal.", (i*7919)%(n/3))
		}
		queries[i] = new(dns.Msg).SetQuestion(name, qtype)
	}
	ctx := context.Background()
	writers := make([]dns.ResponseWriter, len(queries))
	for i, q := range queries {
		var w dns.ResponseWriter = request.NewScrubWriter(q, &discardWriter{})
		if !packed {
			w = dnstest.NewRecorder(w)
		}
		writers[i] = w
		// Fill the answer cache: the figure is a query's, not a snapshot
		// change's.
		if _, err := sp.ServeDNS(ctx, w, q); err != nil {
			b.Fatal(err)
		}
	}
	if rawWriter(writers[0]) != packed {
		b.Fatalf("packed path %v, want %v", rawWriter(writers[0]), packed)
	}
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % len(queries)
		if _, err := sp.ServeDNS(ctx, writers[j], queries[j]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServeDNSScaleRatio runs the queries of BenchmarkServeDNSScale on
// every size in turn, in blocks of 1,000, so that all sizes see the same
// machine (on a shared machine the spread between separate runs is larger
// than the differences sought), and reports each size's time per query and
// its ratio to the smallest size's.
func BenchmarkServeDNSScaleRatio(b *testing.B) {
	for _, shape := range []string{"many", "one"} {
		sizes := []int{1_000, 100_000, 1_000_000}
		if shape == "one" {
			sizes = sizes[:2] // see BenchmarkServeDNSScale
		}
		for _, qtype := range []uint16{dns.TypeA, dns.TypeSRV} {
			for _, path := range []string{"packed", "general"} {
				b.Run(fmt.Sprintf("shape=%s/type=%s/path=%s", shape, dns.TypeToString[qtype], path), func(b *testing.B) {
					runs := make([]*scaleRun, len(sizes))
					for i, n := range sizes {
						runs[i] = newScaleRun(b, scaleRegistry(b, shape, n), shape, n, qtype, path == "packed")
					}
					runtime.GC()
					b.ReportAllocs()
					b.ResetTimer()
					const block = 1_000
					for done, k := 0, 0; done < b.N; k++ {
						m := min(block, b.N-done)
						runs[k%len(runs)].serve(b, m)
						done += m
					}
					b.StopTimer()
					base := runs[0].perQuery()
					for i, r := range runs {
						b.ReportMetric(r.perQuery(), fmt.Sprintf("ns/q@%d", sizes[i]))
						if i > 0 {
							b.ReportMetric(r.perQuery()/base, fmt.Sprintf("x@%d", sizes[i]))
						}
					}
				})
			}
		}
	}
}

// scaleRun is one size's plugin, queries and writers, and the time its
// queries took.
type scaleRun struct {
	sp      *Signpost
	queries []*dns.Msg
	writers []dns.ResponseWriter
	next    int
	n       int
	elapsed time.Duration
}

func newScaleRun(b *testing.B, reg *registry.Registry, shape string, n int, qtype uint16, packed bool) *scaleRun {
	r := &scaleRun{sp: &Signpost{Zones: []string{testZone}, reg: reg, upstream: upstream.New(), opts: options{ttl: 5, negativeTTL: 5}}}
	r.sp.cache = newAnswerCache(defaultCacheSize)
	for i := range 1024 {
		name := "web.svc.internal."
		if shape == "many" {
			name = fmt.Sprintf("svc%d.svc.internal.", (i*7919)%(n/3))
		}
		q := new(dns.Msg).SetQuestion(name, qtype)
		var w dns.ResponseWriter = request.NewScrubWriter(q, &discardWriter{})
		if !packed {
			w = dnstest.NewRecorder(w)
		}
		if _, err := r.sp.ServeDNS(context.Background(), w, q); err != nil {
			b.Fatal(err)
		}
		r.queries, r.writers = append(r.queries, q), append(r.writers, w)
	}
	return r
}

// serve answers m queries and adds their time to r's.
func (r *scaleRun) serve(b *testing.B, m int) {
	ctx := context.Background()
	start := time.Now()
	for range m {
		j := r.next % len(r.queries)
		r.next++
		if _, err := r.sp.ServeDNS(ctx, r.writers[j], r.queries[j]); err != nil {
			b.Fatal(err)
		}
	}
	r.elapsed += time.Since(start)
	r.n += m
}

func (r *scaleRun) perQuery() float64 { return float64(r.elapsed.Nanoseconds()) / float64(r.n) }
