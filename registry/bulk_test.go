package registry_test

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"testing"

	"github.com/signpost-dns/signpost/registry"
)

// bigStatic is service big with the instances i<from> to i<to-1>; tag
// names the tag each carries, and addresses start at 10.1.<base>.0.
func bigStatic(from, to int, tag string, base byte) registry.StaticService {
	s := registry.StaticService{Config: registry.ServiceConfig{Name: "big"}}
	for j := from; j < to; j++ {
		a := netip.AddrFrom4([4]byte{10, 1, base + byte(j>>8), byte(j)})
		s.Instances = append(s.Instances, registry.Instance{ID: fmt.Sprintf("i%04d", j), Address: a, Port: 80, Weight: 1, Tags: []string{tag}})
	}
	return s
}

// TestApplyStaticReloadLargeService reloads a large service so that one
// change adds, replaces, keeps and removes instances, next to an API
// registration in the same service, and checks every index the snapshot
// keeps against its instances.
func TestApplyStaticReloadLargeService(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	mustApply(t, r, bigStatic(0, 600, "old", 0))
	mustRegister(t, r, registry.Instance{Service: "big", ID: "i0300x", Address: addr("10.9.0.1"), Port: 1, Weight: 1})
	first := r.Snapshot()
	mustCheck(t, first)
	if n := first.Service("big").Len(); n != 601 {
		t.Fatalf("loaded %d instances, want 601", n)
	}

	// i0000-i0199 go, i0200-i0399 stay as they are, i0400-i0599 change
	// tag and address, i0600-i0799 are new.
	next := bigStatic(200, 400, "old", 0)
	moved := bigStatic(400, 800, "new", 16)
	next.Instances = append(moved.Instances, next.Instances...) // not in ID order
	mustApply(t, r, next)
	s := r.Snapshot()
	mustCheck(t, s)
	svc := s.Service("big")
	if n := svc.Len(); n != 601 {
		t.Fatalf("after reload %d instances, want 601", n)
	}
	if _, ok := svc.Instance("i0300x"); !ok {
		t.Error("the API registration was dropped by the reload")
	}
	if _, ok := svc.Instance("i0100"); ok {
		t.Error("i0100 is no longer declared but is still served")
	}
	if s.HasAddr(addr("10.1.0.100")) || s.HasTag("old") != true || !s.HasTag("new") {
		t.Errorf("HasAddr(10.1.0.100) = %v, HasTag(old) = %v, HasTag(new) = %v; want false, true, true",
			s.HasAddr(addr("10.1.0.100")), s.HasTag("old"), s.HasTag("new"))
	}
	kept, _ := svc.Instance("i0300")
	was, _ := first.Service("big").Instance("i0300")
	if kept.ModifyIndex != was.ModifyIndex {
		t.Errorf("unchanged i0300 ModifyIndex %d, was %d", kept.ModifyIndex, was.ModifyIndex)
	}
	changed, _ := svc.Instance("i0500")
	before, _ := first.Service("big").Instance("i0500")
	if changed.CreateIndex != before.CreateIndex || changed.ModifyIndex <= before.ModifyIndex || changed.Tags[0] != "new" {
		t.Errorf("changed i0500: CreateIndex %d (was %d), ModifyIndex %d (was %d), tags %v",
			changed.CreateIndex, before.CreateIndex, changed.ModifyIndex, before.ModifyIndex, changed.Tags)
	}

	// Dropping the service's declaration removes every static instance
	// and keeps the API one.
	mustApply(t, r)
	s = r.Snapshot()
	mustCheck(t, s)
	if n := s.Service("big").Len(); n != 1 || s.HasTag("old") || s.HasTag("new") {
		t.Errorf("after undeclaring: %d instances, HasTag(old) %v, HasTag(new) %v; want 1, false, false", n, s.HasTag("old"), s.HasTag("new"))
	}
}

// TestApplyStaticDuplicateID rejects an instance ID declared twice in a
// service, wherever the two are in a long list, and applies nothing.
func TestApplyStaticDuplicateID(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	s := bigStatic(0, 1000, "t", 0)
	s.Instances = append(s.Instances, s.Instances[3])
	err := r.ApplyStatic([]registry.StaticService{s})
	var fe *registry.FieldError
	if !errors.As(err, &fe) || fe.Field != "id" || fe.Value != "i0003" {
		t.Fatalf("ApplyStatic with i0003 twice: %v, want a FieldError on id i0003", err)
	}
	if r.Snapshot().Service("big") != nil {
		t.Error("a rejected declaration was partly applied")
	}
}

// TestApplyStaticOneLargeServiceLinear loads 20,000 instances into one
// service and bounds what that allocates: a load that copies the service's
// list per instance allocates about 1.7 GB here, a linear one under 50 MB.
// Bytes allocated, unlike time, do not depend on how busy the machine is.
func TestApplyStaticOneLargeServiceLinear(t *testing.T) {
	const n = 20_000
	s := oneStaticService(n)
	r, _ := newRegistry(t, registry.Config{})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	mustApply(t, r, s)
	runtime.ReadMemStats(&after)
	if got := r.Snapshot().Service("big").Len(); got != n {
		t.Fatalf("loaded %d instances, want %d", got, n)
	}
	const limit = 400 << 20
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > limit {
		t.Errorf("loading %d instances into one service allocated %d MB, want under %d MB", n, alloc>>20, limit>>20)
	}
}
