package signpost

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/coredns/coredns/plugin/pkg/upstream"
	"github.com/miekg/dns"

	"github.com/signpost-dns/signpost/registry"
)

// BenchmarkPackFailover measures packing the answer of a service with a
// failover VIP and 30 instances (half of them tagged blue), the work a
// snapshot change costs each of its names before the answer cache holds
// it again: for the service's name and its tag name, with the instances
// answered (all passing) and with the failover answered (all critical).
func BenchmarkPackFailover(b *testing.B) {
	for _, down := range []bool{false, true} {
		reg := registry.New(registry.Config{})
		s := registry.StaticService{Config: registry.ServiceConfig{Name: "svc", MinHealthy: 2,
			Failover: registry.Failover{Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.100")}}}}
		for i := range 30 {
			in := registry.Instance{ID: fmt.Sprintf("i%d", i), Address: netip.AddrFrom4([4]byte{10, 0, 6, byte(i + 1)}), Port: 80, Weight: 1}
			if i%2 == 0 {
				in.Tags = []string{"blue"}
			}
			s.Instances = append(s.Instances, in)
		}
		if err := reg.ApplyStatic([]registry.StaticService{s}); err != nil {
			b.Fatal(err)
		}
		if down {
			for _, in := range s.Instances {
				if err := reg.SetHealth("svc", in.ID, registry.Critical); err != nil {
					b.Fatal(err)
				}
			}
		}
		sp := &Signpost{Zones: []string{testZone}, reg: reg, upstream: upstream.New(), opts: options{ttl: 5, negativeTTL: 7}}
		snap := reg.Snapshot()
		for _, tag := range []string{"", "blue"} {
			state := "up"
			if down {
				state = "down"
			}
			b.Run(fmt.Sprintf("%s/tag=%q", state, tag), func(b *testing.B) {
				key := packedKey{name: serviceName("svc", tag, testZone), qtype: dns.TypeA}
				b.ReportAllocs()
				for b.Loop() {
					sp.pack(key, testZone, snap)
				}
			})
		}
	}
}
