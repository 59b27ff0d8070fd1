package registry

import (
	"container/heap"
	"time"
)

// lessor keeps the heartbeat leases and decides, at each sweep, which of them
// run out, which instances are removed, and whether self-preservation holds.
// Its work per sweep is proportional to the leases that change state, not to
// the leases that exist: leases sit in min-heaps by deadline (as etcd's
// lessor keeps them), so a sweep with nothing due looks at one element, and a
// renewal moves its lease in O(log n).
//
// A lease is live, then overdue once it has gone two thirds of its TTL
// without a renewal (a sidecar renews every third, so it has missed two),
// then runs out at its deadline.
//
// Self-preservation judges a window rather than a sweep. Sidecars renew at a
// third of their TTL with random phases, so when a network fault cuts many of
// them off, their leases run out spread over a third of a TTL, a few per
// sweep. Whenever a lease is about to run out, the lessor counts the leases
// lost: those overdue, those falling due now, and those that ran out within
// the window (the longest lease TTL) and are still out. When that count
// passes the share, nothing expires and the instances that ran out within the
// window are served again. While it holds, leases that fall due are held, not
// expired. Once the leases held or overdue are no more than the share
// (heartbeats came back), expiry resumes and each of them gets a fresh TTL: a
// sidecar on its way back is never expired on the way out, and one that is
// really gone runs out one TTL later.
//
// The lessor is not safe for concurrent use: the registry's write lock
// guards it.
type lessor struct {
	leases  map[key]*lease
	live    leaseHeap // leases renewed in time, by when they turn overdue
	overdue leaseHeap // leases that missed two renewals, by deadline

	// ran keeps the leases that ran out, by when, twice: recent for the
	// self-preservation window, removals for deregister-after. Entries of
	// leases renewed or dropped since are stale and skipped when popped.
	recent   expiryHeap
	removals expiryHeap
	nrecent  int // leases that ran out within the window and are still out

	held  []*lease // leases that fell due while preserving; may hold stale entries
	nheld int
	ttls  map[time.Duration]int // leases by TTL, for the window

	preserving bool
}

// leaseState is where a lease stands.
type leaseState uint8

const (
	leaseLive    leaseState = iota // in the live heap, renewed in time
	leaseOverdue                   // in the overdue heap, not renewed for two thirds of its TTL
	leaseHeld                      // fell due during self-preservation
	leaseExpired                   // ran out; its instance is critical
	leaseGone                      // revoked; any queue entry is stale
)

// lease is the heartbeat deadline of an instance registered with a TTL.
// Times are Unix nanoseconds.
type lease struct {
	key      key
	ttl      time.Duration
	deadline int64
	expired  int64 // when the lease ran out; zero unless leaseExpired
	index    int32 // in the live or overdue heap; -1 when in neither
	state    leaseState
	inWindow bool // counted in nrecent
}

func newLessor() *lessor {
	return &lessor{
		leases:  make(map[key]*lease),
		live:    leaseHeap{overdueAt: true},
		overdue: leaseHeap{},
		ttls:    make(map[time.Duration]int),
	}
}

func (ls *lessor) len() int { return len(ls.leases) }

func (ls *lessor) get(k key) (*lease, bool) {
	l, ok := ls.leases[k]
	return l, ok
}

// grant gives k a live lease of ttl that runs out at deadline, replacing any
// lease it had.
func (ls *lessor) grant(k key, ttl time.Duration, deadline time.Time) {
	ls.revoke(k)
	l := &lease{key: k, ttl: ttl, deadline: deadline.UnixNano(), index: -1}
	ls.leases[k] = l
	ls.ttls[ttl]++
	heap.Push(&ls.live, l)
}

// grantExpired gives k a lease that ran out at expired, as a restart finds
// it: it is removed deregister-after that moment unless renewed. It does not
// count towards self-preservation, which judges what runs out while running.
func (ls *lessor) grantExpired(k key, ttl time.Duration, expired time.Time) {
	ls.revoke(k)
	at := expired.UnixNano()
	l := &lease{key: k, ttl: ttl, deadline: at, expired: at, index: -1, state: leaseExpired}
	ls.leases[k] = l
	ls.ttls[ttl]++
	heap.Push(&ls.removals, expiry{l, at})
}

// revoke drops the lease of k, if it has one.
func (ls *lessor) revoke(k key) {
	l, ok := ls.leases[k]
	if !ok {
		return
	}
	ls.leave(l)
	l.state = leaseGone
	delete(ls.leases, k)
	if ls.ttls[l.ttl]--; ls.ttls[l.ttl] == 0 {
		delete(ls.ttls, l.ttl)
	}
}

// leave takes l out of whatever queue or count its state puts it in.
func (ls *lessor) leave(l *lease) {
	switch l.state {
	case leaseLive:
		heap.Remove(&ls.live, int(l.index))
	case leaseOverdue:
		heap.Remove(&ls.overdue, int(l.index))
	case leaseHeld:
		ls.nheld--
	case leaseExpired:
		l.expired = 0
		if l.inWindow {
			l.inWindow = false
			ls.nrecent--
		}
	}
}

// renew moves the deadline of k's lease to now plus its TTL. It reports
// whether the lease had run out.
func (ls *lessor) renew(k key, now time.Time) (l *lease, revived, ok bool) {
	if l, ok = ls.leases[k]; !ok {
		return nil, false, false
	}
	revived = l.state == leaseExpired
	l.deadline = now.Add(l.ttl).UnixNano()
	if l.state == leaseLive {
		heap.Fix(&ls.live, int(l.index))
		return l, false, true
	}
	ls.leave(l)
	l.state = leaseLive
	heap.Push(&ls.live, l)
	return l, revived, true
}

// renewTo is renew to a given deadline, granting a lease of ttl when k has
// none: a shared registry holds a lease live until etcd says it ran out.
func (ls *lessor) renewTo(k key, ttl time.Duration, deadline time.Time) {
	l, ok := ls.leases[k]
	if !ok || l.ttl != ttl {
		ls.grant(k, ttl, deadline)
		return
	}
	ls.leave(l)
	l.state, l.deadline = leaseLive, deadline.UnixNano()
	heap.Push(&ls.live, l)
}

// lapse makes the lease of k fall due at the next sweep, as when etcd
// reports that it ran out. A lease held or expired already is left as it is.
func (ls *lessor) lapse(k key, at time.Time) {
	l, ok := ls.leases[k]
	if !ok || (l.state != leaseLive && l.state != leaseOverdue) {
		return
	}
	ls.leave(l)
	l.state, l.deadline = leaseOverdue, at.UnixNano()-1
	heap.Push(&ls.overdue, l)
}

// window is how far back self-preservation counts leases that ran out: the
// longest lease TTL, since a sidecar renews at least once in that time.
func (ls *lessor) window() time.Duration {
	var w time.Duration
	for ttl := range ls.ttls {
		w = max(w, ttl)
	}
	return w
}

// preservation is the self-preservation rule: share of leases (negative
// disables it) and the least number that can trigger it.
type preservation struct {
	share float64
	min   int
}

func (p preservation) exceeded(out, total int) bool {
	return p.share > 0 && out >= p.min && float64(out) > p.share*float64(total)
}

// sweepResult is what one sweep decided.
type sweepResult struct {
	expired  []key // ran out now: their instances turn critical
	removed  []key // out for deregister-after: their instances go
	restored []key // had run out within the window, served again as self-preservation starts
	on, off  bool  // self-preservation turned on or off
	out      int   // leases out within the window (on) or still held (off)
}

// sweep runs expiry at now.
func (ls *lessor) sweep(now time.Time, p preservation, deregisterAfter time.Duration) sweepResult {
	var res sweepResult
	nowNano := now.UnixNano()
	ls.ageWindow(nowNano - int64(ls.window()))
	ls.markOverdue(nowNano)
	due := ls.due(nowNano)
	switch {
	case ls.preserving:
		ls.hold(due)
		if out := ls.nheld + ls.overdue.Len(); !p.exceeded(out, ls.len()) {
			res.off, res.out = true, out
			ls.release(now)
		}
		return res // nothing is removed while preserving
	case len(due) > 0 && p.exceeded(ls.nrecent+len(due)+ls.overdue.Len(), ls.len()):
		res.on, res.out = true, ls.nrecent+len(due)+ls.overdue.Len()
		ls.hold(due)
		res.restored = ls.holdRecent()
		ls.preserving = true
		return res
	}
	for _, l := range due {
		l.state, l.expired, l.inWindow = leaseExpired, nowNano, true
		ls.nrecent++
		heap.Push(&ls.recent, expiry{l, nowNano})
		heap.Push(&ls.removals, expiry{l, nowNano})
		res.expired = append(res.expired, l.key)
	}
	res.removed = ls.removable(nowNano - int64(deregisterAfter))
	return res
}

// ageWindow stops counting the leases that ran out at or before edge.
func (ls *lessor) ageWindow(edge int64) {
	for len(ls.recent) > 0 && ls.recent[0].at <= edge {
		e := heap.Pop(&ls.recent).(expiry)
		if e.valid() && e.l.inWindow {
			e.l.inWindow = false
			ls.nrecent--
		}
	}
}

// markOverdue moves the live leases that went two thirds of their TTL
// without a renewal to the overdue heap.
func (ls *lessor) markOverdue(now int64) {
	for ls.live.Len() > 0 && ls.live.key(0) < now {
		l := heap.Pop(&ls.live).(*lease)
		l.state = leaseOverdue
		heap.Push(&ls.overdue, l)
	}
}

// due pops the overdue leases whose deadline has passed.
func (ls *lessor) due(now int64) []*lease {
	var due []*lease
	for ls.overdue.Len() > 0 && ls.overdue.key(0) < now {
		due = append(due, heap.Pop(&ls.overdue).(*lease))
	}
	return due
}

func (ls *lessor) hold(due []*lease) {
	for _, l := range due {
		l.state = leaseHeld
		ls.held = append(ls.held, l)
	}
	ls.nheld += len(due)
}

// holdRecent turns the leases that ran out within the window back into held
// ones, and returns their keys: their instances are served again.
func (ls *lessor) holdRecent() []key {
	var keys []key
	for len(ls.recent) > 0 {
		e := heap.Pop(&ls.recent).(expiry)
		if !e.valid() || !e.l.inWindow {
			continue
		}
		e.l.inWindow, e.l.expired = false, 0
		ls.hold([]*lease{e.l})
		keys = append(keys, e.l.key)
	}
	ls.nrecent = 0
	return keys
}

// release ends self-preservation: every lease held or overdue gets a fresh
// TTL from now.
func (ls *lessor) release(now time.Time) {
	for ls.overdue.Len() > 0 {
		ls.held = append(ls.held, heap.Pop(&ls.overdue).(*lease))
	}
	for _, l := range ls.held {
		if l.state != leaseHeld && l.state != leaseOverdue {
			continue // renewed or revoked since it was held
		}
		l.state, l.deadline = leaseLive, now.Add(l.ttl).UnixNano()
		heap.Push(&ls.live, l)
	}
	ls.held, ls.nheld, ls.preserving = nil, 0, false
}

// removable pops the expired leases that ran out at or before edge, revokes
// them and returns their keys.
func (ls *lessor) removable(edge int64) []key {
	var keys []key
	for len(ls.removals) > 0 && ls.removals[0].at <= edge {
		e := heap.Pop(&ls.removals).(expiry)
		if e.valid() {
			keys = append(keys, e.l.key)
			ls.revoke(e.l.key)
		}
	}
	return keys
}

// leaseHeap is a min-heap of leases, by deadline or by the moment they turn
// overdue; each lease knows its index so that a renewal can fix its place.
type leaseHeap struct {
	ls        []*lease
	overdueAt bool
}

// key is the time at which the i-th lease leaves the heap. A lease turns
// overdue in the last third of its TTL: a sidecar renews every third, so by
// then it has missed two renewals.
func (h *leaseHeap) key(i int) int64 {
	l := h.ls[i]
	if h.overdueAt {
		return l.deadline - int64(l.ttl)/3
	}
	return l.deadline
}

func (h *leaseHeap) Len() int           { return len(h.ls) }
func (h *leaseHeap) Less(i, j int) bool { return h.key(i) < h.key(j) }
func (h *leaseHeap) Swap(i, j int) {
	h.ls[i], h.ls[j] = h.ls[j], h.ls[i]
	h.ls[i].index, h.ls[j].index = int32(i), int32(j)
}

func (h *leaseHeap) Push(x any) {
	l := x.(*lease)
	l.index = int32(len(h.ls))
	h.ls = append(h.ls, l)
}

func (h *leaseHeap) Pop() any {
	n := len(h.ls) - 1
	l := h.ls[n]
	h.ls[n] = nil
	l.index = -1
	h.ls = h.ls[:n]
	return l
}

// expiry records that a lease ran out at a time. It is stale once the lease
// was renewed, revoked or ran out again later.
type expiry struct {
	l  *lease
	at int64
}

func (e expiry) valid() bool { return e.l.state == leaseExpired && e.l.expired == e.at }

// expiryHeap is a min-heap of expiries by time.
type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }

func (h *expiryHeap) Pop() any {
	old := *h
	n := len(old) - 1
	e := old[n]
	old[n] = expiry{}
	*h = old[:n]
	return e
}
