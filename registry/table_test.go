package registry

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
)

// TestTableMatchesMap drives a table through random writes, each batch in
// its own writer as a snapshot's builder does, against a Go map, and checks
// that every earlier version stays as it was.
func TestTableMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cur := new(table[string, int])
	model := map[string]int{}
	type version struct {
		t *table[string, int]
		m map[string]int
	}
	var versions []version
	for round := range 300 {
		w := newTableWriter(cur)
		for range 1 + rng.IntN(40) {
			k := fmt.Sprintf("k%d", rng.IntN(3000))
			if rng.IntN(3) == 0 {
				w.delete(hashString(k), k)
				delete(model, k)
			} else {
				v := rng.Int()
				w.set(hashString(k), k, v)
				model[k] = v
			}
		}
		cur = w.t
		if round%30 == 0 {
			versions = append(versions, version{cur, maps.Clone(model)})
		}
		checkTable(t, cur, model)
	}
	for i, v := range versions {
		if t.Failed() {
			break
		}
		t.Logf("version %d", i)
		checkTable(t, v.t, v.m)
	}
}

func checkTable(t *testing.T, tb *table[string, int], m map[string]int) {
	t.Helper()
	got := map[string]int{}
	tb.all(func(k string, v int) {
		if _, dup := got[k]; dup {
			t.Fatalf("key %s listed twice", k)
		}
		got[k] = v
	})
	if !maps.Equal(got, m) {
		t.Fatalf("table holds %d entries, model %d", len(got), len(m))
	}
	for k, v := range m {
		if g, ok := tb.get(hashString(k), k); !ok || g != v {
			t.Fatalf("get(%s) = %d, %v; want %d", k, g, ok, v)
		}
	}
	for i := range 50 {
		k := fmt.Sprintf("absent%d", i)
		if _, ok := tb.get(hashString(k), k); ok {
			t.Fatalf("get(%s) found a key never set", k)
		}
	}
}

// TestTableSameHighHash checks keys whose hashes share the high half
// (the order a leaf is sorted by): each is still found by its key.
func TestTableSameHighHash(t *testing.T) {
	w := newTableWriter(new(table[string, int]))
	const h = uint64(7)<<32 | 5
	for i := range 10 {
		w.set(h, fmt.Sprint(i), i)
	}
	w.delete(h, "3")
	for i := range 10 {
		v, ok := w.t.get(h, fmt.Sprint(i))
		if want := i != 3; ok != want || (ok && v != i) {
			t.Errorf("get(%d) = %d, %v", i, v, ok)
		}
	}
}

// TestTableLoadMatchesMap adds entries in bulk, repeated keys among them,
// to tables already holding some, against a Go map: every key holds the
// sum of what it held and what was added, the table it derives from is
// unchanged, and single writes work on the result as on any table.
func TestTableLoadMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cur := new(table[string, int])
	model := map[string]int{}
	sum := func(before, add int) int { return before + add }
	for round := range 20 {
		before, beforeModel := cur, maps.Clone(model)
		w := newTableWriter(cur)
		if round%2 == 0 {
			var l tableLoad[string, int]
			for range rng.IntN(5000) {
				k := fmt.Sprintf("k%d", rng.IntN(4000))
				v := 1 + rng.IntN(9)
				l.add(hashString(k), k, v)
				model[k] += v
			}
			const h = uint64(9)<<32 | 1 // one leaf, one high half: found by key
			for i := range 1 + rng.IntN(5) {
				k := fmt.Sprintf("same%d", i)
				l.add(h, k, 1)
				l.add(h, k, 2)
				model[k] += 3
			}
			l.apply(w, sum)
			for i := range 5 {
				k := fmt.Sprintf("same%d", i)
				if v, ok := w.t.get(h, k); ok != (model[k] > 0) || v != model[k] {
					t.Fatalf("round %d: get(%s) = %d, %v; want %d", round, k, v, ok, model[k])
				}
			}
			for k := range model {
				if len(k) > 4 && k[:4] == "same" {
					delete(model, k) // not under its own hash: checked above
					w.delete(h, k)
				}
			}
		} else {
			for range 200 {
				k := fmt.Sprintf("k%d", rng.IntN(4000))
				if rng.IntN(2) == 0 {
					w.delete(hashString(k), k)
					delete(model, k)
				} else {
					w.set(hashString(k), k, 7)
					model[k] = 7
				}
			}
		}
		cur = w.t
		checkTable(t, cur, model)
		checkTable(t, before, beforeModel)
	}
}
