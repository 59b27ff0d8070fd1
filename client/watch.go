package client

import (
	"context"
)

// Watch follows a service with blocking queries. It calls fn with the
// service's current state, then again after each change to it, until ctx is
// done or fn returns an error, and returns that error or ctx's. A service
// that is not registered, or no longer is, is reported with no instances.
//
// Network errors and server errors do not end the watch: it keeps asking,
// with backoff, until a server answers again. Other error answers, such as
// 401 for a missing token, end it.
func (c *Client) Watch(ctx context.Context, service string, fn func(ServiceInfo) error) error {
	var (
		last  ServiceInfo
		seen  bool
		fails int
	)
	for {
		info, err := c.poll(ctx, service, last.Index, seen)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && !IsNotFound(err) {
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
		if !seen || changed(last, info) {
			if err := fn(info); err != nil {
				return err
			}
		}
		last, seen = info, true
	}
}

// poll asks for the service's state: at once the first time, then by a
// blocking query from the index of the last answer.
func (c *Client) poll(ctx context.Context, service string, index uint64, seen bool) (ServiceInfo, error) {
	if !seen {
		return c.Service(ctx, service)
	}
	return c.WaitService(ctx, service, index, c.watchWait)
}

// transient reports whether err may go away by asking again: a network
// error or a server error, not an answer refusing the request.
func transient(err error) bool {
	s := StatusCode(err)
	return s == 0 || s >= 500
}

// changed reports whether next differs from prev, the answer before it. An
// index going back means the server lost its state (it restarted without a
// data directory, or the client failed over to another server), so next is
// news whatever it holds.
func changed(prev, next ServiceInfo) bool {
	return next.Index < prev.Index || next.ModifyIndex != prev.ModifyIndex ||
		len(next.Instances) != len(prev.Instances)
}
