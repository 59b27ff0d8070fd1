package registry

import (
	"slices"
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
// Leases are stored compactly, since a registry holds one per instance: in
// one slab of fixed-size records, found by an open-addressing index of
// int32 slots, with the heaps and queues holding slots rather than
// pointers. A revoked lease's slot is reused.
//
// The lessor is not safe for concurrent use: the registry's write lock
// guards it.
type lessor struct {
	pages []*[pageLeases]lease // leases by slot, in pages that never move
	slots int32                // slots handed out
	free  []int32              // slots of revoked leases, for reuse
	index []int32              // open addressing by key, linear probing: slot+1, 0 when empty
	n     int                  // leases held

	live    leaseHeap // leases renewed in time, by when they turn overdue
	overdue leaseHeap // leases that missed two renewals, by deadline

	// ran keeps the leases that ran out, by when, twice: recent for the
	// self-preservation window, removals for deregister-after. Entries of
	// leases renewed or dropped since are stale and skipped when popped.
	recent   expiryHeap
	removals expiryHeap
	nrecent  int // leases that ran out within the window and are still out

	held  []int32 // slots of leases that fell due while preserving; may hold stale entries
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
	leaseGone                      // revoked; its slot is free, any queue entry is stale
)

// pageLeases is how many leases a page of the slab holds (64 KiB). Pages
// keep a growing slab from being copied whole under the lock, and waste
// at most one page.
const pageLeases = 1024

// at returns the lease in slot.
func (ls *lessor) at(slot int32) *lease { return &ls.pages[slot/pageLeases][slot%pageLeases] }

// lease is the heartbeat deadline of an instance registered with a TTL.
// Times are Unix nanoseconds. It fills 64 bytes.
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
	ls := &lessor{ttls: make(map[time.Duration]int)}
	ls.live = leaseHeap{ls: ls, overdueAt: true}
	ls.overdue = leaseHeap{ls: ls}
	return ls
}

func (ls *lessor) len() int { return ls.n }

// get returns the lease of k. The pointer is valid until the next grant.
func (ls *lessor) get(k key) (*lease, bool) {
	slot, _ := ls.find(k)
	if slot < 0 {
		return nil, false
	}
	return ls.at(slot), true
}

// keys returns the keys of every lease.
func (ls *lessor) keys() []key {
	keys := make([]key, 0, ls.n)
	for slot := range ls.slots {
		if l := ls.at(slot); l.state != leaseGone {
			keys = append(keys, l.key)
		}
	}
	return keys
}

// grant gives k a live lease of ttl that runs out at deadline, replacing any
// lease it had.
func (ls *lessor) grant(k key, ttl time.Duration, deadline time.Time) {
	ls.revoke(k)
	slot := ls.add(lease{key: k, ttl: ttl, deadline: deadline.UnixNano(), index: -1})
	ls.live.push(slot)
}

// grantNew is grant for a key known to hold no lease, as a start that
// loads each instance once: it skips looking for one to revoke.
func (ls *lessor) grantNew(k key, ttl time.Duration, deadline time.Time) {
	slot := ls.add(lease{key: k, ttl: ttl, deadline: deadline.UnixNano(), index: -1})
	ls.live.push(slot)
}

// grantExpired gives k a lease that ran out at expired, as a restart finds
// it: it is removed deregister-after that moment unless renewed. It does not
// count towards self-preservation, which judges what runs out while running.
func (ls *lessor) grantExpired(k key, ttl time.Duration, expired time.Time) {
	ls.revoke(k)
	at := expired.UnixNano()
	slot := ls.add(lease{key: k, ttl: ttl, deadline: at, expired: at, index: -1, state: leaseExpired})
	ls.removals.push(expiry{at: at, slot: slot})
}

// add stores l in a free slot, indexes it by its key and returns the slot.
func (ls *lessor) add(l lease) int32 {
	var slot int32
	if n := len(ls.free); n > 0 {
		slot, ls.free = ls.free[n-1], ls.free[:n-1]
	} else {
		slot = ls.slots
		if slot%pageLeases == 0 {
			ls.pages = append(ls.pages, new([pageLeases]lease))
		}
		ls.slots++
	}
	*ls.at(slot) = l
	ls.insert(slot)
	ls.n++
	ls.ttls[l.ttl]++
	return slot
}

// revoke drops the lease of k, if it has one.
func (ls *lessor) revoke(k key) {
	slot, pos := ls.find(k)
	if slot < 0 {
		return
	}
	l := ls.at(slot)
	ls.leave(slot)
	ls.unindex(pos)
	if ls.ttls[l.ttl]--; ls.ttls[l.ttl] == 0 {
		delete(ls.ttls, l.ttl)
	}
	*l = lease{index: -1, state: leaseGone} // drops the key's strings
	ls.free = append(ls.free, slot)
	ls.n--
}

// leave takes the lease in slot out of whatever queue or count its state
// puts it in.
func (ls *lessor) leave(slot int32) {
	l := ls.at(slot)
	switch l.state {
	case leaseLive:
		ls.live.remove(int(l.index))
	case leaseOverdue:
		ls.overdue.remove(int(l.index))
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
	slot, _ := ls.find(k)
	if slot < 0 {
		return nil, false, false
	}
	l = ls.at(slot)
	revived = l.state == leaseExpired
	l.deadline = now.Add(l.ttl).UnixNano()
	if l.state == leaseLive {
		ls.live.fix(int(l.index))
		return l, false, true
	}
	ls.leave(slot)
	l.state = leaseLive
	ls.live.push(slot)
	return l, revived, true
}

// renewTo is renew to a given deadline, granting a lease of ttl when k has
// none: a shared registry holds a lease live until etcd says it ran out.
func (ls *lessor) renewTo(k key, ttl time.Duration, deadline time.Time) {
	slot, _ := ls.find(k)
	if slot < 0 || ls.at(slot).ttl != ttl {
		ls.grant(k, ttl, deadline)
		return
	}
	ls.leave(slot)
	l := ls.at(slot)
	l.state, l.deadline = leaseLive, deadline.UnixNano()
	ls.live.push(slot)
}

// lapse makes the lease of k fall due at the next sweep, as when etcd
// reports that it ran out. A lease held or expired already is left as it is.
func (ls *lessor) lapse(k key, at time.Time) {
	slot, _ := ls.find(k)
	if slot < 0 {
		return
	}
	if l := ls.at(slot); l.state != leaseLive && l.state != leaseOverdue {
		return
	}
	ls.leave(slot)
	l := ls.at(slot)
	l.state, l.deadline = leaseOverdue, at.UnixNano()-1
	ls.overdue.push(slot)
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
		if out := ls.nheld + ls.overdue.len(); !p.exceeded(out, ls.len()) {
			res.off, res.out = true, out
			ls.release(now)
		}
		return res // nothing is removed while preserving
	case len(due) > 0 && p.exceeded(ls.nrecent+len(due)+ls.overdue.len(), ls.len()):
		res.on, res.out = true, ls.nrecent+len(due)+ls.overdue.len()
		ls.hold(due)
		res.restored = ls.holdRecent()
		ls.preserving = true
		return res
	}
	for _, slot := range due {
		l := ls.at(slot)
		l.state, l.expired, l.inWindow = leaseExpired, nowNano, true
		ls.nrecent++
		ls.recent.push(expiry{at: nowNano, slot: slot})
		ls.removals.push(expiry{at: nowNano, slot: slot})
		res.expired = append(res.expired, l.key)
	}
	res.removed = ls.removable(nowNano - int64(deregisterAfter))
	return res
}

// ageWindow stops counting the leases that ran out at or before edge.
func (ls *lessor) ageWindow(edge int64) {
	for len(ls.recent) > 0 && ls.recent[0].at <= edge {
		e := ls.recent.pop()
		if l := ls.at(e.slot); ls.valid(e) && l.inWindow {
			l.inWindow = false
			ls.nrecent--
		}
	}
}

// markOverdue moves the live leases that went two thirds of their TTL
// without a renewal to the overdue heap.
func (ls *lessor) markOverdue(now int64) {
	for ls.live.len() > 0 && ls.live.key(0) < now {
		slot := ls.live.pop()
		ls.at(slot).state = leaseOverdue
		ls.overdue.push(slot)
	}
}

// due pops the overdue leases whose deadline has passed.
func (ls *lessor) due(now int64) []int32 {
	var due []int32
	for ls.overdue.len() > 0 && ls.overdue.key(0) < now {
		due = append(due, ls.overdue.pop())
	}
	return due
}

func (ls *lessor) hold(due []int32) {
	for _, slot := range due {
		ls.at(slot).state = leaseHeld
		ls.held = append(ls.held, slot)
	}
	ls.nheld += len(due)
}

// holdRecent turns the leases that ran out within the window back into held
// ones, and returns their keys: their instances are served again.
func (ls *lessor) holdRecent() []key {
	var keys []key
	for len(ls.recent) > 0 {
		e := ls.recent.pop()
		l := ls.at(e.slot)
		if !ls.valid(e) || !l.inWindow {
			continue
		}
		l.inWindow, l.expired = false, 0
		ls.hold([]int32{e.slot})
		keys = append(keys, l.key)
	}
	ls.nrecent = 0
	return keys
}

// release ends self-preservation: every lease held or overdue gets a fresh
// TTL from now. A slot listed twice (held, renewed, held again) is live
// after its first entry and skipped at the second.
func (ls *lessor) release(now time.Time) {
	for ls.overdue.len() > 0 {
		ls.held = append(ls.held, ls.overdue.pop())
	}
	for _, slot := range ls.held {
		l := ls.at(slot)
		if l.state != leaseHeld && l.state != leaseOverdue {
			continue // renewed or revoked since it was held
		}
		l.state, l.deadline = leaseLive, now.Add(l.ttl).UnixNano()
		ls.live.push(slot)
	}
	ls.held, ls.nheld, ls.preserving = nil, 0, false
}

// removable pops the expired leases that ran out at or before edge, revokes
// them and returns their keys.
func (ls *lessor) removable(edge int64) []key {
	var keys []key
	for len(ls.removals) > 0 && ls.removals[0].at <= edge {
		e := ls.removals.pop()
		if ls.valid(e) {
			k := ls.at(e.slot).key
			keys = append(keys, k)
			ls.revoke(k)
		}
	}
	return keys
}

// valid reports whether e still stands: its lease ran out at e.at and has
// not been renewed, revoked or run out again since. (A slot reused by a
// lease that ran out at the very same moment stands for that lease, with
// the same effect.)
func (ls *lessor) valid(e expiry) bool {
	l := ls.at(e.slot)
	return l.state == leaseExpired && l.expired == e.at
}

// The index: open addressing with linear probing over slots+1, kept at
// most three quarters full, with deletions shifting entries back so that
// no tombstones build up.

// hashKey hashes a lease key for the index.
func hashKey(k key) uint64 {
	return hashString(k.service) ^ hashString(k.id)*0x9E3779B97F4A7C15
}

// find returns the slot of k's lease and its position in the index, or
// slot -1 and the empty position where k would go.
func (ls *lessor) find(k key) (slot int32, pos int) {
	if len(ls.index) == 0 {
		return -1, -1
	}
	mask := len(ls.index) - 1
	for i := int(hashKey(k)) & mask; ; i = (i + 1) & mask {
		s := ls.index[i]
		if s == 0 {
			return -1, i
		}
		if l := ls.at(s - 1); l.key == k {
			return s - 1, i
		}
	}
}

// insert indexes the lease in slot, whose key the index does not hold.
func (ls *lessor) insert(slot int32) {
	if 4*(ls.n+1) > 3*len(ls.index) {
		ls.grow()
	}
	mask := len(ls.index) - 1
	i := int(hashKey(ls.at(slot).key)) & mask
	for ls.index[i] != 0 {
		i = (i + 1) & mask
	}
	ls.index[i] = slot + 1
}

// reserve makes room in the index for n more leases at once, as a start
// that loads them does, rather than doubling it step by step, and in the
// heap of live leases.
func (ls *lessor) reserve(n int) {
	size := max(16, len(ls.index))
	for 4*(ls.n+n) > 3*size {
		size *= 2
	}
	if size > len(ls.index) {
		ls.resize(size)
	}
	ls.live.slots = slices.Grow(ls.live.slots, n)
}

// grow doubles the index.
func (ls *lessor) grow() { ls.resize(max(16, 2*len(ls.index))) }

// resize makes the index size slots long and places every lease again.
func (ls *lessor) resize(size int) {
	old := ls.index
	ls.index = make([]int32, size)
	mask := len(ls.index) - 1
	for _, s := range old {
		if s == 0 {
			continue
		}
		i := int(hashKey(ls.at(s-1).key)) & mask
		for ls.index[i] != 0 {
			i = (i + 1) & mask
		}
		ls.index[i] = s
	}
}

// unindex empties position pos of the index, moving back the entries of
// its probe sequence that would no longer be found past the gap.
func (ls *lessor) unindex(pos int) {
	mask := len(ls.index) - 1
	gap := pos
	for j := (pos + 1) & mask; ls.index[j] != 0; j = (j + 1) & mask {
		home := int(hashKey(ls.at(ls.index[j]-1).key)) & mask
		// The entry at j may fill the gap unless its home lies cyclically
		// within (gap, j].
		if (j-home)&mask >= (j-gap)&mask {
			ls.index[gap] = ls.index[j]
			gap = j
		}
	}
	ls.index[gap] = 0
}

// leaseHeap is a min-heap of lease slots, by deadline or by the moment they
// turn overdue; each lease knows its position so that a renewal can fix its
// place.
type leaseHeap struct {
	ls        *lessor
	slots     []int32
	overdueAt bool
}

// key is the time at which the i-th lease leaves the heap. A lease turns
// overdue in the last third of its TTL: a sidecar renews every third, so by
// then it has missed two renewals.
func (h *leaseHeap) key(i int) int64 {
	l := h.ls.at(h.slots[i])
	if h.overdueAt {
		return l.deadline - int64(l.ttl)/3
	}
	return l.deadline
}

func (h *leaseHeap) len() int { return len(h.slots) }

func (h *leaseHeap) swap(i, j int) {
	h.slots[i], h.slots[j] = h.slots[j], h.slots[i]
	h.ls.at(h.slots[i]).index = int32(i)
	h.ls.at(h.slots[j]).index = int32(j)
}

func (h *leaseHeap) push(slot int32) {
	h.ls.at(slot).index = int32(len(h.slots))
	h.slots = append(h.slots, slot)
	h.up(len(h.slots) - 1)
}

func (h *leaseHeap) pop() int32 {
	n := len(h.slots) - 1
	h.swap(0, n)
	h.down(0, n)
	return h.cut()
}

// remove takes out the lease at position i.
func (h *leaseHeap) remove(i int) {
	n := len(h.slots) - 1
	if n != i {
		h.swap(i, n)
		if !h.down(i, n) {
			h.up(i)
		}
	}
	h.cut()
}

// cut drops the last slot and returns it.
func (h *leaseHeap) cut() int32 {
	n := len(h.slots) - 1
	slot := h.slots[n]
	h.slots = h.slots[:n]
	h.ls.at(slot).index = -1
	return slot
}

// fix restores the order after the key at position i changed.
func (h *leaseHeap) fix(i int) {
	if !h.down(i, len(h.slots)) {
		h.up(i)
	}
}

func (h *leaseHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if i == j || h.key(j) >= h.key(i) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h *leaseHeap) down(i0, n int) bool {
	i := i0
	for {
		j1 := 2*i + 1
		if j1 >= n || j1 < 0 {
			break
		}
		j := j1
		if j2 := j1 + 1; j2 < n && h.key(j2) < h.key(j1) {
			j = j2
		}
		if h.key(j) >= h.key(i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}

// expiry records that the lease in slot ran out at a time. It is stale
// once the lease was renewed, revoked or ran out again later.
type expiry struct {
	at   int64
	slot int32
}

// expiryHeap is a min-heap of expiries by time.
type expiryHeap []expiry

func (h *expiryHeap) push(e expiry) {
	*h = append(*h, e)
	s := *h
	for j := len(s) - 1; j > 0; {
		i := (j - 1) / 2
		if s[j].at >= s[i].at {
			break
		}
		s[i], s[j] = s[j], s[i]
		j = i
	}
}

func (h *expiryHeap) pop() expiry {
	s := *h
	n := len(s) - 1
	e := s[0]
	s[0] = s[n]
	s = s[:n]
	for i := 0; ; {
		j := 2*i + 1
		if j >= n {
			break
		}
		if j+1 < n && s[j+1].at < s[j].at {
			j++
		}
		if s[j].at >= s[i].at {
			break
		}
		s[i], s[j] = s[j], s[i]
		i = j
	}
	*h = s
	return e
}
