package signpost

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/pkg/upstream"
	"github.com/miekg/dns"

	"github.com/signpost-dns/signpost/registry"
)

// pick returns k distinct numbers below n, whether it shuffles all n or
// only moves the k it takes.
func TestPickDistinct(t *testing.T) {
	sp := &Signpost{rand: rand.New(rand.NewPCG(1, 2))}
	for _, n := range []int{1, 10, 64, 65, 1000, 100_000} {
		for _, k := range []int{0, 1, 5, 30, 64, 65, 200, 5000} {
			if k > n {
				continue
			}
			got := sp.pick(nil, n, k)
			if len(got) != k {
				t.Fatalf("pick(%d of %d): %d numbers", k, n, len(got))
			}
			seen := make(map[int]bool, k)
			for _, v := range got {
				if v < 0 || v >= n || seen[v] {
					t.Fatalf("pick(%d of %d): %d out of range or twice in %v", k, n, v, got)
				}
				seen[v] = true
			}
		}
	}
}

// Every number is as likely as any other, in every position taken.
func TestPickUniform(t *testing.T) {
	sp := &Signpost{rand: rand.New(rand.NewPCG(3, 4))}
	const n, k, trials = 500, 3, 50_000 // the sparse path: 4k < n
	var counts [k][n]int
	for range trials {
		for pos, v := range sp.pick(nil, n, k) {
			counts[pos][v]++
		}
	}
	// Expected trials/n = 100 per number and position; a binomial's
	// standard deviation is about 10, so 50 to 150 is five of them.
	for pos := range k {
		for v, c := range counts[pos] {
			if c < 50 || c > 150 {
				t.Fatalf("number %d came %d times in position %d, want about %d", v, c, pos, trials/n)
			}
		}
	}
}

// A service far larger than a reply: pack keeps one A record per address and
// one glue per target, and both paths answer with what fits, truncated.
func TestLargeService(t *testing.T) {
	const n = 4_000
	reg := registry.New(registry.Config{})
	s := registry.StaticService{Config: registry.ServiceConfig{Name: "big"}}
	for i := range n {
		// Every address twice, on two ports.
		a := netip.AddrFrom4([4]byte{10, 1, byte(i / 2 >> 8), byte(i / 2)})
		s.Instances = append(s.Instances, registry.Instance{ID: fmt.Sprintf("i%d", i), Address: a, Port: uint16(8000 + i%2), Weight: 1})
	}
	must(t, reg.ApplyStatic([]registry.StaticService{s}))
	sp := &Signpost{Zones: []string{testZone}, reg: reg, upstream: upstream.New(), opts: options{ttl: 5, negativeTTL: 5}}
	fast := &Signpost{Zones: []string{testZone}, reg: reg, upstream: upstream.New(), opts: options{ttl: 5, negativeTTL: 5}, cache: newAnswerCache(10)}

	start := time.Now()
	pa, _ := sp.pack(packedKey{name: "big.svc.internal.", qtype: dns.TypeA}, testZone, reg.Snapshot())
	if len(pa.answers) != n/2 || pa.byAddr != nil {
		t.Errorf("A: %d records, want one per address, %d", len(pa.answers), n/2)
	}
	pa, _ = sp.pack(packedKey{name: "big.svc.internal.", qtype: dns.TypeSRV}, testZone, reg.Snapshot())
	if len(pa.answers) != n || len(pa.extra) != n/2 {
		t.Errorf("SRV: %d records and %d glue, want %d and %d", len(pa.answers), len(pa.extra), n, n/2)
	}
	t.Logf("packed A and SRV of %d instances in %v", n, time.Since(start))
	for i, g := range pa.glue {
		if g < 0 || pa.extraOf[g] != pa.records[i].addr {
			t.Fatalf("SRV record %d (%v): glue %d", i, pa.records[i].addr, g)
		}
	}

	for _, qtype := range []uint16{dns.TypeA, dns.TypeSRV} {
		for _, tcp := range []bool{false, true} {
			q := new(dns.Msg).SetQuestion("big.svc.internal.", qtype)
			// The same random choices on both paths: SRV records differ in
			// size, so which are taken decides how many fit.
			sp.rand, fast.rand = rand.New(rand.NewPCG(5, 6)), rand.New(rand.NewPCG(5, 6))
			general, raw, gsize := askWire(t, sp, q.Copy(), tcp)
			packed, raw2, psize := askWire(t, fast, q.Copy(), tcp)
			if raw || !raw2 {
				t.Fatalf("paths: general raw %v, packed raw %v", raw, raw2)
			}
			sizes := map[string]int{"general": gsize, "packed": psize}
			for name, m := range map[string]*dns.Msg{"general": general, "packed": packed} {
				// Over TCP all 2,000 A records fit in 64 KiB; 4,000 SRV
				// records do not.
				if all := tcp && qtype == dns.TypeA; m.Truncated == all || len(m.Answer) == 0 || all && len(m.Answer) != n/2 {
					t.Errorf("%s %s tcp=%v: TC %v with %d answers", name, dns.TypeToString[qtype], tcp, m.Truncated, len(m.Answer))
				}
				if sizes[name] > 512 && !tcp {
					t.Errorf("%s %s: %d bytes over UDP", name, dns.TypeToString[qtype], sizes[name])
				}
				seen := map[string]bool{}
				for _, rr := range m.Answer {
					if seen[rr.String()] {
						t.Errorf("%s %s: %s twice", name, dns.TypeToString[qtype], rr)
					}
					seen[rr.String()] = true
				}
			}
			if len(general.Answer) != len(packed.Answer) {
				t.Errorf("%s tcp=%v: general %d answers, packed %d", dns.TypeToString[qtype], tcp, len(general.Answer), len(packed.Answer))
			}
		}
	}
}
