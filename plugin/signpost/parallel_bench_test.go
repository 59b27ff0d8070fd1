package signpost

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/upstream"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/signpost-dns/signpost/bench/fixed"
)

// BenchmarkServeDNSParallel answers queries from b.RunParallel's goroutines
// at once, to see whether a query's cost holds as cores are added (run with
// -cpu 1,2,4,8): Signpost's packed path, whose answer cache every query
// reads, against bench/fixed, which shares nothing between queries and so
// scales as far as the machine does. Each goroutine cycles over the 1,024
// names of BenchmarkServeDNS with its own writers.
func BenchmarkServeDNSParallel(b *testing.B) {
	reg := benchRegistry(b, 3_000)
	for _, qtype := range []uint16{dns.TypeA, dns.TypeSRV} {
		b.Run(fmt.Sprintf("signpost/%s", dns.TypeToString[qtype]), func(b *testing.B) {
			sp := &Signpost{Zones: []string{testZone}, reg: reg, upstream: upstream.New(), opts: options{ttl: 5, negativeTTL: 5}}
			sp.cache = newAnswerCache(defaultCacheSize)
			runParallel(b, sp, qtype, 1_000)
		})
	}
	b.Run("fixed/A", func(b *testing.B) {
		runParallel(b, &fixed.Fixed{IP: net.IPv4(10, 0, 0, 1)}, dns.TypeA, 1_000)
	})
}

func runParallel(b *testing.B, h plugin.Handler, qtype uint16, services int) {
	ctx := context.Background()
	// Fill the answer cache before timing.
	for i := range services {
		q := new(dns.Msg).SetQuestion(fmt.Sprintf("svc%d.svc.internal.", i), qtype)
		h.ServeDNS(ctx, request.NewScrubWriter(q, &discardWriter{}), q)
	}
	var seed atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		queries := make([]*dns.Msg, 1024)
		writers := make([]dns.ResponseWriter, len(queries))
		start := int(seed.Add(1)) * 131
		for i := range queries {
			queries[i] = new(dns.Msg).SetQuestion(fmt.Sprintf("svc%d.svc.internal.", ((start+i)*7919)%services), qtype)
			writers[i] = request.NewScrubWriter(queries[i], &discardWriter{})
		}
		for i := 0; pb.Next(); i++ {
			j := i % len(queries)
			if _, err := h.ServeDNS(ctx, writers[j], queries[j]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
