package grpcresolver

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/client"
	"google.golang.org/grpc/resolver"
)

func TestPushesEveryChange(t *testing.T) {
	f := newFakeAPI(t)
	f.set(inst("w1", "10.0.0.1", 80), inst("w2", "10.0.0.2", 80))
	cc := newFakeCC()
	build(t, "signpost://"+f.Listener.Addr().String()+"/web", cc)
	if got := cc.nextState(t); !slices.Equal(got, []string{"10.0.0.1:80", "10.0.0.2:80"}) {
		t.Fatalf("first state %v", got)
	}
	f.set(inst("w1", "10.0.0.1", 80), inst("w2", "10.0.0.2", 80), inst("w3", "2001:db8::3", 8080))
	if got := cc.nextState(t); !slices.Equal(got, []string{"10.0.0.1:80", "10.0.0.2:80", "[2001:db8::3]:8080"}) {
		t.Fatalf("after a registration %v", got)
	}
	f.set(inst("w3", "2001:db8::3", 8080))
	if got := cc.nextState(t); !slices.Equal(got, []string{"[2001:db8::3]:8080"}) {
		t.Fatalf("after two deregistrations %v", got)
	}
}

// TestNoChangeNoPush checks that blocking queries that run out without a
// change push nothing, nor does a change that leaves the picked instances
// as they were.
func TestNoChangeNoPush(t *testing.T) {
	f := newFakeAPI(t)
	f.set(inst("w1", "10.0.0.1", 80, "primary"))
	cc := newFakeCC()
	build(t, "signpost://"+f.Listener.Addr().String()+"/web?tag=primary", cc,
		WithWait(time.Millisecond))
	cc.nextState(t)
	f.set(inst("w1", "10.0.0.1", 80, "primary"), inst("w2", "10.0.0.2", 80, "replica"))
	for deadline := time.Now().Add(waitTimeout); f.hits.Load() < 10; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d queries in %v", f.hits.Load(), waitTimeout)
		}
		runtime.Gosched()
	}
	select {
	case s := <-cc.states:
		t.Errorf("pushed %v without a change", s)
	case err := <-cc.errs:
		t.Errorf("reported %v", err)
	default:
	}
}

func TestFilter(t *testing.T) {
	warn := inst("w2", "10.0.0.2", 80, "primary")
	warn.Health = client.Warning
	crit := inst("w3", "10.0.0.3", 80, "primary")
	crit.Health = client.Critical
	all := []client.Instance{inst("w1", "10.0.0.1", 80, "primary", "v2"), warn, crit, inst("w4", "10.0.0.4", 80, "replica", "v2")}
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"10.0.0.1:80", "10.0.0.4:80"}},
		{"?tag=primary", []string{"10.0.0.1:80"}},
		{"?tag=v2", []string{"10.0.0.1:80", "10.0.0.4:80"}},
		{"?tag=v2&tag=replica", []string{"10.0.0.4:80"}},
		{"?warning=true", []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.4:80"}},
		{"?tag=primary&warning=1", []string{"10.0.0.1:80", "10.0.0.2:80"}},
		{"?tag=canary", nil},
	}
	f := newFakeAPI(t)
	f.set(all...)
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			cc := newFakeCC()
			build(t, "signpost://"+f.Listener.Addr().String()+"/web"+tc.query, cc)
			if got := cc.nextState(t); !slices.Equal(got, tc.want) {
				t.Errorf("state %v, want %v", got, tc.want)
			}
		})
	}
}

// TestNoHealthyInstance checks that the balancer loses the last instance
// and gets a reason to fail RPCs with, for an unknown service too.
func TestNoHealthyInstance(t *testing.T) {
	f := newFakeAPI(t)
	f.set(inst("w1", "10.0.0.1", 80))
	cc := newFakeCC()
	build(t, "signpost://"+f.Listener.Addr().String()+"/web?tag=primary", cc)
	if got := cc.nextState(t); len(got) != 0 {
		t.Fatalf("state %v, want none", got)
	}
	if err := cc.nextErr(t); err.Error() != `signpost resolver: service "web" has no healthy instance tagged "primary"` {
		t.Errorf("error %q", err)
	}
	f.set(inst("w1", "10.0.0.1", 80, "primary"))
	if got := cc.nextState(t); len(got) != 1 {
		t.Fatalf("after a registration %v", got)
	}
	f.set() // deregistered: the service is gone, 404
	if got := cc.nextState(t); len(got) != 0 {
		t.Fatalf("after the deregistration %v", got)
	}
	cc.nextErr(t)
}

func TestFailover(t *testing.T) {
	f := newFakeAPI(t)
	f.set(inst("w1", "10.0.0.1", 80))
	down := closedAddr(t)
	for name, b := range map[string]struct {
		target string
		opts   []Option
	}{
		"authority": {"signpost://" + down + "," + f.Listener.Addr().String() + "/web", nil},
		"builder":   {"signpost:///web", []Option{WithServers(down, f.URL)}},
	} {
		t.Run(name, func(t *testing.T) {
			cc := newFakeCC()
			build(t, b.target, cc, b.opts...)
			if got := cc.nextState(t); len(got) != 1 {
				t.Fatalf("state %v", got)
			}
		})
	}
}

// closedAddr returns the address of a server that is no longer listening.
func closedAddr(t *testing.T) string {
	s := httptest.NewServer(http.NotFoundHandler())
	s.Close()
	return s.Listener.Addr().String()
}

// TestServerErrors checks that errors are reported while the balancer
// keeps its instances, and that the resolver carries on when a server
// answers again.
func TestServerErrors(t *testing.T) {
	f := newFakeAPI(t)
	f.set(inst("w1", "10.0.0.1", 80))
	cc := newFakeCC()
	build(t, "signpost://"+f.Listener.Addr().String()+"/web", cc, fast, WithBackoff(time.Millisecond, 10*time.Millisecond))
	cc.nextState(t)
	f.fail(http.StatusServiceUnavailable)
	f.set(inst("w1", "10.0.0.1", 80), inst("w2", "10.0.0.2", 80)) // ends the blocking query
	err := cc.nextErr(t)
	if client.StatusCode(err) != http.StatusServiceUnavailable {
		t.Errorf("error %v, want the 503", err)
	}
	select {
	case s := <-cc.states:
		t.Errorf("pushed %v during the outage", s)
	default:
	}
	f.fail(0)
	if got := cc.nextState(t); len(got) != 2 {
		t.Errorf("after the outage %v", got)
	}
}

func TestToken(t *testing.T) {
	f := newFakeAPI(t)
	f.token = "s3cret"
	f.set(inst("w1", "10.0.0.1", 80))
	cc := newFakeCC()
	build(t, "signpost://"+f.Listener.Addr().String()+"/web", cc, WithToken("s3cret"))
	if got := cc.nextState(t); len(got) != 1 {
		t.Errorf("state %v", got)
	}
}

// TestResolveNow checks that ResolveNow cuts short the pause after an
// error: the backoff here is an hour.
func TestResolveNow(t *testing.T) {
	f := newFakeAPI(t)
	f.token = "s3cret"
	f.set(inst("w1", "10.0.0.1", 80))
	cc := newFakeCC()
	r := build(t, "signpost://"+f.Listener.Addr().String()+"/web", cc, WithToken("wrong"), fast, WithBackoff(time.Hour, time.Hour))
	err := cc.nextErr(t)
	var e *client.Error
	if !errors.As(err, &e) || e.Status != http.StatusUnauthorized || !strings.Contains(err.Error(), "missing or wrong token") {
		t.Fatalf("error %v, want the 401", err)
	}
	f.mu.Lock()
	f.token = "wrong" // the server's token was changed to the client's
	f.mu.Unlock()
	r.ResolveNow(resolver.ResolveNowOptions{})
	r.ResolveNow(resolver.ResolveNowOptions{}) // never blocks
	if got := cc.nextState(t); len(got) != 1 {
		t.Errorf("state %v", got)
	}
}

// TestCloseEndsEverything checks that Close, with a blocking query out,
// returns at once and leaves no goroutine behind: neither the resolver's
// nor those of its HTTP connections, busy or idle.
func TestCloseEndsEverything(t *testing.T) {
	before := goroutineIDs()
	// The first server answers 503, leaving an idle connection to it.
	bad := newFakeAPI(t)
	bad.fail(http.StatusServiceUnavailable)
	f := newFakeAPI(t)
	f.set(inst("w1", "10.0.0.1", 80))
	cc := newFakeCC()
	u := "signpost://" + bad.Listener.Addr().String() + "," + f.Listener.Addr().String() + "/web"
	r := build(t, u, cc)
	cc.nextState(t)
	for f.hits.Load() < 2 { // the blocking query is out
		runtime.Gosched()
	}
	start := time.Now()
	r.Close()
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v", d)
	}
	select {
	case <-r.done:
	default:
		t.Fatal("Close returned before the resolver's goroutine ended")
	}
	r.Close() // twice is fine
	// The server stays up: the resolver closes its connections itself.
	if left := leftovers(before); len(left) > 0 {
		t.Errorf("goroutines left after Close:\n%s", strings.Join(left, "\n\n"))
	}
}

// goroutineIDs returns the header lines ("goroutine 7 [...]") of the
// goroutines running now.
func goroutineIDs() map[string]bool {
	ids := map[string]bool{}
	for _, g := range stacks() {
		ids[strings.Fields(g)[1]] = true
	}
	return ids
}

func stacks() []string {
	buf := make([]byte, 1<<20)
	return strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n")
}

// leftovers waits, within a bound, for the goroutines started since before
// by a resolver or by an HTTP client to end, and returns those that
// did not.
func leftovers(before map[string]bool) []string {
	var left []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		left = left[:0]
		for _, g := range stacks() {
			if before[strings.Fields(g)[1]] {
				continue
			}
			if strings.Contains(g, "grpcresolver.(*signpostResolver)") || strings.Contains(g, "net/http.(*persistConn)") {
				left = append(left, g)
			}
		}
		if len(left) == 0 {
			return nil
		}
	}
	return left
}

func TestBuildErrors(t *testing.T) {
	for target, want := range map[string]string{
		"signpost:///":                    "no service",
		"signpost:///web/extra":           "must be one DNS label",
		"signpost:///web?colour=red":      `unknown parameter "colour"`,
		"signpost:///web?tag=":            "tag: must not be empty",
		"signpost:///web?warning=perhaps": "warning: want",
		"signpost://a:1,,b:2/web":         "empty server",
	} {
		u, err := url.Parse(target)
		if err != nil {
			t.Errorf("%s: %v", target, err)
			continue
		}
		_, err = NewBuilder().Build(resolver.Target{URL: *u}, newFakeCC(), resolver.BuildOptions{})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "signpost resolver: target ") {
			t.Errorf("%s: %v, want %q", target, err, want)
		}
	}
	u, _ := url.Parse("signpost:///web")
	_, err := NewBuilder(WithServers("ftp://10.0.0.2")).Build(resolver.Target{URL: *u}, newFakeCC(), resolver.BuildOptions{})
	if err == nil || !strings.Contains(err.Error(), `server "ftp://10.0.0.2": want http://HOST:PORT`) {
		t.Errorf("ftp server: %v", err)
	}
}

func TestDelay(t *testing.T) {
	r := &signpostResolver{backoff: 100 * time.Millisecond, maxBackoff: time.Second}
	for fails, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 40: time.Second} {
		for range 20 {
			if d := r.delay(fails); d < want/2 || d > want {
				t.Errorf("delay after %d failures: %v, want between %v and %v", fails, d, want/2, want)
			}
		}
	}
}
