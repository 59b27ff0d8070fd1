package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

// pathInstance returns the service and instance id of an instance path,
// checked to be DNS labels.
func pathInstance(r *http.Request) (service, id string, err error) {
	service, id = r.PathValue("service"), r.PathValue("id")
	if err := registry.ValidateLabel("service", service); err != nil {
		return "", "", err
	}
	if err := registry.ValidateLabel("id", id); err != nil {
		return "", "", err
	}
	return service, id, nil
}

// register serves PUT /v1/services/{service}/instances/{id}: it adds or
// replaces the instance and answers with it as stored.
func (h *handler) register(w http.ResponseWriter, r *http.Request) {
	in, err := h.parseRegistration(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	before := h.reg.Index()
	stored, err := h.reg.Register(in)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if stored.ModifyIndex > before {
		h.opts.Logger.Infof("api: registered instance %s of service %s at %s%s",
			stored.ID, stored.Service, addrPort(stored), checkNote(stored))
	}
	writeJSON(w, http.StatusOK, h.renderInstance(stored))
}

func (h *handler) parseRegistration(w http.ResponseWriter, r *http.Request) (registry.Instance, error) {
	service, id, err := pathInstance(r)
	if err != nil {
		return registry.Instance{}, err
	}
	var body registerBody
	if err := decodeBody(w, r, h.opts.MaxBodyBytes, &body); err != nil {
		return registry.Instance{}, err
	}
	in, err := body.instance()
	in.Service, in.ID = service, id
	return in, err
}

func addrPort(in registry.Instance) string {
	return fmt.Sprintf("%s port %d", in.Address, in.Port)
}

// heartbeat serves PUT /v1/services/{service}/instances/{id}/heartbeat: it
// renews the lease. An unknown instance gets 404, so that its sidecar
// registers it again.
func (h *handler) heartbeat(w http.ResponseWriter, r *http.Request) {
	service, id, err := pathInstance(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	in, deadline, err := h.reg.Renew(service, id)
	if errors.Is(err, registry.ErrNoLease) {
		err = &statusError{http.StatusConflict, err.Error() + ": it was registered without a ttl"}
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// The call a fleet of sidecars makes most often answers with the lease
	// alone, written without reflection.
	w.Header()["Content-Type"] = jsonContentType
	w.Write(appendLease(make([]byte, 0, 192), in, deadline))
}

var jsonContentType = []string{"application/json"}

// appendLease appends the JSON of an instance's lease: its service, id,
// health, ttl and deadline. Service names and ids are DNS labels and need no
// escaping.
func appendLease(b []byte, in registry.Instance, deadline time.Time) []byte {
	b = append(b, `{"service":"`...)
	b = append(b, in.Service...)
	b = append(b, `","id":"`...)
	b = append(b, in.ID...)
	b = append(b, `","health":"`...)
	b = append(b, in.Health.String()...)
	b = append(b, `","ttl":"`...)
	b = append(b, in.TTL.String()...)
	b = append(b, `","lease_expires":"`...)
	b = deadline.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, "\"}\n"...)
}

// deregister serves DELETE /v1/services/{service}/instances/{id}.
func (h *handler) deregister(w http.ResponseWriter, r *http.Request) {
	service, id, err := pathInstance(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.reg.Deregister(service, id); err != nil {
		h.fail(w, r, err)
		return
	}
	h.opts.Logger.Infof("api: deregistered instance %s of service %s", id, service)
	w.WriteHeader(http.StatusNoContent)
}
