package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/signpost-dns/signpost/api"
	"github.com/signpost-dns/signpost/client"
	"github.com/signpost-dns/signpost/registry"
)

// eventWait bounds every wait of these tests for the sidecar or the server
// to do something. Nothing here sleeps: the tests wait on events.
const eventWait = 10 * time.Second

// fakeClock is the sidecar's time in tests. Each Sleep announces itself on
// sleeps and returns once the test wakes it, moving the clock on by the
// length of the sleep: a test knows when the sidecar has finished a round
// (it sleeps), and time moves only when the test says so.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps chan *sleepCall
}

type sleepCall struct {
	d    time.Duration
	wake chan struct{}
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: testNow, sleeps: make(chan *sleepCall)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	call := &sleepCall{d: d, wake: make(chan struct{})}
	select {
	case c.sleeps <- call:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-call.wake:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wake ends a sleep, moving the clock on by its length.
func (c *fakeClock) wake(call *sleepCall) {
	c.mu.Lock()
	c.now = c.now.Add(max(call.d, 0))
	c.mu.Unlock()
	close(call.wake)
}

// sidecarEnv is a real API server that counts the calls it gets and can
// pretend to be down, and a sidecar pointed at it with a fake clock.
type sidecarEnv struct {
	reg   *registry.Registry
	srv   *httptest.Server
	clock *fakeClock
	s     *sidecar
	log   syncBuffer

	down       atomic.Bool // answer every call with 503
	lose       atomic.Bool // apply registrations but answer 503, as when the answer is lost
	stall      atomic.Bool // hold heartbeats until the sidecar gives up on them
	stalled    chan struct{}
	registers  atomic.Int32
	heartbeats atomic.Int32
	reports    atomic.Int32
	lastReport atomic.Value // string: the body of the last health report

	healthy atomic.Bool // what the local health check finds, after gate
	checks  atomic.Int32

	pending *sleepCall // the sleep the sidecar rests in
}

func newSidecarEnv(t *testing.T, opts api.Options, clientOpts ...client.Option) *sidecarEnv {
	t.Helper()
	e := &sidecarEnv{reg: registry.New(registry.Config{}), clock: newFakeClock(), stalled: make(chan struct{}, 1)}
	h := api.NewHandler(e.reg, opts)
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if !e.count(r) {
			http.Error(w, "stalled", http.StatusServiceUnavailable)
			return
		}
		if e.lose.Load() && r.Method == http.MethodPut && strings.Count(r.URL.Path, "/") == 5 {
			h.ServeHTTP(httptest.NewRecorder(), r)
			http.Error(w, "answer lost", http.StatusBadGateway)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	c, err := client.New([]string{e.srv.URL}, append(clientOpts, client.WithRetry(2, time.Millisecond, 2*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	reg := client.Registration{Service: "web", ID: "w1", Address: "10.0.0.5", Port: 8080, Tags: []string{"v2"}, TTL: 3 * time.Second}
	e.s = newSidecar(c, reg, &e.log)
	e.s.clock = e.clock
	// Requests answer in microseconds, but a loaded machine may take long:
	// give them time enough, in real time, whatever the fake clock says.
	e.s.reqWait = eventWait
	e.healthy.Store(true)
	return e
}

// count counts the call r makes, and holds a stalled heartbeat until its
// client gives up; it returns false for a call that was held.
func (e *sidecarEnv) count(r *http.Request) bool {
	switch {
	case strings.HasSuffix(r.URL.Path, "/heartbeat"):
		e.heartbeats.Add(1)
		if e.stall.Load() {
			e.stalled <- struct{}{}
			<-r.Context().Done()
			return false
		}
	case strings.HasSuffix(r.URL.Path, "/health"):
		e.reports.Add(1)
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		e.lastReport.Store(string(b))
	case r.Method == http.MethodPut:
		e.registers.Add(1)
	}
	return true
}

// gate makes the sidecar's local health check follow e.healthy, checked
// every 250ms of the fake clock (renewals are every second).
func (e *sidecarEnv) gate() {
	e.s.checkEvery = 250 * time.Millisecond
	e.s.health = func(context.Context) error {
		e.checks.Add(1)
		if e.healthy.Load() {
			return nil
		}
		return errors.New("GET http://127.0.0.1:8080/healthz: 503 Service Unavailable")
	}
}

// start runs the sidecar until the returned stop is called, which returns
// what run returned.
func (e *sidecarEnv) start(t *testing.T) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.s.run(ctx) }()
	var stopped bool
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(eventWait):
			t.Fatal("sidecar did not stop")
			return nil
		}
	}
	t.Cleanup(func() { stop() })
	return stop
}

// rest waits until the sidecar sleeps, which it does once everything it
// started in a round is done, and returns the length of the sleep.
func (e *sidecarEnv) rest(t *testing.T) time.Duration {
	t.Helper()
	select {
	case e.pending = <-e.clock.sleeps:
		return e.pending.d
	case <-time.After(eventWait):
		t.Fatalf("the sidecar did not come to rest within %v; log:\n%s", eventWait, e.log.String())
		return 0
	}
}

// next ends the sidecar's sleep and waits until it rests again after one
// more round; it returns the length of the new sleep.
func (e *sidecarEnv) next(t *testing.T) time.Duration {
	t.Helper()
	e.clock.wake(e.pending)
	return e.rest(t)
}

// advance runs the sidecar, round by round, through d of its clock.
func (e *sidecarEnv) advance(t *testing.T, d time.Duration) {
	t.Helper()
	for end := e.clock.Now().Add(d); e.clock.Now().Before(end); {
		e.next(t)
	}
}

// instance returns w1 as the registry holds it.
func (e *sidecarEnv) instance() (registry.Instance, bool) {
	svc := e.reg.Snapshot().Service("web")
	if svc == nil {
		return registry.Instance{}, false
	}
	return svc.Instance("w1")
}

func (e *sidecarEnv) registered() bool {
	_, ok := e.instance()
	return ok
}

// served reports whether DNS answers with w1: whether it is among the
// passing instances of its service.
func (e *sidecarEnv) served() bool {
	svc := e.reg.Snapshot().Service("web")
	if svc == nil {
		return false
	}
	return len(svc.Select(nil, "", false)) == 1
}

// wantState checks whether w1 is registered, with which health, and
// whether DNS answers with it.
func (e *sidecarEnv) wantState(t *testing.T, when string, health registry.Health) {
	t.Helper()
	in, ok := e.instance()
	switch {
	case !ok:
		t.Errorf("%s: w1 not registered, want it %s", when, health)
	case in.Health != health:
		t.Errorf("%s: w1 %s, want %s", when, in.Health, health)
	case e.served() != (health == registry.Passing):
		t.Errorf("%s: w1 %s, served %v", when, in.Health, e.served())
	}
}

func (e *sidecarEnv) wantLogged(t *testing.T, s string) {
	t.Helper()
	if !strings.Contains(e.log.String(), s) {
		t.Errorf("log line %q missing from:\n%s", s, e.log.String())
	}
}

func (e *sidecarEnv) wantCalls(t *testing.T, when string, registers, heartbeats, reports int32) {
	t.Helper()
	r, h, p := e.registers.Load(), e.heartbeats.Load(), e.reports.Load()
	if r != registers || h != heartbeats || p != reports {
		t.Errorf("%s: %d registrations, %d heartbeats, %d reports; want %d, %d, %d", when, r, h, p, registers, heartbeats, reports)
	}
}

func TestSidecarLifecycle(t *testing.T) {
	e := newSidecarEnv(t, api.Options{Token: "t"}, client.WithToken("t"))
	stop := e.start(t)
	if d := e.rest(t); d != time.Second {
		t.Errorf("sleeps %s after registering, want the renewal interval, 1s", d)
	}
	e.wantCalls(t, "after the first round", 1, 0, 0)
	in, _ := e.instance()
	if in.TTL != 3*time.Second || in.Port != 8080 || !in.HasTag("v2") || in.Health != registry.Passing {
		t.Errorf("registered %+v", in)
	}
	for i := int32(1); i <= 3; i++ {
		if d := e.next(t); d != time.Second {
			t.Errorf("renewal %d: then sleeps %s, want 1s", i, d)
		}
		e.wantCalls(t, "renewing", 1, i, 0)
	}
	e.wantState(t, "after three heartbeats", registry.Passing)
	if err := stop(); err != nil {
		t.Fatalf("run returned %v", err)
	}
	if e.registered() {
		t.Error("still registered after the sidecar stopped")
	}
	e.wantLogged(t, "keeping instance w1 of service web at 10.0.0.5:8080 registered, ttl 3s, renewing every 1s\n")
	e.wantLogged(t, "registered instance w1 of service web at 10.0.0.5:8080 (passing)")
	e.wantLogged(t, "deregistered instance w1 of service web")
}

func TestSidecarRegistersAgainOn404(t *testing.T) {
	e := newSidecarEnv(t, api.Options{})
	e.start(t)
	e.rest(t)
	e.wantState(t, "after the first round", registry.Passing)
	// As when the server restarts with an empty registry.
	if err := e.reg.Deregister("web", "w1"); err != nil {
		t.Fatal(err)
	}
	e.next(t)
	e.wantState(t, "after the heartbeat that found it gone", registry.Passing)
	e.wantLogged(t, "server does not hold the lease of the instance (instance w1 of service web not found (HTTP 404)), registering again")
	e.wantCalls(t, "after registering again", 2, 1, 0)
}

// TestSidecarReportsHealth follows a service whose health URL fails and
// recovers: each change is reported in the round of the check that found
// it, and the renewals in between carry the health.
func TestSidecarReportsHealth(t *testing.T) {
	e := newSidecarEnv(t, api.Options{})
	e.gate()
	e.start(t)
	if d := e.rest(t); d != 250*time.Millisecond {
		t.Errorf("sleeps %s, want the check interval, 250ms", d)
	}
	e.wantState(t, "after the first round", registry.Passing)
	if e.checks.Load() != 1 {
		t.Errorf("%d checks before the registration, want 1", e.checks.Load())
	}
	e.next(t)
	e.wantCalls(t, "a check between renewals", 1, 0, 0)

	e.healthy.Store(false)
	e.next(t)
	e.wantCalls(t, "in the round the check failed", 1, 0, 1)
	e.wantState(t, "in the round the check failed", registry.Critical)
	if got, want := e.lastReport.Load(), `{"status":"critical","output":"GET http://127.0.0.1:8080/healthz: 503 Service Unavailable"}`; got != want {
		t.Errorf("reported %s, want %s", got, want)
	}
	e.wantLogged(t, "local health check failing, reporting the instance critical: GET http://127.0.0.1:8080/healthz: 503 Service Unavailable")

	// Renewals, every second, carry the health: the instance keeps its
	// lease and registration, critical.
	e.advance(t, 2*time.Second)
	e.wantCalls(t, "two renewals while failing", 1, 0, 3)
	e.wantState(t, "two renewals while failing", registry.Critical)

	e.healthy.Store(true)
	e.next(t)
	e.wantCalls(t, "in the round the check passed", 1, 0, 4)
	e.wantState(t, "in the round the check passed", registry.Passing)
	if got, want := e.lastReport.Load(), `{"status":"passing"}`; got != want {
		t.Errorf("reported %s, want %s", got, want)
	}
	e.wantLogged(t, "local health check passing again, reporting the instance passing")
	// Back to plain heartbeats.
	e.advance(t, time.Second)
	e.wantCalls(t, "a renewal after recovering", 1, 1, 4)
	if n := e.checks.Load(); n != 16 {
		t.Errorf("%d checks in 3.75s of checks every 250ms, want 16", n)
	}
}

// TestSidecarFailingAtStart: an instance whose check fails from the start
// is not registered (it would be served until its first report), however
// long it fails, and is registered as soon as the check passes.
func TestSidecarFailingAtStart(t *testing.T) {
	e := newSidecarEnv(t, api.Options{})
	e.gate()
	e.healthy.Store(false)
	e.start(t)
	e.rest(t)
	e.advance(t, 10*time.Second)
	e.wantCalls(t, "while failing", 0, 0, 0)
	if e.registered() {
		t.Fatal("registered while the local health check fails")
	}
	e.wantLogged(t, "local health check failing, not registering the instance until it passes: GET http://127.0.0.1:8080/healthz: 503 Service Unavailable")

	e.healthy.Store(true)
	e.next(t)
	e.wantCalls(t, "in the round the check passed", 1, 0, 0)
	e.wantState(t, "in the round the check passed", registry.Passing)
	e.wantLogged(t, "local health check passing, registering the instance")
}

// TestSidecarFailingServerRestart: the server forgets the instance while it
// fails; the sidecar registers it again once it passes, not before.
func TestSidecarFailingServerRestart(t *testing.T) {
	e := newSidecarEnv(t, api.Options{})
	e.gate()
	e.start(t)
	e.rest(t)
	e.healthy.Store(false)
	e.next(t)
	e.wantState(t, "failing", registry.Critical)
	if err := e.reg.Deregister("web", "w1"); err != nil {
		t.Fatal(err)
	}
	e.advance(t, 3*time.Second)
	if e.registered() {
		t.Fatal("registered again while the local health check fails")
	}
	e.wantCalls(t, "after the server forgot it", 1, 0, 2)
	e.wantLogged(t, "server does not hold the lease of the instance (instance w1 of service web not found (HTTP 404)), registering again once the local health check passes")

	e.healthy.Store(true)
	e.next(t)
	e.wantState(t, "passing again", registry.Passing)
	e.wantCalls(t, "passing again", 2, 0, 2)
}

func TestSidecarDeregistersWhileUnhealthy(t *testing.T) {
	e := newSidecarEnv(t, api.Options{})
	e.gate()
	stop := e.start(t)
	e.rest(t)
	e.healthy.Store(false)
	e.next(t)
	e.wantState(t, "failing", registry.Critical)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if e.registered() {
		t.Error("still registered after the sidecar stopped")
	}
}

// TestSidecarStopsDuringRenewal stops the sidecar while a heartbeat hangs:
// it gives up on it and deregisters at once.
func TestSidecarStopsDuringRenewal(t *testing.T) {
	e := newSidecarEnv(t, api.Options{})
	stop := e.start(t)
	e.rest(t)
	e.stall.Store(true)
	e.clock.wake(e.pending)
	select {
	case <-e.stalled:
	case <-time.After(eventWait):
		t.Fatal("no heartbeat")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if e.registered() {
		t.Error("still registered after the sidecar stopped")
	}
}

func TestSidecarWaitsForServers(t *testing.T) {
	e := newSidecarEnv(t, api.Options{})
	e.s.backoff = 100 * time.Millisecond
	e.down.Store(true)
	e.start(t)
	delays := []time.Duration{e.rest(t)}
	for range 7 {
		delays = append(delays, e.next(t))
	}
	// Exponential from 100ms with jitter in its upper half, capped at the
	// renewal interval.
	for i, d := range delays {
		limit := min(e.s.backoff<<i, e.s.interval)
		if d < limit/2 || d > limit {
			t.Errorf("retry %d after %s, want %s to %s", i+1, d, limit/2, limit)
		}
	}
	e.wantLogged(t, "cannot renew, retrying with backoff: ")
	e.down.Store(false)
	e.next(t)
	e.wantState(t, "servers back", registry.Passing)
	e.wantLogged(t, "servers reachable again after 8 failed attempt(s)")
	// One line for the whole outage, not one per attempt.
	if n := strings.Count(e.log.String(), "cannot renew"); n != 1 {
		t.Errorf("logged the outage %d times", n)
	}
}

// TestSidecarLostRegistration: a registration that took effect although its
// answer was lost is deregistered at exit all the same.
func TestSidecarLostRegistration(t *testing.T) {
	e := newSidecarEnv(t, api.Options{})
	e.lose.Store(true)
	stop := e.start(t)
	e.rest(t)
	if !e.registered() {
		t.Fatal("the lost registration did not take effect")
	}
	e.wantLogged(t, "cannot renew, retrying with backoff: giving up after 2 attempts: Bad Gateway: answer lost (HTTP 502)")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if e.registered() {
		t.Error("still registered after the sidecar stopped")
	}
}

// TestSidecarLostRegistrationFailing: the check fails after a registration
// whose answer was lost; the instance may be served, so the sidecar reports
// it critical rather than leave it.
func TestSidecarLostRegistrationFailing(t *testing.T) {
	e := newSidecarEnv(t, api.Options{})
	e.gate()
	e.lose.Store(true)
	e.start(t)
	e.rest(t)
	e.wantState(t, "registered, answer lost", registry.Passing)
	e.lose.Store(false)
	e.healthy.Store(false)
	registers := e.registers.Load()
	e.next(t)
	e.wantState(t, "failing after the lost answer", registry.Critical)
	if e.registers.Load() != registers {
		t.Error("registered again while the local health check fails")
	}
}

func TestSidecarStopsOnRefusal(t *testing.T) {
	e := newSidecarEnv(t, api.Options{Token: "t"})
	done := make(chan error, 1)
	go func() { done <- e.s.run(context.Background()) }()
	select {
	case err := <-done:
		if err == nil || err.Error() != `registering instance w1 of service web: missing or invalid token: send "Authorization: Bearer <token>" (HTTP 401)` {
			t.Errorf("run returned %v", err)
		}
	case <-time.After(eventWait):
		t.Fatal("sidecar kept going after a 401")
	}
}

func TestReportOutput(t *testing.T) {
	if got := reportOutput(errors.New("dial tcp 127.0.0.1:8080:\n\tconnection refused\x1b[0m")); got != "dial tcp 127.0.0.1:8080:  connection refused [0m" {
		t.Errorf("got %q", got)
	}
	long := strings.Repeat("é", client.MaxOutputBytes) // two bytes each: the cut falls inside one
	got := reportOutput(errors.New("x" + long))
	if len(got) > client.MaxOutputBytes || len(got) < client.MaxOutputBytes-1 || !utf8.ValidString(got) {
		t.Errorf("%d bytes, valid UTF-8 %v; want at most %d, valid", len(got), utf8.ValidString(got), client.MaxOutputBytes)
	}
}

func TestHTTPCheck(t *testing.T) {
	var status atomic.Int32
	status.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	check := httpCheck(srv.URL+"/healthz", time.Second)
	ctx := context.Background()
	for code, ok := range map[int32]bool{200: true, 204: true, 301: true, 404: false, 429: false, 500: false, 503: false} {
		status.Store(code)
		if err := check(ctx); (err == nil) != ok {
			t.Errorf("status %d: err %v", code, err)
		}
	}
	status.Store(503)
	if err := check(ctx); err == nil || err.Error() != "GET "+srv.URL+"/healthz: 503 Service Unavailable" {
		t.Errorf("err %v", err)
	}
	srv.Close()
	if err := check(ctx); err == nil {
		t.Error("no error with the service down")
	}
}

func TestCheckInterval(t *testing.T) {
	const url = "http://127.0.0.1:8080/healthz"
	tests := []struct {
		flag, renewal time.Duration
		url           string
		want          time.Duration
		err           string
	}{
		{0, 5 * time.Second, url, 2 * time.Second, ""},
		{0, time.Second, url, time.Second, ""},
		{0, 5 * time.Second, "", 2 * time.Second, ""},
		{500 * time.Millisecond, 5 * time.Second, url, 500 * time.Millisecond, ""},
		{5 * time.Second, 5 * time.Second, url, 5 * time.Second, ""},
		{6 * time.Second, 5 * time.Second, url, 0, "--check-interval 6s: want at most the renewal interval, 5s (a third of --ttl)"},
		{10 * time.Millisecond, 5 * time.Second, url, 0, "--check-interval 10ms: want at least 100ms"},
		{time.Second, 5 * time.Second, "", 0, "--check-interval: there is nothing to check without --health-url"},
	}
	for _, tc := range tests {
		got, err := checkInterval(tc.flag, tc.renewal, tc.url)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && err.Error() != tc.err) || (err != nil && !isUsage(err)) {
			t.Errorf("checkInterval(%s, %s, %q) = %s, %v; want %s, %q", tc.flag, tc.renewal, tc.url, got, err, tc.want, tc.err)
		}
	}
}

func TestSidecarCommandUsage(t *testing.T) {
	base := []string{"sidecar", "--service", "web", "--id", "w1", "--address", "10.0.0.5", "--port", "80", "--ttl", "3s"}
	r := ctl(context.Background(), nil, append(base, "--health-url", "http://127.0.0.1:1/", "--check-interval", "2s")...)
	r.check(t, 2, "", "signpostctl: sidecar: --check-interval 2s: want at most the renewal interval, 1s (a third of --ttl)")
	r = ctl(context.Background(), nil, append(base, "--check-interval", "1s")...)
	r.check(t, 2, "", "signpostctl: sidecar: --check-interval: there is nothing to check without --health-url")
}

// waitFor waits, on the registry's change events, until cond holds for a
// snapshot of it.
func waitFor(t *testing.T, reg *registry.Registry, what string, cond func(*registry.Snapshot) bool) {
	t.Helper()
	timeout := time.After(eventWait)
	for {
		snap := reg.Snapshot()
		if cond(snap) {
			return
		}
		select {
		case <-snap.Changed():
		case <-timeout:
			t.Fatalf("no %s within %v", what, eventWait)
		}
	}
}

// webHealth returns the health of instance w1 of web, and false when it is
// not registered.
func webHealth(snap *registry.Snapshot) (registry.Health, bool) {
	svc := snap.Service("web")
	if svc == nil {
		return 0, false
	}
	in, ok := svc.Instance("w1")
	return in.Health, ok
}

func healthIs(h registry.Health) func(*registry.Snapshot) bool {
	return func(snap *registry.Snapshot) bool {
		got, ok := webHealth(snap)
		return ok && got == h
	}
}

// TestSidecarCommand runs the command with the wall clock against a real
// API server and a health URL the test flips.
func TestSidecarCommand(t *testing.T) {
	reg, srv := newServer(t, api.Options{})
	var healthy atomic.Bool
	healthy.Store(true)
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !healthy.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
		}
	}))
	defer health.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"sidecar", "--server", srv.URL, "--service", "web", "--id", "w1",
			"--address", "10.0.0.5", "--port", "8080", "--ttl", "3s", "--tag", "v2",
			"--health-url", health.URL, "--check-interval", "100ms"},
			func(string) string { return "" }, &stdout, &stderr)
	}()
	waitFor(t, reg, "registration", healthIs(registry.Passing))
	healthy.Store(false)
	waitFor(t, reg, "critical report", healthIs(registry.Critical))
	healthy.Store(true)
	waitFor(t, reg, "passing report", healthIs(registry.Passing))
	cancel() // as SIGTERM does
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(eventWait):
		t.Fatal("sidecar did not stop")
	}
	if reg.Snapshot().Service("web") != nil {
		t.Error("still registered after SIGTERM")
	}
	for _, want := range []string{
		"signpostctl: sidecar: keeping instance w1 of service web at 10.0.0.5:8080 registered, ttl 3s, renewing every 1s, checking its health every 100ms",
		"signpostctl: sidecar: local health check failing, reporting the instance critical: GET " + health.URL + ": 503 Service Unavailable",
		"signpostctl: sidecar: local health check passing again, reporting the instance passing",
		"signpostctl: sidecar: deregistered instance w1 of service web",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("log line %q missing from:\n%s", want, stderr.String())
		}
	}
}

func TestSidecarCommandRefused(t *testing.T) {
	_, srv := newServer(t, api.Options{})
	r := ctl(context.Background(), nil, "sidecar", "--server", srv.URL, "--service", "addr", "--id", "w1", "--address", "10.0.0.5", "--port", "8080")
	if r.code != 1 || !strings.HasSuffix(r.stderr, "signpostctl: sidecar: registering instance w1 of service addr: service: \"addr\" is reserved for address records (HTTP 400)\n") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}
