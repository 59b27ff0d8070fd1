package registry_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/internal/etcdtest"
	"github.com/signpost-dns/signpost/registry"
)

// eventSummary is the part of an event a test compares: type, instance,
// health where it has one.
func eventSummary(e registry.Event) string {
	s := string(e.Type)
	if e.Service != "" {
		s += " " + e.Service
	}
	if e.Instance != "" {
		s += "/" + e.Instance
	}
	if e.HasHealth() {
		s += " " + e.Health.String()
	}
	return s
}

func summaries(evs []registry.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = eventSummary(e)
	}
	return out
}

// endsWith reports whether the last of evs is want.
func endsWith(evs []registry.Event, want string) bool {
	return len(evs) > 0 && eventSummary(evs[len(evs)-1]) == want
}

func wantEvents(t *testing.T, got []registry.Event, want ...string) {
	t.Helper()
	if g := summaries(got); strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(g, "\n"), strings.Join(want, "\n"))
	}
}

// backends opens the same registry in memory and on a data directory: both
// must record the same events.
func backends(t *testing.T, cfg registry.Config) map[string]func() (*registry.Registry, *fakeClock) {
	return map[string]func() (*registry.Registry, *fakeClock){
		"memory": func() (*registry.Registry, *fakeClock) { return newRegistry(t, cfg) },
		"data directory": func() (*registry.Registry, *fakeClock) {
			c := newClock()
			cfg := cfg
			cfg.Now = c.Now
			r, err := registry.Open(t.TempDir(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(r.Stop)
			return r, c
		},
	}
}

func TestEventsOfALease(t *testing.T) {
	for name, open := range backends(t, registry.Config{DeregisterAfter: time.Minute, SelfPreservation: -1}) {
		t.Run(name, func(t *testing.T) {
			r, clock := open()
			mustRegister(t, r, withTTL(inst("web", "w1", "10.0.0.1", 80), 10*time.Second))
			mustRegister(t, r, withTTL(inst("web", "w1", "10.0.0.1", 80), 10*time.Second)) // the same: no event
			clock.Advance(11 * time.Second)
			r.Sweep()
			if _, err := r.Heartbeat("web", "w1"); err != nil {
				t.Fatal(err)
			}
			if _, _, err := r.Report("web", "w1", registry.Critical, "GET /healthz: 503 Service Unavailable"); err != nil {
				t.Fatal(err)
			}
			mustRegister(t, r, withTTL(inst("web", "w1", "10.0.0.1", 8080), 10*time.Second))
			if err := r.Deregister("web", "w1"); err != nil {
				t.Fatal(err)
			}

			page := r.Events(0)
			wantEvents(t, page.Events,
				"registered web/w1 passing",
				"expired web/w1 critical",
				"health web/w1 passing",
				"health web/w1 critical",
				"registered web/w1 passing",
				"deregistered web/w1",
			)
			reasons := []string{
				"registered through the API",
				"lease ran out: no heartbeat within its TTL of 10s",
				"heartbeat renewed the lease",
				"GET /healthz: 503 Service Unavailable",
				"registered again",
				"deregistered through the API",
			}
			for i, e := range page.Events {
				if e.Index != uint64(i+1) {
					t.Errorf("event %d has index %d", i, e.Index)
				}
				if e.Reason != reasons[i] {
					t.Errorf("event %d (%s): reason %q, want %q", i, e.Type, e.Reason, reasons[i])
				}
			}
			if !page.Events[1].Time.Equal(t0.Add(11 * time.Second)) {
				t.Errorf("expiry at %v, want the clock's %v", page.Events[1].Time, t0.Add(11*time.Second))
			}
			if page.Last != 6 || page.Missed || r.EventIndex() != 6 {
				t.Errorf("last %d (index %d) missed %v, want 6 and false", page.Last, r.EventIndex(), page.Missed)
			}
		})
	}
}

func TestEventsRemovalAfterDeregisterAfter(t *testing.T) {
	r, clock := newRegistry(t, registry.Config{DeregisterAfter: 30 * time.Second, SelfPreservation: -1})
	mustRegister(t, r, withTTL(inst("web", "w1", "10.0.0.1", 80), 5*time.Second))
	clock.Advance(6 * time.Second)
	r.Sweep()
	clock.Advance(31 * time.Second)
	r.Sweep()
	page := r.Events(2)
	wantEvents(t, page.Events, "deregistered web/w1")
	if want := "critical for longer than deregister-after (30s)"; page.Events[0].Reason != want {
		t.Errorf("reason %q, want %q", page.Events[0].Reason, want)
	}
}

func TestEventsOfProbes(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	in := inst("db", "d1", "10.0.0.5", 3306)
	in.Check = `{"type":"tcp","interval":"2s"}`
	mustRegister(t, r, in)
	if err := r.SetHealthOutput("db", "d1", registry.Passing, "connected in 1ms"); err != nil {
		t.Fatal(err)
	}
	if err := r.SetHealthOutput("db", "d1", registry.Passing, "connected in 2ms"); err != nil { // no change
		t.Fatal(err)
	}
	if err := r.SetHealth("db", "d1", registry.Warning); err != nil {
		t.Fatal(err)
	}
	page := r.Events(0)
	wantEvents(t, page.Events, "registered db/d1 critical", "health db/d1 passing", "health db/d1 warning")
	if page.Events[1].Reason != "connected in 1ms" {
		t.Errorf("reason %q, want the probe's output", page.Events[1].Reason)
	}
}

func mysqlWithFailover(minHealthy int, ids ...string) registry.StaticService {
	s := registry.StaticService{Config: registry.ServiceConfig{
		Name: "mysql", MinHealthy: minHealthy, Failover: registry.Failover{Addrs: []netip.Addr{addr("10.0.0.100")}},
	}}
	for i, id := range ids {
		in := inst("mysql", id, fmt.Sprintf("10.0.0.%d", 5+i), 3306)
		in.Check = `{"type":"tcp","interval":"2s"}`
		s.Instances = append(s.Instances, in)
	}
	return s
}

func TestEventsOfFailover(t *testing.T) {
	for _, serveWarning := range []bool{false, true} {
		t.Run(fmt.Sprintf("serve-warning=%v", serveWarning), func(t *testing.T) {
			r, _ := newRegistry(t, registry.Config{ServeWarning: serveWarning})
			if err := r.ApplyStatic([]registry.StaticService{mysqlWithFailover(2, "db1", "db2")}); err != nil {
				t.Fatal(err)
			}
			for _, step := range []struct {
				id string
				h  registry.Health
			}{{"db1", registry.Passing}, {"db2", registry.Passing}, {"db2", registry.Warning}, {"db1", registry.Critical}} {
				if err := r.SetHealth("mysql", step.id, step.h); err != nil {
					t.Fatal(err)
				}
			}
			want := []string{
				"registered mysql/db1 critical", "registered mysql/db2 critical", "failover-on mysql",
				"health mysql/db1 passing", "health mysql/db2 passing", "failover-off mysql",
				"health mysql/db2 warning",
			}
			if !serveWarning {
				want = append(want, "failover-on mysql") // a warning instance is not served
			}
			want = append(want, "health mysql/db1 critical")
			if serveWarning {
				want = append(want, "failover-on mysql")
			}
			page := r.Events(0)
			wantEvents(t, page.Events, want...)
			if got := page.Events[2].Reason; got != "0 healthy instance(s), fewer than min-healthy 2: answers go to the failover [10.0.0.100]" {
				t.Errorf("failover-on reason %q", got)
			}
		})
	}
}

func TestEventsOfTheCorefile(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	if err := r.ApplyStatic([]registry.StaticService{mysqlWithFailover(1, "db1", "db2")}); err != nil {
		t.Fatal(err)
	}
	if err := r.ApplyStatic([]registry.StaticService{mysqlWithFailover(1, "db1")}); err != nil {
		t.Fatal(err)
	}
	if err := r.ApplyStatic(nil); err != nil {
		t.Fatal(err)
	}
	page := r.Events(3)
	wantEvents(t, page.Events, "deregistered mysql/db2", "deregistered mysql/db1", "failover-off mysql")
	for _, e := range page.Events[:2] {
		if e.Reason != "no longer declared in the Corefile" {
			t.Errorf("%s: reason %q", eventSummary(e), e.Reason)
		}
	}
	if page.Events[2].Reason != "failover no longer configured" {
		t.Errorf("failover-off reason %q", page.Events[2].Reason)
	}
}

func TestEventsOfSelfPreservation(t *testing.T) {
	r, clock := newRegistry(t, registry.Config{SelfPreservation: 0.5, SelfPreservationMin: 3})
	for i := range 4 {
		mustRegister(t, r, withTTL(inst("web", fmt.Sprintf("w%d", i), fmt.Sprintf("10.0.0.%d", i+1), 80), 9*time.Second))
	}
	clock.Advance(10 * time.Second)
	r.Sweep()
	for i := range 4 {
		if _, err := r.Heartbeat("web", fmt.Sprintf("w%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	r.Sweep()
	page := r.Events(4)
	wantEvents(t, page.Events, "self-preservation-on", "self-preservation-off")
	if !strings.Contains(page.Events[0].Reason, "4 of 4 leases ran out within 9s") {
		t.Errorf("reason %q", page.Events[0].Reason)
	}
}

func TestEventsOfABackupRestore(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	mustRegister(t, r, inst("web", "w1", "10.0.0.1", 80))
	mustRegister(t, r, inst("web", "w2", "10.0.0.2", 80))
	var backup strings.Builder
	if err := r.SaveBackup(&backup); err != nil {
		t.Fatal(err)
	}
	if err := r.Deregister("web", "w2"); err != nil {
		t.Fatal(err)
	}
	mustRegister(t, r, inst("web", "w3", "10.0.0.3", 80))
	if err := r.RestoreBackup(strings.NewReader(backup.String())); err != nil {
		t.Fatal(err)
	}
	// w1 is the same before and after: a restore that removes it and adds
	// it back is no transition.
	page := r.Events(4)
	wantEvents(t, page.Events, "deregistered web/w3", "registered web/w2 passing")
	if page.Events[0].Reason != "replaced by a restored backup" || page.Events[1].Reason != "restored from a backup" {
		t.Errorf("reasons %q, %q", page.Events[0].Reason, page.Events[1].Reason)
	}
}

func TestEventsBounded(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{Events: 3})
	for i := range 5 {
		mustRegister(t, r, inst("web", fmt.Sprintf("w%d", i), "10.0.0.1", 80))
	}
	for _, tc := range []struct {
		after    uint64
		first, n int
		missed   bool
		comment  string
	}{
		{0, 3, 3, false, "from the start: what is kept"},
		{1, 3, 3, true, "events 2 is gone"},
		{2, 3, 3, false, "nothing gone"},
		{4, 5, 1, false, "the newest"},
		{5, 0, 0, false, "up to date"},
		{9, 3, 3, true, "ahead of the log, as after a restart"},
	} {
		page := r.Events(tc.after)
		if len(page.Events) != tc.n || page.Missed != tc.missed || page.Last != 5 {
			t.Errorf("after %d (%s): %d events, missed %v, last %d; want %d, %v, 5",
				tc.after, tc.comment, len(page.Events), page.Missed, page.Last, tc.n, tc.missed)
			continue
		}
		if tc.n > 0 && page.Events[0].Index != uint64(tc.first) {
			t.Errorf("after %d: first index %d, want %d", tc.after, page.Events[0].Index, tc.first)
		}
	}

	r.Configure(registry.Config{Events: 2})
	wantEvents(t, r.Events(0).Events, "registered web/w3 passing", "registered web/w4 passing")
	r.Configure(registry.Config{Events: 10})
	mustRegister(t, r, inst("web", "w5", "10.0.0.1", 80))
	if page := r.Events(0); len(page.Events) != 3 || page.Events[2].Index != 6 {
		t.Errorf("after growing: %v", summaries(page.Events))
	}
}

func TestWaitEvents(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	mustRegister(t, r, inst("web", "w1", "10.0.0.1", 80))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	page, err := r.WaitEvents(ctx, 1)
	if !errors.Is(err, context.DeadlineExceeded) || len(page.Events) != 0 || page.Last != 1 {
		t.Fatalf("wait with nothing new: %v, %v, last %d", err, summaries(page.Events), page.Last)
	}

	got := make(chan registry.EventPage, 1)
	go func() {
		page, _ := r.WaitEvents(context.Background(), 1)
		got <- page
	}()
	if err := r.Deregister("web", "w1"); err != nil {
		t.Fatal(err)
	}
	select {
	case page := <-got:
		wantEvents(t, page.Events, "deregistered web/w1")
	case <-time.After(10 * time.Second):
		t.Fatal("WaitEvents did not return after a deregistration")
	}
}

func TestEventsOfFailedWrites(t *testing.T) {
	r, err := registry.Open(t.TempDir(), registry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	mustRegister(t, r, inst("web", "w1", "10.0.0.1", 80))
	r.Stop()
	if _, err := r.Register(inst("web", "w2", "10.0.0.2", 80)); !errors.Is(err, registry.ErrClosed) {
		t.Fatalf("register after stop: %v", err)
	}
	wantEvents(t, r.Events(0).Events, "registered web/w1 passing")
}

// Writers racing each other get one event each, numbered without gaps.
func TestEventsConcurrent(t *testing.T) {
	r, err := registry.Open(t.TempDir(), registry.Config{Events: 10000})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 50 {
				in := inst("web", fmt.Sprintf("w%d-%d", w, i), "10.0.0.1", 80)
				if _, err := r.Register(in); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	page := r.Events(0)
	if len(page.Events) != 400 || page.Last != 400 {
		t.Fatalf("%d events, last %d; want 400", len(page.Events), page.Last)
	}
	seen := make(map[string]bool)
	for i, e := range page.Events {
		if e.Index != uint64(i+1) || seen[e.Instance] {
			t.Fatalf("event %d: index %d, instance %s seen before: %v", i, e.Index, e.Instance, seen[e.Instance])
		}
		seen[e.Instance] = true
	}
}

// On etcd, every server records the same registrations, health changes and
// reasons, whichever server made them: they are derived from the watch.
func TestEventsShared(t *testing.T) {
	c := etcdtest.Start(t, etcdtest.Options{Binary: etcdtest.Latest(t)})
	a := openShared(t, c, "/signpost-events", "a")
	b := openShared(t, c, "/signpost-events", "b")
	if _, err := a.Register(sharedInstance("w1", "10.0.0.1", time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Report("web", "w1", registry.Critical, "GET /healthz: 503"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Report("web", "w1", registry.Passing, ""); err != nil {
		t.Fatal(err)
	}
	if err := b.Deregister("web", "w1"); err != nil {
		t.Fatal(err)
	}
	want := []string{"registered web/w1 passing", "health web/w1 critical", "health web/w1 passing", "deregistered web/w1"}
	for name, r := range map[string]*registry.Registry{"a": a, "b": b} {
		var page registry.EventPage
		// Wait for the last event, then compare the whole log: a server
		// that missed a transition in between shows which.
		deadline := time.Now().Add(5 * time.Second)
		for page = r.Events(0); !endsWith(page.Events, want[len(want)-1]); page = r.Events(0) {
			if time.Now().After(deadline) {
				t.Fatalf("server %s: no %q after 5s; events %q", name, want[len(want)-1], summaries(page.Events))
			}
			time.Sleep(20 * time.Millisecond)
		}
		wantEvents(t, page.Events, want...)
		for i, reason := range []string{"registered through the API", "GET /healthz: 503", "reported passing by its sidecar", "deregistered"} {
			if reason != "" && page.Events[i].Reason != reason {
				t.Errorf("server %s: event %s has reason %q, want %q", name, eventSummary(page.Events[i]), page.Events[i].Reason, reason)
			}
		}
	}
}
