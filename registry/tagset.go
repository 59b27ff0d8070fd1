package registry

import (
	"runtime"
	"slices"
	"strings"
	"sync"
	"unsafe"
	"weak"
)

// tagSets interns the tag lists of instances. Most instances of a registry
// carry one of a few tag lists (every instance of a deployment has the
// same), so they share one array per distinct list rather than each holding
// its own: at a million instances with one tag each, 16 bytes per instance.
//
// The table holds its lists weakly: a list that no instance (nor anyone
// else) holds any more is collected, and its entry removed by a cleanup, so
// the table is as large as the distinct lists in use, not all those ever
// seen.
var tagSets = struct {
	mu sync.Mutex
	m  map[string]tagSet // by the tags joined with ','
}{m: make(map[string]tagSet)}

// tagSet is an interned list: its first element, held weakly, and its length.
type tagSet struct {
	first weak.Pointer[string]
	n     int
}

// internTags returns a list equal to tags, which must be sorted and
// deduplicated, shared with every other instance carrying the same tags.
// The result never holds tags' array or strings unless tags came from
// internTags: the caller may keep modifying, or reusing, what it passed. Its capacity is its length, so
// an append copies. Nil for no tags.
func internTags(tags []string) []string {
	if len(tags) == 0 {
		return nil
	}
	var buf [256]byte
	k := buf[:0]
	for i, t := range tags {
		if i > 0 {
			k = append(k, ',') // tags are DNS labels: no ',' within one
		}
		k = append(k, t...)
	}
	tagSets.mu.Lock()
	defer tagSets.mu.Unlock()
	if set, ok := tagSets.m[string(k)]; ok && set.n == len(tags) {
		if p := set.first.Value(); p != nil {
			if shared := unsafe.Slice(p, set.n); slices.Equal(shared, tags) {
				return shared
			}
		}
	}
	own := make([]string, len(tags))
	for i, t := range tags {
		own[i] = strings.Clone(t) // the list keeps nothing else of the caller's
	}
	key := string(k)
	tagSets.m[key] = tagSet{first: weak.Make(&own[0]), n: len(own)}
	runtime.AddCleanup(&own[0], dropTagSet, key)
	return own
}

// dropTagSet removes the entry of a list that was collected, unless the
// list was interned anew since.
func dropTagSet(key string) {
	tagSets.mu.Lock()
	defer tagSets.mu.Unlock()
	if set, ok := tagSets.m[key]; ok && set.first.Value() == nil {
		delete(tagSets.m, key)
	}
}
