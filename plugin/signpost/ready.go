package signpost

// Ready implements the ready.Readiness interface: the plugin answers as soon
// as its registry is loaded, which setup does before the server starts.
func (sp *Signpost) Ready() bool { return sp.reg != nil }
