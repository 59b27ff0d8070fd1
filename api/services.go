package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

// listServices serves GET /v1/services: every service with its counts of
// instances by health, sorted by name. With ?index= it is a blocking query
// that waits for any change to the registry.
func (h *handler) listServices(w http.ResponseWriter, r *http.Request) {
	snap := h.reg.Snapshot()
	q, err := h.parseBlocking(r)
	if err != nil {
		setIndex(w, snap)
		h.fail(w, r, err)
		return
	}
	if q.blocking {
		snap = h.waitAny(r.Context(), q)
	}
	setIndex(w, snap)
	svcs := snap.Services()
	out := make([]summaryJSON, 0, len(svcs))
	for _, svc := range svcs {
		out = append(out, renderSummary(svc))
	}
	writeJSON(w, http.StatusOK, out)
}

// showService serves GET /v1/services/{service}: the service with its
// instances and their health. With ?index= it is a blocking query that
// waits for a change to this service.
func (h *handler) showService(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("service")
	snap := h.reg.Snapshot()
	q, err := h.parseBlocking(r)
	if err == nil {
		err = registry.ValidateLabel("service", name)
	}
	if err != nil {
		setIndex(w, snap)
		h.fail(w, r, err)
		return
	}
	if q.blocking {
		snap = h.waitService(r.Context(), name, q)
	}
	setIndex(w, snap)
	svc := snap.Service(name)
	if svc == nil {
		writeError(w, http.StatusNotFound, "service "+name+" not found")
		return
	}
	writeJSON(w, http.StatusOK, h.renderService(svc))
}

// blockingQuery is the ?index=N&wait=D of a read. Without index a read
// answers at once.
type blockingQuery struct {
	blocking bool
	index    uint64
	wait     time.Duration
}

func (h *handler) parseBlocking(r *http.Request) (blockingQuery, error) {
	q := blockingQuery{wait: h.opts.MaxWait}
	query := r.URL.Query()
	if s := query.Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return q, &registry.FieldError{Field: "wait", Value: s, Reason: `must be a duration such as "30s"`}
		}
		q.wait = min(d, h.opts.MaxWait)
	}
	if s := query.Get("index"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return q, &registry.FieldError{Field: "index", Value: s, Reason: "must be a non-negative integer"}
		}
		q.blocking, q.index = true, n
	}
	return q, nil
}

// waitAny returns the first snapshot past q.index, or the current one when
// the wait runs out or the request ends. An index ahead of the registry's,
// as after a restart of a server that keeps no data, answers at once.
func (h *handler) waitAny(ctx context.Context, q blockingQuery) *registry.Snapshot {
	snap := h.reg.Snapshot()
	if snap.Index() != q.index {
		return snap
	}
	ctx, cancel := context.WithTimeout(ctx, q.wait)
	defer cancel()
	snap, _ = h.reg.WaitIndex(ctx, q.index)
	return snap
}

// waitService is waitAny for changes to one service: changes to others do
// not end the wait. It answers at once when the service may have changed
// since q.index: when it was modified after it, or when it is absent now and
// the registry changed since (it may have been deregistered in between).
func (h *handler) waitService(ctx context.Context, name string, q blockingQuery) *registry.Snapshot {
	snap := h.reg.Snapshot()
	svc := snap.Service(name)
	if snap.Index() != q.index && (svc == nil || svc.ModifyIndex() > q.index || snap.Index() < q.index) {
		return snap
	}
	existed := svc != nil
	ctx, cancel := context.WithTimeout(ctx, q.wait)
	defer cancel()
	for {
		next, err := h.reg.WaitIndex(ctx, snap.Index())
		if err != nil {
			return next
		}
		snap = next
		svc = snap.Service(name)
		if (svc == nil && existed) || (svc != nil && svc.ModifyIndex() > q.index) {
			return snap
		}
	}
}
