package api

import (
	"net/http"

	"github.com/signpost-dns/signpost/registry"
)

// The agent endpoints: the server is the one agent every instance is
// registered with, so they list every instance of the registry, whether
// registered through the Consul API, Signpost's own API or the Corefile.

// agentServices serves GET /v1/agent/services: every instance by its
// Consul ID.
func (c *consul) agentServices(w http.ResponseWriter, r *http.Request) {
	c.serveRead(w, r, "", func(snap *registry.Snapshot) (any, error) {
		v := c.view(r, snap)
		all, ids := c.consulIDs(snap)
		out := make(map[string]consulServiceJSON, len(all))
		for i, in := range all {
			out[ids[i]] = v.service(in, ids[i])
		}
		return out, nil
	})
}

// agentService serves GET /v1/agent/service/{id}.
func (c *consul) agentService(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c.serveRead(w, r, "", func(snap *registry.Snapshot) (any, error) {
		in, err := c.resolve(snap, id)
		if err != nil {
			return nil, err
		}
		return c.view(r, snap).service(in, c.consulID(snap, in)), nil
	})
}

// agentChecks serves GET /v1/agent/checks: the check of every instance that
// has one, by check ID.
func (c *consul) agentChecks(w http.ResponseWriter, r *http.Request) {
	c.serveRead(w, r, "", func(snap *registry.Snapshot) (any, error) {
		v := c.view(r, snap)
		all, ids := c.consulIDs(snap)
		out := make(map[string]consulCheckJSON)
		for i, in := range all {
			if hasConsulCheck(in) {
				chk := v.check(in, ids[i])
				out[chk.CheckID] = chk
			}
		}
		return out, nil
	})
}

// agentSelf serves GET /v1/agent/self: what clients read of it, the
// datacenter and the node's name and address.
func (c *consul) agentSelf(w http.ResponseWriter, r *http.Request) {
	c.serveRead(w, r, "", func(snap *registry.Snapshot) (any, error) {
		addr := c.nodeAddress(r).String()
		return map[string]any{
			"Config": map[string]any{
				"Datacenter": c.opts.Datacenter, "PrimaryDatacenter": c.opts.Datacenter,
				"NodeName": c.opts.NodeName, "NodeID": c.nodeID, "Server": true,
			},
			"Member": map[string]any{
				"Name": c.opts.NodeName, "Addr": addr, "Port": 8301, "Status": 1,
				"Tags": map[string]string{"dc": c.opts.Datacenter, "role": "consul", "id": c.nodeID},
			},
			"Meta": map[string]string{},
		}, nil
	})
}
