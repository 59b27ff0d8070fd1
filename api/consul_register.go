package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/signpost-dns/signpost/registry"
)

// consulRegistration is the body of PUT /v1/agent/service/register, with
// every field Consul's clients send. Fields Signpost cannot honour are kept
// raw, to refuse them when they hold more than their zero value.
type consulRegistration struct {
	ID                string
	Name              string
	Tags              []string
	Address           string
	Port              int64
	Meta              map[string]string
	Weights           *consulWeights
	Check             json.RawMessage // consulCheckDef, decoded strictly on its own
	Checks            []json.RawMessage
	EnableTagOverride bool // anti-entropy with a catalog Signpost has not: nothing to override

	Kind            string
	Namespace       string
	Partition       string
	SocketPath      string
	Ports           json.RawMessage
	TaggedAddresses json.RawMessage
	Proxy           json.RawMessage
	Connect         json.RawMessage
	AI              json.RawMessage
	Locality        json.RawMessage
}

type consulWeights struct {
	Passing int64
	Warning int64
}

// unsupportedFields refuses what Signpost cannot do: Connect, sockets,
// several ports, tagged addresses, namespaces and partitions.
func (b *consulRegistration) unsupportedFields() error {
	switch {
	case b.Kind != "" && b.Kind != "typical":
		return unsupported("Kind", "only typical services are: Connect proxies and gateways are not")
	case b.Namespace != "" && b.Namespace != "default":
		return unsupported("Namespace", "there is only the default namespace")
	case b.Partition != "" && b.Partition != "default":
		return unsupported("Partition", "there is only the default partition")
	case b.SocketPath != "":
		return unsupported("SocketPath", "instances are an IP address and a port")
	}
	raw := []struct {
		name string
		v    json.RawMessage
	}{
		{"Ports", b.Ports}, {"TaggedAddresses", b.TaggedAddresses}, {"Proxy", b.Proxy},
		{"Connect", b.Connect}, {"AI", b.AI}, {"Locality", b.Locality},
	}
	for _, f := range raw {
		if hasValue(f.v) && !isEmptyJSON(f.v) {
			return unsupported(f.name, "Signpost does not serve it")
		}
	}
	return nil
}

func isEmptyJSON(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "{}" || s == "[]" || s == `""` || s == "false"
}

func unsupported(field, why string) error {
	return &registry.FieldError{Field: field, Reason: "is not supported by Signpost's Consul-compatible API: " + why}
}

// consulPlan is a registration mapped onto the registry: the instance and
// the health its check starts with.
type consulPlan struct {
	in registry.Instance
	// initial is the health a check starts in; Consul's default is
	// critical until the first update or probe. A TTL check registered
	// again keeps the health it had, as Consul keeps a check's status (the
	// registry keeps a probed check's health itself).
	initial registry.Health
}

// register serves PUT /v1/agent/service/register.
func (c *consul) register(w http.ResponseWriter, r *http.Request) {
	var body consulRegistration
	if err := decodeBody(w, r, c.h.opts.MaxBodyBytes, &body); err != nil {
		c.h.fail(w, r, err)
		return
	}
	plan, err := c.plan(r, &body)
	if err == nil {
		err = c.conflict(plan.in)
	}
	if err == nil {
		err = c.apply(plan)
	}
	if err != nil {
		c.h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// plan checks a registration and maps it onto an instance. Nothing is
// written yet.
func (c *consul) plan(r *http.Request, b *consulRegistration) (consulPlan, error) {
	var p consulPlan
	if err := b.unsupportedFields(); err != nil {
		return p, err
	}
	if b.Name == "" {
		return p, &registry.FieldError{Field: "Name", Reason: "is required"}
	}
	name, err := consulLabel("Name", b.Name)
	if err != nil {
		return p, err
	}
	id := name // Consul's default
	if b.ID != "" {
		if id, err = consulLabel("ID", b.ID); err != nil {
			return p, err
		}
	}
	in := registry.Instance{Service: name, ID: id, Weight: registry.DefaultWeight, Source: registry.SourceAPI}
	if in.Address, err = c.registrationAddress(r, b.Address); err != nil {
		return p, err
	}
	if b.Port < 1 || b.Port > 65535 {
		return p, &registry.FieldError{Field: "Port", Value: fmt.Sprint(b.Port),
			Reason: "must be between 1 and 65535: Signpost answers SRV queries with every instance's port"}
	}
	in.Port = uint16(b.Port)
	for _, t := range b.Tags {
		tag, err := consulLabel("Tags", t)
		if err != nil {
			return p, err
		}
		in.Tags = append(in.Tags, tag)
	}
	if in.Meta, err = registrationMeta(b.Meta); err != nil {
		return p, err
	}
	if b.Weights != nil {
		if b.Weights.Passing < 1 || b.Weights.Passing > 65535 {
			return p, &registry.FieldError{Field: "Weights", Value: fmt.Sprint(b.Weights.Passing),
				Reason: "Passing must be between 1 and 65535"}
		}
		in.Weight = uint16(b.Weights.Passing)
	}
	p.in = in
	return p, c.planCheck(&p, b)
}

// registrationAddress is the address of a registration: the one it gives,
// an IP, or else the node's, as Consul takes its agent's.
func (c *consul) registrationAddress(r *http.Request, addr string) (netip.Addr, error) {
	if addr == "" {
		return c.nodeAddress(r), nil
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Addr{}, &registry.FieldError{Field: "Address", Value: addr,
			Reason: "must be an IPv4 or IPv6 address: Signpost answers A and AAAA queries with it, and resolves no host names"}
	}
	return a, nil
}

// registrationMeta copies the meta of a registration, refusing the keys
// Consul reserves.
func registrationMeta(meta map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(meta)+3)
	for k, v := range meta {
		if strings.HasPrefix(strings.ToLower(k), consulMetaPrefix) {
			return nil, &registry.FieldError{Field: "Meta", Value: k, Reason: "uses the reserved prefix " + consulMetaPrefix}
		}
		out[k] = v
	}
	return out, nil
}

// conflict refuses an ID that an instance of another service has: a Consul
// ID names one instance (Consul would move it to the new service, which
// would be two writes here, and one could fail).
func (c *consul) conflict(in registry.Instance) error {
	for _, other := range c.index(c.h.reg.Snapshot()).byID[in.ID] {
		if other.service != in.Service {
			return &statusError{http.StatusConflict, fmt.Sprintf(
				"ID %q is taken by an instance of service %q: deregister it first, or give this instance another ID",
				in.ID, other.service)}
		}
	}
	return nil
}

// apply registers the planned instance in the health its check starts in.
func (c *consul) apply(p consulPlan) error {
	snap := c.h.reg.Snapshot()
	if svc := snap.Service(p.in.Service); svc != nil && p.in.TTL > 0 {
		if old, ok := svc.Instance(p.in.ID); ok && old.TTL > 0 && old.Meta[metaCheckID] == p.in.Meta[metaCheckID] {
			p.initial = old.Health
		}
	}
	before := snap.Index()
	register := c.h.reg.Register
	if p.in.TTL > 0 || p.in.Check != "" {
		// The check's status is the instance's health from the write that
		// registers it: DNS never answers with it in another state first.
		register = func(in registry.Instance) (registry.Instance, error) { return c.h.reg.RegisterStarting(in, p.initial) }
	}
	stored, err := register(p.in)
	if err != nil {
		return err
	}
	if stored.ModifyIndex > before {
		c.h.opts.Logger.Infof("api: registered instance %s of service %s at %s%s through the Consul API",
			stored.ID, stored.Service, addrPort(stored), checkNote(stored))
	}
	return nil
}

// deregister serves PUT /v1/agent/service/deregister/{id}.
func (c *consul) deregister(w http.ResponseWriter, r *http.Request) {
	in, err := c.resolve(c.h.reg.Snapshot(), r.PathValue("id"))
	if err == nil {
		err = c.h.reg.Deregister(in.Service, in.ID)
	}
	if errors.Is(err, registry.ErrNotFound) {
		err = errUnknownService(r.PathValue("id"))
	}
	if err != nil {
		c.h.fail(w, r, err)
		return
	}
	c.h.opts.Logger.Infof("api: deregistered instance %s of service %s through the Consul API", in.ID, in.Service)
	w.WriteHeader(http.StatusOK)
}
