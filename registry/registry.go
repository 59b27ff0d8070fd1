// Package registry is Signpost's in-memory service registry: services and
// their instances, health states, heartbeat leases with expiry and
// self-preservation, and a change index that readers can wait on.
//
// All writes go through one mutex-guarded path that derives a new immutable
// Snapshot from the current one and swaps it in atomically. Readers (the DNS
// handler, the HTTP API) load the current snapshot and never wait on a
// writer. The package knows nothing of DNS, HTTP or probes.
package registry

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Errors returned by the write operations; test with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrNoLease  = errors.New("has no heartbeat lease")
	ErrStatic   = errors.New("is declared in the Corefile")
	ErrClosed   = errors.New("registry is closed")
	// ErrNoSpace is a write that the data directory had no room for (or
	// no quota left): nothing of it was stored.
	ErrNoSpace = errors.New("no space left on device: not stored")
)

// Defaults of Config.
const (
	DefaultDeregisterAfter     = time.Minute
	DefaultSelfPreservation    = 0.15
	DefaultSelfPreservationMin = 3
	DefaultSweepInterval       = time.Second
	DefaultHeartbeatGrace      = 30 * time.Second
)

// Logger receives the registry's log lines about state changes.
type Logger interface {
	Infof(format string, args ...any)
	Warningf(format string, args ...any)
}

// Config tunes lease expiry. The zero value of each field takes its default.
type Config struct {
	// DeregisterAfter removes an instance whose lease ran out this long ago.
	DeregisterAfter time.Duration
	// SelfPreservation is the share of leases (0 to 1) that may run out in
	// one sweep; when more would, expiry pauses. Negative disables it.
	SelfPreservation float64
	// SelfPreservationMin is the least number of expiring leases that can
	// trigger self-preservation, so that a small registry losing one
	// instance is not taken for a network fault.
	SelfPreservationMin int
	// SweepInterval is how often leases are checked.
	SweepInterval time.Duration
	// HeartbeatGrace is the lease that an instance loaded from the data
	// directory gets at start, to give its sidecar time to renew.
	HeartbeatGrace time.Duration
	// Now returns the current time; tests inject a fake clock.
	Now func() time.Time
	// OnLapse, when set, is told of each instance with a lease that got
	// worse: its lease ran out or its sidecar reported it warning or
	// critical. It is called with the registry's write lock held, so it
	// must be quick and must not call the registry.
	OnLapse func(Lapse)
	// Logger gets state change messages; nil discards them.
	Logger Logger
	// Events bounds the event log: how many of the newest transitions it
	// keeps; DefaultEvents when zero.
	Events int
	// ServeWarning counts warning instances as healthy when the event log
	// judges whether a service fails over, as DNS does with the
	// serve-warning option.
	ServeWarning bool
}

func (c Config) withDefaults() Config {
	if c.DeregisterAfter == 0 {
		c.DeregisterAfter = DefaultDeregisterAfter
	}
	if c.SelfPreservation == 0 {
		c.SelfPreservation = DefaultSelfPreservation
	}
	if c.SelfPreservationMin == 0 {
		c.SelfPreservationMin = DefaultSelfPreservationMin
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	if c.HeartbeatGrace == 0 {
		c.HeartbeatGrace = DefaultHeartbeatGrace
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = nopLogger{}
	}
	return c
}

type nopLogger struct{}

func (nopLogger) Infof(string, ...any)    {}
func (nopLogger) Warningf(string, ...any) {}

// Registry holds services and instances. Its methods are safe for concurrent
// use.
type Registry struct {
	cur        atomic.Pointer[Snapshot]
	preserving atomic.Bool
	events     *eventLog // transitions, published with the snapshots that make them
	outputs    checkOutputs

	mu     sync.Mutex // the single writer path; guards everything below
	cfg    Config
	leases *lessor
	shared *shared             // the etcd backend, when the registry is shared
	static map[string]struct{} // services the Corefile declares
	// staged is the newest state, including writes whose commit to the
	// store is still pending; readers see it once committed. Without a
	// store it is the published snapshot.
	staged  *Snapshot
	store   *store
	pending *batch // writes waiting for the committer

	fullUntil     time.Time     // registrations refused until then: the disk is full
	commitc       chan struct{} // wakes the committer
	committerDone chan struct{}
	closed        bool // the store is closed; writes fail

	startOnce sync.Once
	stopOnce  sync.Once
	stopc     chan struct{}
	donec     chan struct{}
}

type key struct{ service, id string }

// New returns an empty registry. Call Start to run lease expiry.
func New(cfg Config) *Registry {
	r := &Registry{
		cfg:    cfg.withDefaults(),
		leases: newLessor(),
		static: make(map[string]struct{}),
		stopc:  make(chan struct{}),
		donec:  make(chan struct{}),
		events: newEventLog(cfg.Events),
	}
	r.staged = emptySnapshot()
	r.cur.Store(r.staged)
	return r
}

// Configure replaces the expiry settings of a running registry, as a
// Corefile reload does. SweepInterval keeps the value it started with.
func (r *Registry) Configure(cfg Config) {
	r.mu.Lock()
	defer r.mu.Unlock()
	interval := r.cfg.SweepInterval
	r.cfg = cfg.withDefaults()
	r.cfg.SweepInterval = interval
	r.events.resize(cfg.Events)
}

// Snapshot returns the current snapshot.
func (r *Registry) Snapshot() *Snapshot { return r.cur.Load() }

// Index returns the current change index.
func (r *Registry) Index() uint64 { return r.cur.Load().index }

// SelfPreserving reports whether lease expiry is paused.
func (r *Registry) SelfPreserving() bool { return r.preserving.Load() }

// WaitIndex blocks until the change index passes after, or ctx is done, and
// returns the newest snapshot either way; the error is ctx's.
func (r *Registry) WaitIndex(ctx context.Context, after uint64) (*Snapshot, error) {
	for {
		s := r.cur.Load()
		if s.index > after {
			return s, nil
		}
		select {
		case <-s.changed:
		case <-ctx.Done():
			return r.cur.Load(), ctx.Err()
		}
	}
}

// Register adds or replaces an instance and returns it as stored. An
// instance with a TTL starts passing with a fresh lease. Re-registering an
// identical instance only renews its lease and does not change the index.
func (r *Registry) Register(in Instance) (Instance, error) {
	return r.registerStarting(in, nil)
}

func (r *Registry) registerStarting(in Instance, initial *Health) (Instance, error) {
	in, err := in.normalize()
	if err != nil {
		return Instance{}, err
	}
	if initial != nil && *initial > Critical {
		return Instance{}, &FieldError{Field: "health", Value: initial.String(), Reason: "unknown state"}
	}
	if r.shared != nil {
		return r.registerShared(in, initial)
	}
	stored, wait, err := r.register(in, initial)
	if err != nil {
		return Instance{}, err
	}
	return stored, wait()
}

func (r *Registry) register(in Instance, initial *Health) (Instance, func() error, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.diskFull(); err != nil {
		return Instance{}, nil, err
	}
	k := key{in.Service, in.ID}
	old, exists := lookup(r.staged, in.Service, in.ID)
	if exists && old.Source != in.Source {
		return Instance{}, nil, fmt.Errorf("instance %s of service %s %w", in.ID, in.Service, ErrStatic)
	}
	switch {
	case in.TTL > 0:
		in.Health = leaseHealth(initial)
		r.leases.grant(k, in.TTL, r.cfg.Now().Add(in.TTL))
	case in.Check != "":
		r.leases.revoke(k)
		in.Health = initialHealth(old, in, initial)
	default:
		r.leases.revoke(k)
	}
	if exists && sameInstance(old, &in) {
		return *old, r.committed(), nil
	}
	b := newBuilder(r.staged)
	b.because("", registerReason(exists))
	stored := b.setInstance(in)
	return *stored, r.apply(b, putOp(stored)), nil
}

// Deregister removes an instance.
//
// On a full disk a deregistration that shared its write with registrations
// that did not fit is tried once more: registrations are refused for a
// moment after the disk ran out of room, so the second try commits alone,
// and a deletion needs no new room.
func (r *Registry) Deregister(service, id string) error {
	if r.shared != nil {
		return r.deregisterShared(service, id)
	}
	for try := 1; ; try++ {
		wait, err := r.deregister(service, id)
		if err != nil {
			return err
		}
		if err = wait(); try == 1 && errors.Is(err, ErrNoSpace) {
			continue
		}
		return err
	}
}

func (r *Registry) deregister(service, id string) (func() error, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old, ok := lookup(r.staged, service, id)
	if !ok {
		return nil, fmt.Errorf("instance %s of service %s %w", id, service, ErrNotFound)
	}
	if old.Source == SourceCorefile {
		return nil, fmt.Errorf("instance %s of service %s %w", id, service, ErrStatic)
	}
	r.leases.revoke(key{service, id})
	b := newBuilder(r.staged)
	b.because("", "deregistered through the API")
	b.removeInstance(service, id)
	return r.apply(b, deleteOp(service, id)), nil
}

// Heartbeat renews the lease of an instance. An instance whose lease had run
// out turns passing again.
//
// A heartbeat costs no disk write: leases live in memory only, and a
// restarted server gives every lease a grace period instead. One that
// turns the instance passing again writes its health.
func (r *Registry) Heartbeat(service, id string) (Instance, error) {
	in, _, err := r.Renew(service, id)
	return in, err
}

// Renew is Heartbeat, also returning the new deadline of the lease.
func (r *Registry) Renew(service, id string) (Instance, time.Time, error) {
	return r.Report(service, id, Passing, "")
}

// Report renews the lease of an instance and sets its health to h, as the
// instance's own sidecar reports it: a service whose health URL fails is
// reported critical at once rather than left to run out its lease, and keeps
// its lease (and its registration) while it is critical. A heartbeat is a
// report of Passing. output, the sidecar's reason, is logged on a change.
// An instance without a lease cannot report: its health is its probe's.
//
// With a data directory a change of health is written to disk with the
// output given with it, before Report returns, so that a restart keeps it;
// a report that changes no health (a heartbeat) writes nothing.
func (r *Registry) Report(service, id string, h Health, output string) (Instance, time.Time, error) {
	if h > Critical {
		return Instance{}, time.Time{}, &FieldError{Field: "status", Value: h.String(), Reason: "unknown state"}
	}
	if r.shared != nil {
		return r.reportShared(service, id, h, output)
	}
	in, deadline, wait, err := r.report(service, id, h, output)
	if err != nil {
		return Instance{}, time.Time{}, err
	}
	return in, deadline, wait()
}

func (r *Registry) report(service, id string, h Health, output string) (Instance, time.Time, func() error, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	in, ok := lookup(r.staged, service, id)
	if !ok {
		return Instance{}, time.Time{}, nil, fmt.Errorf("instance %s of service %s %w", id, service, ErrNotFound)
	}
	last := r.lastRenewal(key{service, id})
	l, revived, ok := r.leases.renew(key{service, id}, r.cfg.Now())
	if !ok {
		return Instance{}, time.Time{}, nil, fmt.Errorf("instance %s of service %s %w", id, service, ErrNoLease)
	}
	r.setOutput(in, output)
	deadline := time.Unix(0, l.deadline)
	if !revived && in.Health == h {
		return *in, deadline, noWait, nil
	}
	b := newBuilder(r.staged)
	b.because("", reportReason(h, revived, output))
	prev := in.Health
	in = b.setHealth(in, h)
	r.logReport(in, prev, revived, output)
	if !revived {
		r.lapsed(key{service, id}, prev, h, true, last, r.cfg.Now())
	}
	// The reported health is written with the change (and an expired
	// instance is no longer expired on disk), so that a restart keeps it.
	return *in, deadline, r.apply(b, putReportOp(in, output)), nil
}

// logReport logs the health an instance's sidecar reported, when it changed.
func (r *Registry) logReport(in *Instance, prev Health, revived bool, output string) {
	switch {
	case revived && in.Health == Passing:
		r.cfg.Logger.Infof("instance %s of service %s renewed its lease and is passing again", in.ID, in.Service)
	case revived:
		r.cfg.Logger.Infof("instance %s of service %s renewed its lease, reported %s: %s", in.ID, in.Service, in.Health, output)
	case in.Health != prev && output != "":
		r.cfg.Logger.Infof("instance %s of service %s reported %s (was %s): %s", in.ID, in.Service, in.Health, prev, output)
	case in.Health != prev:
		r.cfg.Logger.Infof("instance %s of service %s reported %s (was %s)", in.ID, in.Service, in.Health, prev)
	}
}

// Lease returns the TTL and deadline of an instance's lease.
func (r *Registry) Lease(service, id string) (ttl time.Duration, deadline time.Time, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.leases.get(key{service, id})
	if !ok || l.deadline == farFuture.UnixNano() {
		return 0, time.Time{}, false // a shared registry's lease is etcd's
	}
	return l.ttl, time.Unix(0, l.deadline), true
}

// SetHealth sets the health state of an instance, as a probe reports it.
func (r *Registry) SetHealth(service, id string, h Health) error {
	return r.SetHealthOutput(service, id, h, "")
}

// SetHealthOutput is SetHealth with the probe's output, the reason that
// the event log gives for the transition. It must hold no secret.
func (r *Registry) SetHealthOutput(service, id string, h Health, output string) error {
	if h > Critical {
		return &FieldError{Field: "health", Value: h.String(), Reason: "unknown state"}
	}
	if r.shared != nil {
		if in, ok := lookup(r.Snapshot(), service, id); ok && in.Source == SourceAPI {
			return r.writeHealth(key{service, id}, h, output)
		}
	}
	wait, err := r.setHealth(service, id, h, output)
	if err != nil {
		return err
	}
	return wait()
}

func (r *Registry) setHealth(service, id string, h Health, output string) (func() error, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	in, ok := lookup(r.staged, service, id)
	if !ok {
		return nil, fmt.Errorf("instance %s of service %s %w", id, service, ErrNotFound)
	}
	if in.Health == h {
		return r.committed(), nil
	}
	b := newBuilder(r.staged)
	b.because("", output)
	r.setOutput(in, output)
	in = b.setHealth(in, h)
	if keepsHealth(in) {
		// The health of an instance with a lease and no probe is kept
		// on disk, whoever sets it.
		return r.apply(b, putReportOp(in, output)), nil
	}
	return r.apply(b), nil // a probe's result is not persisted: it probes again after a restart
}

// StaticService is a service declared in the Corefile, with its instances.
type StaticService struct {
	Config    ServiceConfig
	Instances []Instance
}

// ApplyStatic replaces everything the Corefile declares with services, in
// one change: services and instances no longer declared are removed, new
// ones added, instances registered through the API are kept. An unchanged
// static instance keeps its health. Nothing is applied when any part is
// invalid.
func (r *Registry) ApplyStatic(services []StaticService) error {
	want := make(map[string]StaticService, len(services))
	for _, s := range services {
		cfg, err := s.Config.normalize()
		if err != nil {
			return err
		}
		cfg.Source = SourceCorefile
		if _, dup := want[cfg.Name]; dup {
			return &FieldError{Field: "service", Value: cfg.Name, Reason: "is declared twice"}
		}
		ins := make([]Instance, 0, len(s.Instances))
		ids := make(map[string]struct{}, len(s.Instances))
		for _, in := range s.Instances {
			in.Service, in.Source, in.TTL = cfg.Name, SourceCorefile, 0
			n, err := in.normalize()
			if err != nil {
				return err
			}
			if _, dup := ids[n.ID]; dup {
				return &FieldError{Field: "id", Value: n.ID, Reason: "is declared twice in service " + cfg.Name}
			}
			ids[n.ID] = struct{}{}
			ins = append(ins, n)
		}
		want[cfg.Name] = StaticService{Config: cfg, Instances: ins}
	}

	return r.applyStatic(want)()
}

func (r *Registry) applyStatic(want map[string]StaticService) func() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := newBuilder(r.staged)
	var ops []op
	b.because("", "no longer declared in the Corefile")
	for name := range r.static {
		if _, ok := want[name]; !ok {
			r.unsetStatic(b, name)
		}
	}
	for _, s := range want {
		ops = append(ops, r.setStatic(b, s)...)
	}
	r.static = make(map[string]struct{}, len(want))
	for name := range want {
		r.static[name] = struct{}{}
	}
	return r.apply(b, ops...)
}

// initialHealth is the health of an instance with an active check when it
// is registered: initial, or critical when nil, until its check has run,
// unless it replaces an instance with the same check on the same address
// and port, whose probe keeps running.
func initialHealth(old *Instance, in Instance, initial *Health) Health {
	if old != nil && old.Check == in.Check && old.Address == in.Address && old.Port == in.Port {
		return old.Health
	}
	if initial != nil {
		return *initial
	}
	return Critical
}

// unsetStatic drops the Corefile's configuration and instances of a service.
func (r *Registry) unsetStatic(b *builder, name string) {
	svc := b.service(name)
	if svc == nil {
		return
	}
	b.removeInstancesFunc(name, func(in *Instance) bool { return in.Source == SourceCorefile })
	b.setConfig(name, nil)
}

// setStatic makes service s exactly as the Corefile declares it, keeping the
// instances registered through the API. It returns the store operations that
// drop API registrations the Corefile takes over.
func (r *Registry) setStatic(b *builder, s StaticService) (ops []op) {
	name := s.Config.Name
	b.because("", "declared in the Corefile")
	keep := make(map[string]bool, len(s.Instances))
	var set []Instance
	for _, in := range s.Instances {
		keep[in.ID] = true
		old, ok := lookup(b.next, name, in.ID)
		if ok && old.Source == SourceAPI {
			r.cfg.Logger.Warningf("instance %s of service %s is declared in the Corefile, replacing its API registration", in.ID, name)
			r.leases.revoke(key{name, in.ID})
			ops = append(ops, deleteOp(name, in.ID))
		}
		if !ok || old.Source != SourceCorefile {
			old = nil
		}
		switch {
		case in.Check != "":
			in.Health = initialHealth(old, in, nil)
		case old != nil && old.Check == "":
			in.Health = old.Health
		default:
			in.Health = Passing // nothing probes it
		}
		if old != nil && sameInstance(old, &in) {
			continue
		}
		set = append(set, in)
	}
	b.setInstances(name, set)
	b.because("", "no longer declared in the Corefile")
	b.removeInstancesFunc(name, func(in *Instance) bool { return in.Source == SourceCorefile && !keep[in.ID] })
	cfg := s.Config
	if svc := b.service(name); svc == nil || svc.config == nil || !sameConfig(*svc.config, cfg) {
		b.setConfig(name, &cfg)
	}
	return ops
}

func sameConfig(a, b ServiceConfig) bool {
	return a.Name == b.Name && a.MinHealthy == b.MinHealthy && a.Source == b.Source &&
		a.Failover.Name == b.Failover.Name && a.Failover.Port == b.Failover.Port &&
		slices.Equal(a.Failover.Addrs, b.Failover.Addrs)
}

func lookup(s *Snapshot, service, id string) (*Instance, bool) {
	svc := s.Service(service)
	if svc == nil {
		return nil, false
	}
	i, ok := svc.find(id)
	if !ok {
		return nil, false
	}
	return svc.instances[i], true
}

// sameInstance compares what a registration sets, ignoring the indexes.
func sameInstance(a, b *Instance) bool {
	return a.Service == b.Service && a.ID == b.ID && a.Address == b.Address && a.Port == b.Port &&
		a.Weight == b.Weight && a.Health == b.Health && a.Source == b.Source && a.TTL == b.TTL && a.Check == b.Check &&
		slices.Equal(a.Tags, b.Tags) && maps.Equal(a.Meta, b.Meta)
}

// apply stages the snapshot b built, with the store operations that make it
// durable, and returns a function that waits until readers can see it.
// Without a store it is published at once; with one, the committer publishes
// it after the operations (and every write staged before them) are on disk.
// A builder that changed nothing stages nothing. The caller holds r.mu.
func (r *Registry) apply(b *builder, ops ...op) func() error {
	if !b.dirty {
		return r.committed()
	}
	r.staged = b.next
	r.dropOutputs(b)
	evs := b.events(r.cfg.Now(), r.cfg.ServeWarning)
	if r.store == nil {
		old := r.cur.Swap(r.staged)
		close(old.changed)
		r.events.append(evs)
		return noWait
	}
	if r.closed {
		r.staged = r.cur.Load()
		return func() error { return ErrClosed }
	}
	if r.pending == nil {
		r.pending = &batch{done: make(chan struct{})}
		select {
		case r.commitc <- struct{}{}:
		default:
		}
	}
	r.pending.ops = append(r.pending.ops, ops...)
	r.pending.events = append(r.pending.events, evs...)
	r.pending.snap = r.staged
	return r.pending.wait
}

// committed returns a function that waits until every write staged so far is
// visible: a write that changes nothing must not return before the write it
// repeats. The caller holds r.mu.
func (r *Registry) committed() func() error {
	if r.pending == nil {
		return noWait
	}
	return r.pending.wait
}

func noWait() error { return nil }
