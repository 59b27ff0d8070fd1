package registry

import (
	"sync"
	"sync/atomic"
)

// checkOutputs keeps the last output of each instance's check, as its
// sidecar reported it or as the probe that last turned its health gave it
// (masked), for reads that show a check's output, such as Consul's. Only
// instances with an output have an entry: the others cost nothing. An
// entry is for one registration of its instance (its CreateIndex), and goes
// with the instance.
type checkOutputs struct {
	used atomic.Bool // any entry was ever set: writes skip the clean-up until then
	m    sync.Map    // key -> checkOutput
}

type checkOutput struct {
	create uint64
	text   string
}

// CheckOutput returns the last output of in's check: what its sidecar last
// reported with its health, or what the probe that last turned its health
// said. Empty when there is none.
func (r *Registry) CheckOutput(in Instance) string {
	if !r.outputs.used.Load() {
		return ""
	}
	v, ok := r.outputs.m.Load(key{in.Service, in.ID})
	if !ok {
		return ""
	}
	o := v.(checkOutput)
	if o.create != in.CreateIndex {
		return "" // from an earlier registration of the same id
	}
	return o.text
}

// setOutput keeps text as the output of in's check; empty clears it.
func (r *Registry) setOutput(in *Instance, text string) {
	k := key{in.Service, in.ID}
	if text == "" {
		if r.outputs.used.Load() {
			r.outputs.m.Delete(k)
		}
		return
	}
	r.outputs.used.Store(true)
	r.outputs.m.Store(k, checkOutput{create: in.CreateIndex, text: text})
}

// dropOutputs forgets the outputs of the instances that b removes or
// registers anew.
func (r *Registry) dropOutputs(b *builder) {
	if !r.outputs.used.Load() {
		return
	}
	for _, ch := range b.changes.list {
		if ch.new == nil || ch.old == nil || ch.new.CreateIndex != ch.old.CreateIndex {
			r.outputs.m.Delete(ch.k)
		}
	}
}
