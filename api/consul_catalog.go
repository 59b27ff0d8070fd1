package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/signpost-dns/signpost/registry"
)

// catalogServices serves GET /v1/catalog/services: every service with the
// tags of its instances.
func (c *consul) catalogServices(w http.ResponseWriter, r *http.Request) {
	c.serveRead(w, r, "", func(snap *registry.Snapshot) (any, error) {
		if r.URL.Query().Has("node-meta") {
			return map[string][]string{}, nil // the node has no meta: nothing matches
		}
		// Services without instances (a Corefile service with failover
		// only) are not in the index, as not in Consul's catalog.
		return c.index(snap).tags, nil
	})
}

// serviceQuery is the service and tags a catalog or health read asks for.
type serviceQuery struct {
	name string   // lowercased; may be no label, and then names no service
	tags []string // lowercased; an instance must carry every one
	none bool     // nothing can match: node-meta asked of a node without meta
}

func parseServiceQuery(r *http.Request) serviceQuery {
	q := serviceQuery{name: strings.ToLower(r.PathValue("service"))}
	query := r.URL.Query()
	for _, t := range query["tag"] {
		q.tags = append(q.tags, strings.ToLower(t))
	}
	q.none = query.Has("node-meta")
	return q
}

// waitName is the service a blocking read waits on: none (any change) for
// a name that is no label.
func (q serviceQuery) waitName() string {
	if registry.ValidateLabel("service", q.name) != nil {
		return ""
	}
	return q.name
}

// instances returns the instances of the service that carry every tag,
// with their Consul IDs.
func (q serviceQuery) instances(c *consul, snap *registry.Snapshot) ([]registry.Instance, []string) {
	svc := snap.Service(q.name)
	if svc == nil || q.none {
		return nil, nil
	}
	var ins []registry.Instance
	var ids []string
	for _, in := range svc.Instances() {
		if !hasTags(in, q.tags) {
			continue
		}
		ins = append(ins, in)
		ids = append(ids, c.consulID(snap, in))
	}
	return ins, ids
}

func hasTags(in registry.Instance, tags []string) bool {
	for _, t := range tags {
		if !in.HasTag(t) {
			return false
		}
	}
	return true
}

// catalogService serves GET /v1/catalog/service/{service}: its instances,
// whatever their health, with ?tag= selecting those carrying every tag.
func (c *consul) catalogService(w http.ResponseWriter, r *http.Request) {
	sq := parseServiceQuery(r)
	c.serveRead(w, r, sq.waitName(), func(snap *registry.Snapshot) (any, error) {
		v := c.view(r, snap)
		ins, ids := sq.instances(c, snap)
		out := make([]consulCatalogJSON, len(ins))
		for i, in := range ins {
			out[i] = v.catalog(in, ids[i])
		}
		return out, nil
	})
}

// healthService serves GET /v1/health/service/{service}: its instances
// with their checks; ?passing leaves out those whose check is not passing,
// warning ones too, as Consul does.
func (c *consul) healthService(w http.ResponseWriter, r *http.Request) {
	sq := parseServiceQuery(r)
	passing, err := passingOnly(r)
	if err != nil {
		setConsulHeaders(w)
		setConsulIndex(w, c.h.reg.Snapshot())
		c.h.fail(w, r, err)
		return
	}
	c.serveRead(w, r, sq.waitName(), func(snap *registry.Snapshot) (any, error) {
		v := c.view(r, snap)
		ins, ids := sq.instances(c, snap)
		out := make([]consulEntryJSON, 0, len(ins))
		for i, in := range ins {
			if !passing || in.Health == registry.Passing {
				out = append(out, v.entry(in, ids[i]))
			}
		}
		return out, nil
	})
}

// healthChecks serves GET /v1/health/checks/{service}: the checks of its
// instances.
func (c *consul) healthChecks(w http.ResponseWriter, r *http.Request) {
	sq := parseServiceQuery(r)
	c.serveRead(w, r, sq.waitName(), func(snap *registry.Snapshot) (any, error) {
		v := c.view(r, snap)
		ins, ids := sq.instances(c, snap)
		out := []consulCheckJSON{}
		for i, in := range ins {
			if hasConsulCheck(in) {
				out = append(out, v.check(in, ids[i]))
			}
		}
		return out, nil
	})
}

// healthState serves GET /v1/health/state/{state}: every check in state,
// or all of them for "any", the node's own among them.
func (c *consul) healthState(w http.ResponseWriter, r *http.Request) {
	state := r.PathValue("state")
	want, err := registry.ParseHealth(state)
	if err != nil && state != "any" {
		setConsulHeaders(w)
		c.h.fail(w, r, &registry.FieldError{Field: "state", Value: state, Reason: "must be any, passing, warning or critical"})
		return
	}
	c.serveRead(w, r, "", func(snap *registry.Snapshot) (any, error) {
		v := c.view(r, snap)
		out := []consulCheckJSON{}
		if state == "any" || want == registry.Passing {
			out = append(out, v.serfHealth())
		}
		all, ids := c.consulIDs(snap)
		for i, in := range all {
			if hasConsulCheck(in) && (state == "any" || in.Health == want) {
				out = append(out, v.check(in, ids[i]))
			}
		}
		return out, nil
	})
}

// catalogNodes serves GET /v1/catalog/nodes: the one node, the server.
func (c *consul) catalogNodes(w http.ResponseWriter, r *http.Request) {
	c.serveRead(w, r, "", func(snap *registry.Snapshot) (any, error) {
		if r.URL.Query().Has("node-meta") {
			return []consulNodeJSON{}, nil
		}
		return []consulNodeJSON{c.view(r, snap).node()}, nil
	})
}

// passingOnly reads ?passing, which Consul takes bare or as a boolean.
func passingOnly(r *http.Request) (bool, error) {
	query := r.URL.Query()
	if !query.Has("passing") {
		return false, nil
	}
	s := query.Get("passing")
	if s == "" {
		return true, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, &registry.FieldError{Field: "passing", Value: s, Reason: "must be true or false, or given bare"}
	}
	return b, nil
}

// catalogDatacenters serves GET /v1/catalog/datacenters: the server's one.
func (c *consul) catalogDatacenters(w http.ResponseWriter, r *http.Request) {
	c.serveRead(w, r, "", func(*registry.Snapshot) (any, error) {
		return []string{c.opts.Datacenter}, nil
	})
}

// statusLeader serves GET /v1/status/leader: the server is its own leader.
func (c *consul) statusLeader(w http.ResponseWriter, r *http.Request) {
	c.serveRead(w, r, "", func(*registry.Snapshot) (any, error) {
		return c.serverAddress(r), nil
	})
}

// statusPeers serves GET /v1/status/peers: the server alone.
func (c *consul) statusPeers(w http.ResponseWriter, r *http.Request) {
	c.serveRead(w, r, "", func(*registry.Snapshot) (any, error) {
		return []string{c.serverAddress(r)}, nil
	})
}
