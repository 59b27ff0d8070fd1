package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

func instancePath(service, id string) string {
	return "/v1/services/" + url.PathEscape(service) + "/instances/" + url.PathEscape(id)
}

// Register adds or replaces an instance and returns it as the server stored
// it. Registering the same instance again only renews its lease.
func (c *Client) Register(ctx context.Context, r Registration) (Instance, error) {
	body, err := json.Marshal(r.body())
	if err != nil {
		return Instance{}, err
	}
	var in Instance
	_, err = c.do(ctx, request{method: http.MethodPut, path: instancePath(r.Service, r.ID), body: body}, &in)
	return in, err
}

// Heartbeat renews the lease of an instance. When the server does not know
// the instance (it restarted, or the lease ran out long ago) the error
// satisfies IsNotFound, and the caller should register again.
func (c *Client) Heartbeat(ctx context.Context, service, id string) (Instance, error) {
	var in Instance
	_, err := c.do(ctx, request{method: http.MethodPut, path: instancePath(service, id) + "/heartbeat"}, &in)
	return in, err
}

// MaxOutputBytes is the longest output a server takes with a health
// report. Longer ones are refused, as are control characters (a newline
// among them): the output goes into the server's log as one line.
const MaxOutputBytes = 4 << 10

// Report renews the lease of an instance, as Heartbeat does, and sets its
// health to status: a service whose own check fails reports Critical and
// leaves DNS answers at once, then Passing to come back. The instance keeps
// its lease and its registration while it reports Critical. output, the
// reason (such as the check's error), goes into the server's log; it may be
// empty. As with Heartbeat, an error satisfying IsNotFound asks the caller
// to register again. An instance registered without a TTL cannot report
// (409): its health comes from its check.
func (c *Client) Report(ctx context.Context, service, id string, status Health, output string) (Instance, error) {
	body, err := json.Marshal(reportBody{Status: status, Output: output})
	if err != nil {
		return Instance{}, err
	}
	var in Instance
	_, err = c.do(ctx, request{method: http.MethodPut, path: instancePath(service, id) + "/health", body: body}, &in)
	return in, err
}

// reportBody is the JSON body of a health report.
type reportBody struct {
	Status Health `json:"status"`
	Output string `json:"output,omitempty"`
}

// Deregister removes an instance. An unknown one gets an error satisfying
// IsNotFound; that includes one that a first, seemingly failed attempt
// already removed.
func (c *Client) Deregister(ctx context.Context, service, id string) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: instancePath(service, id)}, nil)
	return err
}

// Services lists every service with its counts of instances by health,
// sorted by name.
func (c *Client) Services(ctx context.Context) ([]ServiceSummary, error) {
	var out []ServiceSummary
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/services"}, &out)
	return out, err
}

// Service returns a service with its instances. For an unknown service the
// error satisfies IsNotFound, and the ServiceInfo still carries the Name and
// Index to wait on for it to appear.
func (c *Client) Service(ctx context.Context, name string) (ServiceInfo, error) {
	return c.service(ctx, name, nil, 0)
}

// WaitService is a blocking query: it returns the service once it changed
// after index (an Index of an earlier answer), or when wait runs out, with
// its state then. The server caps wait, at 5 minutes by default. Like
// Service, it reports a service that is not (or no longer) there with an
// error satisfying IsNotFound.
func (c *Client) WaitService(ctx context.Context, name string, index uint64, wait time.Duration) (ServiceInfo, error) {
	q := url.Values{"index": {strconv.FormatUint(index, 10)}, "wait": {wait.String()}}
	return c.service(ctx, name, q, wait)
}

func (c *Client) service(ctx context.Context, name string, q url.Values, wait time.Duration) (ServiceInfo, error) {
	var info ServiceInfo
	resp, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/services/" + url.PathEscape(name), query: q, wait: wait}, &info)
	if err != nil {
		return ServiceInfo{Name: name, Index: resp.index}, err
	}
	info.Index = resp.index
	return info, nil
}
