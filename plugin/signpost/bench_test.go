package signpost

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	_ "github.com/coredns/coredns/plugin/hosts"
	"github.com/coredns/coredns/plugin/pkg/upstream"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/signpost-dns/signpost/registry"
)

// benchRegistry returns a registry of n instances, three per service, loaded
// in one change.
func benchRegistry(tb testing.TB, n int) *registry.Registry {
	tb.Helper()
	reg := registry.New(registry.Config{})
	services := make([]registry.StaticService, 0, n/3+1)
	for i := 0; i < n; i += 3 {
		s := registry.StaticService{Config: registry.ServiceConfig{Name: fmt.Sprintf("svc%d", i/3)}}
		for j := 0; j < 3 && i+j < n; j++ {
			k := i + j
			s.Instances = append(s.Instances, registry.Instance{
				ID:      fmt.Sprintf("i%d", j),
				Address: netip.AddrFrom4([4]byte{10, byte(k >> 16), byte(k >> 8), byte(k)}),
				Port:    8080, Weight: 1,
			})
		}
		services = append(services, s)
	}
	if err := reg.ApplyStatic(services); err != nil {
		tb.Fatal(err)
	}
	return reg
}

// discardWriter is a ResponseWriter that packs the reply, as the server
// does, and throws it away.
type discardWriter struct {
	test.ResponseWriter
	buf []byte
}

var (
	benchLocal  = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}
	benchRemote = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40212}
)

// LocalAddr and RemoteAddr return fixed addresses, as a server's connection
// does, rather than the test writer's new ones per call.
func (w *discardWriter) LocalAddr() net.Addr  { return benchLocal }
func (w *discardWriter) RemoteAddr() net.Addr { return benchRemote }

func (w *discardWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.PackBuffer(w.buf)
	w.buf = b[:0]
	return err
}

func benchServeDNS(b *testing.B, reg *registry.Registry, n int, qtype uint16, cache bool) {
	sp := &Signpost{Zones: []string{testZone}, reg: reg, upstream: upstream.New(), opts: options{ttl: 5, negativeTTL: 5}}
	if cache {
		sp.cache = newAnswerCache(defaultCacheSize)
	}
	services := n / 3
	queries := make([]*dns.Msg, 1024)
	for i := range queries {
		queries[i] = new(dns.Msg).SetQuestion(fmt.Sprintf("svc%d.svc.internal.", (i*7919)%services), qtype)
	}
	ctx := context.Background()
	// The writer the server hands to plugins: scrubbing, over a connection.
	writers := make([]dns.ResponseWriter, len(queries))
	for i, q := range queries {
		writers[i] = request.NewScrubWriter(q, &discardWriter{})
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

// BenchmarkServeDNS measures a query from the plugin's entry to the packed
// reply, for registries of 1k, 100k and 1M instances, with the packed
// answer cache ("packed") and without ("general").
func BenchmarkServeDNS(b *testing.B) {
	for _, n := range []int{1_000, 100_000, 1_000_000} {
		reg := benchRegistry(b, n)
		for _, qtype := range []uint16{dns.TypeA, dns.TypeSRV} {
			for _, path := range []string{"general", "packed"} {
				b.Run(fmt.Sprintf("%s/%s/%d", dns.TypeToString[qtype], path, n), func(b *testing.B) {
					benchServeDNS(b, reg, n, qtype, path == "packed")
				})
			}
		}
	}
}

// BenchmarkServeDNSHosts runs CoreDNS's own hosts plugin over the same 1,000
// names with three addresses each, through the same writer, as the baseline
// of BenchmarkServeDNS/A (time and allocations per query).
func BenchmarkServeDNSHosts(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("hosts {\n")
	for k := range 3000 {
		fmt.Fprintf(&sb, "10.%d.%d.%d svc%d.svc.internal\n", byte(k>>16), byte(k>>8), byte(k), k/3)
	}
	sb.WriteString("no_reverse\n}\n")
	c := caddy.NewTestController("dns", sb.String())
	c.ServerBlockKeys = []string{"svc.internal.:53"}
	setup, err := caddy.DirectiveAction("dns", "hosts")
	if err != nil {
		b.Fatal(err)
	}
	if err := setup(c); err != nil {
		b.Fatal(err)
	}
	h := dnsserver.GetConfig(c).Plugin[0](nil)

	queries := make([]*dns.Msg, 1024)
	writers := make([]dns.ResponseWriter, len(queries))
	for i := range queries {
		queries[i] = new(dns.Msg).SetQuestion(fmt.Sprintf("svc%d.svc.internal.", (i*7919)%1000), dns.TypeA)
		writers[i] = request.NewScrubWriter(queries[i], &discardWriter{})
	}
	ctx := context.Background()
	if rcode, _ := h.ServeDNS(ctx, writers[0], queries[0]); rcode != dns.RcodeSuccess {
		b.Fatalf("hosts answered rcode %d", rcode)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % len(queries)
		h.ServeDNS(ctx, writers[j], queries[j])
	}
}
