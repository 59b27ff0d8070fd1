package api

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/signpost-dns/signpost/healthcheck"
	"github.com/signpost-dns/signpost/registry"
)

// The answers of the Consul-compatible API, field for field as Consul's
// clients decode them.

type consulServiceJSON struct {
	ID                string
	Service           string
	Tags              []string
	Meta              map[string]string
	Port              int
	Address           string
	TaggedAddresses   map[string]consulAddrJSON
	Weights           consulWeightsJSON
	EnableTagOverride bool
	Datacenter        string
	CreateIndex       uint64
	ModifyIndex       uint64
}

type consulWeightsJSON struct {
	Passing int
	Warning int
}

type consulAddrJSON struct {
	Address string
	Port    int
}

type consulCheckJSON struct {
	Node        string
	CheckID     string
	Name        string
	Status      string
	Notes       string
	Output      string
	ServiceID   string
	ServiceName string
	ServiceTags []string
	Type        string
	Definition  consulDefinitionJSON
	CreateIndex uint64
	ModifyIndex uint64
}

type consulDefinitionJSON struct {
	HTTP          string              `json:",omitempty"`
	Header        map[string][]string `json:",omitempty"`
	Method        string              `json:",omitempty"`
	TLSSkipVerify bool                `json:",omitempty"`
	TCP           string              `json:",omitempty"`
	GRPC          string              `json:",omitempty"`
	Interval      string              `json:",omitempty"`
	Timeout       string              `json:",omitempty"`
	TTL           string              `json:",omitempty"`
}

type consulNodeJSON struct {
	ID              string
	Node            string
	Address         string
	Datacenter      string
	TaggedAddresses map[string]string
	Meta            map[string]string
	CreateIndex     uint64
	ModifyIndex     uint64
}

type consulCatalogJSON struct {
	ID                       string
	Node                     string
	Address                  string
	Datacenter               string
	TaggedAddresses          map[string]string
	NodeMeta                 map[string]string
	ServiceID                string
	ServiceName              string
	ServiceAddress           string
	ServiceTaggedAddresses   map[string]consulAddrJSON
	ServiceTags              []string
	ServiceMeta              map[string]string
	ServicePort              int
	ServiceWeights           consulWeightsJSON
	ServiceEnableTagOverride bool
	CreateIndex              uint64
	ModifyIndex              uint64
}

type consulEntryJSON struct {
	Node    consulNodeJSON
	Service consulServiceJSON
	Checks  []consulCheckJSON
}

// consulView is what one read answers from: the snapshot and the node as
// the client sees it.
type consulView struct {
	c    *consul
	snap *registry.Snapshot
	addr netip.Addr // the node's address
}

func (c *consul) view(r *http.Request, snap *registry.Snapshot) consulView {
	return consulView{c: c, snap: snap, addr: c.nodeAddress(r)}
}

func (v consulView) node() consulNodeJSON {
	addr := v.addr.String()
	return consulNodeJSON{
		ID: v.c.nodeID, Node: v.c.opts.NodeName, Address: addr, Datacenter: v.c.opts.Datacenter,
		TaggedAddresses: map[string]string{"lan": addr, "wan": addr}, Meta: map[string]string{},
		CreateIndex: 1, ModifyIndex: 1,
	}
}

// service renders an instance as Consul's agent shows a service.
func (v consulView) service(in registry.Instance, id string) consulServiceJSON {
	addr := consulAddrJSON{Address: in.Address.String(), Port: int(in.Port)}
	family := "lan_ipv4"
	if in.Address.Is6() {
		family = "lan_ipv6"
	}
	return consulServiceJSON{
		ID: id, Service: in.Service, Tags: tagsOf(in), Meta: consulMeta(in.Meta), Port: int(in.Port),
		Address: addr.Address, TaggedAddresses: map[string]consulAddrJSON{family: addr},
		Weights:    consulWeightsJSON{Passing: int(in.Weight), Warning: 1},
		Datacenter: v.c.opts.Datacenter, CreateIndex: in.CreateIndex + 1, ModifyIndex: in.ModifyIndex + 1,
	}
}

func (v consulView) catalog(in registry.Instance, id string) consulCatalogJSON {
	n, s := v.node(), v.service(in, id)
	return consulCatalogJSON{
		ID: n.ID, Node: n.Node, Address: n.Address, Datacenter: n.Datacenter, TaggedAddresses: n.TaggedAddresses,
		NodeMeta: n.Meta, ServiceID: s.ID, ServiceName: s.Service, ServiceAddress: s.Address,
		ServiceTaggedAddresses: s.TaggedAddresses, ServiceTags: s.Tags, ServiceMeta: s.Meta, ServicePort: s.Port,
		ServiceWeights: s.Weights, CreateIndex: s.CreateIndex, ModifyIndex: s.ModifyIndex,
	}
}

// entry renders an instance as Consul's health endpoint does: with its
// node, and the node's check before the service's own.
func (v consulView) entry(in registry.Instance, id string) consulEntryJSON {
	checks := []consulCheckJSON{v.serfHealth()}
	if hasConsulCheck(in) {
		checks = append(checks, v.check(in, id))
	}
	return consulEntryJSON{Node: v.node(), Service: v.service(in, id), Checks: checks}
}

// serfHealth is the check every Consul node has; here the server is up.
func (v consulView) serfHealth() consulCheckJSON {
	return consulCheckJSON{
		Node: v.c.opts.NodeName, CheckID: "serfHealth", Name: "Serf Health Status", Status: "passing",
		Output: "Agent alive and reachable", ServiceTags: noTags, CreateIndex: 1, ModifyIndex: 1,
	}
}

// check renders the one check of an instance.
func (v consulView) check(in registry.Instance, id string) consulCheckJSON {
	name := in.Meta[metaCheckName]
	if name == "" {
		name = "Service '" + in.Service + "' check"
	}
	out := consulCheckJSON{
		Node: v.c.opts.NodeName, CheckID: checkIDOf(in, id), Name: name, Status: in.Health.String(),
		Notes: in.Meta[metaCheckNotes], Output: v.c.h.reg.CheckOutput(in), ServiceID: id, ServiceName: in.Service, ServiceTags: tagsOf(in),
		CreateIndex: in.CreateIndex + 1, ModifyIndex: in.ModifyIndex + 1,
	}
	switch {
	case in.TTL > 0:
		out.Type, out.Definition.TTL = "ttl", in.TTL.String()
	case in.Check != "":
		out.Type, out.Definition = probeDefinition(in)
	}
	return out
}

// probeDefinition renders the active check of an instance as Consul's
// definition of one, its secrets masked as in every read.
func probeDefinition(in registry.Instance) (string, consulDefinitionJSON) {
	var def consulDefinitionJSON
	c, err := healthcheck.DecodeSpec(in.Check)
	if err != nil {
		return "", def // the registry only holds checks the API or the Corefile wrote
	}
	c = c.ForInstance(netip.AddrPortFrom(in.Address, in.Port))
	def.Interval, def.Timeout = c.Interval.String(), c.Timeout.String()
	switch c.Type {
	case healthcheck.TypeHTTP, healthcheck.TypeHTTPS:
		def.HTTP, def.Method, def.TLSSkipVerify = healthcheck.RedactURL(c.Target), c.Method, c.TLSSkipVerify
		for k := range c.Header {
			if def.Header == nil {
				def.Header = make(map[string][]string, len(c.Header))
			}
			def.Header[k] = []string{redacted}
		}
		return "http", def
	case healthcheck.TypeGRPC:
		def.GRPC = c.Target
		if c.Service != "" {
			def.GRPC += "/" + c.Service
		}
		return "grpc", def
	case healthcheck.TypeTCP:
		def.TCP = c.Target
		return "tcp", def
	}
	return c.Type, def // redis and mysql probe what Consul has no check for
}

func tagsOf(in registry.Instance) []string {
	if in.Tags == nil {
		return noTags
	}
	return in.Tags
}

// consulMeta is an instance's meta without the keys Consul reserves.
func consulMeta(meta map[string]string) map[string]string {
	out := make(map[string]string, len(meta))
	for k, val := range meta {
		if !strings.HasPrefix(k, consulMetaPrefix) {
			out[k] = val
		}
	}
	return out
}
