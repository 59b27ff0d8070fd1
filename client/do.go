package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// indexHeader carries the registry change index on every read.
const indexHeader = "X-Signpost-Index"

// maxBody is as much of a successful answer as is decoded; a request's sink
// gets all of it.
const maxBody = 64 << 20

// request is one API call, sent to one server per attempt.
type request struct {
	method string
	path   string // escaped
	query  url.Values
	body   []byte
	wait   time.Duration // how long the server may hold a blocking query
	// sink, when set, receives the body of a 2xx answer as it is, instead
	// of decoding it.
	sink io.Writer
}

// response is what a successful attempt, or a final error answer, returns.
type response struct {
	index  uint64
	header http.Header
}

// do sends req until a server answers it, decoding a 2xx answer's body into
// out (unless nil). Network errors and 5xx answers move on to the next
// server; 4xx answers are returned at once. The response carries the
// change index of the answer, also for an error answer.
func (c *Client) do(ctx context.Context, req request, out any) (response, error) {
	n := len(c.servers)
	first := int(c.preferred.Load()) % n
	var lastErr error
	for i := range c.attempts {
		if i > 0 && i%n == 0 {
			if err := sleep(ctx, c.backoffDelay(i/n)); err != nil {
				return response{}, err
			}
		}
		k := (first + i) % n
		resp, err := c.attempt(ctx, c.servers[k], req, out)
		if !retryable(ctx, err) {
			if err == nil || StatusCode(err) != 0 {
				c.preferred.Store(uint32(k))
			}
			return resp, err
		}
		lastErr = err
	}
	if ctx.Err() != nil {
		return response{}, ctx.Err()
	}
	return response{}, fmt.Errorf("giving up after %d attempts: %w", c.attempts, lastErr)
}

// retryable reports whether err, from one attempt, calls for another: a
// network error or a 5xx answer, while ctx is still live.
func retryable(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Status >= 500
	}
	var ce *copyError
	if errors.As(err, &ce) {
		return !ce.final()
	}
	var d *decodeError
	return !errors.As(err, &d)
}

// decodeError is a 2xx answer whose body does not decode: a protocol error,
// not a transient one.
type decodeError struct{ err error }

func (e *decodeError) Error() string { return "decoding the answer: " + e.err.Error() }
func (e *decodeError) Unwrap() error { return e.err }

// attempt sends req to the server at base once.
func (c *Client) attempt(ctx context.Context, base string, req request, out any) (response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout+req.wait)
	defer cancel()
	hreq, err := c.newRequest(ctx, base, req)
	if err != nil {
		return response{}, err
	}
	hresp, err := c.hc.Do(hreq)
	if err != nil {
		return response{}, err
	}
	defer drainClose(hresp.Body)
	resp := response{header: hresp.Header}
	resp.index, _ = strconv.ParseUint(hresp.Header.Get(indexHeader), 10, 64)
	if hresp.StatusCode < 200 || hresp.StatusCode > 299 {
		return resp, readError(hresp)
	}
	if req.sink != nil {
		return resp, copyBody(req.sink, hresp.Body)
	}
	if out == nil {
		_, err = io.Copy(io.Discard, io.LimitReader(hresp.Body, maxBody))
		return resp, err
	}
	if err := json.NewDecoder(io.LimitReader(hresp.Body, maxBody)).Decode(out); err != nil {
		return resp, &decodeError{fmt.Errorf("%s %s: %w", req.method, hreq.URL.Redacted(), err)}
	}
	return resp, nil
}

// maxDrain is as much of an answer's unread rest (trailing white space after
// a decoded value, say) as is read before closing it, so that its
// connection goes back to the pool: Go's transport closes a connection
// whose answer was not read to its end. Beyond it, a new connection costs
// less than reading on.
const maxDrain = 256 << 10

// drainClose reads what is left of body, up to maxDrain, and closes it.
func drainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxDrain))
	body.Close()
}

func (c *Client) newRequest(ctx context.Context, base string, req request) (*http.Request, error) {
	u := base + req.path
	if len(req.query) > 0 {
		u += "?" + req.query.Encode()
	}
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hreq, err := http.NewRequestWithContext(ctx, req.method, u, body)
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", "signpost-client")
	if req.body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.token)
	}
	return hreq, nil
}

// backoffDelay is the pause before round r (1, 2, ...) over the servers:
// exponential from c.backoff, below c.maxBack, with jitter in its upper
// half so that clients cut off together do not come back together.
func (c *Client) backoffDelay(round int) time.Duration {
	d := c.maxBack
	if round < 32 && c.backoff<<(round-1) < d {
		d = c.backoff << (round - 1)
	}
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// sleep waits d or until ctx is done, and returns ctx's error in that case.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
