package registry

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"
)

// scanModel is lease expiry the simple way, scanning every lease at every
// sweep: with self-preservation off, the lessor must decide exactly as it
// does.
type scanModel struct {
	leases map[key]*modelLease
}

type modelLease struct {
	ttl      time.Duration
	deadline time.Time
	expired  time.Time
}

func (m *scanModel) sweep(now time.Time, deregisterAfter time.Duration) (expired, removed []key) {
	for k, l := range m.leases {
		switch {
		case l.expired.IsZero() && now.After(l.deadline):
			l.expired = now
			expired = append(expired, k)
		case !l.expired.IsZero() && now.Sub(l.expired) >= deregisterAfter:
			delete(m.leases, k)
			removed = append(removed, k)
		}
	}
	return expired, removed
}

func sortedKeys(ks []key) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.service + "/" + k.id
	}
	slices.Sort(out)
	return out
}

func TestLessorMatchesFullScan(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			ls, m := newLessor(), &scanModel{leases: make(map[key]*modelLease)}
			off := preservation{share: -1}
			now := time.Unix(1_900_000_000, 0)
			const deregisterAfter = 7 * time.Second
			for step := range 3000 {
				k := key{"web", fmt.Sprintf("i%d", rng.IntN(60))}
				switch op := rng.IntN(10); {
				case op < 2:
					ttl := time.Duration(1+rng.IntN(10)) * time.Second
					ls.grant(k, ttl, now.Add(ttl))
					m.leases[k] = &modelLease{ttl: ttl, deadline: now.Add(ttl)}
				case op < 6:
					_, revived, ok := ls.renew(k, now)
					ml, mok := m.leases[k]
					if ok != mok {
						t.Fatalf("step %d: renew(%v) found %v, model %v", step, k, ok, mok)
					}
					if ok {
						if revived != !ml.expired.IsZero() {
							t.Fatalf("step %d: renew(%v) revived %v, model disagrees", step, k, revived)
						}
						ml.deadline, ml.expired = now.Add(ml.ttl), time.Time{}
					}
				case op < 7:
					ls.revoke(k)
					delete(m.leases, k)
				default:
					now = now.Add(time.Duration(rng.IntN(1500)) * time.Millisecond)
					res := ls.sweep(now, off, deregisterAfter)
					exp, rem := m.sweep(now, deregisterAfter)
					if !slices.Equal(sortedKeys(res.expired), sortedKeys(exp)) {
						t.Fatalf("step %d: expired %v, model %v", step, sortedKeys(res.expired), sortedKeys(exp))
					}
					if !slices.Equal(sortedKeys(res.removed), sortedKeys(rem)) {
						t.Fatalf("step %d: removed %v, model %v", step, sortedKeys(res.removed), sortedKeys(rem))
					}
				}
				if ls.len() != len(m.leases) {
					t.Fatalf("step %d: %d leases, model %d", step, ls.len(), len(m.leases))
				}
				checkLessor(t, ls)
			}
		})
	}
}

// checkLessor verifies the lessor's invariants: every lease is in exactly
// the queue its state says, the index finds every lease and nothing else,
// and the counts match.
func checkLessor(t *testing.T, ls *lessor) {
	t.Helper()
	if ls.live.len()+ls.overdue.len() > ls.len() {
		t.Fatalf("%d leases in the heaps, %d leases", ls.live.len()+ls.overdue.len(), ls.len())
	}
	for name, h := range map[string]*leaseHeap{"live": &ls.live, "overdue": &ls.overdue} {
		for i, slot := range h.slots {
			l := ls.at(slot)
			if int(l.index) != i {
				t.Fatalf("%s heap: lease %v at %d says %d", name, l.key, i, l.index)
			}
			if l.state == leaseGone {
				t.Fatalf("%s heap: holds revoked slot %d", name, slot)
			}
			if i > 0 && h.key((i-1)/2) > h.key(i) {
				t.Fatalf("%s heap: order broken at %d", name, i)
			}
		}
	}
	indexed := 0
	for _, s := range ls.index {
		if s != 0 {
			indexed++
		}
	}
	if indexed != ls.len() || int(ls.slots)-len(ls.free) != ls.len() {
		t.Fatalf("%d leases, %d indexed, %d slots of which %d free", ls.len(), indexed, ls.slots, len(ls.free))
	}
	recent, held, ttls := 0, 0, map[time.Duration]int{}
	for slot := range ls.slots {
		l := ls.at(slot)
		if l.state == leaseGone {
			continue
		}
		if got, _ := ls.find(l.key); got != slot {
			t.Fatalf("lease %v in slot %d found in slot %d", l.key, slot, got)
		}
		ttls[l.ttl]++
		if l.inWindow {
			recent++
		}
		if l.state == leaseHeld {
			held++
		}
		if (l.state == leaseLive || l.state == leaseOverdue) != (l.index >= 0) {
			t.Fatalf("lease %v in state %d has index %d", l.key, l.state, l.index)
		}
	}
	if recent != ls.nrecent || held != ls.nheld || len(ttls) != len(ls.ttls) {
		t.Fatalf("counts: recent %d/%d, held %d/%d, ttls %v/%v", recent, ls.nrecent, held, ls.nheld, ttls, ls.ttls)
	}
}

func TestLessorWindowIsLongestTTL(t *testing.T) {
	ls := newLessor()
	now := time.Unix(1_900_000_000, 0)
	ls.grant(key{"a", "1"}, 5*time.Second, now)
	ls.grant(key{"a", "2"}, 30*time.Second, now)
	ls.grant(key{"a", "3"}, 30*time.Second, now)
	if w := ls.window(); w != 30*time.Second {
		t.Fatalf("window %s, want 30s", w)
	}
	ls.revoke(key{"a", "2"})
	if w := ls.window(); w != 30*time.Second {
		t.Fatalf("window %s after one 30s lease went, want 30s", w)
	}
	ls.revoke(key{"a", "3"})
	if w := ls.window(); w != 5*time.Second {
		t.Fatalf("window %s after the 30s leases went, want 5s", w)
	}
}

func TestLessorOverdueAfterTwoMissedRenewals(t *testing.T) {
	ls := newLessor()
	now := time.Unix(1_900_000_000, 0)
	k := key{"a", "1"}
	ls.grant(k, 15*time.Second, now.Add(15*time.Second))
	p := preservation{share: -1}
	ls.sweep(now.Add(9*time.Second), p, time.Minute)
	if l, _ := ls.get(k); l.state != leaseLive {
		t.Fatalf("state %d after one missed renewal, want live", l.state)
	}
	ls.sweep(now.Add(10*time.Second+time.Millisecond), p, time.Minute)
	if l, _ := ls.get(k); l.state != leaseOverdue {
		t.Fatalf("state %d after two missed renewals, want overdue", l.state)
	}
	if _, _, ok := ls.renew(k, now.Add(11*time.Second)); !ok {
		t.Fatal("renew failed")
	}
	if l, _ := ls.get(k); l.state != leaseLive || l.deadline != now.Add(26*time.Second).UnixNano() {
		t.Fatalf("after renewal: state %d deadline %d", l.state, l.deadline)
	}
	checkLessor(t, ls)
}

// TestLessorSlotsAndIndex drives many keys through grants, renewals,
// revocations and sweeps with self-preservation on, so that slots are
// reused, the index grows and shifts entries back across its wrap, and
// leases are held and released; the invariants must hold after every step.
func TestLessorSlotsAndIndex(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			ls := newLessor()
			p := preservation{share: 0.3, min: 3}
			now := time.Unix(1_900_000_000, 0)
			live := map[key]bool{}
			for step := range 4000 {
				k := key{fmt.Sprintf("s%d", rng.IntN(5)), fmt.Sprintf("i%d", rng.IntN(400))}
				switch op := rng.IntN(10); {
				case op < 3:
					ttl := time.Duration(1+rng.IntN(5)) * time.Second
					ls.grant(k, ttl, now.Add(ttl))
					live[k] = true
				case op < 6:
					if _, _, ok := ls.renew(k, now); ok != live[k] {
						t.Fatalf("step %d: renew(%v) found %v, want %v", step, k, ok, live[k])
					}
				case op < 8:
					ls.revoke(k)
					delete(live, k)
				default:
					now = now.Add(time.Duration(rng.IntN(800)) * time.Millisecond)
					for _, k := range ls.sweep(now, p, 3*time.Second).removed {
						delete(live, k)
					}
				}
				if ls.len() != len(live) {
					t.Fatalf("step %d: %d leases, want %d", step, ls.len(), len(live))
				}
				if step%10 == 0 {
					checkLessor(t, ls)
				}
			}
			checkLessor(t, ls)
		})
	}
}
