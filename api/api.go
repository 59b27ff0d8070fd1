// Package api serves Signpost's HTTP registration API: register, renew and
// deregister instances, report their health, list services and follow one
// with blocking queries, and save or restore a backup of the registrations.
//
// NewHandler returns a plain http.Handler over a registry. The caller (the
// signpost plugin) owns the listener, TLS and the http.Server; because
// blocking queries hold a request for up to Options.MaxWait, that server
// must not set a WriteTimeout shorter than MaxWait, and should cancel its
// BaseContext on shutdown so that waiting requests answer at once. It
// should set a ReadTimeout, which bounds the reading of every body: a
// restore, whose body may be large, extends its own read deadline.
//
// Calls that return secrets or replace the registry (save and restore a
// backup) need the token, and a server without one refuses them. Every
// other answer masks the secrets of health checks.
package api

import (
	"crypto/sha256"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

// Defaults of Options.
const (
	DefaultMaxBodyBytes = 64 << 10
	DefaultMaxWait      = 5 * time.Minute
)

// IndexHeader carries the registry change index on every read. Pass it back
// as ?index= to wait for the next change.
const IndexHeader = "X-Signpost-Index"

// Options configures the handler. The zero value of each field takes its
// default.
type Options struct {
	// Token, when set, is the bearer token that every write must present in
	// "Authorization: Bearer <token>". Saving and restoring a backup need
	// it too; without a token they are refused.
	Token string
	// TokenRead requires the token on reads too.
	TokenRead bool
	// MaxBodyBytes limits a request body; larger ones get 413.
	MaxBodyBytes int64
	// MaxSnapshotBytes limits the body of a restore (PUT /v1/snapshot),
	// which holds the whole registry; larger ones get 413. The body is
	// decoded as it arrives, and one restore runs at a time.
	MaxSnapshotBytes int64
	// MaxWait caps the wait of a blocking query, and is its default.
	MaxWait time.Duration
	// Logger gets registrations, deregistrations and internal errors; nil
	// discards them.
	Logger registry.Logger
	// CheckTargets widens where a check registered through the API may
	// probe: by default only its own instance's address (any port), and
	// also the addresses within these prefixes (see CheckPermitted).
	CheckTargets []netip.Prefix
	// Consul, when set, also serves the Consul-compatible API (see
	// ConsulOptions); nil leaves Consul's paths unknown.
	Consul *ConsulOptions
	// EventsHeartbeat is how often an idle event stream sends a comment;
	// DefaultEventsHeartbeat when zero.
	EventsHeartbeat time.Duration
	// Explain answers GET /v1/explain/{service}; nil answers 501.
	Explain ExplainFunc
}

func (o Options) withDefaults() Options {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxSnapshotBytes <= 0 {
		o.MaxSnapshotBytes = DefaultMaxSnapshotBytes
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.Logger == nil {
		o.Logger = nopLogger{}
	}
	if o.EventsHeartbeat <= 0 {
		o.EventsHeartbeat = DefaultEventsHeartbeat
	}
	return o
}

type nopLogger struct{}

func (nopLogger) Infof(string, ...any)    {}
func (nopLogger) Warningf(string, ...any) {}

// handler routes the API calls to the registry.
type handler struct {
	reg   *registry.Registry
	opts  Options
	mux   *http.ServeMux
	token [sha256.Size]byte // digest of opts.Token, compared in constant time
	// restoring is held by the restore in progress: a second one is
	// refused rather than queued, so that restores never pile up in memory.
	restoring sync.Mutex
}

// NewHandler returns the HTTP handler of the registration API over reg.
func NewHandler(reg *registry.Registry, opts Options) http.Handler {
	return newHandler(reg, opts)
}

func newHandler(reg *registry.Registry, opts Options) *handler {
	h := &handler{reg: reg, opts: opts.withDefaults(), mux: http.NewServeMux()}
	if h.opts.Token != "" {
		h.token = sha256.Sum256([]byte(h.opts.Token))
	}
	h.routes()
	return h
}

// instancePath is the resource of one instance; service and id are DNS labels.
const instancePath = "/v1/services/{service}/instances/{id}"

func (h *handler) routes() {
	h.mux.Handle("PUT "+instancePath, h.write(h.register))
	h.mux.Handle("DELETE "+instancePath, h.write(h.deregister))
	h.mux.Handle("PUT "+instancePath+"/heartbeat", h.write(h.heartbeat))
	h.mux.Handle("PUT "+instancePath+"/health", h.write(h.report))
	h.mux.Handle("PUT "+heartbeatsPath, h.write(h.heartbeats))
	h.mux.Handle("GET /v1/services", h.read(h.listServices))
	h.mux.Handle("GET /v1/services/{service}", h.read(h.showService))
	h.mux.HandleFunc("GET /v1/health", h.health)
	h.mux.Handle("GET "+explainPath, h.read(h.explain))
	h.mux.Handle("GET /v1/events", h.read(h.events))
	h.mux.Handle("GET /v1/events/stream", h.read(h.eventStream))
	h.uiRoutes()
	// A backup holds the whole registry, secrets included, and a restore
	// replaces it: both ways need the token, with or without TokenRead, and
	// a server without a token refuses them.
	h.mux.Handle("GET "+snapshotPath, h.admin(h.saveSnapshot))
	h.mux.Handle("PUT "+snapshotPath, h.admin(h.restoreSnapshot))
	if h.opts.Consul != nil {
		h.consulRoutes()
	}
}

// ServeHTTP dispatches r, answering unknown paths and methods in JSON like
// every other error.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := h.mux.Handler(r); pattern == "" {
		h.unrouted(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// unrouted answers a request that no route takes: 404 for an unknown path,
// 405 for a known path with another method. Redirects to the clean form of
// a path are served as the mux writes them.
func (h *handler) unrouted(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{header: make(http.Header)}
	fallback, _ := h.mux.Handler(r)
	fallback.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusNotFound:
		refuse(w, r, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", rec.header.Get("Allow"))
		refuse(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on "+r.URL.Path)
	default:
		h.mux.ServeHTTP(w, r)
	}
}

// statusRecorder keeps the status and headers the mux's own fallback handler
// writes and discards its plain-text body.
type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header { return s.header }

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return len(b), nil
}

func (s *statusRecorder) WriteHeader(status int) {
	if s.status == 0 {
		s.status = status
	}
}

// health answers liveness probes of the API itself. It needs no token.
func (h *handler) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Status string `json:"status"`
	}{"ok"})
}
