package registry_test

import (
	"net/netip"
	"strconv"
	"testing"

	"github.com/signpost-dns/signpost/registry"
)

func TestHasAddrReferenceCounting(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	shared := addr("10.0.0.5")
	mustRegister(t, r, inst("web", "n1", "10.0.0.5", 80))
	mustRegister(t, r, inst("api", "n1", "10.0.0.5", 8080)) // same host, other service
	has := func(a netip.Addr) bool { return r.Snapshot().HasAddr(a) }

	if !has(shared) {
		t.Fatal("HasAddr false for a registered address")
	}
	if err := r.Deregister("web", "n1"); err != nil {
		t.Fatal(err)
	}
	if !has(shared) {
		t.Fatal("HasAddr false while another instance still uses the address")
	}
	if err := r.Deregister("api", "n1"); err != nil {
		t.Fatal(err)
	}
	if has(shared) {
		t.Fatal("HasAddr true after the last instance with the address left")
	}

	// Moving an instance moves its address; re-registering identically does
	// not count it twice.
	mustRegister(t, r, inst("web", "n1", "10.0.0.6", 80))
	mustRegister(t, r, inst("web", "n1", "10.0.0.6", 80))
	mustRegister(t, r, inst("web", "n1", "10.0.0.7", 80))
	if has(addr("10.0.0.6")) || !has(addr("10.0.0.7")) {
		t.Fatalf("after moving: HasAddr(.6) = %v, HasAddr(.7) = %v", has(addr("10.0.0.6")), has(addr("10.0.0.7")))
	}
	// Health changes do not touch addresses; critical instances still own theirs.
	if err := r.SetHealth("web", "n1", registry.Critical); err != nil {
		t.Fatal(err)
	}
	if !has(addr("10.0.0.7")) {
		t.Fatal("HasAddr false for a critical instance")
	}
	if err := r.Deregister("web", "n1"); err != nil {
		t.Fatal(err)
	}
	if has(addr("10.0.0.7")) || has(addr("10.0.0.6")) {
		t.Fatal("address left behind after deregistration")
	}

	// IPv6 and same-port instances in one service.
	mustRegister(t, r, inst("v6", "a", "2001:db8::1", 80))
	mustRegister(t, r, inst("v6", "b", "2001:db8::1", 81))
	if err := r.Deregister("v6", "a"); err != nil {
		t.Fatal(err)
	}
	if !has(addr("2001:db8::1")) {
		t.Fatal("IPv6 address dropped while still in use")
	}
	if has(addr("2001:db8::2")) {
		t.Fatal("HasAddr true for an unknown address")
	}
	mustCheck(t, r.Snapshot())
}

func TestHasAddrCountsFailoverVIPs(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	vip, both := addr("10.0.0.100"), addr("10.0.0.5")
	static := []registry.StaticService{{
		Config: registry.ServiceConfig{Name: "mysql", Failover: registry.Failover{Addrs: []netip.Addr{vip, both}}},
		Instances: []registry.Instance{
			{ID: "db1", Address: both, Port: 3306},
		},
	}}
	if err := r.ApplyStatic(static); err != nil {
		t.Fatal(err)
	}
	s := r.Snapshot()
	if !s.HasAddr(vip) || !s.HasAddr(both) {
		t.Fatalf("HasAddr(vip) = %v, HasAddr(shared) = %v", s.HasAddr(vip), s.HasAddr(both))
	}
	// An API instance on the VIP's address, then the Corefile drops the VIPs:
	// the instance's reference must keep it.
	mustRegister(t, r, inst("other", "n1", "10.0.0.100", 80))
	static[0].Config.Failover = registry.Failover{}
	if err := r.ApplyStatic(static); err != nil {
		t.Fatal(err)
	}
	s = r.Snapshot()
	if !s.HasAddr(vip) {
		t.Error("VIP address dropped though an API instance uses it")
	}
	if !s.HasAddr(both) {
		t.Error("instance address dropped with the failover VIP of the same address")
	}
	if err := r.Deregister("other", "n1"); err != nil {
		t.Fatal(err)
	}
	if r.Snapshot().HasAddr(vip) {
		t.Error("VIP address still known after the failover and the instance are gone")
	}
	// Dropping the whole service releases its instance addresses.
	if err := r.ApplyStatic(nil); err != nil {
		t.Fatal(err)
	}
	if r.Snapshot().HasAddr(both) {
		t.Error("address of a removed static service still known")
	}
}

// selectFixture registers a service with every mix of health and tags.
func selectFixture(t *testing.T) *registry.Registry {
	t.Helper()
	r, _ := newRegistry(t, registry.Config{})
	for _, tc := range []struct {
		id     string
		health registry.Health
		tags   []string
	}{
		{"a-pass", registry.Passing, []string{"primary"}},
		{"b-pass", registry.Passing, []string{"replica"}},
		{"c-warn", registry.Warning, []string{"replica"}},
		{"d-crit", registry.Critical, []string{"replica", "old"}},
		{"e-pass", registry.Passing, nil},
		{"f-warn", registry.Warning, []string{"primary"}},
	} {
		in := inst("db", tc.id, "10.0.1.1", 5432, tc.tags...)
		in.Health = tc.health
		mustRegister(t, r, in)
	}
	return r
}

func TestServiceSelect(t *testing.T) {
	svc := selectFixture(t).Snapshot().Service("db")
	tests := []struct {
		tag     string
		warning bool
		want    []string
	}{
		{"", false, []string{"a-pass", "b-pass", "e-pass"}},
		{"", true, []string{"a-pass", "b-pass", "c-warn", "e-pass", "f-warn"}},
		{"replica", false, []string{"b-pass"}},
		{"replica", true, []string{"b-pass", "c-warn"}},
		{"primary", true, []string{"a-pass", "f-warn"}},
		{"old", true, nil}, // only on a critical instance
		{"nope", true, nil},
	}
	for _, tt := range tests {
		got := ids(svc.Select(nil, tt.tag, tt.warning))
		if !equalStrings(got, tt.want) {
			t.Errorf("Select(tag %q, warning %v) = %v, want %v", tt.tag, tt.warning, got, tt.want)
		}
	}
	// Select appends to dst and keeps what it held.
	marker := &registry.Instance{ID: "marker"}
	got := svc.Select([]*registry.Instance{marker}, "primary", false)
	if len(got) != 2 || got[0] != marker || got[1].ID != "a-pass" {
		t.Errorf("Select into a non-empty dst = %v", ids(got))
	}
	buf := make([]*registry.Instance, 0, 8)
	if got := svc.Select(buf, "", false); &got[0] != &buf[:1][0] {
		t.Error("Select did not reuse dst's capacity")
	}
}

func TestServiceTagsCountsPort(t *testing.T) {
	r := selectFixture(t)
	svc := r.Snapshot().Service("db")
	for tag, want := range map[string]bool{"primary": true, "replica": true, "old": true, "nope": false, "": false} {
		if got := svc.HasTag(tag); got != want {
			t.Errorf("HasTag(%q) = %v, want %v", tag, got, want)
		}
	}
	if svc.Len() != 6 || svc.Count(registry.Passing) != 3 || svc.Count(registry.Warning) != 2 || svc.Count(registry.Critical) != 1 {
		t.Errorf("Len %d, counts %d/%d/%d, want 6, 3/2/1", svc.Len(), svc.Count(registry.Passing), svc.Count(registry.Warning), svc.Count(registry.Critical))
	}
	if got := svc.CommonPort(); got != 5432 {
		t.Errorf("CommonPort = %d, want 5432", got)
	}
	mustRegister(t, r, inst("db", "z-other", "10.0.1.2", 5433))
	if got := r.Snapshot().Service("db").CommonPort(); got != 0 {
		t.Errorf("CommonPort with differing ports = %d, want 0", got)
	}
	// The tag of the one instance carrying it goes with it.
	if err := r.Deregister("db", "d-crit"); err != nil {
		t.Fatal(err)
	}
	if r.Snapshot().Service("db").HasTag("old") {
		t.Error("HasTag(old) still true after its only instance left")
	}
	if !svc.HasTag("old") {
		t.Error("the old snapshot's service lost its tag")
	}
	// Instances() are sorted by id.
	got := r.Snapshot().Service("db").Instances()
	for i := 1; i < len(got); i++ {
		if got[i-1].ID >= got[i].ID {
			t.Fatalf("Instances not sorted: %s before %s", got[i-1].ID, got[i].ID)
		}
	}
	if _, ok := svc.Instance("nope"); ok {
		t.Error("Instance(nope) found")
	}
}

func TestSnapshotCountsFollowChanges(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	want := func(pass, warn, crit int) {
		t.Helper()
		s := r.Snapshot()
		if got := [3]int{s.Count(registry.Passing), s.Count(registry.Warning), s.Count(registry.Critical)}; got != [3]int{pass, warn, crit} {
			t.Fatalf("counts = %v, want %v", got, [3]int{pass, warn, crit})
		}
		mustCheck(t, s)
	}
	mustRegister(t, r, inst("web", "n1", "10.0.0.1", 80))
	mustRegister(t, r, inst("web", "n2", "10.0.0.2", 80))
	mustRegister(t, r, inst("db", "n1", "10.0.0.3", 5432))
	want(3, 0, 0)
	// Replacing keeps the count.
	mustRegister(t, r, inst("web", "n1", "10.0.0.9", 81))
	want(3, 0, 0)
	// Replacing with another health moves it.
	w := inst("web", "n1", "10.0.0.9", 81)
	w.Health = registry.Warning
	mustRegister(t, r, w)
	want(2, 1, 0)
	if err := r.SetHealth("db", "n1", registry.Critical); err != nil {
		t.Fatal(err)
	}
	want(1, 1, 1)
	if err := r.SetHealth("web", "n1", registry.Passing); err != nil {
		t.Fatal(err)
	}
	want(2, 0, 1)
	if err := r.Deregister("db", "n1"); err != nil {
		t.Fatal(err)
	}
	want(2, 0, 0)
	if r.Snapshot().Len() != 1 {
		t.Errorf("Len = %d, want 1", r.Snapshot().Len())
	}
	if err := r.Deregister("web", "n1"); err != nil {
		t.Fatal(err)
	}
	if err := r.Deregister("web", "n2"); err != nil {
		t.Fatal(err)
	}
	want(0, 0, 0)
	if r.Snapshot().Len() != 0 {
		t.Errorf("Len = %d, want 0", r.Snapshot().Len())
	}
}

func TestServicesSorted(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	names := []string{"zeta", "alpha", "mid", "beta", "a1", "a"}
	for _, n := range names {
		mustRegister(t, r, inst(n, "n1", "10.0.0.1", 80))
	}
	s := r.Snapshot()
	var got []string
	for _, svc := range s.Services() {
		got = append(got, svc.Name())
	}
	if want := []string{"a", "a1", "alpha", "beta", "mid", "zeta"}; !equalStrings(got, want) {
		t.Errorf("Services() = %v, want %v", got, want)
	}
	if s.Len() != len(names) {
		t.Errorf("Len = %d, want %d", s.Len(), len(names))
	}
	if s.Service("Alpha") != nil || s.Service("") != nil {
		t.Error("Service() matched a name that was never registered")
	}
	mustCheck(t, s)
}

func TestManyServicesAndInstances(t *testing.T) {
	// Enough services to span many shards, so that copy-on-write of one
	// shard never leaks into another snapshot.
	r, _ := newRegistry(t, registry.Config{})
	const nsvc, per = 300, 4
	for i := range nsvc {
		for j := range per {
			in := inst(svcName(i), idName(j), "10.1.0.1", uint16(1000+j))
			in.Address = netip.AddrFrom4([4]byte{10, 1, byte(i), byte(j)})
			mustRegister(t, r, in)
		}
	}
	mid := r.Snapshot()
	for i := 0; i < nsvc; i += 2 {
		if err := r.Deregister(svcName(i), idName(0)); err != nil {
			t.Fatal(err)
		}
	}
	s := r.Snapshot()
	mustCheck(t, mid)
	mustCheck(t, s)
	if mid.Count(registry.Passing) != nsvc*per || s.Count(registry.Passing) != nsvc*per-nsvc/2 {
		t.Errorf("counts: before %d, after %d", mid.Count(registry.Passing), s.Count(registry.Passing))
	}
	for i := range nsvc {
		a := netip.AddrFrom4([4]byte{10, 1, byte(i), 0})
		if !mid.HasAddr(a) {
			t.Fatalf("old snapshot lost %v", a)
		}
		if s.HasAddr(a) != (i%2 == 1) {
			t.Fatalf("HasAddr(%v) = %v after removing even services' n0", a, s.HasAddr(a))
		}
	}
}

func svcName(i int) string { return "svc-" + strconv.Itoa(i) }
func idName(i int) string  { return "n" + strconv.Itoa(i) }

func TestCheckedServices(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	plain := inst("web", "w1", "10.0.0.1", 80)
	checked := inst("db", "d1", "10.0.0.2", 3306)
	checked.Check = `{"type":"tcp"}`
	mustRegister(t, r, plain)
	mustRegister(t, r, checked)
	names := func() []string {
		var out []string
		for _, s := range r.Snapshot().CheckedServices() {
			out = append(out, s.Name())
		}
		return out
	}
	if got := names(); len(got) != 1 || got[0] != "db" {
		t.Fatalf("checked services %v, want [db]", got)
	}
	if got := get(t, r, "db", "d1").Check; got != checked.Check {
		t.Errorf("check %q, want it stored as given", got)
	}
	checked.Check = ""
	mustRegister(t, r, checked)
	if got := names(); len(got) != 0 {
		t.Fatalf("checked services %v after the check was dropped", got)
	}
}

func TestSnapshotHasTagAcrossServices(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	mustRegister(t, r, inst("web", "w1", "10.0.0.1", 80, "blue"))
	mustRegister(t, r, inst("web", "w2", "10.0.0.2", 80, "blue", "canary"))
	mustRegister(t, r, inst("api", "a1", "10.0.0.3", 80, "blue"))
	for tag, want := range map[string]bool{"blue": true, "canary": true, "green": false} {
		if got := r.Snapshot().HasTag(tag); got != want {
			t.Errorf("HasTag(%q) = %v, want %v", tag, got, want)
		}
	}
	if err := r.Deregister("web", "w2"); err != nil {
		t.Fatal(err)
	}
	if r.Snapshot().HasTag("canary") {
		t.Error("canary is still a tag after its only instance went")
	}
	if err := r.Deregister("web", "w1"); err != nil {
		t.Fatal(err)
	}
	if !r.Snapshot().HasTag("blue") {
		t.Error("blue is gone while api still carries it")
	}
	mustRegister(t, r, inst("api", "a1", "10.0.0.3", 80)) // re-registered without tags
	if r.Snapshot().HasTag("blue") {
		t.Error("blue is still a tag after the last instance dropped it")
	}
	mustCheck(t, r.Snapshot())
}
