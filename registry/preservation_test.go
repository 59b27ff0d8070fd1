package registry_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

// fleet simulates sidecars on a fake clock: every instance renews its lease
// at a third of its TTL, each with its own random phase, as signpostctl
// sidecar does, and the registry sweeps once a second.
type fleet struct {
	t     *testing.T
	r     *registry.Registry
	clock *fakeClock
	ttl   time.Duration
	tick  time.Duration
	// next is when each instance renews next; cut instances do not renew.
	next []time.Duration
	cut  []bool
	// slots holds the instances by the tick of their renewal phase, so that
	// a tick looks only at those due.
	slots [][]int
	now   time.Duration // since the fleet started
	// lowest is the fewest passing instances seen after any sweep.
	lowest int
	// wentCritical counts instances seen turning critical after a sweep.
	wentCritical map[int]time.Duration
}

const fleetService = "web"

func newFleet(t *testing.T, n int, ttl time.Duration, cfg registry.Config) *fleet {
	r, clock := newRegistry(t, cfg)
	f := &fleet{
		t: t, r: r, clock: clock, ttl: ttl, tick: 100 * time.Millisecond,
		next: make([]time.Duration, n), cut: make([]bool, n),
		lowest: n, wentCritical: make(map[int]time.Duration),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		in := withTTL(inst(fleetService, fleetID(i), fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255+1, i&255), 80), ttl)
		mustRegister(t, r, in)
		f.next[i] = f.phase(rng)
	}
	f.slot()
	return f
}

// slot sorts the instances into slots by renewal phase.
func (f *fleet) slot() {
	f.slots = make([][]int, f.ttl/3/f.tick)
	for i, at := range f.next {
		k := int(at/f.tick) % len(f.slots)
		f.slots[k] = append(f.slots[k], i)
	}
}

// phase returns a random renewal phase, on a tick so that renewals happen
// when they are due.
func (f *fleet) phase(rng *rand.Rand) time.Duration {
	return f.tick * time.Duration(rng.Int64N(int64(f.ttl/3/f.tick)))
}

func fleetID(i int) string { return fmt.Sprintf("i%d", i) }

// run advances the simulation by d: renewals every tick, a sweep every
// second.
func (f *fleet) run(d time.Duration) {
	f.t.Helper()
	for end := f.now + d; f.now < end; {
		f.now += f.tick
		f.clock.Advance(f.tick)
		for _, i := range f.slots[int(f.now/f.tick)%len(f.slots)] {
			if at := f.next[i]; f.cut[i] || at > f.now {
				continue
			}
			if _, err := f.r.Heartbeat(fleetService, fleetID(i)); err != nil {
				f.t.Fatalf("heartbeat of %s at %s: %v", fleetID(i), f.now, err)
			}
			f.next[i] = f.now + f.ttl/3
		}
		if f.now%time.Second == 0 {
			f.r.Sweep()
			f.observe()
		}
	}
}

func (f *fleet) observe() {
	svc := f.r.Snapshot().Service(fleetService)
	f.lowest = min(f.lowest, svc.Count(registry.Passing))
	if svc.Count(registry.Critical) == 0 {
		return
	}
	for i := range f.next {
		if _, seen := f.wentCritical[i]; seen {
			continue
		}
		if in, _ := svc.Instance(fleetID(i)); in.Health == registry.Critical {
			f.wentCritical[i] = f.now
		}
	}
}

// cutOff stops the renewals of the instances for which pick is true.
func (f *fleet) cutOff(pick func(i int) bool) (n int) {
	for i := range f.cut {
		if pick(i) {
			f.cut[i] = true
			n++
		}
	}
	return n
}

// heal lets every cut instance renew again; a sidecar that was backing off
// tries again within its renewal interval.
func (f *fleet) heal(seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed))
	for i := range f.cut {
		if f.cut[i] {
			f.cut[i] = false
			f.next[i] = f.now + f.phase(rng)
		}
	}
	f.slot()
}

// The scenario of a network fault between most sidecars and the server:
// their leases run out spread over the last third of a TTL, a few per sweep,
// and not one of their instances may leave DNS; once the network heals, not
// one may expire.
func TestSelfPreservationSidecarFault(t *testing.T) {
	t.Parallel()
	log := &recLogger{}
	const n, ttl = 10_000, 15 * time.Second
	f := newFleet(t, n, ttl, registry.Config{Logger: log, DeregisterAfter: time.Minute})
	f.run(30 * time.Second)
	if f.lowest != n || len(f.wentCritical) != 0 {
		t.Fatalf("before the fault: lowest passing %d, %d went critical", f.lowest, len(f.wentCritical))
	}

	cut := f.cutOff(func(i int) bool { return i%3 != 0 }) // two thirds
	f.run(3 * time.Minute)                                // longer than the window and deregister-after
	if !f.r.SelfPreserving() {
		t.Fatal("self-preservation is off while two thirds of the leases are out")
	}
	if f.lowest != n {
		t.Errorf("during the fault: as few as %d of %d instances passing, want all", f.lowest, n)
	}
	if len(f.wentCritical) != 0 {
		t.Errorf("during the fault: %d instances went critical", len(f.wentCritical))
	}
	want := fmt.Sprintf("%d of %d leases", cut, n)
	if got := log.find("W self-preservation on"); !strings.Contains(got, want) {
		t.Errorf("warning %q does not say %q", got, want)
	}

	f.heal(7)
	f.run(2 * time.Minute)
	if f.r.SelfPreserving() {
		t.Error("self-preservation still on after the network healed")
	}
	if log.count("I self-preservation off") != 1 {
		t.Error("self-preservation off was not logged once")
	}
	if len(f.wentCritical) != 0 || f.lowest != n {
		t.Errorf("after the fault: %d instances went critical, lowest passing %d; want none and %d", len(f.wentCritical), f.lowest, n)
	}
}

// Self-preservation must not hide real failures: a tenth of the instances
// dying is below the share, and each of them leaves DNS on time.
func TestSelfPreservationLetsRealFailuresExpire(t *testing.T) {
	t.Parallel()
	const n, ttl = 10_000, 15 * time.Second
	f := newFleet(t, n, ttl, registry.Config{DeregisterAfter: time.Hour})
	f.run(30 * time.Second)
	cutAt := f.now
	last := make(map[int]time.Duration) // the last renewal of each cut instance
	f.cutOff(func(i int) bool {
		if i%10 != 0 {
			return false
		}
		last[i] = f.next[i] - ttl/3
		return true
	})
	f.run(30 * time.Second)
	if f.r.SelfPreserving() {
		t.Fatal("self-preservation on for a tenth of the leases")
	}
	if len(f.wentCritical) != len(last) {
		t.Fatalf("%d instances went critical, want the %d cut off", len(f.wentCritical), len(last))
	}
	for i, at := range f.wentCritical {
		renewed, ok := last[i]
		if !ok {
			t.Fatalf("%s went critical but was never cut off", fleetID(i))
		}
		// On time: at the first sweep after the deadline, a second at most.
		if deadline := renewed + ttl; at <= deadline || at > deadline+time.Second {
			t.Errorf("%s (last renewed %s after the cut) went critical at %s, its lease ran out at %s",
				fleetID(i), renewed-cutAt, at-cutAt, deadline-cutAt)
		}
	}
	if got := f.r.Snapshot().Service(fleetService).Count(registry.Passing); got != n-len(last) {
		t.Errorf("%d passing, want %d", got, n-len(last))
	}
}

// A fault that begins with stragglers: leases that ran out within the window
// before self-preservation started are served again once it does.
func TestSelfPreservationRestoresRecentExpiries(t *testing.T) {
	log := &recLogger{}
	r, clock := newRegistry(t, registry.Config{Logger: log, SelfPreservation: 0.3, SelfPreservationMin: 1})
	const n = 10
	for i := range n {
		mustRegister(t, r, withTTL(inst("web", idName(i), "10.0.0.1", 80), 10*time.Second))
	}
	// Clients that renew late in their lease are never overdue before
	// their lease runs out; the window still counts them.
	renew := func(from int) {
		for i := from; i < n; i++ {
			if _, err := r.Heartbeat("web", idName(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	clock.Advance(9 * time.Second)
	renew(2) // 0 and 1 go quiet
	clock.Advance(2 * time.Second)
	r.Sweep() // 2 of 10 run out: below the share
	if r.SelfPreserving() || r.Snapshot().Count(registry.Critical) != 2 {
		t.Fatalf("preserving %v, critical %d; want off and 2", r.SelfPreserving(), r.Snapshot().Count(registry.Critical))
	}
	clock.Advance(6 * time.Second)
	renew(4) // 2 and 3 go quiet too
	clock.Advance(3 * time.Second)
	r.Sweep() // 2 more, 4 of 10 within the window
	if !r.SelfPreserving() {
		t.Fatal("self-preservation off with 4 of 10 leases out within the window")
	}
	if got := r.Snapshot().Count(registry.Passing); got != n {
		t.Errorf("%d passing, want all %d served again", got, n)
	}
	if got := log.find("W self-preservation on"); !strings.Contains(got, "4 of 10 leases") || !strings.Contains(got, "2 instance(s)") {
		t.Errorf("warning %q should name 4 of 10 leases and the 2 instances served again", got)
	}
}

// Leases that ran out longer ago than the window do not count: only a mass
// within one window looks like a fault.
func TestSelfPreservationForgetsOldExpiries(t *testing.T) {
	r, clock := newRegistry(t, registry.Config{SelfPreservation: 0.5, SelfPreservationMin: 2, DeregisterAfter: time.Hour})
	for i := range 4 {
		mustRegister(t, r, withTTL(inst("web", idName(i), "10.0.0.1", 80), 10*time.Second))
	}
	clock.Advance(5 * time.Second)
	r.Heartbeat("web", idName(2))
	r.Heartbeat("web", idName(3))
	clock.Advance(6 * time.Second)
	r.Sweep() // 2 of 4 run out: not more than half
	if r.SelfPreserving() || r.Snapshot().Count(registry.Critical) != 2 {
		t.Fatalf("first sweep: preserving %v, critical %d", r.SelfPreserving(), r.Snapshot().Count(registry.Critical))
	}
	clock.Advance(10 * time.Second)
	r.Sweep() // the other 2 run out a whole window later: 2 of 4 again
	if r.SelfPreserving() || r.Snapshot().Count(registry.Critical) != 4 {
		t.Fatalf("second sweep: preserving %v, critical %d", r.SelfPreserving(), r.Snapshot().Count(registry.Critical))
	}
}

// Removal after deregister-after pauses with expiry; once heartbeats return,
// the instances still held get a fresh lease rather than expiring at once.
func TestSelfPreservationPausesRemoval(t *testing.T) {
	r, clock := newRegistry(t, registry.Config{SelfPreservation: 0.5, SelfPreservationMin: 1, DeregisterAfter: 5 * time.Second})
	for i := range 4 {
		mustRegister(t, r, withTTL(inst("web", idName(i), "10.0.0.1", 80), 10*time.Second))
	}
	clock.Advance(8 * time.Second)
	r.Heartbeat("web", idName(1))
	r.Heartbeat("web", idName(2))
	r.Heartbeat("web", idName(3))
	clock.Advance(3 * time.Second)
	r.Sweep() // 0 runs out alone
	if healthOf(t, r, "web", idName(0)) != registry.Critical {
		t.Fatal("a lone lease did not run out")
	}
	clock.Advance(6 * time.Second) // 1 to 3 are overdue, 0 is due for removal
	r.Heartbeat("web", idName(1))
	clock.Advance(2 * time.Second) // 2 and 3 run out: 3 of 4 lost
	r.Sweep()
	if !r.SelfPreserving() {
		t.Fatal("self-preservation off with 2 due and 1 out")
	}
	if !exists(r, "web", idName(0)) {
		t.Error("an instance was removed while self-preserving")
	}
	r.Heartbeat("web", idName(2))
	r.Heartbeat("web", idName(3))
	r.Sweep()
	if r.SelfPreserving() {
		t.Fatal("self-preservation still on after heartbeats returned")
	}
	if got := r.Snapshot().Count(registry.Passing); got != 4 {
		t.Errorf("%d passing, want 4", got)
	}
}

// find returns the first line that starts with prefix.
func (l *recLogger) find(prefix string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.lines {
		if strings.HasPrefix(s, prefix) {
			return s
		}
	}
	return ""
}
