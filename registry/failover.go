package registry

// Healthy returns how many instances of the service a query for its names
// may be answered with: passing ones, and warning ones too when
// serveWarning is true, restricted to those carrying tag unless tag is
// empty. Without a tag it reads the service's counts; with one it looks at
// each instance, allocating nothing.
func (s *Service) Healthy(tag string, serveWarning bool) int {
	if s == nil {
		return 0
	}
	if tag == "" {
		n := int(s.counts[Passing])
		if serveWarning {
			n += int(s.counts[Warning])
		}
		return n
	}
	n := 0
	for _, in := range s.instances {
		if in.servable(tag, serveWarning) {
			n++
		}
	}
	return n
}

// servable reports whether a query for the names of in's service with tag
// (none when empty) may be answered with in: the one test of Select and
// Healthy.
func (in *Instance) servable(tag string, serveWarning bool) bool {
	if in.Health == Critical || (in.Health == Warning && !serveWarning) {
		return false
	}
	return tag == "" || in.HasTag(tag)
}

// FailingOver reports whether the service's names, restricted to the
// instances carrying tag unless tag is empty, answer with its failover
// target instead of its instances: one is set and fewer than min-healthy of
// those instances are healthy (passing, and warning too when serveWarning
// is true). A tag name of a service below min-healthy among the instances
// with that tag fails over even when other instances are healthy.
//
// This is the one rule: DNS answers, explain and the event log all ask it.
func (s *Service) FailingOver(tag string, serveWarning bool) bool {
	if s == nil || s.config == nil || !s.config.Failover.IsSet() {
		return false
	}
	return s.Healthy(tag, serveWarning) < s.config.MinHealthy
}
