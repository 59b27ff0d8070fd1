package registry

import "time"

// LeaseInfo is where an instance's heartbeat lease stands, for those who
// explain answers; it changes nothing.
type LeaseInfo struct {
	TTL time.Duration
	// LastRenewal is the last heartbeat (or the registration) that renewed
	// the lease; zero when etcd holds the lease.
	LastRenewal time.Time
	// Deadline is when the lease runs out unless renewed; zero when etcd
	// holds the lease.
	Deadline time.Time
	// Overdue is a lease that went two thirds of its TTL without a renewal:
	// its sidecar missed two heartbeats.
	Overdue bool
	// Held is a lease that fell due while self-preservation pauses expiry:
	// its instance is still served.
	Held bool
	// Expired is a lease that ran out, at ExpiredAt: its instance is
	// critical and is removed deregister-after that moment unless renewed.
	Expired   bool
	ExpiredAt time.Time
	// Shared is a lease that etcd holds: this server learns that it ran out
	// when etcd says so.
	Shared bool
}

// LeaseInfo returns the lease of an instance, and false when it has none.
func (r *Registry) LeaseInfo(service, id string) (LeaseInfo, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.leases.get(key{service, id})
	if !ok {
		return LeaseInfo{}, false
	}
	info := LeaseInfo{TTL: l.ttl, Overdue: l.state == leaseOverdue, Held: l.state == leaseHeld}
	if l.state == leaseExpired {
		info.Expired, info.ExpiredAt = true, time.Unix(0, l.expired)
	}
	if l.deadline == farFuture.UnixNano() {
		info.Shared = true
		return info, true
	}
	info.Deadline = time.Unix(0, l.deadline)
	info.LastRenewal = info.Deadline.Add(-l.ttl)
	return info, true
}

// Lapse is an instance with a heartbeat lease that got worse: its lease ran
// out, or its sidecar reported it warning or critical. It tells how long
// the registry took to find out, from the last heartbeat that still said
// the instance was well.
type Lapse struct {
	Service, ID string
	From, To    Health
	// Reported is true when the sidecar reported the new health; false
	// when the lease ran out.
	Reported bool
	// LastRenewal is the last heartbeat before the lapse (or the
	// registration); At is when the registry turned the instance's health.
	LastRenewal, At time.Time
}

// lapsed tells Config.OnLapse of a lapse of the instance under k, whose
// lease last renewed at lastRenewal. r.mu is held.
func (r *Registry) lapsed(k key, from, to Health, reported bool, lastRenewal, at time.Time) {
	if r.cfg.OnLapse == nil || to <= from || lastRenewal.IsZero() {
		return
	}
	r.cfg.OnLapse(Lapse{Service: k.service, ID: k.id, From: from, To: to, Reported: reported, LastRenewal: lastRenewal, At: at})
}

// lastRenewal returns when the lease of k was last renewed, or zero when
// it has no lease or etcd holds it. r.mu is held.
func (r *Registry) lastRenewal(k key) time.Time {
	l, ok := r.leases.get(k)
	if !ok || l.deadline == farFuture.UnixNano() {
		return time.Time{}
	}
	return time.Unix(0, l.deadline).Add(-l.ttl)
}
