package registry

import (
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"
)

func TestInstancesShareEqualTags(t *testing.T) {
	r := New(Config{})
	mine := []string{"v2", "blue", "v2"}
	for i, tags := range [][]string{mine, {"blue", "v2"}, {"v2", "blue"}} {
		_, err := r.Register(Instance{
			Service: "web", ID: string(rune('a' + i)), Address: netip.MustParseAddr("10.0.0.1"),
			Port: uint16(8080 + i), Tags: tags,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := r.Register(Instance{Service: "db", ID: "a", Address: netip.MustParseAddr("10.0.0.2"), Port: 5432, Tags: []string{"v2"}})
	if err != nil {
		t.Fatal(err)
	}
	mine[0] = "changed" // the caller's list is its own
	web := r.Snapshot().Service("web")
	var first *string
	for _, id := range []string{"a", "b", "c"} {
		in, ok := web.Instance(id)
		if !ok {
			t.Fatalf("instance %s missing", id)
		}
		if !slices.Equal(in.Tags, []string{"blue", "v2"}) {
			t.Fatalf("instance %s tags %q, want [blue v2]", id, in.Tags)
		}
		if cap(in.Tags) != len(in.Tags) {
			t.Errorf("instance %s: capacity %d for %d tags: an append would write into the shared list", id, cap(in.Tags), len(in.Tags))
		}
		if first == nil {
			first = &in.Tags[0]
		} else if &in.Tags[0] != first {
			t.Errorf("instance %s holds its own copy of equal tags", id)
		}
	}
	db, _ := r.Snapshot().Service("db").Instance("a")
	if !slices.Equal(db.Tags, []string{"v2"}) {
		t.Fatalf("db tags %q", db.Tags)
	}
}

func TestInternTagsDropsCollectedLists(t *testing.T) {
	key := "gone-1,gone-2"
	func() {
		s := internTags([]string{"gone-1", "gone-2"})
		if again := internTags([]string{"gone-1", "gone-2"}); &again[0] != &s[0] {
			t.Fatal("equal lists not shared")
		}
		runtime.KeepAlive(s)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		tagSets.mu.Lock()
		_, held := tagSets.m[key]
		tagSets.mu.Unlock()
		if !held {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the entry of a list no one holds was not removed")
		}
		time.Sleep(10 * time.Millisecond) // cleanups run on their own goroutine after a collection
	}
	if got := internTags([]string{"gone-1", "gone-2"}); !slices.Equal(got, []string{"gone-1", "gone-2"}) {
		t.Fatalf("interned anew: %q", got)
	}
}
