package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

// fakeClock is a settable registry clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fixture is a handler over a fresh registry with a fake clock.
type fixture struct {
	t     testing.TB
	reg   *registry.Registry
	clock *fakeClock
	h     *handler
}

func newFixture(t testing.TB, opts Options) *fixture {
	t.Helper()
	clock := newClock()
	reg := registry.New(registry.Config{Now: clock.Now})
	return &fixture{t: t, reg: reg, clock: clock, h: newHandler(reg, opts)}
}

// do serves one request; hdr holds header name and value pairs.
func (f *fixture) do(method, path, body string, hdr ...string) *httptest.ResponseRecorder {
	f.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

// register adds an instance through the API and fails the test unless it
// gets 200.
func (f *fixture) register(service, id, body string) instanceJSON {
	f.t.Helper()
	rec := f.do("PUT", "/v1/services/"+service+"/instances/"+id, body, "Authorization", "Bearer "+f.h.opts.Token)
	if rec.Code != http.StatusOK {
		f.t.Fatalf("register %s/%s: %d %s", service, id, rec.Code, rec.Body)
	}
	var in instanceJSON
	decode(f.t, rec, &in)
	return in
}

func decode(t testing.TB, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("decode %q: %v", rec.Body, err)
	}
}

// wantError checks the status and the JSON error text of an answer.
func wantError(t testing.TB, rec *httptest.ResponseRecorder, status int, msg string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d (body %s)", rec.Code, status, rec.Body)
	}
	var e errorJSON
	decode(t, rec, &e)
	if e.Error != msg {
		t.Errorf("error %q, want %q", e.Error, msg)
	}
}

func indexOf(t testing.TB, rec *httptest.ResponseRecorder) uint64 {
	t.Helper()
	s := rec.Header().Get(IndexHeader)
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("%s %q: %v", IndexHeader, s, err)
	}
	return n
}

const web1 = `{"address":"10.0.0.5","port":8080,"ttl":"15s"}`

func TestRouting(t *testing.T) {
	f := newFixture(t, Options{})
	tests := []struct {
		method, path string
		status       int
		msg, allow   string
	}{
		{"GET", "/v1/nothing", 404, "no such endpoint: /v1/nothing", ""},
		{"GET", "/", 404, "no such endpoint: /", ""},
		{"GET", "/v1/services/web/instances/", 404, "no such endpoint: /v1/services/web/instances/", ""},
		{"POST", "/v1/services", 405, "method POST is not allowed on /v1/services", "GET, HEAD"},
		{"PUT", "/v1/services/web", 405, "method PUT is not allowed on /v1/services/web", "GET, HEAD"},
		{"GET", "/v1/services/web/instances/w1", 405, "method GET is not allowed on /v1/services/web/instances/w1", "DELETE, PUT"},
		{"POST", "/v1/services/web/instances/w1/heartbeat", 405, "method POST is not allowed on /v1/services/web/instances/w1/heartbeat", "PUT"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			rec := f.do(tc.method, tc.path, "")
			wantError(t, rec, tc.status, tc.msg)
			if got := rec.Header().Get("Allow"); got != tc.allow {
				t.Errorf("Allow %q, want %q", got, tc.allow)
			}
		})
	}
}

func TestRoutingRedirectsUncleanPath(t *testing.T) {
	f := newFixture(t, Options{})
	rec := f.do("GET", "/v1//services", "")
	if rec.Code/100 != 3 || rec.Header().Get("Location") != "/v1/services" {
		t.Fatalf("got %d Location %q, want a redirect to /v1/services", rec.Code, rec.Header().Get("Location"))
	}
}

func TestHealth(t *testing.T) {
	f := newFixture(t, Options{Token: "s3cret", TokenRead: true})
	rec := f.do("GET", "/v1/health", "")
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != `{"status":"ok"}` {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
}

func TestAuth(t *testing.T) {
	const token = "s3cret"
	tests := []struct {
		name   string
		opts   Options
		method string
		path   string
		auth   string
		status int
	}{
		{"no token set, write", Options{}, "PUT", "/v1/services/web/instances/w1", "", 200},
		{"no token set, any header", Options{}, "PUT", "/v1/services/web/instances/w1", "Bearer junk", 200},
		{"write without header", Options{Token: token}, "PUT", "/v1/services/web/instances/w1", "", 401},
		{"write with wrong token", Options{Token: token}, "PUT", "/v1/services/web/instances/w1", "Bearer wrong", 401},
		{"write with token prefix", Options{Token: token}, "PUT", "/v1/services/web/instances/w1", "Bearer s3cre", 401},
		{"write with other scheme", Options{Token: token}, "PUT", "/v1/services/web/instances/w1", "Basic s3cret", 401},
		{"write with bare token", Options{Token: token}, "PUT", "/v1/services/web/instances/w1", "s3cret", 401},
		{"write with token", Options{Token: token}, "PUT", "/v1/services/web/instances/w1", "Bearer s3cret", 200},
		{"scheme is case-insensitive", Options{Token: token}, "PUT", "/v1/services/web/instances/w1", "bearer s3cret", 200},
		{"heartbeat without token", Options{Token: token}, "PUT", "/v1/services/web/instances/w1/heartbeat", "", 401},
		{"deregister without token", Options{Token: token}, "DELETE", "/v1/services/web/instances/w1", "", 401},
		{"read without token", Options{Token: token}, "GET", "/v1/services", "", 200},
		{"show without token", Options{Token: token}, "GET", "/v1/services/web", "", 404},
		{"token-read, list without token", Options{Token: token, TokenRead: true}, "GET", "/v1/services", "", 401},
		{"token-read, show without token", Options{Token: token, TokenRead: true}, "GET", "/v1/services/web", "", 401},
		{"token-read, list with token", Options{Token: token, TokenRead: true}, "GET", "/v1/services", "Bearer s3cret", 200},
		{"token-read without token set", Options{TokenRead: true}, "GET", "/v1/services", "", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.opts)
			body := ""
			if tc.method == "PUT" {
				body = web1
			}
			rec := f.do(tc.method, tc.path, body, "Authorization", tc.auth)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d (%s)", rec.Code, tc.status, rec.Body)
			}
			if tc.status != 401 {
				return
			}
			wantError(t, rec, 401, `missing or invalid token: send "Authorization: Bearer <token>"`)
			if got := rec.Header().Get("WWW-Authenticate"); got != `Bearer realm="signpost"` {
				t.Errorf("WWW-Authenticate %q", got)
			}
			if f.reg.Snapshot().Len() != 0 {
				t.Error("an unauthorized write changed the registry")
			}
		})
	}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
