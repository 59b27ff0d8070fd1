package signpost

import (
	"hash/maphash"
	"math/bits"

	lru "github.com/hashicorp/golang-lru/v2"
)

// answerCache holds packed answers, bounded, least recently used first out.
// Every query on the fast path reads it, and reading an LRU moves the entry
// to the front under the LRU's exclusive lock; with one LRU, queries on
// several cores would take turns on that lock. The cache is therefore split
// into shards, each an LRU of its own with its own lock, and a key always
// goes to the same shard (by a hash of its name). Recency is exact within a
// shard; the shards together hold the configured number of answers.
type answerCache struct {
	seed   maphash.Seed
	mask   uint64 // len(shards)-1, a power of two minus one
	shards []*lru.Cache[packedKey, *packedAnswer]
}

const (
	// maxCacheShards bounds the shards: more than the cores that answer
	// queries buys nothing.
	maxCacheShards = 64
	// minShardSize keeps small caches in few shards, so that a cache of a
	// handful of answers still holds the handful most recently used.
	minShardSize = 256
)

// newAnswerCache returns a cache of size answers. size must be at least one.
func newAnswerCache(size int) *answerCache {
	n := 1
	for n*2 <= maxCacheShards && size/(n*2) >= minShardSize {
		n *= 2
	}
	c := &answerCache{seed: maphash.MakeSeed(), mask: uint64(n - 1)}
	for i := range n {
		// Spread the remainder so that the shards add up to size.
		s, err := lru.New[packedKey, *packedAnswer](size/n + boolInt(i < size%n))
		if err != nil {
			panic(err) // only for a size below one
		}
		c.shards = append(c.shards, s)
	}
	return c
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// shard returns the LRU that holds key.
func (c *answerCache) shard(key packedKey) *lru.Cache[packedKey, *packedAnswer] {
	if c.mask == 0 {
		return c.shards[0]
	}
	h := maphash.String(c.seed, key.name)
	h ^= bits.RotateLeft64(uint64(key.qtype)*0x9E3779B97F4A7C15, 17)
	return c.shards[h&c.mask]
}

// get returns the cached answer for key, marking it recently used.
func (c *answerCache) get(key packedKey) (*packedAnswer, bool) { return c.shard(key).Get(key) }

// add caches pa as the answer for key.
func (c *answerCache) add(key packedKey, pa *packedAnswer) { c.shard(key).Add(key, pa) }

// len returns the number of answers cached.
func (c *answerCache) len() int {
	n := 0
	for _, s := range c.shards {
		n += s.Len()
	}
	return n
}
