package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// The types of events in a server's event log.
const (
	EventRegistered      = "registered"            // an instance added, or its registration changed
	EventDeregistered    = "deregistered"          // an instance removed
	EventHealth          = "health"                // an instance turned passing, warning or critical
	EventExpired         = "expired"               // an instance turned critical: its lease ran out
	EventPreservationOn  = "self-preservation-on"  // lease expiry paused
	EventPreservationOff = "self-preservation-off" // lease expiry resumed
	EventFailoverOn      = "failover-on"           // a service answers with its failover target
	EventFailoverOff     = "failover-off"          // and with its instances again
)

// Event is one transition in a server's event log.
type Event struct {
	// Index numbers the events of one server process from 1. Another
	// server, or the same one after a restart, numbers its own.
	Index    uint64    `json:"index"`
	Time     time.Time `json:"time"`
	Type     string    `json:"type"`
	Service  string    `json:"service,omitempty"`
	Instance string    `json:"instance,omitempty"`
	// Health is the instance's health after the event, for registered,
	// health and expired events.
	Health Health `json:"health,omitempty"`
	// Reason says why: a probe's or a sidecar's output, a lease's TTL, the
	// counts that moved a failover.
	Reason string `json:"reason,omitempty"`
}

// EventPage is one read of the event log.
type EventPage struct {
	// Events are the events after the index asked for, oldest first.
	Events []Event
	// Index is the index of the server's newest event: ask for events
	// after it next.
	Index uint64
	// Missed reports that some events after the index asked for are no
	// longer kept by the server (its log is bounded), or that the index is
	// ahead of the server's log, as after a restart or on another server.
	// Events holds what the server keeps.
	Missed bool
}

// eventsMissedHeader is set on a read of the event log that missed events.
const eventsMissedHeader = "X-Signpost-Events-Missed"

// Events returns the events the server keeps after index after (0: all it
// keeps), only those of service unless it is empty.
func (c *Client) Events(ctx context.Context, after uint64, service string) (EventPage, error) {
	return c.events(ctx, eventsQuery(after, service), 0)
}

// WaitEvents is a blocking query of the event log: it returns once there
// are events of service (any service when empty) after index after, or
// when wait runs out, with what there is then.
func (c *Client) WaitEvents(ctx context.Context, after uint64, service string, wait time.Duration) (EventPage, error) {
	q := eventsQuery(after, service)
	q.Set("index", strconv.FormatUint(after, 10))
	q.Set("wait", wait.String())
	return c.events(ctx, q, wait)
}

func eventsQuery(after uint64, service string) url.Values {
	q := url.Values{}
	if after > 0 {
		q.Set("index", strconv.FormatUint(after, 10))
	}
	if service != "" {
		q.Set("service", service)
	}
	return q
}

func (c *Client) events(ctx context.Context, q url.Values, wait time.Duration) (EventPage, error) {
	var evs []Event
	resp, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/events", query: q, wait: wait}, &evs)
	if err != nil {
		return EventPage{Index: resp.index}, err
	}
	return EventPage{Events: evs, Index: resp.index, Missed: resp.header.Get(eventsMissedHeader) == "true"}, nil
}

// FollowEvents follows the event log with blocking queries from index after
// (0: from the oldest event the server keeps), calling fn with each page
// that holds events or reports missed ones, until ctx is done or fn returns
// an error, and returns that error or ctx's. Only service's events count
// unless it is empty.
//
// Network errors and server errors do not end it: it keeps asking, with
// backoff, until a server answers again. Other error answers, such as 401
// for a missing token, end it.
func (c *Client) FollowEvents(ctx context.Context, after uint64, service string, fn func(EventPage) error) error {
	fails := 0
	for {
		page, err := c.WaitEvents(ctx, after, service, c.watchWait)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			if !transient(err) {
				return err
			}
			fails++
			if err := sleep(ctx, c.backoffDelay(fails)); err != nil {
				return err
			}
			continue
		}
		fails = 0
		if len(page.Events) > 0 || page.Missed {
			if err := fn(page); err != nil {
				return err
			}
		}
		after = page.Index
	}
}
