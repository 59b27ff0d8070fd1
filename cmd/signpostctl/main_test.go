package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/api"
	"github.com/signpost-dns/signpost/registry"
)

// The server packages are imported by the tests alone, to run the real API.

var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newServer(t testing.TB, opts api.Options) (*registry.Registry, *httptest.Server) {
	t.Helper()
	reg := registry.New(registry.Config{Now: func() time.Time { return testNow }})
	srv := httptest.NewServer(api.NewHandler(reg, opts))
	t.Cleanup(srv.Close)
	return reg, srv
}

// result is what one run of the program left.
type result struct {
	code           int
	stdout, stderr string
}

// ctl runs signpostctl with args and the environment env ("K=V" pairs).
func ctl(ctx context.Context, env []string, args ...string) result {
	getenv := func(k string) string {
		for _, kv := range env {
			if key, v, _ := strings.Cut(kv, "="); key == k {
				return v
			}
		}
		return ""
	}
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, getenv, &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

func (r result) check(t *testing.T, code int, stdout, stderr string) {
	t.Helper()
	if r.code != code || !strings.Contains(r.stdout, stdout) || !strings.Contains(r.stderr, stderr) {
		t.Errorf("exit %d, want %d\nstdout: %s\nwant: %s\nstderr: %s\nwant: %s", r.code, code, r.stdout, stdout, r.stderr, stderr)
	}
	if code != 0 && strings.Count(r.stderr, "\n") != 1 && !strings.HasPrefix(r.stderr, "Usage") {
		t.Errorf("error not one line: %q", r.stderr)
	}
}

func TestUsage(t *testing.T) {
	ctx := context.Background()
	ctl(ctx, nil).check(t, 2, "", "Usage: signpostctl [global flags] COMMAND")
	ctl(ctx, nil, "--help").check(t, 0, "Examples:", "")
	ctl(ctx, nil, "-h").check(t, 0, "Commands:", "")
	ctl(ctx, nil, "help").check(t, 0, "Commands:", "")
	ctl(ctx, nil, "help", "show").check(t, 0, "Usage: signpostctl show SERVICE", "")
	ctl(ctx, nil, "help", "nope").check(t, 2, "", `signpostctl: unknown command "nope" (see 'signpostctl --help')`)
	ctl(ctx, nil, "nope").check(t, 2, "", `signpostctl: unknown command "nope"`)
	ctl(ctx, nil, "--nope", "ls").check(t, 2, "", "signpostctl: unknown flag --nope")
	for _, c := range commands {
		r := ctl(ctx, nil, c.name, "--help")
		r.check(t, 0, "Usage: signpostctl "+c.name, "")
		if !strings.Contains(r.stdout, "Examples:\n  ") {
			t.Errorf("%s --help has no examples", c.name)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"register", "web", "w1"}, "signpostctl: register: want SERVICE ID ADDR:PORT, got 2 argument(s) (see 'signpostctl register --help')"},
		{[]string{"register", "web", "w1", "10.0.0.5"}, `signpostctl: register: ADDR:PORT "10.0.0.5": want an IP address and a port`},
		{[]string{"register", "web", "w1", "db.example.com:80"}, `signpostctl: register: ADDR:PORT "db.example.com:80"`},
		{[]string{"register", "web", "w1", "10.0.0.5:80", "--weight", "x"}, `signpostctl: register: invalid value "x" for --weight`},
		{[]string{"register", "web", "w1", "10.0.0.5:80", "--meta", "novalue"}, `signpostctl: register: invalid value "novalue" for --meta: "novalue" is not KEY=VALUE`},
		{[]string{"register", "web", "w1", "10.0.0.5:80", "--ttl"}, "signpostctl: register: flag --ttl needs a value"},
		{[]string{"deregister", "web"}, "signpostctl: deregister: want SERVICE ID, got 1 argument(s)"},
		{[]string{"ls", "web"}, "signpostctl: ls: want no arguments, got 1 argument(s)"},
		{[]string{"show"}, "signpostctl: show: want SERVICE, got 0 argument(s)"},
		{[]string{"watch", "a", "b"}, "signpostctl: watch: want SERVICE, got 2 argument(s)"},
		{[]string{"ls", "--server", "ftp://x"}, `signpostctl: ls: --server: client: server "ftp://x": want http://HOST:PORT or https://HOST:PORT`},
		{[]string{"ls", "--ca-file", "/nonexistent"}, "signpostctl: ls: --ca-file: open /nonexistent: no such file or directory"},
		{[]string{"sidecar", "--service", "web"}, "signpostctl: sidecar: --service, --id, --address and --port are required"},
		{[]string{"sidecar", "--service", "web", "--id", "w1", "--address", "10.0.0.5", "--port", "70000"}, "signpostctl: sidecar: --port 70000: want 1 to 65535"},
		{[]string{"sidecar", "--service", "web", "--id", "w1", "--address", "10.0.0.5", "--port", "80", "--ttl", "0s"}, "signpostctl: sidecar: --ttl 0s: the sidecar needs a lease of at least 1s"},
		{[]string{"sidecar", "--service", "web", "--id", "w1", "--address", "10.0.0.5", "--port", "80", "--health-url", "localhost:8080"}, `signpostctl: sidecar: --health-url "localhost:8080": want an http:// or https:// URL`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			ctl(ctx, nil, tc.args...).check(t, 2, "", tc.msg)
		})
	}
}

func TestRegisterAndLookUp(t *testing.T) {
	timeNow = func() time.Time { return testNow }
	t.Cleanup(func() { timeNow = time.Now })
	reg, srv := newServer(t, api.Options{})
	ctx := context.Background()
	env := []string{"SIGNPOST_SERVER=" + srv.URL}

	// Flags before, between and after the arguments.
	ctl(ctx, env, "register", "--tag", "v2", "web", "w1", "10.0.0.5:8080", "--meta", "zone=a", "--ttl", "15s", "--tag", "canary,blue", "--weight", "0").
		check(t, 0, "registered instance w1 of service web at 10.0.0.5:8080 (passing, ttl 15s)\n", "")
	in, ok := reg.Snapshot().Service("web").Instance("w1")
	if !ok || in.Port != 8080 || in.Weight != 0 || in.TTL != 15*time.Second || strings.Join(in.Tags, ",") != "blue,canary,v2" || in.Meta["zone"] != "a" {
		t.Fatalf("registered %+v", in)
	}
	ctl(ctx, env, "register", "web", "w2", "[2001:db8::5]:8080").check(t, 0, "at [2001:db8::5]:8080 (passing, no lease)", "")
	reg.SetHealth("web", "w2", registry.Warning)
	ctl(ctx, env, "register", "db", "d1", "10.0.0.9:3306").check(t, 0, "", "")

	r := ctl(ctx, env, "ls")
	r.check(t, 0, "", "")
	const wantLs = `SERVICE  INSTANCES  PASSING  WARNING  CRITICAL
db       1          1        0        0
web      2          1        1        0
`
	if r.stdout != wantLs {
		t.Errorf("ls:\n%s\nwant:\n%s", r.stdout, wantLs)
	}

	r = ctl(ctx, env, "show", "web")
	r.check(t, 0, "", "")
	const wantShow = `service web: 2 instances, 1 passing, 1 warning, 0 critical (index 4)
ID  ADDRESS             HEALTH   SOURCE  WEIGHT  TTL  LEASE     TAGS
w1  10.0.0.5:8080       passing  api     0       15s  15s left  blue,canary,v2
w2  [2001:db8::5]:8080  warning  api     1       -    -         -
`
	if r.stdout != wantShow {
		t.Errorf("show:\n%s\nwant:\n%s", r.stdout, wantShow)
	}
	ctl(ctx, env, "show", "web", "--json").check(t, 0, `"instances":[{"service":"web","id":"w1"`, "")
	ctl(ctx, env, "ls", "--json").check(t, 0, `[{"service":"db","instances":1,`, "")

	ctl(ctx, env, "heartbeat", "web", "w1").check(t, 0, "renewed the lease of instance w1 of service web (passing, ttl 15s)", "")
	ctl(ctx, env, "deregister", "web", "w1").check(t, 0, "deregistered instance w1 of service web\n", "")
	if _, ok := reg.Snapshot().Service("web").Instance("w1"); ok {
		t.Error("w1 still registered")
	}
}

func TestServerErrors(t *testing.T) {
	reg, srv := newServer(t, api.Options{Token: "s3cret"})
	ctx := context.Background()
	env := []string{"SIGNPOST_SERVER=" + srv.URL, "SIGNPOST_TOKEN=s3cret"}
	ctl(ctx, env, "register", "Web", "w1", "10.0.0.5:80").
		check(t, 1, "", `signpostctl: register: service: "Web" may hold only lowercase a-z, 0-9 and '-' (HTTP 400)`)
	ctl(ctx, env, "register", "web", "w1", "10.0.0.5:80", "--ttl", "48h").
		check(t, 1, "", `signpostctl: register: ttl: "48h0m0s" must be between 1s and 24h0m0s (HTTP 400)`)
	ctl(ctx, env, "heartbeat", "web", "w9").check(t, 1, "", "signpostctl: heartbeat: instance w9 of service web not found (HTTP 404)")
	ctl(ctx, env, "deregister", "web", "w9").check(t, 1, "", "signpostctl: deregister: instance w9 of service web not found (HTTP 404)")
	ctl(ctx, env, "show", "web").check(t, 1, "", "signpostctl: show: service web not found (HTTP 404)")

	// The token flag beats the environment; without a token writes fail.
	ctl(ctx, env, "register", "web", "w1", "10.0.0.5:80", "--token", "wrong").
		check(t, 1, "", `signpostctl: register: missing or invalid token: send "Authorization: Bearer <token>" (HTTP 401)`)
	ctl(ctx, []string{"SIGNPOST_SERVER=" + srv.URL}, "deregister", "web", "w1").check(t, 1, "", "(HTTP 401)")
	if reg.Snapshot().Len() != 0 {
		t.Error("a refused write changed the registry")
	}
}

func TestServerFlags(t *testing.T) {
	_, srv := newServer(t, api.Options{})
	down := httptest.NewServer(nil)
	down.Close()
	ctx := context.Background()
	// --server replaces the environment; several servers fail over.
	env := []string{"SIGNPOST_SERVER=" + down.URL}
	ctl(ctx, env, "ls").check(t, 1, "", "signpostctl: ls: giving up after 4 attempts: Get ")
	ctl(ctx, env, "ls", "--server", down.URL+","+srv.URL).check(t, 0, "SERVICE", "")
	ctl(ctx, env, "--server", down.URL, "ls", "--server", srv.URL).check(t, 0, "SERVICE", "")
	ctl(ctx, []string{"SIGNPOST_SERVER=" + down.URL + "," + srv.URL}, "ls").check(t, 0, "SERVICE", "")
}

// syncBuffer is a buffer that a command writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// eventually polls cond until it holds or a few seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWatchCommand(t *testing.T) {
	reg, srv := newServer(t, api.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"watch", "web", "--server", srv.URL}, func(string) string { return "" }, &stdout, &stderr)
	}()
	eventually(t, "the first report", func() bool { return strings.Contains(stdout.String(), "no instances of web registered yet; waiting") })
	reg.Register(registry.Instance{Service: "web", ID: "w1", Address: netip.MustParseAddr("10.0.0.5"), Port: 80, Weight: 1})
	eventually(t, "the change", func() bool { return strings.Contains(stdout.String(), "w1  10.0.0.5:80") })
	cancel() // as SIGINT does
	select {
	case code := <-done:
		if code != 0 || stderr.String() != "" {
			t.Errorf("exit %d, stderr %q", code, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch did not stop")
	}
}

func TestWatchCommandJSON(t *testing.T) {
	reg, srv := newServer(t, api.Options{})
	reg.Register(registry.Instance{Service: "web", ID: "w1", Address: netip.MustParseAddr("10.0.0.5"), Port: 80, Weight: 1})
	ctx, cancel := context.WithCancel(context.Background())
	var stdout syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"watch", "--json", "web", "--server", srv.URL}, func(string) string { return "" }, &stdout, &stdout)
	}()
	eventually(t, "the first report", func() bool { return strings.Contains(stdout.String(), `{"service":"web","modify_index":1,`) })
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d", code)
	}
}
