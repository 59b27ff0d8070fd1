package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/signpost-dns/signpost/registry"
)

// Consul names services, tags and instances with any string; Signpost with
// DNS labels, so that each can be asked for in DNS. A Consul name maps to
// the label it is when lowercased (Consul itself matches service names and
// ids without regard to case), and a name that is no label then is refused
// with the rule it breaks.

// consulLabel returns s lowercased, checked to be a DNS label. field names
// it in the error, as the Consul body spells it.
func consulLabel(field, s string) (string, error) {
	label := strings.ToLower(s)
	if err := registry.ValidateLabel(field, label); err != nil {
		fe := err.(*registry.FieldError)
		return "", &registry.FieldError{Field: field, Value: s, Reason: fe.Reason +
			": Signpost serves every service, tag and instance id as a DNS label (RFC 1123), lowercased"}
	}
	return label, nil
}

// A Consul service ID names one instance on its agent; a Signpost instance
// id names one within its service. An instance's Consul ID is its id, or
// "<service>:<id>" when another service has an instance with the same id
// (only possible for instances registered through Signpost's own API or
// the Corefile): a colon is in no label, so the qualified form is never
// ambiguous, and it is accepted wherever an ID is.

// consulRef is an instance as a Consul ID names it.
type consulRef struct{ service, id string }

// parseConsulID reads a Consul ID: "<id>" or "<service>:<id>".
func parseConsulID(s string) (consulRef, error) {
	s = strings.ToLower(s)
	service, id, qualified := strings.Cut(s, ":")
	if !qualified {
		service, id = "", s
	} else if err := registry.ValidateLabel("service", service); err != nil {
		return consulRef{}, err
	}
	if err := registry.ValidateLabel("id", id); err != nil {
		return consulRef{}, err
	}
	return consulRef{service, id}, nil
}

// errUnknownService is Consul's answer for an ID that names no instance.
func errUnknownService(id string) error {
	return &statusError{http.StatusNotFound, fmt.Sprintf("Unknown service ID %q. Ensure that the service ID is passed, not the service name.", id)}
}

// resolve finds the instance a Consul ID names in snap.
func (c *consul) resolve(snap *registry.Snapshot, consulID string) (registry.Instance, error) {
	ref, err := parseConsulID(consulID)
	if err != nil {
		return registry.Instance{}, errUnknownService(consulID)
	}
	if ref.service != "" {
		if svc := snap.Service(ref.service); svc != nil {
			if in, ok := svc.Instance(ref.id); ok {
				return in, nil
			}
		}
		return registry.Instance{}, errUnknownService(consulID)
	}
	found := c.index(snap).byID[ref.id]
	switch len(found) {
	case 0:
		return registry.Instance{}, errUnknownService(consulID)
	case 1:
		return lookupRef(snap, found[0])
	}
	names := make([]string, len(found))
	for i, r := range found {
		names[i] = r.service + ":" + r.id
	}
	return registry.Instance{}, &statusError{http.StatusConflict, fmt.Sprintf(
		"service ID %q names instances of several services: ask for one of %s", consulID, strings.Join(names, ", "))}
}

func lookupRef(snap *registry.Snapshot, r consulRef) (registry.Instance, error) {
	if svc := snap.Service(r.service); svc != nil {
		if in, ok := svc.Instance(r.id); ok {
			return in, nil
		}
	}
	return registry.Instance{}, errUnknownService(r.id) // not reached: the index is of snap
}

// snapIndex is what the Consul view needs of one snapshot beyond what the
// snapshot indexes itself: the instances by id (a Consul ID names an
// instance without its service), by custom check ID, and the tags of each
// service. It is built at the first read of a snapshot that needs it and
// kept for the reads after it: a TTL check update that changes nothing
// leaves the snapshot as it is, and a client that follows the catalog reads
// every service after each change.
type snapIndex struct {
	snap    *registry.Snapshot
	byID    map[string][]consulRef
	byCheck map[string][]consulRef
	tags    map[string][]string // service -> its instances' tags, sorted, once each
}

// index returns the snapIndex of snap, building it if it is not the one
// kept. Readers of one snapshot wait for one build rather than each making
// its own.
func (c *consul) index(snap *registry.Snapshot) *snapIndex {
	if x := c.idx.Load(); x != nil && x.snap == snap {
		return x
	}
	c.idxMu.Lock()
	defer c.idxMu.Unlock()
	if x := c.idx.Load(); x != nil && x.snap == snap {
		return x
	}
	x := buildIndex(snap)
	c.idx.Store(x)
	return x
}

func buildIndex(snap *registry.Snapshot) *snapIndex {
	x := &snapIndex{
		snap: snap, byID: make(map[string][]consulRef), byCheck: make(map[string][]consulRef),
		tags: make(map[string][]string, snap.Len()),
	}
	for _, svc := range snap.Services() {
		tags := []string{}
		for _, in := range svc.Instances() {
			r := consulRef{in.Service, in.ID}
			x.byID[in.ID] = append(x.byID[in.ID], r)
			if id := in.Meta[metaCheckID]; id != "" {
				x.byCheck[id] = append(x.byCheck[id], r)
			}
			tags = append(tags, in.Tags...)
		}
		if svc.Len() > 0 {
			slices.Sort(tags)
			x.tags[svc.Name()] = slices.Compact(tags)
		}
	}
	return x
}

// consulIDs returns every instance of snap, in the order of services and
// ids, with its Consul ID.
func (c *consul) consulIDs(snap *registry.Snapshot) ([]registry.Instance, []string) {
	x := c.index(snap)
	var all []registry.Instance
	var ids []string
	for _, svc := range snap.Services() {
		for _, in := range svc.Instances() {
			all = append(all, in)
			ids = append(ids, consulIDIn(in, len(x.byID[in.ID]) > 1))
		}
	}
	return all, ids
}

func consulIDIn(in registry.Instance, shared bool) string {
	if shared {
		return in.Service + ":" + in.ID
	}
	return in.ID
}

// consulID returns the Consul ID of one instance of snap.
func (c *consul) consulID(snap *registry.Snapshot, in registry.Instance) string {
	return consulIDIn(in, len(c.index(snap).byID[in.ID]) > 1)
}

// A Consul check ID is the CheckID its registration gave, kept in the
// instance's meta, else "service:<ID>": Signpost keeps one check per
// instance, a TTL lease or an active check, and Consul numbers the checks of
// a service (":1", ":2") only when it has several.

// hasConsulCheck reports whether an instance shows a check in the Consul
// view: one with a lease or an active check, or whose health is not
// passing. Others are always passing, as a Consul service without checks.
func hasConsulCheck(in registry.Instance) bool {
	return in.TTL > 0 || in.Check != "" || in.Health != registry.Passing
}

// checkIDOf returns the Consul check ID of an instance with the given
// Consul ID.
func checkIDOf(in registry.Instance, consulID string) string {
	if id := in.Meta[metaCheckID]; id != "" {
		return id
	}
	return "service:" + consulID
}

// errUnknownCheck is Consul's answer for a check ID that names no check.
func errUnknownCheck(checkID string) error {
	return &statusError{http.StatusNotFound, fmt.Sprintf("Unknown check ID %q", checkID)}
}

// resolveCheck finds the instance whose check a Consul check ID names.
func (c *consul) resolveCheck(snap *registry.Snapshot, checkID string) (registry.Instance, error) {
	for _, consulID := range checkCandidates(checkID) {
		in, err := c.resolve(snap, consulID)
		if err == nil && hasConsulCheck(in) && checkIDOf(in, consulID) == checkID {
			return in, nil
		}
	}
	// A CheckID the registration gave, kept in meta.
	if found := c.index(snap).byCheck[checkID]; len(found) == 1 {
		return lookupRef(snap, found[0])
	}
	return registry.Instance{}, errUnknownCheck(checkID)
}

// checkCandidates returns the Consul ID that a check ID of the default
// form "service:<ID>" names.
func checkCandidates(checkID string) []string {
	if rest, ok := strings.CutPrefix(checkID, "service:"); ok {
		return []string{rest}
	}
	return nil
}
