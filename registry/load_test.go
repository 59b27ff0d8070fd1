package registry

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// TestOpenMatchesRegistered registers instances of many services in a
// persisted registry (addresses shared between instances, tags from a few
// lists, some with checks, some with leases, some deregistered again),
// reopens the data directory, and checks that the loaded registry answers
// as the one that wrote it: the same services, instances, addresses, tags
// and services with checks. It then deregisters, one by one, every instance
// on some addresses, checking that an address stays known until its last
// instance goes: the loaded address table counts instances, not just
// addresses.
func TestOpenMatchesRegistered(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	dir := t.TempDir()
	r, err := Open(dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	addrs := make([]netip.Addr, 150)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
	}
	addrs[7] = netip.MustParseAddr("2001:db8::7")
	tagLists := [][]string{nil, {"v1"}, {"v2"}, {"canary", "v2"}, {"blue", "green", "v1"}}
	for k := range 600 {
		in := Instance{
			Service: fmt.Sprintf("svc%d", rng.IntN(120)), ID: fmt.Sprintf("i%d", k),
			Address: addrs[rng.IntN(len(addrs))], Port: uint16(1 + rng.IntN(60000)),
			Tags: slices.Clone(tagLists[rng.IntN(len(tagLists))]), Weight: 1,
		}
		switch rng.IntN(4) {
		case 0:
			in.TTL = 30 * time.Second
		case 1:
			in.Check = `{"type":"tcp"}`
		}
		if _, err := r.Register(in); err != nil {
			t.Fatal(err)
		}
		if k%5 == 0 {
			_ = r.Deregister(in.Service, fmt.Sprintf("i%d", rng.IntN(k+1))) // often of another service: not found
		}
	}
	want := r.Snapshot()
	r.Stop()

	r2, err := Open(dir, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Stop()
	got := r2.Snapshot()
	if got.Len() != want.Len() {
		t.Fatalf("%d services loaded, %d registered", got.Len(), want.Len())
	}
	total := [Critical + 1]int{}
	for _, ws := range want.Services() {
		gs := got.Service(ws.Name())
		if gs == nil {
			t.Fatalf("service %s not loaded", ws.Name())
		}
		if len(gs.instances) != len(ws.instances) {
			t.Fatalf("service %s: %d instances loaded, %d registered", ws.Name(), len(gs.instances), len(ws.instances))
		}
		for i, w := range ws.instances {
			g := *gs.instances[i]
			if w.Check != "" {
				g.Health = w.Health // a check's instance is critical until probed again
			}
			if !sameInstance(&g, w) || g.CreateIndex != w.CreateIndex || g.ModifyIndex != w.ModifyIndex {
				t.Fatalf("service %s: loaded %+v, registered %+v", ws.Name(), *gs.instances[i], *w)
			}
			total[gs.instances[i].Health]++
		}
	}
	for h := range total {
		if got.Count(Health(h)) != total[h] {
			t.Errorf("%d %s instances counted, %d loaded", got.Count(Health(h)), Health(h), total[h])
		}
	}
	names := func(svcs []*Service) []string {
		var out []string
		for _, s := range svcs {
			out = append(out, s.Name())
		}
		slices.Sort(out)
		return out
	}
	if g, w := names(got.CheckedServices()), names(want.CheckedServices()); !slices.Equal(g, w) {
		t.Errorf("services with checks: loaded %v, registered %v", g, w)
	}
	for _, a := range addrs {
		if got.HasAddr(a) != want.HasAddr(a) {
			t.Errorf("HasAddr(%s): loaded %v, registered %v", a, got.HasAddr(a), want.HasAddr(a))
		}
	}
	for _, tags := range tagLists {
		for _, tag := range tags {
			if got.HasTag(tag) != want.HasTag(tag) {
				t.Errorf("HasTag(%s): loaded %v, registered %v", tag, got.HasTag(tag), want.HasTag(tag))
			}
		}
	}

	for _, a := range addrs[:40] {
		var on []*Instance
		for _, s := range got.Services() {
			for _, in := range s.instances {
				if in.Address == a {
					on = append(on, in)
				}
			}
		}
		for i, in := range on {
			if !r2.Snapshot().HasAddr(a) {
				t.Fatalf("address %s unknown with %d of its %d instances left", a, len(on)-i, len(on))
			}
			if err := r2.Deregister(in.Service, in.ID); err != nil {
				t.Fatal(err)
			}
		}
		if r2.Snapshot().HasAddr(a) {
			t.Fatalf("address %s still known with none of its %d instances left", a, len(on))
		}
	}
}
