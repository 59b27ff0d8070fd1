package registry

// RegisterStarting is Register with the health the instance starts in, as a
// Consul check's Status declares it: the registration and its health are
// one write, so no snapshot, DNS answer or replica ever holds the instance
// in another health first. On a shared registry the health is in the etcd
// record that registers the instance, which every server applies as one
// change. A data directory keeps the health of an instance with a lease
// and no probe, as for reports: after a restart it is in the health it
// was registered or last reported in.
//
// An instance with a lease starts in initial with a fresh lease (Register
// starts it passing). One with an active check starts in initial until its
// first probe decides (Register starts it critical), unless it replaces an
// instance with the same check on the same address and port, whose probe
// keeps running and whose health it keeps. An instance with neither is
// passing: nothing would ever change its health.
func (r *Registry) RegisterStarting(in Instance, initial Health) (Instance, error) {
	return r.registerStarting(in, &initial)
}

// leaseHealth is the health an instance with a lease is registered in.
func leaseHealth(initial *Health) Health {
	if initial != nil {
		return *initial
	}
	return Passing
}
