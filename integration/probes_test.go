package integration

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// These tests hold checks registered through the API to their instance's
// address. They aim probes at loopback addresses only (127.0.0.2 and
// 127.0.0.3 stand for an instance and for somewhere else, 127.0.0.1 for the
// server itself): a server without the rule really probes what it is given.

// probesCorefile serves the API with extra lines in the signpost block, and
// the server's own metrics on 127.0.0.1:metricsPort.
func probesCorefile(extra string, metricsPort int) string {
	return fmt.Sprintf(`svc.internal:{{PORT}} {
    bind 127.0.0.1
    signpost {
        api {{API}}
%s    }
    prometheus 127.0.0.1:%d
    errors
}
`, extra, metricsPort)
}

// loopbackServer runs an HTTP server on a loopback address of the test's
// choosing and counts the requests it gets.
func loopbackServer(t *testing.T, ip string, h http.Handler) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp4", ip+":0")
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	hits := new(atomic.Int64)
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h.ServeHTTP(w, r)
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, hits
}

func answers(body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(body)) })
}

// instanceHealth returns the health the API shows for an instance.
func (c apiConn) instanceHealth(t *testing.T, service, id string) string {
	t.Helper()
	svc, r, ok := c.service(t, service)
	if !ok {
		t.Fatalf("service %s is gone: %v", service, r)
	}
	for _, in := range svc.Instances {
		if in.ID == id {
			return in.Health
		}
	}
	t.Fatalf("instance %s of %s is gone: %v", id, service, r)
	return ""
}

// waitInstanceHealth waits until the API shows the instance in state want.
func (c apiConn) waitInstanceHealth(t *testing.T, service, id, want string, bound time.Duration) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		got := c.instanceHealth(t, service, id)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s of %s is %s after %v, want %s", id, service, got, bound, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stayCritical checks that an instance is critical for a while and that
// target got no request meanwhile.
func (c apiConn) stayCritical(t *testing.T, service, id string, target *atomic.Int64, d time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if h := c.instanceHealth(t, service, id); h != "critical" {
			t.Fatalf("instance %s of %s is %s, want critical", id, service, h)
		}
	}
	if n := target.Load(); n != 0 {
		t.Errorf("the address outside the rules got %d probes", n)
	}
}

// TestProbeTargetsRefused registers checks that aim away from their
// instance: at the server's own metrics, at another address, or too often
// or too seldom. Each gets 400 naming the check, and a check that aims at
// its instance, which redirects the probe elsewhere, cannot follow.
func TestProbeTargetsRefused(t *testing.T) {
	t.Parallel()
	metrics := freePort(t)
	s := startServer(t, probesCorefile("", metrics))
	c := s.api()
	c.waitReady(t)
	other, otherHits := loopbackServer(t, "127.0.0.3", answers("secret"))

	refused := []struct {
		name, check, msg string
	}{
		{"server's metrics", fmt.Sprintf(`{"type":"http","url":"http://127.0.0.1:%d/metrics","expect":"go_goroutines","interval":"5s"}`, metrics),
			fmt.Sprintf("check: url http://127.0.0.1:%d/metrics aims at 127.0.0.1, not at the instance's address 127.0.0.2: "+
				"a check registered through the API may probe only its own instance (any port), unless the server's Corefile allows more with check-targets", metrics)},
		{"another address", fmt.Sprintf(`{"type":"http","url":"%s/","expect":"secret","interval":"5s"}`, other.URL),
			"check: url " + other.URL + "/ aims at 127.0.0.3"},
		{"a name", `{"type":"http","url":"http://localhost:80/","interval":"5s"}`,
			`check: url http://localhost:80/ names the host "localhost"`},
		{"10ms", `{"type":"tcp","interval":"10ms"}`,
			"check: interval 10ms: must be between 1s and 24h0m0s for a check registered through the API"},
		{"100000h", `{"type":"tcp","interval":"100000h"}`,
			"check: interval 100000h0m0s: must be between 1s and 24h0m0s for a check registered through the API"},
	}
	for _, tc := range refused {
		r := c.expect(t, http.StatusBadRequest, http.MethodPut, instPath("web", "w1"), regBody("127.0.0.2", 80, `, "check": `+tc.check))
		if got := r.errorText(); !strings.HasPrefix(got, tc.msg) {
			t.Errorf("%s: error %q, want %q", tc.name, got, tc.msg)
		}
	}
	if _, _, ok := c.service(t, "web"); ok {
		t.Error("a refused check was registered")
	}

	// Its own address, on any port, is fine; a redirect from there to
	// elsewhere is not followed.
	inst, instHits := loopbackServer(t, "127.0.0.2", http.RedirectHandler(other.URL+"/latest/meta-data/", http.StatusFound))
	port := inst.Listener.Addr().(*net.TCPAddr).Port
	c.expect(t, http.StatusOK, http.MethodPut, instPath("web", "w2"), regBody("127.0.0.2", port,
		`, "check": {"type":"http","path":"/healthz","expect":"secret","interval":"1s","rise":1}`))
	c.stayCritical(t, "web", "w2", otherHits, 2500*time.Millisecond)
	if instHits.Load() == 0 {
		t.Error("the instance was never probed, so its redirect was never tried")
	}
}

// TestProbeCheckTargetsWiden checks that check-targets lets an operator
// allow what the rule refuses: here the server's own metrics page, with a
// bare IP, and another address by its prefix.
func TestProbeCheckTargetsWiden(t *testing.T) {
	t.Parallel()
	metrics := freePort(t)
	s := startServer(t, probesCorefile("        check-targets 127.0.0.1\n        check-targets 127.0.0.3/32\n", metrics))
	c := s.api()
	c.waitReady(t)
	other, otherHits := loopbackServer(t, "127.0.0.3", answers("ok"))

	c.expect(t, http.StatusOK, http.MethodPut, instPath("web", "w1"), regBody("127.0.0.2", 80,
		fmt.Sprintf(`, "check": {"type":"http","url":"http://127.0.0.1:%d/metrics","expect":"go_goroutines","interval":"1s","rise":1}`, metrics)))
	c.expect(t, http.StatusOK, http.MethodPut, instPath("web", "w2"), regBody("127.0.0.2", 80,
		`, "check": {"type":"http","url":"`+other.URL+`/","interval":"1s","rise":1}`))
	c.waitInstanceHealth(t, "web", "w1", "passing", 5*time.Second)
	c.waitInstanceHealth(t, "web", "w2", "passing", 5*time.Second)
	if otherHits.Load() == 0 {
		t.Error("passing without a probe")
	}
	r := c.expect(t, http.StatusBadRequest, http.MethodPut, instPath("web", "w3"), regBody("127.0.0.2", 80,
		`, "check": {"type":"http","url":"http://127.0.0.4/","interval":"1s"}`))
	if !strings.Contains(r.errorText(), "aims at 127.0.0.4") {
		t.Errorf("outside check-targets: %v", r)
	}
}

// TestProbeRestoredCheckRefused restores a backup holding a check that aims
// away from its instance, as one written before the rule would: the server
// does not run it, keeps the instance critical, and logs why.
func TestProbeRestoredCheckRefused(t *testing.T) {
	t.Parallel()
	s := startServer(t, probesCorefile("        token s3cret\n", freePort(t)))
	c := s.api().withToken("s3cret")
	c.waitReady(t)
	other, otherHits := loopbackServer(t, "127.0.0.3", answers("secret"))

	check := fmt.Sprintf(`{"type":"http","url":%q,"interval":"1s","timeout":"500ms","rise":1,"fall":1,"method":"GET","expect":"secret"}`, other.URL+"/")
	backup := fmt.Sprintf(`{"version":1,"index":1,"instances":[{"v":1,"service":"web","id":"w1","address":"127.0.0.2","port":80,"weight":1,"check":%q,"create_index":1,"modify_index":1}]}`, check)
	c.expect(t, http.StatusOK, http.MethodPut, "/v1/snapshot", backup)
	c.stayCritical(t, "web", "w1", otherHits, 2500*time.Millisecond)
	const why = "instance w1 of service web: check not run, the instance stays critical: url " + "http://127.0.0.3:"
	if out := s.out.String(); !strings.Contains(out, why) || !strings.Contains(out, "aims at 127.0.0.3, not at the instance's address 127.0.0.2") {
		t.Errorf("the log does not say why the check does not run:\n%s", abridge(out, 40))
	}
}
