package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Error is an error answer of a server: a 4xx, or a 5xx that persisted
// through every attempt. Test for it with errors.As.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Message is the server's reason, which names the offending field of a
	// bad request.
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status)
}

// IsNotFound reports whether err is a 404 answer: the instance or service
// is unknown. A heartbeat that gets it should register again.
func IsNotFound(err error) bool { return StatusCode(err) == http.StatusNotFound }

// StatusCode returns the HTTP status of an error answer, or 0 when err is not
// one (a network error, say).
func StatusCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// maxErrorBody is as much of an error answer as is read.
const maxErrorBody = 64 << 10

// readError turns an error answer into an *Error, taking the reason from a
// JSON {"error": "..."} body, or from a plain body such as a proxy sends.
func readError(resp *http.Response) *Error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &Error{Status: resp.StatusCode}
	var body struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &body) == nil && body.Error != "" {
		e.Message = body.Error
		return e
	}
	e.Message = http.StatusText(resp.StatusCode)
	if s := strings.TrimSpace(string(b)); s != "" && len(s) < 200 && !strings.ContainsAny(s, "\n<") {
		e.Message += ": " + s
	}
	return e
}
