package registry

import "hash/maphash"

// table is an immutable hash map split in two levels of fanout parts, so
// that a change copies one leaf map and two small arrays of pointers, not the
// whole map: at a million entries a leaf holds about 250 of them. Snapshots
// share every part a change did not touch.
type table[K comparable, V any] struct {
	dirs [fanout]*[fanout]map[K]V
}

const fanout = 64

var seed = maphash.MakeSeed()

func hashString(s string) uint64 { return maphash.String(seed, s) }

func hashAddr(b [16]byte) uint64 { return maphash.Bytes(seed, b[:]) }

func (t *table[K, V]) get(h uint64, k K) (V, bool) {
	var zero V
	d := t.dirs[h%fanout]
	if d == nil {
		return zero, false
	}
	v, ok := d[h/fanout%fanout][k]
	return v, ok
}

// all calls fn for every entry, in no particular order.
func (t *table[K, V]) all(fn func(K, V)) {
	for _, d := range t.dirs {
		if d == nil {
			continue
		}
		for _, m := range d {
			for k, v := range m {
				fn(k, v)
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

// leaf returns the leaf map for h, ready to change.
func (w *tableWriter[K, V]) leaf(h uint64) map[K]V {
	if !w.copied {
		c := *w.t
		w.t, w.copied = &c, true
	}
	i, j := h%fanout, h/fanout%fanout
	if !w.dirs[i] {
		d := new([fanout]map[K]V)
		if old := w.t.dirs[i]; old != nil {
			*d = *old
		}
		w.t.dirs[i], w.dirs[i] = d, true
	}
	bit := i*fanout + j
	if w.leaves[bit/64]&(1<<(bit%64)) == 0 {
		w.t.dirs[i][j] = cloneMap(w.t.dirs[i][j])
		w.leaves[bit/64] |= 1 << (bit % 64)
	}
	return w.t.dirs[i][j]
}

func (w *tableWriter[K, V]) set(h uint64, k K, v V) { w.leaf(h)[k] = v }

func (w *tableWriter[K, V]) delete(h uint64, k K) { delete(w.leaf(h), k) }

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	c := make(map[K]V, len(m)+1)
	for k, v := range m {
		c[k] = v
	}
	return c
}
