package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

const snapshotPath = "/v1/snapshot"

// Snapshot writes a backup of every instance registered through the API to
// w: a JSON document that Restore, on this or another server, brings back.
// Instances declared in a server's Corefile are not part of it. The call
// needs the server's token (WithToken), and a server without one refuses
// it with 403: a backup holds the credentials of health checks.
//
// A network error or a 5xx answer moves on to the next server as long as
// nothing was written to w yet; an error while the backup is being copied
// into w is returned as is, and w then holds part of a backup. Write to a
// temporary file and keep it only when Snapshot returns nil, as
// "signpostctl snapshot save" does. The timeout of the client bounds the
// whole transfer, so raise it (WithTimeout) for a large registry.
func (c *Client) Snapshot(ctx context.Context, w io.Writer) error {
	_, err := c.do(ctx, request{method: http.MethodGet, path: snapshotPath, sink: w}, nil)
	return err
}

// Restore replaces every instance registered through the API on the server
// with those of a backup that Snapshot wrote, in one change: instances not
// in the backup are removed, Corefile instances are kept, and restored
// leases get the server's heartbeat grace. A backup the server finds wrong
// is refused whole with a 400 answer and changes nothing. Like Snapshot it
// needs the server's token; a server busy with another restore answers
// 409.
//
// Restore reads r to the end before it sends anything, and holds the backup
// in memory, so that after a network error or a 5xx answer it can send the
// same bytes to the next server. A restore that reached a server whose
// answer was lost is harmless to repeat: the result is the same.
func (c *Client) Restore(ctx context.Context, r io.Reader) error {
	body, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("reading the backup: %w", err)
	}
	_, err = c.do(ctx, request{method: http.MethodPut, path: snapshotPath, body: body}, nil)
	return err
}

// copyError is a failure while a 2xx answer's body was being copied to a
// request's sink. Once bytes reached the sink another attempt would add to
// them, and a sink that fails (a full disk) fails again, so either ends the
// call there.
type copyError struct {
	written  int64
	sinkFail bool
	err      error
}

func (e *copyError) Error() string {
	if e.sinkFail {
		return fmt.Sprintf("writing the answer after %d bytes: %v", e.written, e.err)
	}
	return fmt.Sprintf("reading the answer after %d bytes: %v", e.written, e.err)
}

func (e *copyError) Unwrap() error { return e.err }

// final reports whether the call must end with this error.
func (e *copyError) final() bool { return e.written > 0 || e.sinkFail }

// copyBody copies the body of an answer to sink.
func copyBody(sink io.Writer, body io.Reader) error {
	sw := &sinkWriter{w: sink}
	n, err := io.Copy(sw, body)
	if err != nil {
		return &copyError{written: n, sinkFail: sw.err != nil, err: err}
	}
	return nil
}

// sinkWriter remembers whether a write to w failed, to tell the sink's
// errors from the connection's.
type sinkWriter struct {
	w   io.Writer
	err error
}

func (s *sinkWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if err != nil {
		s.err = err
	}
	return n, err
}
