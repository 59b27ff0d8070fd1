package client

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestNewServers(t *testing.T) {
	tests := []struct {
		in   string
		tls  bool
		want string
		err  string
	}{
		{in: "10.0.0.2:8053", want: "http://10.0.0.2:8053"},
		{in: "localhost:8053", want: "http://localhost:8053"},
		{in: "10.0.0.2:8053", tls: true, want: "https://10.0.0.2:8053"},
		{in: "http://10.0.0.2:8053/", want: "http://10.0.0.2:8053"},
		{in: " https://signpost.example:8053 ", want: "https://signpost.example:8053"},
		{in: "http://proxy.example/signpost/", want: "http://proxy.example/signpost"},
		{in: "[2001:db8::1]:8053", want: "http://[2001:db8::1]:8053"},
		{in: "ftp://10.0.0.2", err: `client: server "ftp://10.0.0.2": want http://HOST:PORT or https://HOST:PORT`},
		{in: "http://", err: `client: server "http://": want http://HOST:PORT or https://HOST:PORT`},
		{in: "http://x:1/?a=b", err: `client: server "http://x:1/?a=b": want http://HOST:PORT or https://HOST:PORT`},
		{in: "http://x:port", err: `client: server "http://x:port": parse "http://x:port": invalid port ":port" after host`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			var opts []Option
			if tc.tls {
				opts = append(opts, WithTLSConfig(&tls.Config{}))
			}
			c, err := New([]string{tc.in}, opts...)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Servers(); len(got) != 1 || got[0] != tc.want {
				t.Errorf("servers %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	c, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Servers(); len(got) != 1 || got[0] != DefaultServer {
		t.Errorf("servers %q, want %s", got, DefaultServer)
	}
	if c.attempts != 4 || c.timeout != DefaultTimeout {
		t.Errorf("attempts %d timeout %s", c.attempts, c.timeout)
	}
	c, _ = New([]string{"a:1", "b:1", "c:1"})
	if c.attempts != 6 {
		t.Errorf("attempts %d with three servers, want 6", c.attempts)
	}
	if _, err := New(nil, WithHTTPClient(http.DefaultClient), WithTLSConfig(&tls.Config{})); err == nil {
		t.Error("WithHTTPClient and WithTLSConfig together: no error")
	}
}

// fake is a scripted server that counts its requests.
type fake struct {
	*httptest.Server
	hits atomic.Int32
}

func newFake(t *testing.T, h http.HandlerFunc) *fake {
	t.Helper()
	f := &fake{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func status(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set(indexHeader, "7")
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}
}

const instanceBody = `{"service":"web","id":"w1","address":"10.0.0.5","port":8080,"tags":[],"meta":{},"weight":1,"health":"passing","source":"api","ttl":"15s","lease_expires":"2026-01-02T03:04:20Z","create_index":1,"modify_index":1}`

// closedURL returns the address of a server that is no longer listening.
func closedURL(t *testing.T) string {
	s := httptest.NewServer(http.NotFoundHandler())
	s.Close()
	return s.URL
}

func fastRetry(attempts int) Option { return WithRetry(attempts, time.Millisecond, 5*time.Millisecond) }

func TestFailoverOnNetworkError(t *testing.T) {
	good := newFake(t, status(200, instanceBody))
	c, err := New([]string{closedURL(t), good.URL}, fastRetry(4))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	in, err := c.Heartbeat(ctx, "web", "w1")
	if err != nil || in.ID != "w1" || in.TTL != 15*time.Second {
		t.Fatalf("got %+v, %v", in, err)
	}
	// The server that answered is asked first from now on.
	if _, err := c.Heartbeat(ctx, "web", "w1"); err != nil {
		t.Fatal(err)
	}
	if n := good.hits.Load(); n != 2 {
		t.Errorf("second server got %d requests, want 2", n)
	}
}

func TestFailoverOn5xx(t *testing.T) {
	bad := newFake(t, status(503, `{"error":"overloaded"}`))
	good := newFake(t, status(200, instanceBody))
	c, _ := New([]string{bad.URL, good.URL}, fastRetry(4))
	for range 3 {
		if _, err := c.Heartbeat(context.Background(), "web", "w1"); err != nil {
			t.Fatal(err)
		}
	}
	if bad.hits.Load() != 1 || good.hits.Load() != 3 {
		t.Errorf("hits: first %d, second %d; want 1 and 3", bad.hits.Load(), good.hits.Load())
	}
}

func TestNoRetryOn4xx(t *testing.T) {
	for _, code := range []int{400, 401, 404, 409, 413} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			first := newFake(t, status(code, `{"error":"port: \"0\" must be between 1 and 65535"}`))
			second := newFake(t, status(200, instanceBody))
			c, _ := New([]string{first.URL, second.URL}, fastRetry(4))
			_, err := c.Register(context.Background(), Registration{Service: "web", ID: "w1", Address: "10.0.0.5"})
			var e *Error
			if !errors.As(err, &e) || e.Status != code || e.Message != `port: "0" must be between 1 and 65535` {
				t.Fatalf("err %#v", err)
			}
			if first.hits.Load() != 1 || second.hits.Load() != 0 {
				t.Errorf("hits: %d and %d, want 1 and 0", first.hits.Load(), second.hits.Load())
			}
		})
	}
}

func TestRetryThenSucceed(t *testing.T) {
	var n atomic.Int32
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) < 3 {
			status(500, `{"error":"internal error"}`)(w, r)
			return
		}
		status(200, instanceBody)(w, r)
	})
	c, _ := New([]string{f.URL}, fastRetry(4))
	if _, err := c.Heartbeat(context.Background(), "web", "w1"); err != nil {
		t.Fatal(err)
	}
	if f.hits.Load() != 3 {
		t.Errorf("%d requests, want 3", f.hits.Load())
	}
}

func TestRetryGivesUp(t *testing.T) {
	f := newFake(t, status(502, "upstream down"))
	c, _ := New([]string{f.URL}, fastRetry(3))
	_, err := c.Heartbeat(context.Background(), "web", "w1")
	if StatusCode(err) != 502 || err.Error() != "giving up after 3 attempts: Bad Gateway: upstream down (HTTP 502)" {
		t.Errorf("err %v", err)
	}
	if f.hits.Load() != 3 {
		t.Errorf("%d requests, want 3", f.hits.Load())
	}
}

func TestNetworkErrorGivesUp(t *testing.T) {
	c, _ := New([]string{closedURL(t), closedURL(t)}, fastRetry(4))
	_, err := c.Services(context.Background())
	if err == nil || StatusCode(err) != 0 || !strings.HasPrefix(err.Error(), "giving up after 4 attempts: Get ") {
		t.Errorf("err %v", err)
	}
}

func TestAttemptTimeout(t *testing.T) {
	release := make(chan struct{})
	slow := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	good := newFake(t, status(200, `[]`))
	c, _ := New([]string{slow.URL, good.URL}, WithTimeout(50*time.Millisecond), fastRetry(2))
	if _, err := c.Services(context.Background()); err != nil {
		t.Fatalf("slow server not skipped: %v", err)
	}
}

func TestContextEndsBackoff(t *testing.T) {
	c, _ := New([]string{closedURL(t)}, WithRetry(10, time.Hour, time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Services(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("err %v after %s", err, time.Since(start))
	}
}

func TestRequest(t *testing.T) {
	var got *http.Request
	var body string
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got, body = r, string(b)
		status(200, instanceBody)(w, r)
	})
	c, _ := New([]string{f.URL}, WithToken("s3cret"))
	_, err := c.Register(context.Background(), Registration{
		Service: "web", ID: "w1", Address: "10.0.0.5", Port: 8080, Tags: []string{"v2"},
		Meta: map[string]string{"zone": "a"}, Weight: new(0), TTL: 15 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Method != "PUT" || got.URL.Path != "/v1/services/web/instances/w1" || got.Header.Get("Authorization") != "Bearer s3cret" || got.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request %s %s %v", got.Method, got.URL, got.Header)
	}
	const want = `{"address":"10.0.0.5","port":8080,"tags":["v2"],"meta":{"zone":"a"},"weight":0,"ttl":"15s"}`
	if body != want {
		t.Errorf("body %s\nwant %s", body, want)
	}
}

func TestRegisterOmitsDefaults(t *testing.T) {
	r := Registration{Service: "web", ID: "w1", Address: "10.0.0.5", Port: 80}
	if b := r.body(); b.Weight != nil || b.TTL != "" || b.Tags != nil {
		t.Errorf("body %+v", b)
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		code int
		body string
		want string
	}{
		{404, `{"error":"service web not found"}`, "service web not found (HTTP 404)"},
		{502, "bad gateway from the proxy", "Bad Gateway: bad gateway from the proxy (HTTP 502)"},
		{500, "<html><body>oops</body></html>", "Internal Server Error (HTTP 500)"},
		{403, "", "Forbidden (HTTP 403)"},
	}
	for _, tc := range tests {
		f := newFake(t, status(tc.code, tc.body))
		c, _ := New([]string{f.URL}, fastRetry(1))
		_, err := c.Services(context.Background())
		var e *Error
		if !errors.As(err, &e) || e.Error() != tc.want {
			t.Errorf("%d %q: err %v, want %s", tc.code, tc.body, err, tc.want)
		}
	}
}

func TestIsNotFound(t *testing.T) {
	if !IsNotFound(fmt.Errorf("wrapped: %w", &Error{Status: 404})) {
		t.Error("wrapped 404 not found")
	}
	if IsNotFound(&Error{Status: 409}) || IsNotFound(errors.New("x")) || IsNotFound(nil) {
		t.Error("IsNotFound true for something else")
	}
}

func TestNotFoundKeepsIndex(t *testing.T) {
	f := newFake(t, status(404, `{"error":"service web not found"}`))
	c, _ := New([]string{f.URL})
	info, err := c.Service(context.Background(), "web")
	if !IsNotFound(err) || info.Name != "web" || info.Index != 7 {
		t.Errorf("got %+v, %v", info, err)
	}
}

func TestBackoffDelay(t *testing.T) {
	c := &Client{backoff: 100 * time.Millisecond, maxBack: time.Second}
	for round, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 40: time.Second} {
		for range 50 {
			if d := c.backoffDelay(round); d < want/2 || d > want {
				t.Fatalf("round %d: %s, want between %s and %s", round, d, want/2, want)
			}
		}
	}
}

func TestInstanceJSON(t *testing.T) {
	var in Instance
	if err := in.UnmarshalJSON([]byte(instanceBody)); err != nil {
		t.Fatal(err)
	}
	want := Instance{
		Service: "web", ID: "w1", Address: "10.0.0.5", Port: 8080, Tags: []string{}, Meta: map[string]string{},
		Weight: 1, Health: Passing, Source: "api", TTL: 15 * time.Second,
		LeaseExpires: time.Date(2026, 1, 2, 3, 4, 20, 0, time.UTC), CreateIndex: 1, ModifyIndex: 1,
	}
	if fmt.Sprint(in) != fmt.Sprint(want) {
		t.Errorf("got  %+v\nwant %+v", in, want)
	}
	b, err := in.MarshalJSON()
	if err != nil || !strings.Contains(string(b), `"ttl":"15s"`) {
		t.Fatalf("marshal: %s, %v", b, err)
	}
	var back Instance
	if err := json.Unmarshal(b, &back); err != nil || fmt.Sprint(back) != fmt.Sprint(want) {
		t.Errorf("round trip: %+v, %v", back, err)
	}
	if err := in.UnmarshalJSON([]byte(`{"ttl":"soon"}`)); err == nil {
		t.Error("bad ttl accepted")
	}
}
