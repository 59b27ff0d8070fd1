package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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
	if err == nil {
		err = h.permitCheck(in)
	}
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
	if err != nil {
		h.failRenewal(w, r, service, id, err)
		return
	}
	// The call a fleet of sidecars makes most often answers with the lease
	// alone, written without reflection.
	w.Header()["Content-Type"] = jsonContentType
	w.Write(appendLease(make([]byte, 0, 192), in, deadline))
}

// maxOutputBytes bounds the output of a health report: enough for an error
// message, too little to fill a log.
const maxOutputBytes = 4 << 10

// reportBody is the body of a health report.
type reportBody struct {
	Status *string `json:"status"`
	Output string  `json:"output"`
}

// report serves PUT /v1/services/{service}/instances/{id}/health: the
// instance's sidecar reports the health its local check found. It renews
// the lease as a heartbeat does and sets the health, so that a critical
// instance leaves DNS answers at once, not when its lease runs out, and
// comes back as soon as it reports passing. The registry logs each change
// with its output. Like a heartbeat, an unknown instance gets 404, so that
// its sidecar registers it again.
func (h *handler) report(w http.ResponseWriter, r *http.Request) {
	service, id, err := pathInstance(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var body reportBody
	if err := decodeBody(w, r, h.opts.MaxBodyBytes, &body); err != nil {
		h.fail(w, r, err)
		return
	}
	health, err := body.parse()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	in, deadline, err := h.reg.Report(service, id, health, body.Output)
	if err != nil {
		h.failRenewal(w, r, service, id, err)
		return
	}
	w.Header()["Content-Type"] = jsonContentType
	w.Write(appendLease(make([]byte, 0, 192), in, deadline))
}

// parse checks the report and returns the health it carries.
func (b *reportBody) parse() (registry.Health, error) {
	if b.Status == nil {
		return 0, &registry.FieldError{Field: "status", Reason: "is required"}
	}
	h, err := registry.ParseHealth(*b.Status)
	if err != nil {
		return 0, &registry.FieldError{Field: "status", Value: *b.Status, Reason: "must be passing, warning or critical"}
	}
	// The output goes into the server's log: one line, of bounded length.
	if len(b.Output) > maxOutputBytes {
		return 0, &registry.FieldError{Field: "output", Reason: fmt.Sprintf("is longer than %d bytes", maxOutputBytes)}
	}
	if i := strings.IndexFunc(b.Output, unicode.IsControl); i >= 0 {
		c, _ := utf8.DecodeRuneInString(b.Output[i:])
		return 0, &registry.FieldError{Field: "output", Reason: fmt.Sprintf("must not hold control characters, has %U at byte %d", c, i)}
	}
	return h, nil
}

// failRenewal answers the error of a heartbeat or health report. An
// instance without a lease has its health from its check, or none to
// report: 409, which tells its sidecar to register it again with a ttl.
func (h *handler) failRenewal(w http.ResponseWriter, r *http.Request, service, id string, err error) {
	if errors.Is(err, registry.ErrNoLease) {
		err = &statusError{http.StatusConflict, err.Error() + ": it was registered without a ttl" + h.checkedNote(service, id)}
	}
	h.fail(w, r, err)
}

// checkedNote says, for an instance registered with a check, where its
// health comes from.
func (h *handler) checkedNote(service, id string) string {
	svc := h.reg.Snapshot().Service(service)
	if svc == nil {
		return ""
	}
	if in, ok := svc.Instance(id); ok && in.Check != "" {
		return ", its health comes from its check"
	}
	return ""
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
