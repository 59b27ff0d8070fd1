package registry

import (
	"slices"
	"strings"
)

// setInstances inserts or replaces the instances ins, all of service
// service and each with a different ID, in one rebuild of the service:
// the same result as one setInstance per instance, with the service's
// list merged once rather than copied per instance, so that loading n
// instances into one service costs O(n log n), not O(n²).
func (b *builder) setInstances(service string, ins []Instance) {
	if len(ins) == 0 {
		return
	}
	if len(ins) == 1 {
		b.setInstance(ins[0])
		return
	}
	svc := b.service(service)
	var list []*Instance
	var tags []tagCount
	if svc != nil {
		list = svc.instances
		tags = slices.Clone(svc.tags)
	}
	add := make([]*Instance, len(ins))
	for i := range ins {
		in := ins[i]
		in.ModifyIndex = b.next.index
		in.CreateIndex = b.next.index
		add[i] = &in
	}
	slices.SortFunc(add, func(x, y *Instance) int { return strings.Compare(x.ID, y.ID) })

	next := make([]*Instance, 0, len(list)+len(add))
	i := 0
	for _, in := range add {
		for i < len(list) && list[i].ID < in.ID {
			next = append(next, list[i])
			i++
		}
		var old *Instance
		if i < len(list) && list[i].ID == in.ID {
			old = list[i]
			in.CreateIndex = old.CreateIndex
			i++
		}
		next = append(next, in)
		if old == nil || old.Address != in.Address {
			if old != nil {
				b.ref(old.Address, -1)
			}
			b.ref(in.Address, +1)
		}
		if old == nil || !slices.Equal(old.Tags, in.Tags) {
			if old != nil {
				tags = addTags(tags, old.Tags, -1, true)
			}
			tags = addTags(tags, in.Tags, +1, true)
		}
		b.changes.noteInstance(key{service, in.ID}, old, in)
	}
	next = append(next, list[i:]...)
	b.put(service, rebuild(service, svc.configPtr(), next, tags, b.next.index))
}

// removeInstancesFunc deletes the instances of service for which drop
// reports true, in one rebuild of the service.
func (b *builder) removeInstancesFunc(service string, drop func(*Instance) bool) {
	svc := b.service(service)
	if svc == nil {
		return
	}
	var next []*Instance
	tags := svc.tags
	owned := false
	for i, in := range svc.instances {
		if !drop(in) {
			if next != nil {
				next = append(next, in)
			}
			continue
		}
		if next == nil {
			next = make([]*Instance, i, len(svc.instances))
			copy(next, svc.instances[:i])
		}
		b.changes.noteInstance(key{service, in.ID}, in, nil)
		b.ref(in.Address, -1)
		tags = addTags(tags, in.Tags, -1, owned)
		owned = owned || len(in.Tags) > 0
	}
	if next == nil {
		return
	}
	b.put(service, rebuild(service, svc.configPtr(), next, tags, b.next.index))
}
