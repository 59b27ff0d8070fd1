package registry

import (
	"fmt"
	"time"
)

// Start runs lease expiry in the background until Stop.
func (r *Registry) Start() {
	r.startOnce.Do(func() {
		// Read under the lock: Configure may rewrite r.cfg concurrently.
		r.mu.Lock()
		interval := r.cfg.SweepInterval
		r.mu.Unlock()
		if r.shared != nil {
			r.startShared()
		}
		go r.loop(interval)
	})
}

// Stop ends lease expiry and waits for it to return; a registry with a data
// directory commits what is pending and closes its file. It is safe to call
// more than once, and without Start.
func (r *Registry) Stop() {
	first := false
	r.stopOnce.Do(func() { close(r.stopc); first = true })
	// Without Start, no loop will ever close donec: close it here, which also
	// keeps a later Start from running one. Every Stop then waits on donec.
	r.startOnce.Do(func() { close(r.donec) })
	<-r.donec
	if r.shared != nil && first {
		r.stopShared()
	}
	if r.store == nil {
		return
	}
	<-r.committerDone
	if first {
		if err := r.store.close(); err != nil {
			r.cfg.Logger.Warningf("closing %s: %v", r.store.path, err)
		}
	}
}

func (r *Registry) loop(interval time.Duration) {
	defer close(r.donec)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-r.stopc:
			return
		case <-t.C:
			r.Sweep()
		}
	}
}

// Sweep runs one round of lease expiry at the current time: leases past their
// deadline turn their instance critical, and instances critical for longer
// than DeregisterAfter are removed. Its cost is proportional to the leases
// that fall due, not to the leases that exist.
//
// When more than the self-preservation share of leases has run out within
// the window (the longest lease TTL), nothing expires: that many sidecars
// going quiet is taken for a network fault between them and the server, not
// for everything dying. The instances that ran out within the window are
// served again, and expiry resumes by itself once enough heartbeats come
// back; see lessor for the rule.
func (r *Registry) Sweep() {
	wait, remove := r.sweep()
	if err := wait(); err != nil {
		r.cfg.Logger.Warningf("lease expiry: %v", err)
	}
	if len(remove) > 0 {
		r.removeExpired(remove)
	}
}

// sweep runs expiry and returns a function that waits for its changes, and
// for a shared registry the instances to remove through etcd.
func (r *Registry) sweep() (wait func() error, remove []key) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()
	p := preservation{share: r.cfg.SelfPreservation, min: r.cfg.SelfPreservationMin}
	res := r.leases.sweep(now, p, r.cfg.DeregisterAfter)
	r.logPreservation(res)
	if r.shared != nil {
		remove, res.removed = res.removed, nil
	}
	if len(res.expired) == 0 && len(res.removed) == 0 && len(res.restored) == 0 {
		return noWait, remove
	}
	b := newBuilder(r.staged)
	var ops []op
	b.because("", "self-preservation: served again while lease expiry is paused")
	for _, k := range res.restored {
		h := Passing
		if r.shared != nil {
			h = r.reportedHealth(k)
		}
		if in, ok := lookup(b.next, k.service, k.id); ok && in.Health != h {
			ops = append(ops, putOp(b.setHealth(in, h))) // no longer expired on disk
		}
	}
	for _, k := range res.expired {
		if in, ok := lookup(b.next, k.service, k.id); ok && in.Health != Critical {
			b.because(EventExpired, "lease ran out: no heartbeat within its TTL of "+in.TTL.String())
			ops = append(ops, putExpiredOp(b.setHealth(in, Critical), now))
			r.lapsed(k, in.Health, Critical, false, r.lastRenewal(k), now)
		}
	}
	b.because("", "critical for longer than deregister-after ("+r.cfg.DeregisterAfter.String()+")")
	for _, k := range res.removed {
		b.removeInstance(k.service, k.id)
		ops = append(ops, deleteOp(k.service, k.id))
	}
	r.logExpiry(res)
	return r.apply(b, ops...), remove
}

func (r *Registry) logPreservation(res sweepResult) {
	total, window := r.leases.len(), r.leases.window()
	switch {
	case res.on:
		r.preserving.Store(true)
		r.cfg.Logger.Warningf("self-preservation on: %d of %d leases ran out within %s, more than the share of %g; "+
			"expiry paused until heartbeats return, %d instance(s) that had turned critical are served again",
			res.out, total, window, r.cfg.SelfPreservation, len(res.restored))
		r.emit(Event{Time: r.cfg.Now(), Type: EventPreservationOn, Reason: fmt.Sprintf(
			"%d of %d leases ran out within %s, more than the share of %g: expiry paused until heartbeats return",
			res.out, total, window, r.cfg.SelfPreservation)})
	case res.off:
		r.preserving.Store(false)
		r.cfg.Logger.Infof("self-preservation off: heartbeats returned, %d of %d leases still out get a fresh lease; expiry resumed",
			res.out, total)
		r.emit(Event{Time: r.cfg.Now(), Type: EventPreservationOff, Reason: fmt.Sprintf(
			"heartbeats returned: %d of %d leases still out get a fresh lease; expiry resumed", res.out, total)})
	}
}

func (r *Registry) logExpiry(res sweepResult) {
	for i, k := range res.expired {
		if i == maxLoggedKeys {
			r.cfg.Logger.Infof("... and %d more lease(s) ran out", len(res.expired)-i)
			break
		}
		r.cfg.Logger.Infof("lease of instance %s of service %s ran out, instance now critical", k.id, k.service)
	}
	for i, k := range res.removed {
		if i == maxLoggedKeys {
			r.cfg.Logger.Infof("... and %d more instance(s) deregistered", len(res.removed)-i)
			break
		}
		r.cfg.Logger.Infof("instance %s of service %s deregistered after being critical for %s", k.id, k.service, r.cfg.DeregisterAfter)
	}
}

// maxLoggedKeys bounds the instances named in the log lines of one sweep.
const maxLoggedKeys = 10
