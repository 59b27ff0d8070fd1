package signpost

// Ready implements the ready.Readiness interface: the plugin is ready once
// its registry is loaded, which setup does before the server starts, and,
// for a registry shared through etcd, while etcd is connected.
func (sp *Signpost) Ready() bool { return sp.reg != nil && sp.reg.Ready() }
