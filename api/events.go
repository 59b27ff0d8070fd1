package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

// MissedHeader is set to "true" on a read of the event log when events
// after the index asked for are no longer kept: the log is bounded, or the
// index is ahead of it, as after a restart. The answer holds what is kept.
const MissedHeader = "X-Signpost-Events-Missed"

// DefaultEventsHeartbeat is how often an idle event stream sends a comment,
// so that proxies and load balancers keep it open.
const DefaultEventsHeartbeat = 15 * time.Second

// eventsWriteTimeout bounds each write to an event stream: a client that
// stops reading is dropped rather than held.
const eventsWriteTimeout = 30 * time.Second

// eventJSON is an event as the API shows it.
type eventJSON struct {
	Index    uint64    `json:"index"`
	Time     time.Time `json:"time"`
	Type     string    `json:"type"`
	Service  string    `json:"service,omitempty"`
	Instance string    `json:"instance,omitempty"`
	Health   string    `json:"health,omitempty"`
	Reason   string    `json:"reason,omitempty"`
}

func renderEvent(e registry.Event) eventJSON {
	out := eventJSON{
		Index: e.Index, Time: e.Time.UTC(), Type: string(e.Type),
		Service: e.Service, Instance: e.Instance, Reason: e.Reason,
	}
	if e.HasHealth() {
		out.Health = e.Health.String()
	}
	return out
}

// eventsQuery is what a read of the event log asks for.
type eventsQuery struct {
	blockingQuery
	service string // only this service's events (and registry-wide ones); empty for all
}

func (h *handler) parseEvents(r *http.Request) (eventsQuery, error) {
	bq, err := h.parseBlocking(r)
	q := eventsQuery{blockingQuery: bq}
	if err != nil {
		return q, err
	}
	if s := r.URL.Query().Get("service"); s != "" {
		if err := registry.ValidateLabel("service", s); err != nil {
			return q, err
		}
		q.service = s
	}
	return q, nil
}

// matches reports whether e is of the service asked for. Events of the
// whole registry (self-preservation) match every service.
func (q eventsQuery) matches(e registry.Event) bool {
	return q.service == "" || e.Service == "" || e.Service == q.service
}

func (q eventsQuery) filter(evs []registry.Event) []eventJSON {
	out := make([]eventJSON, 0, len(evs))
	for _, e := range evs {
		if q.matches(e) {
			out = append(out, renderEvent(e))
		}
	}
	return out
}

// events serves GET /v1/events: the kept events after ?index=, oldest first,
// with the newest event's index in X-Signpost-Index. With ?index= it is a
// blocking query that waits (up to ?wait=) for an event after it; with
// ?service= only that service's events count. A request that accepts
// text/event-stream gets the stream instead.
func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	if acceptsEventStream(r) {
		h.eventStream(w, r)
		return
	}
	q, err := h.parseEvents(r)
	if err != nil {
		w.Header().Set(IndexHeader, strconv.FormatUint(h.reg.EventIndex(), 10))
		h.fail(w, r, err)
		return
	}
	page := h.reg.Events(q.index)
	if q.blocking {
		page = h.waitEvents(r.Context(), q)
	}
	w.Header().Set(IndexHeader, strconv.FormatUint(page.Last, 10))
	if page.Missed {
		w.Header().Set(MissedHeader, "true")
	}
	writeJSON(w, http.StatusOK, q.filter(page.Events))
}

// waitEvents waits for an event after q.index that q matches, and returns
// the events after q.index when one came, when events were missed, or when
// the wait ran out or the request ended.
func (h *handler) waitEvents(ctx context.Context, q eventsQuery) registry.EventPage {
	ctx, cancel := context.WithTimeout(ctx, q.wait)
	defer cancel()
	after := q.index
	var seen []registry.Event
	for {
		page, err := h.reg.WaitEvents(ctx, after)
		if page.Missed {
			return page
		}
		seen = append(seen, page.Events...)
		for _, e := range page.Events {
			if q.matches(e) {
				return registry.EventPage{Events: seen, Last: page.Last}
			}
		}
		if err != nil {
			return registry.EventPage{Events: seen, Last: page.Last}
		}
		after = page.Last
	}
}

// acceptsEventStream reports whether the client asks for Server-Sent Events.
func acceptsEventStream(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		media, _, _ := strings.Cut(part, ";")
		if strings.EqualFold(strings.TrimSpace(media), "text/event-stream") {
			return true
		}
	}
	return false
}

// eventStream serves the event log as Server-Sent Events
// (GET /v1/events/stream, or GET /v1/events accepting text/event-stream):
// the kept events after the Last-Event-ID header (or ?index=, or from the
// oldest kept), then each new one as it happens, with id: set to the
// event's index so that a client that reconnects resumes where it left off.
// Each event's data is its JSON. Events that were no longer kept are
// announced by an event named "missed". An idle stream sends a comment
// every heartbeat. The stream ends when the client goes or the server shuts
// down (the server's BaseContext ends).
func (h *handler) eventStream(w http.ResponseWriter, r *http.Request) {
	q, err := h.parseEvents(r)
	if err == nil && r.Header.Get("Last-Event-ID") != "" {
		q.index, err = parseLastEventID(r.Header.Get("Last-Event-ID"))
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no") // nginx: pass each event on at once
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set(IndexHeader, strconv.FormatUint(h.reg.EventIndex(), 10))
	w.WriteHeader(http.StatusOK)
	s := &sseWriter{w: w, rc: rc}
	s.printf("retry: 2000\n\n")
	if s.flush() != nil {
		return
	}
	h.streamEvents(r.Context(), s, q)
}

// streamEvents writes events after q.index to s until ctx ends or a write
// fails.
func (h *handler) streamEvents(ctx context.Context, s *sseWriter, q eventsQuery) {
	after := q.index
	for {
		wctx, cancel := context.WithTimeout(ctx, h.opts.EventsHeartbeat)
		page, err := h.reg.WaitEvents(wctx, after)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, context.DeadlineExceeded):
			s.printf(": keep-alive\n\n")
		}
		if page.Missed {
			s.missed(after, page)
		}
		for _, e := range page.Events {
			if q.matches(e) {
				s.event(renderEvent(e))
			}
		}
		if s.flush() != nil {
			return
		}
		after = page.Last
	}
}

func parseLastEventID(s string) (uint64, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, &registry.FieldError{Field: "Last-Event-ID", Value: s, Reason: "must be the index of an event"}
	}
	return n, nil
}

// sseWriter writes Server-Sent Events, each write within a deadline of its
// own: the server's WriteTimeout, meant for answers, would cut a long
// stream.
type sseWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	err error
}

func (s *sseWriter) printf(format string, args ...any) {
	if s.err != nil {
		return
	}
	if err := s.rc.SetWriteDeadline(time.Now().Add(eventsWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		s.err = err
		return
	}
	_, s.err = fmt.Fprintf(s.w, format, args...)
}

func (s *sseWriter) event(e eventJSON) {
	b, err := json.Marshal(e)
	if err != nil {
		panic(err) // strings, numbers and a time always encode
	}
	s.printf("id: %d\ndata: %s\n\n", e.Index, b)
}

// missed announces that events after index after are gone, and from which
// index the stream goes on.
func (s *sseWriter) missed(after uint64, page registry.EventPage) {
	next := page.Last + 1
	if len(page.Events) > 0 {
		next = page.Events[0].Index
	}
	s.printf("event: missed\ndata: {\"after\":%d,\"next\":%d}\n\n", after, next)
}

func (s *sseWriter) flush() error {
	if s.err == nil {
		s.err = s.rc.Flush()
	}
	return s.err
}
