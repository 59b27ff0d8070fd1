package registry

import (
	"net/netip"
	"slices"
	"strings"
)

// Failover is what a service hands over to when fewer than MinHealthy of its
// instances are healthy: either virtual IP addresses or the host name of a
// load balancer. The zero value means no failover.
type Failover struct {
	Addrs []netip.Addr
	// Port is the VIP's port for SRV answers; zero takes the instances'
	// common port.
	Port uint16
	Name string
}

// IsSet reports whether a failover target is configured.
func (f Failover) IsSet() bool { return len(f.Addrs) > 0 || f.Name != "" }

// ServiceConfig is the configuration of a service, apart from its instances.
type ServiceConfig struct {
	Name       string
	Failover   Failover
	MinHealthy int
	Source     Source
}

func (c ServiceConfig) normalize() (ServiceConfig, error) {
	if err := ValidateLabel("service", c.Name); err != nil {
		return c, err
	}
	if c.MinHealthy < 0 {
		return c, &FieldError{Field: "min-healthy", Reason: "must not be negative"}
	}
	if len(c.Failover.Addrs) > 0 && c.Failover.Name != "" {
		return c, &FieldError{Field: "failover", Reason: "takes addresses or a name, not both"}
	}
	addrs := make([]netip.Addr, 0, len(c.Failover.Addrs))
	for _, a := range c.Failover.Addrs {
		if !a.IsValid() || a.Zone() != "" {
			return c, &FieldError{Field: "failover", Value: a.String(), Reason: "must be an IPv4 or IPv6 address"}
		}
		addrs = append(addrs, a.Unmap())
	}
	c.Failover.Addrs = addrs
	if c.Failover.IsSet() && c.MinHealthy == 0 {
		c.MinHealthy = 1
	}
	return c, nil
}

// Service is an immutable view of one service in a Snapshot.
type Service struct {
	name      string
	config    *ServiceConfig // nil for a service with instances only; shared, immutable
	instances []*Instance    // sorted by ID
	tags      []tagCount     // of all instances, sorted by tag
	counts    [Critical + 1]int32
	checks    int32  // instances with an active check
	index     uint64 // change index of the last change to this service
}

// Name returns the service name.
func (s *Service) Name() string { return s.name }

// Config returns the service configuration; the zero value for a service
// that has instances only.
func (s *Service) Config() ServiceConfig {
	if s.config == nil {
		return ServiceConfig{}
	}
	c := *s.config
	c.Failover.Addrs = slices.Clone(c.Failover.Addrs)
	return c
}

// Failover returns the failover target and the minimum count of healthy
// instances below which it is served. The addresses are shared and must not
// be modified; DNS reads them on every failover answer.
func (s *Service) Failover() (Failover, int) {
	if s.config == nil {
		return Failover{}, 0
	}
	return s.config.Failover, s.config.MinHealthy
}

// ModifyIndex is the registry change index of the last change to the service.
func (s *Service) ModifyIndex() uint64 { return s.index }

// Len returns the number of instances, whatever their health.
func (s *Service) Len() int { return len(s.instances) }

// Count returns the number of instances in state h.
func (s *Service) Count(h Health) int { return int(s.counts[h]) }

// HasTag reports whether any instance, whatever its health, carries tag.
func (s *Service) HasTag(tag string) bool {
	_, ok := slices.BinarySearchFunc(s.tags, tag, func(t tagCount, tag string) int { return strings.Compare(t.tag, tag) })
	return ok
}

// Instances returns copies of all instances, sorted by id.
func (s *Service) Instances() []Instance {
	out := make([]Instance, len(s.instances))
	for i, in := range s.instances {
		out[i] = *in
	}
	return out
}

// Instance returns the instance with the given id.
func (s *Service) Instance(id string) (Instance, bool) {
	if i, ok := s.find(id); ok {
		return *s.instances[i], true
	}
	return Instance{}, false
}

// Select appends to dst the instances that may be served: passing ones, and
// warning ones too when warning is true, restricted to those carrying tag
// unless tag is empty. The appended pointers are shared, immutable values:
// callers must not modify them.
func (s *Service) Select(dst []*Instance, tag string, warning bool) []*Instance {
	for _, in := range s.instances {
		if in.servable(tag, warning) {
			dst = append(dst, in)
		}
	}
	return dst
}

// CommonPort returns the port every instance uses, or 0 when they differ or
// there are none.
func (s *Service) CommonPort() uint16 {
	var port uint16
	for _, in := range s.instances {
		if port != 0 && in.Port != port {
			return 0
		}
		port = in.Port
	}
	return port
}

func (s *Service) find(id string) (int, bool) {
	return slices.BinarySearchFunc(s.instances, id, func(in *Instance, id string) int { return strings.Compare(in.ID, id) })
}

// empty reports whether the service may be dropped from the registry: no
// instance and no configuration.
func (s *Service) empty() bool { return len(s.instances) == 0 && s.config == nil }

// rebuild returns a service with the given instances (sorted by id),
// configuration and tag counts, deriving the health counts.
func rebuild(name string, cfg *ServiceConfig, instances []*Instance, tags []tagCount, index uint64) *Service {
	s := &Service{name: name, config: cfg, instances: instances, tags: tags, index: index}
	for _, in := range instances {
		s.counts[in.Health]++
		if in.Check != "" {
			s.checks++
		}
	}
	return s
}

// tagCount is how many instances of a service carry a tag. Keeping counts
// lets a write update the tags of a large service by the tags of the one
// instance it changes, rather than by sorting every instance's again.
type tagCount struct {
	tag string
	n   int32
}

// countTags counts the tags of instances.
func countTags(instances []*Instance) []tagCount {
	var tags []tagCount
	for _, in := range instances {
		tags = addTags(tags, in.Tags, +1, true)
	}
	return tags
}

// addTags returns tags with each of add counted sign more times, dropping
// tags no instance carries any more. It copies tags first unless owned.
func addTags(tags []tagCount, add []string, sign int32, owned bool) []tagCount {
	if len(add) == 0 {
		return tags
	}
	if !owned {
		tags = slices.Clone(tags)
	}
	for _, t := range add {
		i, ok := slices.BinarySearchFunc(tags, t, func(c tagCount, t string) int { return strings.Compare(c.tag, t) })
		switch {
		case ok && tags[i].n+sign == 0:
			tags = slices.Delete(tags, i, i+1)
		case ok:
			tags[i].n += sign
		case sign > 0:
			tags = slices.Insert(tags, i, tagCount{tag: t, n: sign})
		}
	}
	return slices.Clip(tags)
}

// Snapshot is an immutable, consistent view of the registry. A DNS query
// reads one snapshot from start to end and never waits on a writer.
type Snapshot struct {
	index    uint64
	services *table[string, *Service]
	addrs    *table[[16]byte, int32] // by Addr.As16: IPv4 and IPv4-mapped alike
	tagged   *table[string, int32]   // how many services carry each tag
	counts   [Critical + 1]int
	nsvc     int
	changed  chan struct{}
	// checked names the services with instances that carry a check, so
	// that whoever runs probes need not scan every service. Copied on
	// write, which is rare: when a service gains or loses its checks.
	checked map[string]struct{}
}

func emptySnapshot() *Snapshot {
	return &Snapshot{
		services: new(table[string, *Service]),
		addrs:    new(table[[16]byte, int32]),
		tagged:   new(table[string, int32]),
		changed:  make(chan struct{}),
	}
}

// Index is the change index of the snapshot: it grows by one or more with
// every change to the registry.
func (s *Snapshot) Index() uint64 { return s.index }

// Changed returns a channel that is closed when a newer snapshot replaces
// this one.
func (s *Snapshot) Changed() <-chan struct{} { return s.changed }

// Service returns the named service, or nil.
func (s *Snapshot) Service(name string) *Service {
	svc, _ := s.services.get(hashString(name), name)
	return svc
}

// HasAddr reports whether addr belongs to a registered instance or to a
// failover VIP.
func (s *Snapshot) HasAddr(addr netip.Addr) bool {
	k := addr.As16()
	n, _ := s.addrs.get(hashAddr(k), k)
	return n > 0
}

// HasTag reports whether an instance of any service carries tag: the name
// _TAG.<zone> then exists, with _SERVICE._TAG.<zone> below it.
func (s *Snapshot) HasTag(tag string) bool {
	n, _ := s.tagged.get(hashString(tag), tag)
	return n > 0
}

// Services returns every service, sorted by name.
func (s *Snapshot) Services() []*Service {
	out := make([]*Service, 0, s.nsvc)
	s.services.all(func(_ string, svc *Service) { out = append(out, svc) })
	slices.SortFunc(out, func(a, b *Service) int { return strings.Compare(a.name, b.name) })
	return out
}

// Len returns the number of services.
func (s *Snapshot) Len() int { return s.nsvc }

// CheckedServices returns the services with instances that carry a check.
func (s *Snapshot) CheckedServices() []*Service {
	out := make([]*Service, 0, len(s.checked))
	for name := range s.checked {
		out = append(out, s.Service(name))
	}
	return out
}

// Count returns the number of instances in state h across all services.
func (s *Snapshot) Count(h Health) int { return s.counts[h] }

// builder derives the next snapshot from the current one, copying only the
// shards it touches. Address references are counted by the write operations
// themselves, per instance, so that changing one instance of a large service
// touches one address shard, not one per instance.
type builder struct {
	next     *Snapshot
	services *tableWriter[string, *Service]
	addrs    *tableWriter[[16]byte, int32]
	tagged   *tableWriter[string, int32]
	dirty    bool // whether anything was put

	base    *Snapshot // the snapshot b derives from
	changes changeSet // for the event log

	copiedChecked bool
}

func newBuilder(cur *Snapshot) *builder {
	next := *cur
	next.changed = make(chan struct{})
	next.index = cur.index + 1
	b := &builder{
		next: &next, services: newTableWriter(cur.services), addrs: newTableWriter(cur.addrs),
		tagged: newTableWriter(cur.tagged), base: cur,
	}
	return b
}

func (b *builder) service(name string) *Service {
	svc, _ := b.services.t.get(hashString(name), name)
	return svc
}

// put replaces (or with nil, removes) the service named name.
func (b *builder) put(name string, svc *Service) {
	b.dirty = true
	h := hashString(name)
	old, _ := b.services.t.get(h, name)
	if old != nil {
		b.count(old, -1)
		b.next.nsvc--
	}
	if svc != nil && svc.empty() {
		svc = nil
	}
	b.retag(old, svc)
	b.setChecked(name, old != nil && old.checks > 0, svc != nil && svc.checks > 0)
	if svc == nil {
		b.services.delete(h, name)
		b.next.services = b.services.t
		return
	}
	b.services.set(h, name, svc)
	b.next.services = b.services.t
	b.count(svc, +1)
	b.next.nsvc++
}

func (b *builder) setChecked(name string, was, is bool) {
	if was == is {
		return
	}
	if !b.copiedChecked {
		b.next.checked = cloneMap(b.next.checked)
		b.copiedChecked = true
	}
	if is {
		b.next.checked[name] = struct{}{}
	} else {
		delete(b.next.checked, name)
	}
}

func (b *builder) count(svc *Service, sign int) {
	for h, n := range svc.counts {
		b.next.counts[h] += sign * int(n)
	}
}

// retag counts, across services, the tags that a service gained or lost
// when old was replaced by svc (either may be nil).
func (b *builder) retag(old, svc *Service) {
	var was, is []tagCount
	if old != nil {
		was = old.tags
	}
	if svc != nil {
		is = svc.tags
	}
	for i, j := 0, 0; i < len(was) || j < len(is); {
		switch {
		case j == len(is) || (i < len(was) && was[i].tag < is[j].tag):
			b.tag(was[i].tag, -1)
			i++
		case i == len(was) || is[j].tag < was[i].tag:
			b.tag(is[j].tag, +1)
			j++
		default:
			i, j = i+1, j+1
		}
	}
}

func (b *builder) tag(t string, sign int32) {
	h := hashString(t)
	n, _ := b.tagged.t.get(h, t)
	if n += sign; n <= 0 {
		b.tagged.delete(h, t)
	} else {
		b.tagged.set(h, t, n)
	}
	b.next.tagged = b.tagged.t
}

// ref adds sign to the reference count of address a.
func (b *builder) ref(a netip.Addr, sign int32) {
	k := a.As16()
	h := hashAddr(k)
	n, _ := b.addrs.t.get(h, k)
	if n += sign; n <= 0 {
		b.addrs.delete(h, k)
	} else {
		b.addrs.set(h, k, n)
	}
	b.next.addrs = b.addrs.t
}

// setInstance inserts or replaces an instance and returns the stored value.
func (b *builder) setInstance(in Instance) *Instance {
	svc := b.service(in.Service)
	var list []*Instance
	if svc != nil {
		list = svc.instances
	}
	i, found := slices.BinarySearchFunc(list, in.ID, func(x *Instance, id string) int { return strings.Compare(x.ID, id) })
	in.ModifyIndex = b.next.index
	in.CreateIndex = b.next.index
	var tags []tagCount
	if svc != nil {
		tags = svc.tags
	}
	next := make([]*Instance, 0, len(list)+1)
	next = append(next, list[:i]...)
	var old *Instance
	if found {
		old = list[i]
		in.CreateIndex = list[i].CreateIndex
		list = list[i+1:]
	} else {
		list = list[i:]
	}
	stored := &in
	next = append(next, stored)
	next = append(next, list...)
	// A change that keeps the address or the tags leaves their counts as
	// they are, and copies no part of their tables.
	if old == nil || old.Address != in.Address {
		if old != nil {
			b.ref(old.Address, -1)
		}
		b.ref(in.Address, +1)
	}
	if old == nil || !slices.Equal(old.Tags, in.Tags) {
		if old != nil {
			tags = addTags(tags, old.Tags, -1, false)
		}
		tags = addTags(tags, in.Tags, +1, false)
	}
	b.put(in.Service, rebuild(in.Service, svc.configPtr(), next, tags, b.next.index))
	b.changes.noteInstance(key{in.Service, in.ID}, old, stored)
	return stored
}

// setHealth replaces in with a copy in state h and returns the copy.
func (b *builder) setHealth(in *Instance, h Health) *Instance {
	c := *in
	c.Health = h
	return b.setInstance(c)
}

// removeInstance deletes an instance, if present.
func (b *builder) removeInstance(service, id string) {
	svc := b.service(service)
	if svc == nil {
		return
	}
	i, ok := svc.find(id)
	if !ok {
		return
	}
	b.changes.noteInstance(key{service, id}, svc.instances[i], nil)
	b.ref(svc.instances[i].Address, -1)
	tags := addTags(svc.tags, svc.instances[i].Tags, -1, false)
	next := slices.Delete(slices.Clone(svc.instances), i, i+1)
	b.put(service, rebuild(service, svc.configPtr(), next, tags, b.next.index))
}

// setConfig sets (or with nil, drops) the configuration of a service.
func (b *builder) setConfig(name string, cfg *ServiceConfig) {
	svc := b.service(name)
	var list []*Instance
	var tags []tagCount
	if svc != nil {
		list, tags = svc.instances, svc.tags
		if svc.config != nil {
			for _, a := range svc.config.Failover.Addrs {
				b.ref(a, -1)
			}
		}
	}
	if cfg != nil {
		for _, a := range cfg.Failover.Addrs {
			b.ref(a, +1)
		}
	}
	b.put(name, rebuild(name, cfg, list, tags, b.next.index))
	b.changes.noteConfig(name)
}

func (s *Service) configPtr() *ServiceConfig {
	if s == nil {
		return nil
	}
	return s.config
}
