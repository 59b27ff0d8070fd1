package registry

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// DefaultEvents is how many events the log keeps when Config.Events is zero.
const DefaultEvents = 1000

// EventType names a transition in the event log.
type EventType string

// The transitions the registry records.
const (
	// EventRegistered is an instance added, or its registration replaced
	// by one that differs (address, port, tags, check ...).
	EventRegistered EventType = "registered"
	// EventDeregistered is an instance removed: through the API, from the
	// Corefile, or after being critical for deregister-after.
	EventDeregistered EventType = "deregistered"
	// EventHealth is an instance turning passing, warning or critical, as
	// its probe or its sidecar decided, or renewing a lease that had run
	// out.
	EventHealth EventType = "health"
	// EventExpired is an instance turning critical because its lease ran
	// out: no heartbeat within its TTL.
	EventExpired EventType = "expired"
	// EventPreservationOn and EventPreservationOff are self-preservation
	// pausing and resuming lease expiry.
	EventPreservationOn  EventType = "self-preservation-on"
	EventPreservationOff EventType = "self-preservation-off"
	// EventFailoverOn and EventFailoverOff are a service with a failover
	// target falling below its min-healthy, so that its name answers with
	// the failover, and coming back.
	EventFailoverOn  EventType = "failover-on"
	EventFailoverOff EventType = "failover-off"
)

// Event is one transition. Index numbers the events of this process from
// 1, without gaps; it is not the registry's change index.
type Event struct {
	Index    uint64
	Time     time.Time
	Type     EventType
	Service  string // empty for self-preservation
	Instance string // empty for service and registry events
	// Health is the instance's health after the transition; meaningful
	// for registered, health and expired events.
	Health Health
	// Reason says why, in words: a probe's or a sidecar's output, the
	// lease's TTL, the counts that moved a failover.
	Reason string
}

// HasHealth reports whether e is an instance event that carries a health.
func (e Event) HasHealth() bool {
	return e.Type == EventRegistered || e.Type == EventHealth || e.Type == EventExpired
}

// EventPage is what a read of the event log returns.
type EventPage struct {
	// Events are the kept events after the index asked for, oldest first.
	Events []Event
	// Last is the index of the newest event in the log, 0 when there is
	// none yet: the index to ask for next.
	Last uint64
	// Missed reports that events after the index asked for are no longer
	// kept (the log is bounded), or that the index is ahead of the log, as
	// after a restart: Events holds what is kept.
	Missed bool
}

// eventLog is a bounded ring of the newest events, with a channel that the
// next append closes when someone waits on it. Its own mutex lets readers
// in without waiting on the registry's writers.
type eventLog struct {
	mu      sync.Mutex
	ring    []Event // capacity is the bound; ring[start] is the oldest
	start   int
	n       int
	last    uint64
	changed chan struct{}
	watched bool // someone holds changed: close it at the next append
}

func newEventLog(size int) *eventLog {
	return &eventLog{ring: make([]Event, eventLogSize(size)), changed: make(chan struct{})}
}

func eventLogSize(size int) int {
	if size <= 0 {
		return DefaultEvents
	}
	return size
}

// resize changes the bound, keeping the newest events that fit.
func (l *eventLog) resize(size int) {
	size = eventLogSize(size)
	l.mu.Lock()
	defer l.mu.Unlock()
	if size == len(l.ring) {
		return
	}
	keep := l.slice(max(0, l.n-size))
	l.ring, l.start = make([]Event, size), 0
	l.n = copy(l.ring, keep)
}

// append numbers evs and adds them, dropping the oldest beyond the bound.
func (l *eventLog) append(evs []Event) {
	if len(evs) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range evs {
		l.last++
		e.Index = l.last
		if l.n < len(l.ring) {
			l.ring[(l.start+l.n)%len(l.ring)] = e
			l.n++
			continue
		}
		l.ring[l.start] = e
		l.start = (l.start + 1) % len(l.ring)
	}
	if l.watched {
		close(l.changed)
		l.changed, l.watched = make(chan struct{}), false
	}
}

// slice copies the kept events from the skip-th oldest on. l.mu is held.
func (l *eventLog) slice(skip int) []Event {
	out := make([]Event, l.n-skip)
	first := (l.start + skip) % len(l.ring)
	n := copy(out, l.ring[first:min(len(l.ring), first+len(out))])
	copy(out[n:], l.ring)
	return out
}

// since returns the events after index after, and a channel closed at the
// next append.
func (l *eventLog) since(after uint64) (EventPage, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	page := EventPage{Last: l.last}
	oldest := l.last - uint64(l.n) + 1 // index of ring[start] when n > 0
	switch {
	case after > l.last:
		page.Events, page.Missed = l.slice(0), true
	case after == l.last:
	case after+1 < oldest:
		page.Events, page.Missed = l.slice(0), after > 0
	default:
		page.Events = l.slice(int(after + 1 - oldest))
	}
	l.watched = true
	return page, l.changed
}

// EventIndex returns the index of the newest event, 0 when there is none.
func (r *Registry) EventIndex() uint64 {
	r.events.mu.Lock()
	defer r.events.mu.Unlock()
	return r.events.last
}

// Events returns the kept events after index after. Index 0 asks for all
// that are kept.
func (r *Registry) Events(after uint64) EventPage {
	page, _ := r.events.since(after)
	return page
}

// WaitEvents is Events that blocks until there are events after index
// after, or ctx is done; it then returns what there is, and ctx's error.
// An index ahead of the log answers at once, with Missed set.
func (r *Registry) WaitEvents(ctx context.Context, after uint64) (EventPage, error) {
	for {
		page, changed := r.events.since(after)
		if len(page.Events) > 0 || page.Missed {
			return page, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return page, ctx.Err()
		}
	}
}

// emit records events decided outside a snapshot change (self-preservation
// turning on or off). They are published with the write being committed,
// if there is one, to keep their order, else at once. The caller holds
// r.mu.
func (r *Registry) emit(evs ...Event) {
	if r.pending != nil {
		r.pending.events = append(r.pending.events, evs...)
		return
	}
	r.events.append(evs)
}

// cause is why the changes that a builder notes next are made.
type cause struct {
	typ    EventType // overrides EventHealth for a change of health only
	reason string
}

// instanceChange is the net change of one instance within a builder: the
// instance before (nil when new) and after (nil when removed).
type instanceChange struct {
	k        key
	old, new *Instance
	cause    cause
}

// changeSet gathers the changes of one builder, so that the events they
// make are published with the snapshot, at the single point where every
// backend (memory, data directory, etcd's watch) publishes its writes.
// Several changes to one instance within a builder (a reset from etcd
// removes every instance and adds them back) net out to one.
type changeSet struct {
	off      bool // record nothing
	cause    cause
	list     []instanceChange
	inline   [2]instanceChange // list's first room: most writes change one instance
	keys     map[key]int       // index in list, once there are two changes
	services []string          // whose configuration changed
}

func (c *changeSet) noteInstance(k key, old, new *Instance) {
	if c.off {
		return
	}
	if c.keys == nil && len(c.list) > 0 {
		c.keys = make(map[key]int, 2)
		for i, ch := range c.list {
			c.keys[ch.k] = i
		}
	}
	if i, ok := c.keys[k]; ok {
		c.list[i].new, c.list[i].cause = new, c.cause
		return
	}
	if c.keys != nil {
		c.keys[k] = len(c.list)
	}
	if c.list == nil {
		c.list = c.inline[:0]
	}
	c.list = append(c.list, instanceChange{k: k, old: old, new: new, cause: c.cause})
}

func (c *changeSet) noteConfig(service string) {
	if !c.off {
		c.services = append(c.services, service)
	}
}

// because sets why the builder's next changes are made.
func (b *builder) because(typ EventType, reason string) {
	b.changes.cause = cause{typ: typ, reason: reason}
}

// quiet makes b record no events: a load at start is no transition.
func (b *builder) quiet() { b.changes.off = true }

// events turns the changes b made into events at now. serveWarning counts
// warning instances as healthy for failover, as DNS does with the
// serve-warning option.
func (b *builder) events(now time.Time, serveWarning bool) []Event {
	c := &b.changes
	n := len(c.list) + len(c.services)
	if n == 0 {
		return nil
	}
	var evs []Event
	for _, ch := range c.list {
		if e, ok := instanceEvent(ch, now); ok {
			evs = append(evs, e)
		}
	}
	// Each service touched is judged once for failover. A write touches
	// one or a few: a scan finds the ones seen already without a map.
	var seen map[string]bool
	if n > 16 {
		seen = make(map[string]bool, n)
	}
	for i := range n {
		name := c.service(i)
		if seen != nil {
			if seen[name] {
				continue
			}
			seen[name] = true
		} else if c.seenBefore(i, name) {
			continue
		}
		if e, ok := failoverEvent(b.base.Service(name), b.next.Service(name), name, now, serveWarning); ok {
			evs = append(evs, e)
		}
	}
	return evs
}

// service is the name of the i-th service touched: those of the instance
// changes, then those whose configuration changed.
func (c *changeSet) service(i int) string {
	if i < len(c.list) {
		return c.list[i].k.service
	}
	return c.services[i-len(c.list)]
}

func (c *changeSet) seenBefore(i int, name string) bool {
	for j := range i {
		if c.service(j) == name {
			return true
		}
	}
	return false
}

// instanceEvent is the event of one instance's net change, if it made one.
func instanceEvent(ch instanceChange, now time.Time) (Event, bool) {
	e := Event{Time: now, Service: ch.k.service, Instance: ch.k.id, Reason: ch.cause.reason}
	switch {
	case ch.old == nil && ch.new == nil:
		return e, false // added and removed again
	case ch.new == nil:
		e.Type = EventDeregistered
	case ch.old == nil || !sameRegistration(ch.old, ch.new):
		e.Type, e.Health = EventRegistered, ch.new.Health
	case ch.old.Health != ch.new.Health:
		e.Type, e.Health = EventHealth, ch.new.Health
		if ch.cause.typ != "" {
			e.Type = ch.cause.typ
		}
	default:
		return e, false
	}
	return e, true
}

// sameRegistration compares what a registration sets, ignoring health.
func sameRegistration(a, b *Instance) bool {
	c := *b
	c.Health = a.Health
	return sameInstance(a, &c)
}

// failoverEvent is the event of a service starting or ending failover
// between before and after (either may be nil).
func failoverEvent(before, after *Service, name string, now time.Time, serveWarning bool) (Event, bool) {
	was, is := before.FailingOver("", serveWarning), after.FailingOver("", serveWarning)
	if was == is {
		return Event{}, false
	}
	e := Event{Time: now, Service: name}
	if !is {
		e.Type = EventFailoverOff
		switch {
		case after == nil || after.config == nil || !after.config.Failover.IsSet():
			e.Reason = "failover no longer configured"
		default:
			e.Reason = fmt.Sprintf("%d healthy instance(s), min-healthy %d: answers are the instances again",
				after.Healthy("", serveWarning), after.config.MinHealthy)
		}
		return e, true
	}
	e.Type = EventFailoverOn
	e.Reason = fmt.Sprintf("%d healthy instance(s), fewer than min-healthy %d: answers go to the failover %s",
		after.Healthy("", serveWarning), after.config.MinHealthy, failoverTarget(after.config.Failover))
	return e, true
}

func failoverTarget(f Failover) string {
	if f.Name != "" {
		return f.Name
	}
	return fmt.Sprint(f.Addrs)
}

// registerReason is why an instance is registered.
func registerReason(exists bool) string {
	if !exists {
		return "registered through the API"
	}
	return "registered again"
}

// reportReason is why a sidecar's report changes its instance's health:
// the output it sent, or what the report means.
func reportReason(h Health, revived bool, output string) string {
	switch {
	case output != "":
		return output
	case revived && h == Passing:
		return "heartbeat renewed the lease"
	case revived:
		return "heartbeat renewed the lease, reported " + h.String()
	}
	return "reported " + h.String() + " by its sidecar"
}
