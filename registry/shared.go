package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// A shared registry keeps the whole registry in memory, as any other, but
// its source of truth is etcd: every write goes to etcd first and is
// acknowledged once etcd has committed it and this registry's own snapshot
// holds it; the snapshot changes only by applying etcd's stream of changes,
// the server's own and those of every other server, in revision order. Reads
// never touch etcd.
//
// Lease expiry happens in etcd. A lease key that goes away is a lease that
// ran out; self-preservation judges those the same way as in a single server
// (a window of the longest TTL), so that a fault between the sidecars and
// etcd does not empty the answers. Corefile services stay local to each
// server: every server declares and probes its own.

// shared is the state of a registry on a shared backend.
type shared struct {
	store *etcdStore

	loaded  atomic.Bool
	applied revision // the newest etcd revision the snapshot holds

	// Guarded by the registry's mutex: the record revision of each API
	// instance, for conditional updates, and the health that an instance's
	// own reports set, for leases that hold.
	mods     map[key]int64
	reported map[key]Health

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// sharedRecord is an instance as etcd stores it: the data directory's
// record and its health.
type sharedRecord struct {
	record
	Health Health `json:"health"`
	// Output is why the instance has its health, as its probe or its
	// sidecar said: every server's event log gives the same reason.
	Output string `json:"output,omitempty"`
}

// farFuture stands for the deadline of a lease that etcd holds: the local
// lessor never lets it fall due; only its key going away does. (Deadlines
// are Unix nanoseconds, which end in 2262.)
var farFuture = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)

// OpenEtcd returns a registry shared through etcd, loaded with what etcd
// holds. It fails when etcd cannot be reached within the dial timeout: a
// server must not answer from an empty registry. Call Start to follow etcd's
// changes and run expiry, and Stop to close the connection.
func OpenEtcd(ecfg EtcdConfig, cfg Config) (*Registry, error) {
	st, err := openEtcd(ecfg)
	if err != nil {
		return nil, err
	}
	// Reaching etcd is bounded by the dial timeout; reading a large
	// registry may take longer than that.
	ctx, cancel := context.WithTimeout(context.Background(), etcdDialTimeout)
	defer cancel()
	if _, err := st.cli.Get(ctx, st.prefix, clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil {
		st.close()
		return nil, fmt.Errorf("loading the registry from etcd %v: %w", ecfg.Endpoints, err)
	}
	lctx, lcancel := context.WithTimeout(context.Background(), etcdLoadTimeout)
	defer lcancel()
	changes, rev, err := st.load(lctx)
	if err != nil {
		st.close()
		return nil, fmt.Errorf("loading the registry from etcd %v: %w", ecfg.Endpoints, err)
	}
	r := New(cfg)
	r.shared = &shared{store: st, mods: make(map[key]int64), reported: make(map[key]Health)}
	r.resetShared(changes, rev)
	return r, nil
}

// startShared follows etcd's changes and takes part in the probe elections
// until Stop.
func (r *Registry) startShared() {
	sh := r.shared
	ctx, cancel := context.WithCancel(context.Background())
	sh.cancel = cancel
	logf := r.cfg.Logger.Warningf
	sh.wg.Go(func() { sh.store.sync(ctx, sh.applied.get(), r.resetShared, r.applyShared, logf) })
	sh.wg.Go(func() { sh.store.campaign(ctx, r.touch, logf) })
}

func (r *Registry) stopShared() {
	sh := r.shared
	if sh.cancel != nil {
		sh.cancel()
	}
	sh.wg.Wait()
	if err := sh.store.close(); err != nil {
		r.cfg.Logger.Warningf("closing the etcd client: %v", err)
	}
}

// Ready reports whether the registry can be served: always for one in
// memory or a data directory; for a shared one, once it has loaded and while
// it is connected to etcd.
func (r *Registry) Ready() bool {
	if r.shared == nil {
		return true
	}
	return r.shared.loaded.Load() && r.shared.store.connected()
}

// Shared reports whether the registry is shared through etcd, and if so
// whether it is connected.
func (r *Registry) Shared() (shared, connected bool) {
	if r.shared == nil {
		return false, false
	}
	return true, r.shared.store.connected()
}

// Probes reports whether this server runs the active checks of the API
// instances of service: always, unless the registry is shared, where one
// server at a time probes each service.
func (r *Registry) Probes(service string) bool {
	return r.shared == nil || r.shared.store.owns(service)
}

// touch publishes a snapshot that changes nothing but the index, to wake
// whoever waits on the registry (the checker, when probe shards move).
func (r *Registry) touch() {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := newBuilder(r.staged)
	b.dirty = true
	r.apply(b)
}

// resetShared replaces every API instance with the ones etcd holds at rev.
func (r *Registry) resetShared(changes []change, rev int64) {
	r.mu.Lock()
	b := newBuilder(r.staged)
	if !r.shared.loaded.Load() {
		b.quiet() // the load at start is no transition
	}
	for _, svc := range r.staged.Services() {
		for _, in := range svc.instances {
			if in.Source == SourceAPI {
				b.removeInstance(in.Service, in.ID)
			}
		}
	}
	r.leases = newLessor()
	r.preserving.Store(false)
	clear(r.shared.mods)
	clear(r.shared.reported)
	r.applyChanges(b, changes, rev)
	r.mu.Unlock()
	r.shared.loaded.Store(true)
	r.shared.applied.advance(rev)
}

// applyShared applies one batch of etcd's changes, all at revision rev. A
// batch without registry keys (elections, progress notices) changes no
// snapshot, so that answers packed for the current one stay valid.
func (r *Registry) applyShared(changes []change, rev int64) {
	if len(changes) == 0 {
		r.shared.applied.advance(rev)
		return
	}
	r.mu.Lock()
	r.applyChanges(newBuilder(r.staged), changes, rev)
	r.mu.Unlock()
	r.shared.applied.advance(rev)
}

// applyChanges applies changes to b and publishes it. The caller holds r.mu.
func (r *Registry) applyChanges(b *builder, changes []change, rev int64) {
	b.next.index = max(b.next.index, uint64(rev))
	now := r.cfg.Now()
	for _, c := range changes {
		if err := r.applyChange(b, c, now); err != nil {
			r.cfg.Logger.Warningf("etcd: instance %s of service %s: %v; ignored", c.key.id, c.key.service, err)
		}
	}
	b.dirty = true // the index moves with etcd's revision
	r.apply(b)
}

func (r *Registry) applyChange(b *builder, c change, now time.Time) error {
	sh := r.shared
	if old, ok := lookup(b.next, c.key.service, c.key.id); ok && old.Source == SourceCorefile {
		return nil // the Corefile's own instance of that name wins here
	}
	switch c.kind {
	case instancePut:
		var rec sharedRecord
		if err := json.Unmarshal(c.value, &rec); err != nil {
			return fmt.Errorf("undecodable record: %w", err)
		}
		in, err := rec.instance([]byte(recordKey(c.key.service, c.key.id)))
		if err != nil {
			return err
		}
		sh.mods[c.key] = c.mod
		in.Health = rec.Health
		b.because("", rec.Output)
		if in.TTL > 0 {
			r.setReported(c.key, rec.Health)
			if l, ok := r.leases.get(c.key); !ok {
				r.leases.grantExpired(c.key, in.TTL, now) // its lease key follows, or it ran out
				in.Health = Critical
			} else if l.state == leaseExpired {
				in.Health = Critical
			}
		} else {
			r.leases.revoke(c.key)
			delete(sh.reported, c.key)
		}
		b.setInstance(in)
	case instanceDelete:
		r.leases.revoke(c.key)
		delete(sh.mods, c.key)
		delete(sh.reported, c.key)
		b.because("", "deregistered")
		b.removeInstance(c.key.service, c.key.id)
	case leasePut:
		in, ok := lookup(b.next, c.key.service, c.key.id)
		if !ok || in.TTL == 0 {
			return nil
		}
		r.leases.renewTo(c.key, in.TTL, farFuture)
		if _, existed := lookup(b.base, c.key.service, c.key.id); existed {
			// Else its lease comes with its registration, the event's cause.
			b.because("", "heartbeat renewed the lease")
		}
		if h := r.reportedHealth(c.key); in.Health != h {
			b.setHealth(in, h)
		}
	case leaseDelete:
		r.leases.lapse(c.key, now) // the next sweep decides, with self-preservation
	}
	return nil
}

func (r *Registry) setReported(k key, h Health) {
	if h == Passing {
		delete(r.shared.reported, k)
	} else {
		r.shared.reported[k] = h
	}
}

func (r *Registry) reportedHealth(k key) Health {
	if h, ok := r.shared.reported[k]; ok {
		return h
	}
	return Passing
}

// waitApplied waits until the snapshot holds etcd revision rev, as it does
// once the watch has delivered the write that returned rev.
func (r *Registry) waitApplied(rev int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), etcdTimeout+etcdDialTimeout)
	defer cancel()
	if err := r.shared.applied.wait(ctx, rev); err != nil {
		return fmt.Errorf("%w: the write was committed, but this server did not see it within %s", ErrUnavailable, etcdTimeout+etcdDialTimeout)
	}
	return nil
}

// encodeShared returns the record etcd stores for in, with the output that
// explains its health, if any.
func encodeShared(in *Instance, output string) []byte {
	var rec sharedRecord
	if err := json.Unmarshal(putOp(in).value, &rec.record); err != nil {
		panic(err) // putOp wrote it
	}
	rec.Health, rec.Output = in.Health, output
	b, err := json.Marshal(rec)
	if err != nil {
		panic(err)
	}
	return b
}

// registerShared is Register on a shared registry.
func (r *Registry) registerShared(in Instance, initial *Health) (Instance, error) {
	k := key{in.Service, in.ID}
	r.mu.Lock()
	old, exists := lookup(r.staged, in.Service, in.ID)
	if exists && old.Source != in.Source {
		r.mu.Unlock()
		return Instance{}, fmt.Errorf("instance %s of service %s %w", in.ID, in.Service, ErrStatic)
	}
	switch {
	case in.TTL > 0:
		in.Health = leaseHealth(initial)
	case in.Check != "":
		in.Health = initialHealth(old, in, initial)
	default:
		in.Health = Passing
	}
	same := exists && sameInstance(old, &in)
	r.mu.Unlock()
	if same && in.TTL == 0 {
		return *old, nil
	}
	if same {
		if _, ok, err := r.shared.store.renew(k); err != nil || ok {
			return *old, err // renewed: nothing else to write
		}
	}
	prevLease, hadLease := r.shared.store.leaseOf(k)
	rev, err := r.shared.store.put(k, encodeShared(&in, registerReason(false)), in.TTL)
	if err != nil {
		return Instance{}, err
	}
	if hadLease {
		r.shared.store.revokeLease(prevLease)
	}
	return r.afterWrite(k, rev)
}

// afterWrite waits for the write at rev and returns the instance as the
// snapshot then holds it.
func (r *Registry) afterWrite(k key, rev int64) (Instance, error) {
	if err := r.waitApplied(rev); err != nil {
		return Instance{}, err
	}
	in, ok := lookup(r.Snapshot(), k.service, k.id)
	if !ok {
		return Instance{}, fmt.Errorf("instance %s of service %s %w", k.id, k.service, ErrNotFound)
	}
	return *in, nil
}

// deregisterShared is Deregister on a shared registry.
func (r *Registry) deregisterShared(service, id string) error {
	r.mu.Lock()
	old, ok := lookup(r.staged, service, id)
	r.mu.Unlock()
	if ok && old.Source == SourceCorefile {
		return fmt.Errorf("instance %s of service %s %w", id, service, ErrStatic)
	}
	rev, found, err := r.shared.store.remove(key{service, id}, 0)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("instance %s of service %s %w", id, service, ErrNotFound)
	}
	return r.waitApplied(rev)
}

// reportShared is Report on a shared registry: the lease is kept alive in
// etcd, with no raft write, and only a change of health is written.
func (r *Registry) reportShared(service, id string, h Health, output string) (Instance, time.Time, error) {
	k := key{service, id}
	cur, ok := r.sharedLookup(k)
	switch {
	case !ok:
		return Instance{}, time.Time{}, fmt.Errorf("instance %s of service %s %w", id, service, ErrNotFound)
	case cur.TTL == 0:
		return Instance{}, time.Time{}, fmt.Errorf("instance %s of service %s %w", id, service, ErrNoLease)
	}
	_, alive, err := r.shared.store.renew(k)
	if err != nil {
		return Instance{}, time.Time{}, err
	}
	if !alive {
		rev, found, err := r.shared.store.revive(k, cur.TTL)
		if err != nil {
			return Instance{}, time.Time{}, err
		}
		if !found {
			return Instance{}, time.Time{}, fmt.Errorf("instance %s of service %s %w", id, service, ErrNotFound)
		}
		if err := r.waitApplied(rev); err != nil {
			return Instance{}, time.Time{}, err
		}
	}
	// The record carries the reason that every server's event log gives.
	if err := r.writeHealth(k, h, reportReason(h, false, output)); err != nil {
		return Instance{}, time.Time{}, err
	}
	r.setOutput(&cur, output)
	deadline := r.cfg.Now().Add(cur.TTL)
	in2, ok := lookup(r.Snapshot(), service, id)
	if !ok {
		return Instance{}, time.Time{}, fmt.Errorf("instance %s of service %s %w", id, service, ErrNotFound)
	}
	return *in2, deadline, nil
}

// sharedLookup returns an instance from the snapshot, or, when the snapshot
// does not hold it, from etcd once the watch has delivered it: an instance
// registered through another server a moment ago is not unknown here.
func (r *Registry) sharedLookup(k key) (Instance, bool) {
	if in, ok := lookup(r.Snapshot(), k.service, k.id); ok {
		return *in, true
	}
	rev, found, err := r.shared.store.exists(k)
	if err != nil || !found || r.waitApplied(rev) != nil {
		return Instance{}, false
	}
	in, ok := lookup(r.Snapshot(), k.service, k.id)
	if !ok {
		return Instance{}, false
	}
	return *in, true
}

// writeHealth writes the health of an API instance to etcd when it differs
// from what etcd holds, as a report or a probe's transition sets it.
//
// This server's snapshot may lag a write another server just made (the
// watch delivers it a moment later), so a health that looks unchanged is
// checked against etcd as it is now before it is let go: a sidecar that
// reports passing through one server right after another server recorded
// its failure must not leave it critical.
func (r *Registry) writeHealth(k key, h Health, output string) error {
	synced := false
	for tries := 0; tries < 3; { // a concurrent write moved the record: read it again
		r.mu.Lock()
		in, ok := lookup(r.staged, k.service, k.id)
		mod := r.shared.mods[k]
		recorded := Passing
		if ok {
			recorded = in.Health
			if in.TTL > 0 {
				recorded = r.reportedHealth(k)
			}
		}
		var next Instance
		if ok {
			next = *in
		}
		r.mu.Unlock()
		if !ok {
			return fmt.Errorf("instance %s of service %s %w", k.id, k.service, ErrNotFound)
		}
		if recorded == h {
			if synced {
				return nil
			}
			rev, _, err := r.shared.store.exists(k)
			if err != nil {
				return err
			}
			if err := r.waitApplied(rev); err != nil {
				return err
			}
			synced = true
			continue
		}
		next.Health = h
		rev, done, err := r.shared.store.update(k, encodeShared(&next, output), mod)
		if err != nil {
			return err
		}
		if done {
			r.setOutput(&next, output)
			r.logReport(&next, recorded, false, output)
			return r.waitApplied(rev)
		}
		if err := r.waitApplied(rev); err != nil {
			return err
		}
		synced = true
		tries++
	}
	return fmt.Errorf("%w: instance %s of service %s kept changing", ErrUnavailable, k.id, k.service)
}

// restoreShared is RestoreBackup on a shared registry.
func (r *Registry) restoreShared(instances []Instance) error {
	records := make(map[key][]byte, len(instances))
	ttls := make(map[key]time.Duration)
	r.mu.Lock()
	for _, in := range instances {
		if old, ok := lookup(r.staged, in.Service, in.ID); ok && old.Source == SourceCorefile {
			r.cfg.Logger.Warningf("backup: instance %s of service %s is declared in the Corefile, not restored", in.ID, in.Service)
			continue
		}
		k := key{in.Service, in.ID}
		in.Health = Passing
		if in.Check != "" {
			in.Health = Critical
		}
		records[k] = encodeShared(&in, "restored from a backup")
		ttls[k] = in.TTL
	}
	r.mu.Unlock()
	rev, err := r.shared.store.replace(records, ttls)
	if err != nil {
		return err
	}
	return r.waitApplied(rev)
}

// removeExpired deregisters, through etcd, instances whose lease ran out
// deregister-after ago. Every server may try; the record's revision guards
// it, so one succeeds and a revived instance is left alone. One that cannot
// be removed now is tried again deregister-after later.
func (r *Registry) removeExpired(keys []key) {
	for _, k := range keys {
		r.mu.Lock()
		mod := r.shared.mods[k]
		r.mu.Unlock()
		if mod == 0 {
			continue
		}
		if _, _, err := r.shared.store.remove(k, mod); err != nil {
			r.cfg.Logger.Warningf("removing expired instance %s of service %s: %v; trying again later", k.id, k.service, err)
			r.mu.Lock()
			if in, ok := lookup(r.staged, k.service, k.id); ok && in.TTL > 0 {
				if _, has := r.leases.get(k); !has {
					r.leases.grantExpired(k, in.TTL, r.cfg.Now())
				}
			}
			r.mu.Unlock()
		}
	}
}

// revision is the newest etcd revision a registry has applied, with a way
// to wait for one.
type revision struct {
	mu  sync.Mutex
	rev int64
	ch  chan struct{} // closed when rev moves
}

func (v *revision) get() int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.rev
}

func (v *revision) advance(rev int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if rev <= v.rev {
		return
	}
	v.rev = rev
	if v.ch != nil {
		close(v.ch)
		v.ch = nil
	}
}

func (v *revision) wait(ctx context.Context, rev int64) error {
	for {
		v.mu.Lock()
		if v.rev >= rev {
			v.mu.Unlock()
			return nil
		}
		if v.ch == nil {
			v.ch = make(chan struct{})
		}
		ch := v.ch
		v.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
