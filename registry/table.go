package registry

import (
	"cmp"
	"hash/maphash"
	"slices"
)

// table is an immutable hash map split in two levels of fanout parts, so
// that a change copies one leaf and two small arrays of pointers, not the
// whole map: at a million entries a leaf holds about 250 of them. Snapshots
// share every part a change did not touch.
//
// A leaf is a slice of entries sorted by the high half of their hash, not a
// Go map: it holds each entry in its size with no empty slots (a map of 250
// entries keeps room for 512), a lookup is a binary search over it, and a
// change copies it with one memmove rather than rehashing every entry.
type table[K comparable, V any] struct {
	dirs [fanout]*[fanout][]entry[K, V]
}

// entry is one key and value of a table, with the high half of the key's
// hash (the low bits pick the leaf).
type entry[K comparable, V any] struct {
	h uint32
	k K
	v V
}

const fanout = 64

var seed = maphash.MakeSeed()

func hashString(s string) uint64 { return maphash.String(seed, s) }

func hashAddr(b [16]byte) uint64 { return maphash.Bytes(seed, b[:]) }

// leafOf returns the leaf for h and the hash its entries are sorted by.
func (t *table[K, V]) leafOf(h uint64) ([]entry[K, V], uint32) {
	d := t.dirs[h%fanout]
	if d == nil {
		return nil, uint32(h >> 32)
	}
	return d[h/fanout%fanout], uint32(h >> 32)
}

func (t *table[K, V]) get(h uint64, k K) (V, bool) {
	leaf, h32 := t.leafOf(h)
	if i, ok := search(leaf, h32, k); ok {
		return leaf[i].v, true
	}
	var zero V
	return zero, false
}

// search returns the position of k in leaf, or where it would go.
func search[K comparable, V any](leaf []entry[K, V], h32 uint32, k K) (int, bool) {
	lo, hi := 0, len(leaf)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if leaf[m].h < h32 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	for i := lo; i < len(leaf) && leaf[i].h == h32; i++ {
		if leaf[i].k == k {
			return i, true
		}
	}
	return lo, false
}

// all calls fn for every entry, in no particular order.
func (t *table[K, V]) all(fn func(K, V)) {
	for _, d := range t.dirs {
		if d == nil {
			continue
		}
		for _, leaf := range d {
			for _, e := range leaf {
				fn(e.k, e.v)
			}
		}
	}
}

// tableWriter derives a new table from an old one, copying each part the
// first time it changes it.
type tableWriter[K comparable, V any] struct {
	t      *table[K, V]
	copied bool
	dirs   [fanout]bool
	leaves [fanout * fanout / 64]uint64 // bit set of copied leaves
}

func newTableWriter[K comparable, V any](t *table[K, V]) *tableWriter[K, V] {
	return &tableWriter[K, V]{t: t}
}

// leaf returns a pointer to the leaf for h, ready to change.
func (w *tableWriter[K, V]) leaf(h uint64) *[]entry[K, V] {
	if !w.copied {
		c := *w.t
		w.t, w.copied = &c, true
	}
	i, j := h%fanout, h/fanout%fanout
	if !w.dirs[i] {
		d := new([fanout][]entry[K, V])
		if old := w.t.dirs[i]; old != nil {
			*d = *old
		}
		w.t.dirs[i], w.dirs[i] = d, true
	}
	bit := i*fanout + j
	if w.leaves[bit/64]&(1<<(bit%64)) == 0 {
		old := w.t.dirs[i][j]
		w.t.dirs[i][j] = append(make([]entry[K, V], 0, len(old)+1), old...)
		w.leaves[bit/64] |= 1 << (bit % 64)
	}
	return &w.t.dirs[i][j]
}

func (w *tableWriter[K, V]) set(h uint64, k K, v V) {
	leaf := w.leaf(h)
	h32 := uint32(h >> 32)
	i, ok := search(*leaf, h32, k)
	if ok {
		(*leaf)[i].v = v
		return
	}
	var zero entry[K, V]
	*leaf = append(*leaf, zero)
	copy((*leaf)[i+1:], (*leaf)[i:])
	(*leaf)[i] = entry[K, V]{h: h32, k: k, v: v}
}

func (w *tableWriter[K, V]) delete(h uint64, k K) {
	leaf := w.leaf(h)
	i, ok := search(*leaf, uint32(h>>32), k)
	if !ok {
		return
	}
	n := len(*leaf) - 1
	copy((*leaf)[i:], (*leaf)[i+1:])
	(*leaf)[n] = entry[K, V]{} // drop what the last entry pointed to
	*leaf = (*leaf)[:n]
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	c := make(map[K]V, len(m)+1)
	for k, v := range m {
		c[k] = v
	}
	return c
}

// tableLoad collects entries to add to a table in bulk, for a start that
// fills a table with many entries at once: each leaf is then sorted once,
// where adding entries one at a time searches the leaf and moves its tail
// for every one of them.
type tableLoad[K comparable, V any] struct {
	leaves [fanout * fanout][]entry[K, V] // by leaf: dir*fanout + leaf
}

// reserve makes room for about n entries, spread over the leaves as a
// hash spreads them.
func (l *tableLoad[K, V]) reserve(n int) {
	per := n/len(l.leaves) + n/len(l.leaves)/4 + 4
	for i := range l.leaves {
		if cap(l.leaves[i]) < per {
			l.leaves[i] = slices.Grow(l.leaves[i], per)
		}
	}
}

// add collects k with v.
func (l *tableLoad[K, V]) add(h uint64, k K, v V) {
	i := h%fanout*fanout + h/fanout%fanout
	l.leaves[i] = append(l.leaves[i], entry[K, V]{h: uint32(h >> 32), k: k, v: v})
}

// apply adds what l collected to w's table and empties l. A key collected
// more than once, or already in the table, gets combine(value before,
// value added), in the order they were added.
func (l *tableLoad[K, V]) apply(w *tableWriter[K, V], combine func(before, add V) V) {
	for idx := range l.leaves {
		add := l.leaves[idx]
		if len(add) == 0 {
			continue
		}
		l.leaves[idx] = nil
		leaf := w.leaf(uint64(idx/fanout) + uint64(idx%fanout)*fanout)
		all := append(append(make([]entry[K, V], 0, len(*leaf)+len(add)), *leaf...), add...)
		slices.SortStableFunc(all, func(a, b entry[K, V]) int { return cmp.Compare(a.h, b.h) })
		n := 0
	next:
		for _, e := range all {
			for j := n - 1; j >= 0 && all[j].h == e.h; j-- {
				if all[j].k == e.k {
					all[j].v = combine(all[j].v, e.v)
					continue next
				}
			}
			all[n] = e
			n++
		}
		if n < len(all) {
			all = slices.Clone(all[:n]) // no spare room kept in the table
		}
		*leaf = all
	}
}
