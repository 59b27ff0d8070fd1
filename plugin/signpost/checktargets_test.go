package signpost

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coredns/caddy"

	"github.com/signpost-dns/signpost/healthcheck"
	"github.com/signpost-dns/signpost/registry"
)

func TestParseCheckTargets(t *testing.T) {
	tests := []struct {
		input string
		want  []string // prefixes; nil with err
		err   string
	}{
		{"signpost {\ncheck-targets 10.0.0.0/8\n}", []string{"10.0.0.0/8"}, ""},
		{`signpost {
			check-targets 10.1.2.3/16 fd00::/8
			check-targets 192.0.2.7 2001:db8::1
		}`, []string{"10.1.0.0/16", "fd00::/8", "192.0.2.7/32", "2001:db8::1/128"}, ""},
		{"signpost {\ncheck-targets\n}", nil, "Wrong argument count"},
		{"signpost {\ncheck-targets 10.0.0.0/33\n}", nil, `invalid check-targets "10.0.0.0/33"`},
		{"signpost {\ncheck-targets db.internal\n}", nil, `invalid check-targets "db.internal"`},
		{"signpost {\ncheck-targets fe80::1%eth0\n}", nil, `invalid check-targets "fe80::1%eth0"`},
		{"signpost {\ncheck-targets ::ffff:10.0.0.0/104\n}", nil, "write IPv4 prefixes as IPv4"},
	}
	for _, tc := range tests {
		cfg, err := parse(caddy.NewTestController("dns", tc.input))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one saying %s", tc.input, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.input, err)
			continue
		}
		var got []string
		for _, p := range cfg.api.checkTargets {
			got = append(got, p.String())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: check-targets %v, want %v", tc.input, got, tc.want)
		}
	}
}

// TestClaimCheckTargets checks that the blocks of one Corefile that share a
// registry run its checks with the check-targets of all of them, and that
// another registry keeps its own.
func TestClaimCheckTargets(t *testing.T) {
	c := caddy.NewTestController("dns", "")
	a := claimCheckTargets(c, "data:/d", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	other := claimCheckTargets(c, "api:x", nil)
	b := claimCheckTargets(c, "data:/d", []netip.Prefix{netip.MustParsePrefix("fd00::/8")})
	if a != b || len(a.prefixes) != 2 || len(other.prefixes) != 0 {
		t.Errorf("shared %v (same set: %v), other %v", a.prefixes, a == b, other.prefixes)
	}
	// A reload reads a new Corefile with a new caddy instance: a fresh start.
	if fresh := claimCheckTargets(caddy.NewTestController("dns", ""), "data:/d", nil); len(fresh.prefixes) != 0 {
		t.Errorf("a new load starts with %v", fresh.prefixes)
	}
}

// countingServer runs an HTTP server on a loopback address of the test's
// choosing, answering body, and counts its requests.
func countingServer(t *testing.T, ip string, h http.Handler) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
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

func says(body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(body)) })
}

// apiInstance is an instance as the API would have stored it, with a check
// the API did not vet: stored before the rules, or restored from elsewhere.
func apiInstance(id string, addr netip.AddrPort, spec healthcheck.Spec) registry.Instance {
	return registry.Instance{
		Service: "web", ID: id, Address: addr.Addr(), Port: addr.Port(), Weight: 1,
		Check: spec.Encode(), Source: registry.SourceAPI,
	}
}

// noHits fails the test when a server was reached within wait.
func noHits(t *testing.T, what string, hits *atomic.Int64, wait time.Duration) {
	t.Helper()
	time.Sleep(wait)
	if n := hits.Load(); n != 0 {
		t.Errorf("%s was probed %d times", what, n)
	}
}

// TestCheckerRefusesAPICheckElsewhere checks that a check the API did not
// vet runs only within the rules: aimed at another address it is not run
// and its instance turns critical (even one that was passing); check-targets
// that allow the address let it run; narrowed again, it stops.
func TestCheckerRefusesAPICheckElsewhere(t *testing.T) {
	target, hits := countingServer(t, "127.0.0.3", says("go_goroutines 12"))
	reg := registry.New(registry.Config{})
	c := newChecker(reg)
	c.start()
	defer c.stop()

	spec := healthcheck.Spec{Type: "http", URL: target.URL + "/metrics", Expect: "go_goroutines", Interval: "1s", Timeout: "500ms", Rise: 1, Fall: 1}
	_, err := reg.Register(apiInstance("w1", netip.MustParseAddrPort("127.0.0.2:80"), spec))
	must(t, err)
	must(t, reg.SetHealth("web", "w1", registry.Passing))
	waitHealth(t, reg, "web", "w1", registry.Critical)
	noHits(t, "the address outside the rules", hits, 1200*time.Millisecond)

	c.setTargets([]netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")})
	waitHealth(t, reg, "web", "w1", registry.Passing)
	if hits.Load() == 0 {
		t.Error("passing without a probe")
	}
	c.setTargets(nil)
	waitHealth(t, reg, "web", "w1", registry.Critical)
}

// TestCheckerRefusesAPICheckTooOften checks the same of an interval below
// the API's floor: 10ms would be a hundred probes a second.
func TestCheckerRefusesAPICheckTooOften(t *testing.T) {
	inst, hits := countingServer(t, "127.0.0.2", says("ok"))
	reg := registry.New(registry.Config{})
	c := newChecker(reg)
	c.start()
	defer c.stop()
	ap := netip.MustParseAddrPort(inst.Listener.Addr().String())
	_, err := reg.Register(apiInstance("w1", ap, healthcheck.Spec{Type: "http", Interval: "10ms", Timeout: "5ms", Rise: 1}))
	must(t, err)
	noHits(t, "an instance with a 10ms check", hits, 300*time.Millisecond)
	if in, _ := reg.Snapshot().Service("web").Instance("w1"); in.Health != registry.Critical {
		t.Errorf("instance %s, want critical", in.Health)
	}
}

// TestCheckerConfinesRedirects checks that an API check aimed at its own
// instance cannot be sent elsewhere by it: the instance redirects the probe
// to another address, whose page expect would reveal.
func TestCheckerConfinesRedirects(t *testing.T) {
	secret, secretHits := countingServer(t, "127.0.0.3", says("secret"))
	inst, _ := countingServer(t, "127.0.0.2", http.RedirectHandler(secret.URL+"/latest/meta-data/", http.StatusFound))
	reg := registry.New(registry.Config{})
	c := newChecker(reg)
	c.start()
	defer c.stop()
	ap := netip.MustParseAddrPort(inst.Listener.Addr().String())
	_, err := reg.Register(apiInstance("w1", ap, healthcheck.Spec{Type: "http", Path: "/healthz", Expect: "secret", Interval: "1s", Timeout: "500ms", Rise: 1}))
	must(t, err)
	noHits(t, "the page the instance redirected to", secretHits, 1200*time.Millisecond)
	if in, _ := reg.Snapshot().Service("web").Instance("w1"); in.Health != registry.Critical {
		t.Errorf("instance %s, want critical", in.Health)
	}
	// check-targets let the redirect through.
	c.setTargets([]netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")})
	waitHealth(t, reg, "web", "w1", registry.Passing)
}

// TestCheckerTrustsCorefileChecks checks that the Corefile's checks keep
// their freedom: any target, any interval healthcheck allows.
func TestCheckerTrustsCorefileChecks(t *testing.T) {
	target, hits := countingServer(t, "127.0.0.3", says("ok"))
	reg := registry.New(registry.Config{})
	c := newChecker(reg)
	c.start()
	defer c.stop()
	spec := healthcheck.Spec{Type: "http", URL: target.URL + "/", Interval: "50ms", Timeout: "40ms", Rise: 1}.Encode()
	must(t, reg.ApplyStatic([]registry.StaticService{{
		Config:    registry.ServiceConfig{Name: "db"},
		Instances: []registry.Instance{{ID: "d1", Address: netip.MustParseAddr("127.0.0.2"), Port: 3306, Weight: 1, Check: spec}},
	}}))
	waitHealth(t, reg, "db", "d1", registry.Passing)
	if hits.Load() == 0 {
		t.Error("passing without a probe")
	}
}
