package api

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/signpost-dns/signpost/registry"
)

// ConsulOptions turns on the Consul-compatible API: the parts of Consul's
// HTTP API that service discovery clients use (agent service registration,
// TTL check updates, catalog and health reads with blocking queries), served
// beside Signpost's own API and mapped onto the same registry, so that an
// instance registered through either appears in both and in DNS.
type ConsulOptions struct {
	// Datacenter is the one datacenter the server answers for; reads that
	// ask for another fail as Consul's do. DefaultConsulDatacenter when
	// empty.
	Datacenter string
	// NodeName is the name of the one node that every instance is on, the
	// server itself. DefaultConsulNodeName when empty.
	NodeName string
	// NodeAddress is the node's address: the address of a registration
	// that gives none, as Consul gives it the address of its agent. When
	// invalid, the address the request reached the server at is used.
	NodeAddress netip.Addr
}

// Defaults of ConsulOptions.
const (
	DefaultConsulDatacenter = "dc1"
	DefaultConsulNodeName   = "signpost"
)

// Headers of every answer of the Consul-compatible API.
const (
	ConsulIndexHeader       = "X-Consul-Index"
	consulKnownLeaderHeader = "X-Consul-Knownleader"
	consulLastContactHeader = "X-Consul-Lastcontact"
)

// consulMetaPrefix starts the meta keys that Consul reserves for itself.
// Signpost keeps in them what a Consul registration says about its check
// and the registry has no field for; they are hidden from the Consul view.
const consulMetaPrefix = "consul-"

// The meta keys of a check's Consul attributes, set only when they differ
// from Consul's defaults.
const (
	metaCheckID    = consulMetaPrefix + "check-id"
	metaCheckName  = consulMetaPrefix + "check-name"
	metaCheckNotes = consulMetaPrefix + "check-notes"
)

func (o *ConsulOptions) withDefaults() *ConsulOptions {
	out := *o
	if out.Datacenter == "" {
		out.Datacenter = DefaultConsulDatacenter
	}
	if out.NodeName == "" {
		out.NodeName = DefaultConsulNodeName
	}
	return &out
}

// consul serves the Consul-compatible API over the handler's registry,
// with its options, token and error answers.
type consul struct {
	h      *handler
	opts   *ConsulOptions
	nodeID string // a UUID derived from the node name, as Consul nodes have one
	idx    atomic.Pointer[snapIndex]
	idxMu  sync.Mutex // one build of the index at a time
}

// consulPrefixes are the paths of Consul's HTTP API. Those that Signpost
// does not serve answer 404 saying so, rather than a bare "no such
// endpoint". Signpost's own /v1/health and /v1/snapshot are not among them.
var consulPrefixes = []string{
	"/v1/acl/", "/v1/agent/", "/v1/catalog/", "/v1/config/", "/v1/connect/", "/v1/coordinate/",
	"/v1/discovery-chain/", "/v1/event/", "/v1/exported-services", "/v1/health/", "/v1/imported-services",
	"/v1/internal/", "/v1/kv/", "/v1/namespace", "/v1/operator/", "/v1/partition", "/v1/peering",
	"/v1/query", "/v1/session/", "/v1/status/", "/v1/txn",
}

// consulRoutes adds the Consul-compatible API to the handler's routes.
func (h *handler) consulRoutes() {
	c := &consul{h: h, opts: h.opts.Consul.withDefaults()}
	sum := sha256.Sum256([]byte("signpost-node/" + c.opts.NodeName))
	c.nodeID = fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])

	h.mux.Handle("PUT /v1/agent/service/register", c.write(c.register))
	h.mux.Handle("PUT /v1/agent/service/deregister/{id}", c.write(c.deregister))
	h.mux.Handle("PUT /v1/agent/check/pass/{check...}", c.write(c.checkStatus(registry.Passing)))
	h.mux.Handle("PUT /v1/agent/check/warn/{check...}", c.write(c.checkStatus(registry.Warning)))
	h.mux.Handle("PUT /v1/agent/check/fail/{check...}", c.write(c.checkStatus(registry.Critical)))
	h.mux.Handle("PUT /v1/agent/check/update/{check...}", c.write(c.checkUpdate))

	h.mux.Handle("GET /v1/agent/services", c.read(c.agentServices))
	h.mux.Handle("GET /v1/agent/service/{id}", c.read(c.agentService))
	h.mux.Handle("GET /v1/agent/checks", c.read(c.agentChecks))
	h.mux.Handle("GET /v1/agent/self", c.read(c.agentSelf))
	h.mux.Handle("GET /v1/catalog/services", c.read(c.catalogServices))
	h.mux.Handle("GET /v1/catalog/service/{service}", c.read(c.catalogService))
	h.mux.Handle("GET /v1/catalog/datacenters", c.read(c.catalogDatacenters))
	h.mux.Handle("GET /v1/health/service/{service}", c.read(c.healthService))
	h.mux.Handle("GET /v1/health/checks/{service}", c.read(c.healthChecks))
	h.mux.Handle("GET /v1/health/state/{state}", c.read(c.healthState))
	h.mux.Handle("GET /v1/catalog/nodes", c.read(c.catalogNodes))
	h.mux.Handle("GET /v1/status/leader", c.read(c.statusLeader))
	h.mux.Handle("GET /v1/status/peers", c.read(c.statusPeers))

	for _, p := range consulPrefixes {
		h.mux.HandleFunc(p, c.unsupported)
		if !strings.HasSuffix(p, "/") {
			h.mux.HandleFunc(p+"/", c.unsupported)
		}
	}
}

// unsupported answers a path of Consul's API that Signpost does not serve:
// 405 when the path is served with another method, else 404.
func (c *consul) unsupported(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPut} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := c.h.mux.Handler(probe); pattern != "" && !isConsulPrefix(pattern) {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		refuse(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on "+r.URL.Path)
		return
	}
	refuse(w, r, http.StatusNotFound, r.Method+" "+r.URL.Path+
		" is not supported by Signpost's Consul-compatible API, which serves service registration, TTL check updates"+
		" and the agent, catalog and health reads of service discovery (see the signpost plugin's README)")
}

func isConsulPrefix(pattern string) bool {
	for _, p := range consulPrefixes {
		if pattern == p || pattern == p+"/" {
			return true
		}
	}
	return false
}

// write guards a call that changes the registry, read one that reads it,
// as the handler's own calls are guarded, with the token also taken from
// where Consul's clients send theirs.
func (c *consul) write(next http.HandlerFunc) http.Handler { return c.guard(next, true) }
func (c *consul) read(next http.HandlerFunc) http.Handler {
	return c.guard(next, c.h.opts.TokenRead)
}

func (c *consul) guard(next http.HandlerFunc, needToken bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setConsulHeaders(w)
		if needToken && c.h.opts.Token != "" && !c.authorized(r) {
			// Consul answers a missing or wrong token with 403.
			refuse(w, r, http.StatusForbidden, "Permission denied: missing or invalid token: "+
				`send it in "X-Consul-Token: <token>", "Authorization: Bearer <token>" or ?token=`)
			return
		}
		next(w, r)
	})
}

// authorized reports whether r carries the token in any of the places
// Consul's clients put it.
func (c *consul) authorized(r *http.Request) bool {
	if c.h.authorized(r) {
		return true
	}
	if tok := r.Header.Get("X-Consul-Token"); tok != "" {
		return c.h.validToken(tok)
	}
	if tok := r.URL.Query().Get("token"); tok != "" {
		return c.h.validToken(tok)
	}
	return false
}

// setConsulHeaders sets what every Consul answer carries: one server,
// always its own leader.
func setConsulHeaders(w http.ResponseWriter) {
	w.Header().Set(consulKnownLeaderHeader, "true")
	w.Header().Set(consulLastContactHeader, "0")
}

// consulIndex is the X-Consul-Index of a snapshot: the registry's change
// index plus one, so that it is never 0 (Consul's clients take 0 for "no
// index") and grows with every change.
func consulIndex(snap *registry.Snapshot) uint64 { return snap.Index() + 1 }

func setConsulIndex(w http.ResponseWriter, snap *registry.Snapshot) {
	w.Header().Set(ConsulIndexHeader, strconv.FormatUint(consulIndex(snap), 10))
}

// parseQuery reads the blocking query (?index=&wait=) of a read, in the
// registry's index space, and refuses a datacenter other than the server's
// and what Signpost cannot filter by. index=0, as with Consul, does not
// block.
func (c *consul) parseQuery(r *http.Request) (blockingQuery, error) {
	q, err := c.h.parseBlocking(r)
	if err != nil {
		return q, err
	}
	if q.blocking && q.index == 0 {
		q.blocking = false
	}
	if q.blocking {
		q.index-- // X-Consul-Index is the registry's index plus one
	}
	query := r.URL.Query()
	if dc := query.Get("dc"); dc != "" && !strings.EqualFold(dc, c.opts.Datacenter) {
		// Consul's own answer for a datacenter it cannot reach.
		return q, &statusError{http.StatusInternalServerError, "No path to datacenter"}
	}
	if query.Has("filter") {
		return q, &registry.FieldError{Field: "filter", Value: query.Get("filter"),
			Reason: "filter expressions are not supported by Signpost's Consul-compatible API: select by ?tag= instead"}
	}
	return q, nil
}

// serveRead answers a read: it parses the blocking query, waits for a
// change to service (or to anything, when service is empty), and writes
// what render makes of the snapshot with its index.
func (c *consul) serveRead(w http.ResponseWriter, r *http.Request, service string, render func(*registry.Snapshot) (any, error)) {
	q, err := c.parseQuery(r)
	if err != nil {
		setConsulIndex(w, c.h.reg.Snapshot())
		c.h.fail(w, r, err)
		return
	}
	snap := c.h.reg.Snapshot()
	if q.blocking {
		snap = c.wait(r.Context(), service, q)
	}
	setConsulIndex(w, snap)
	v, err := render(snap)
	if err != nil {
		c.h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (c *consul) wait(ctx context.Context, service string, q blockingQuery) *registry.Snapshot {
	if service == "" {
		return c.h.waitAny(ctx, q)
	}
	return c.h.waitService(ctx, service, q)
}

// nodeAddress is the address of the node as the client of r sees it.
func (c *consul) nodeAddress(r *http.Request) netip.Addr {
	if c.opts.NodeAddress.IsValid() {
		return c.opts.NodeAddress
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			return ap.Addr().Unmap()
		}
	}
	return netip.IPv6Loopback()
}

// serverAddress is the address and port the client of r reached the
// server at, which Consul's status calls name as the leader's.
func (c *consul) serverAddress(r *http.Request) string {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return a.String()
	}
	return net.JoinHostPort(c.nodeAddress(r).String(), "8300")
}
