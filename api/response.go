package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/signpost-dns/signpost/healthcheck"
	"github.com/signpost-dns/signpost/registry"
)

// instanceJSON is an instance as the API shows it.
type instanceJSON struct {
	Service      string            `json:"service"`
	ID           string            `json:"id"`
	Address      string            `json:"address"`
	Port         uint16            `json:"port"`
	Tags         []string          `json:"tags"`
	Meta         map[string]string `json:"meta"`
	Weight       uint16            `json:"weight"`
	Health       string            `json:"health"`
	Source       string            `json:"source"`
	TTL          string            `json:"ttl,omitempty"`
	LeaseExpires time.Time         `json:"lease_expires,omitzero"`
	Check        *healthcheck.Spec `json:"check,omitempty"`
	CreateIndex  uint64            `json:"create_index"`
	ModifyIndex  uint64            `json:"modify_index"`
}

// serviceJSON is one service with its instances.
type serviceJSON struct {
	Service     string         `json:"service"`
	ModifyIndex uint64         `json:"modify_index"`
	Passing     int            `json:"passing"`
	Warning     int            `json:"warning"`
	Critical    int            `json:"critical"`
	Failover    *failoverJSON  `json:"failover,omitempty"`
	Instances   []instanceJSON `json:"instances"`
}

// summaryJSON is one service in the list of services.
type summaryJSON struct {
	Service     string `json:"service"`
	Instances   int    `json:"instances"`
	Passing     int    `json:"passing"`
	Warning     int    `json:"warning"`
	Critical    int    `json:"critical"`
	ModifyIndex uint64 `json:"modify_index"`
}

// failoverJSON is where a service's answers go when too few of its
// instances are healthy.
type failoverJSON struct {
	Addresses  []string `json:"addresses,omitempty"`
	Port       uint16   `json:"port,omitempty"`
	Name       string   `json:"name,omitempty"`
	MinHealthy int      `json:"min_healthy"`
}

// Shared, never modified: empty tags and meta encode as [] and {}, not null.
var (
	noTags = []string{}
	noMeta = map[string]string{}
)

// renderInstance renders in with its lease deadline, if it has a lease.
func (h *handler) renderInstance(in registry.Instance) instanceJSON {
	out := instanceJSON{
		Service: in.Service, ID: in.ID, Address: in.Address.String(), Port: in.Port,
		Tags: in.Tags, Meta: in.Meta, Weight: in.Weight, Health: in.Health.String(), Source: in.Source.String(),
		Check: renderCheck(in.Check), CreateIndex: in.CreateIndex, ModifyIndex: in.ModifyIndex,
	}
	if out.Tags == nil {
		out.Tags = noTags
	}
	if out.Meta == nil {
		out.Meta = noMeta
	}
	if in.TTL > 0 {
		out.TTL = in.TTL.String()
		if _, deadline, ok := h.reg.Lease(in.Service, in.ID); ok {
			out.LeaseExpires = deadline.UTC()
		}
	}
	return out
}

// renderService renders a service with its instances.
func (h *handler) renderService(svc *registry.Service) serviceJSON {
	out := serviceJSON{
		Service:     svc.Name(),
		ModifyIndex: svc.ModifyIndex(),
		Passing:     svc.Count(registry.Passing),
		Warning:     svc.Count(registry.Warning),
		Critical:    svc.Count(registry.Critical),
		Failover:    renderFailover(svc),
		Instances:   make([]instanceJSON, 0, svc.Len()),
	}
	for _, in := range svc.Instances() {
		out.Instances = append(out.Instances, h.renderInstance(in))
	}
	return out
}

func renderFailover(svc *registry.Service) *failoverJSON {
	f, minHealthy := svc.Failover()
	if !f.IsSet() {
		return nil
	}
	out := &failoverJSON{Port: f.Port, Name: f.Name, MinHealthy: minHealthy}
	for _, a := range f.Addrs {
		out.Addresses = append(out.Addresses, a.String())
	}
	return out
}

func renderSummary(svc *registry.Service) summaryJSON {
	return summaryJSON{
		Service:     svc.Name(),
		Instances:   svc.Len(),
		Passing:     svc.Count(registry.Passing),
		Warning:     svc.Count(registry.Warning),
		Critical:    svc.Count(registry.Critical),
		ModifyIndex: svc.ModifyIndex(),
	}
}

// setIndex tells a reader which change index its answer reflects.
func setIndex(w http.ResponseWriter, snap *registry.Snapshot) {
	w.Header().Set(IndexHeader, strconv.FormatUint(snap.Index(), 10))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	// An error here means the client went away; there is no one left to tell.
	_ = json.NewEncoder(w).Encode(v)
}

// errorJSON is the body of every error answer.
type errorJSON struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorJSON{Error: msg})
}

// statusError is an error with the HTTP status it answers with.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

// fail answers err with the status its kind calls for. Errors of unknown
// kind are the server's fault: they are logged and their text withheld.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		fe *registry.FieldError
		se *statusError
	)
	switch {
	case errors.As(err, &se):
		writeError(w, se.status, se.msg)
	case errors.As(err, &fe):
		writeError(w, http.StatusBadRequest, fe.Error())
	case errors.Is(err, registry.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, registry.ErrNoLease), errors.Is(err, registry.ErrStatic):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, registry.ErrNoSpace):
		writeError(w, http.StatusInsufficientStorage, registry.ErrNoSpace.Error())
	case errors.Is(err, registry.ErrUnavailable):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, err.Error())
	default:
		h.opts.Logger.Warningf("api: %s %s: %v", r.Method, r.URL.Path, err)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}
