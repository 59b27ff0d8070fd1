package signpost

import (
	"fmt"
	"testing"

	"github.com/miekg/dns"
)

func TestAnswerCacheShards(t *testing.T) {
	for _, tc := range []struct{ size, shards int }{
		{1, 1}, {10, 1}, {511, 1}, {512, 2}, {10_000, 32}, {1_000_000, maxCacheShards},
	} {
		c := newAnswerCache(tc.size)
		if len(c.shards) != tc.shards {
			t.Errorf("size %d: %d shards, want %d", tc.size, len(c.shards), tc.shards)
		}
	}
}

// The cache holds at most its size, and a key put in is found again while it
// is among the most recently used.
func TestAnswerCacheBound(t *testing.T) {
	for _, size := range []int{1, 100, 1_000, 10_000} {
		c := newAnswerCache(size)
		for i := range 3 * size {
			key := packedKey{name: fmt.Sprintf("svc%d.svc.internal.", i), qtype: dns.TypeA}
			pa := &packedAnswer{index: uint64(i)}
			c.add(key, pa)
			if got, ok := c.get(key); !ok || got != pa {
				t.Fatalf("size %d: key %d not found right after it was added", size, i)
			}
		}
		// 3x the size spreads enough keys over every shard to fill it.
		if n := c.len(); n != size {
			t.Errorf("size %d: holds %d answers after %d were added", size, n, 3*size)
		}
		// A and SRV of one name are two answers.
		a, srv := packedKey{name: "x.svc.internal.", qtype: dns.TypeA}, packedKey{name: "x.svc.internal.", qtype: dns.TypeSRV}
		c.add(a, &packedAnswer{index: 1})
		c.add(srv, &packedAnswer{index: 2})
		if got, _ := c.get(srv); got == nil || got.index != 2 {
			t.Errorf("size %d: SRV answer lost", size)
		}
		if size > 1 {
			if got, _ := c.get(a); got == nil || got.index != 1 {
				t.Errorf("size %d: A answer lost", size)
			}
		}
	}
}
