package registry

import "time"

// Start runs lease expiry in the background until Stop.
func (r *Registry) Start() {
	r.startOnce.Do(func() {
		// Read under the lock: Configure may rewrite r.cfg concurrently.
		r.mu.Lock()
		interval := r.cfg.SweepInterval
		r.mu.Unlock()
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
// than DeregisterAfter are removed. When more than the self-preservation
// share of leases would run out in this one round, nothing expires: that
// many sidecars going quiet at once is taken for a network fault between
// them and the server, not for everything dying. Expiry resumes by itself
// once enough heartbeats come back.
func (r *Registry) Sweep() {
	if err := r.sweep()(); err != nil {
		r.cfg.Logger.Warningf("lease expiry: %v", err)
	}
}

func (r *Registry) sweep() (wait func() error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()
	nowNano := now.UnixNano()
	var expiring, removable []key
	for k, l := range r.leases {
		switch {
		case l.expired == 0 && nowNano > l.deadline:
			expiring = append(expiring, k)
		case l.expired != 0 && nowNano-l.expired >= int64(r.cfg.DeregisterAfter):
			removable = append(removable, k)
		}
	}
	if r.mustPreserve(len(expiring), len(r.leases)) {
		if !r.preserving.Swap(true) {
			r.cfg.Logger.Warningf("self-preservation on: %d of %d leases ran out at once, expiry paused until heartbeats return", len(expiring), len(r.leases))
		}
		return noWait
	}
	if r.preserving.Swap(false) {
		r.cfg.Logger.Infof("self-preservation off: %d of %d leases expiring, expiry resumed", len(expiring), len(r.leases))
	}
	if len(expiring) == 0 && len(removable) == 0 {
		return noWait
	}
	b := newBuilder(r.staged)
	var ops []op
	for _, k := range expiring {
		l := r.leases[k]
		l.expired = nowNano
		r.leases[k] = l
		if in, ok := lookup(b.next, k.service, k.id); ok && in.Health != Critical {
			ops = append(ops, putExpiredOp(b.setHealth(in, Critical), now))
		}
	}
	for _, k := range removable {
		delete(r.leases, k)
		b.removeInstance(k.service, k.id)
		ops = append(ops, deleteOp(k.service, k.id))
	}
	wait = r.apply(b, ops...)
	if n := len(expiring); n > 0 {
		r.cfg.Logger.Infof("%d lease(s) ran out, instance(s) now critical", n)
	}
	if n := len(removable); n > 0 {
		r.cfg.Logger.Infof("%d instance(s) deregistered after being critical for %s", n, r.cfg.DeregisterAfter)
	}
	return wait
}

func (r *Registry) mustPreserve(expiring, total int) bool {
	share := r.cfg.SelfPreservation
	if share <= 0 || expiring < r.cfg.SelfPreservationMin {
		return false
	}
	return float64(expiring) > share*float64(total)
}
