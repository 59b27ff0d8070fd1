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
// the queue its state says, and the counts match.
func checkLessor(t *testing.T, ls *lessor) {
	t.Helper()
	if ls.live.Len()+ls.overdue.Len() > ls.len() {
		t.Fatalf("%d leases in the heaps, %d leases", ls.live.Len()+ls.overdue.Len(), ls.len())
	}
	for name, h := range map[string]*leaseHeap{"live": &ls.live, "overdue": &ls.overdue} {
		for i, l := range h.ls {
			if int(l.index) != i {
				t.Fatalf("%s heap: lease %v at %d says %d", name, l.key, i, l.index)
			}
			if ls.leases[l.key] != l {
				t.Fatalf("%s heap: lease %v is not the lessor's", name, l.key)
			}
			if i > 0 && h.key((i-1)/2) > h.key(i) {
				t.Fatalf("%s heap: order broken at %d", name, i)
			}
		}
	}
	recent, held, ttls := 0, 0, map[time.Duration]int{}
	for _, l := range ls.leases {
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
