package integration

import (
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/miekg/dns"
)

// consulAPICorefile serves the zone with the registration API and the
// Consul-compatible API on it.
var consulAPICorefile = apiCorefileWith("        consul-api\n")

// consulClient returns the real Consul client pointed at the server's API
// listener.
func (s *server) consulClient(t *testing.T, token string) *consulapi.Client {
	t.Helper()
	cfg := consulapi.DefaultConfig()
	cfg.Address = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.apiPort))
	cfg.Token = token
	cfg.HttpClient = httpClient
	c, err := consulapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestConsulAPIRegisterThenDNS registers through the Consul API with the real
// Consul client and checks each change in DNS, with one query made right
// after the call returned.
func TestConsulAPIRegisterThenDNS(t *testing.T) {
	s := startServer(t, consulAPICorefile)
	s.api().waitReady(t)
	agent := s.consulClient(t, "").Agent()

	err := agent.ServiceRegister(&consulapi.AgentServiceRegistration{
		ID: "Web-1", Name: "Web", Address: "10.0.0.5", Port: 8080, Tags: []string{"v2"},
		Check: &consulapi.AgentServiceCheck{TTL: "30s"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// A TTL check starts critical: the name exists, with no address yet.
	s.checkGone(t, svcName("web"), dns.RcodeSuccess)
	if err := agent.PassTTL("service:web-1", "ready"); err != nil {
		t.Fatal(err)
	}
	s.checkServed(t, "web", "10.0.0.5:8080")
	r := s.dig(t, "v2.web."+zone, "A")
	if got := rrStrings(r.Answer); len(got) != 1 || !strings.HasSuffix(got[0], "10.0.0.5") {
		t.Errorf("dig v2.web: %v, want 10.0.0.5", got)
	}

	// A service without checks is passing, as in Consul.
	if err := agent.ServiceRegister(&consulapi.AgentServiceRegistration{ID: "web-2", Name: "web", Address: "10.0.0.6", Port: 8080}); err != nil {
		t.Fatal(err)
	}
	s.checkServed(t, "web", "10.0.0.5:8080", "10.0.0.6:8080")

	// A failing TTL check leaves DNS at once, and comes back.
	if err := agent.FailTTL("service:web-1", "down"); err != nil {
		t.Fatal(err)
	}
	s.checkServed(t, "web", "10.0.0.6:8080")
	if err := agent.UpdateTTL("service:web-1", "up again", "pass"); err != nil {
		t.Fatal(err)
	}
	s.checkServed(t, "web", "10.0.0.5:8080", "10.0.0.6:8080")

	for _, id := range []string{"web-1", "web-2"} {
		if err := agent.ServiceDeregister(id); err != nil {
			t.Fatal(err)
		}
	}
	s.checkGone(t, svcName("web"), dns.RcodeNameError)
}

// TestConsulAPIOnlyWhenConfigured checks that the Consul API is served only
// with consul-api, and answers what it does not serve with a 404 saying so.
func TestConsulAPIOnlyWhenConfigured(t *testing.T) {
	on := startServer(t, consulAPICorefile)
	off := startServer(t, apiCorefile)
	on.api().waitReady(t)
	off.api().waitReady(t)

	if _, _, err := on.consulClient(t, "").Catalog().Services(nil); err != nil {
		t.Errorf("catalog with consul-api: %v", err)
	}
	if _, _, err := off.consulClient(t, "").Catalog().Services(nil); !consulStatus(err, http.StatusNotFound) {
		t.Errorf("catalog without consul-api: %v, want 404", err)
	}
	r := on.api().expect(t, http.StatusNotFound, http.MethodGet, "/v1/kv/config", "")
	if !strings.Contains(r.body, "not supported by Signpost's Consul-compatible API") {
		t.Errorf("GET /v1/kv/config: %s", r.body)
	}
	r = off.api().expect(t, http.StatusNotFound, http.MethodGet, "/v1/agent/services", "")
	if !strings.Contains(r.body, "no such endpoint") {
		t.Errorf("GET /v1/agent/services without consul-api: %s", r.body)
	}
}

// TestConsulAPIToken checks that the server's token is taken from Consul's
// clients: writes need it, reads need it with token-read.
func TestConsulAPIToken(t *testing.T) {
	s := startServer(t, apiCorefileWith("        consul-api\n        token s3cret\n        token-read on\n"))
	s.api().waitReady(t)
	reg := &consulapi.AgentServiceRegistration{ID: "db-1", Name: "db", Address: "10.0.0.9", Port: 5432}
	if err := s.consulClient(t, "").Agent().ServiceRegister(reg); !consulStatus(err, http.StatusForbidden) {
		t.Errorf("register without the token: %v, want 403", err)
	}
	if _, _, err := s.consulClient(t, "").Catalog().Services(nil); !consulStatus(err, http.StatusForbidden) {
		t.Errorf("read without the token: %v, want 403", err)
	}
	c := s.consulClient(t, "s3cret")
	if err := c.Agent().ServiceRegister(reg); err != nil {
		t.Fatal(err)
	}
	services, _, err := c.Catalog().Services(nil)
	if err != nil || !slices.Equal(keysOf(services), []string{"db"}) {
		t.Errorf("catalog %v, %v", services, err)
	}
	s.checkServed(t, "db", "10.0.0.9:5432")
}

func consulStatus(err error, code int) bool {
	se, ok := err.(consulapi.StatusError)
	return ok && se.Code == code
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestConsulAPIHTTPCheck registers an instance with a Consul HTTP check:
// the server probes it (a loopback HTTP server of this test), serves it
// once a probe passed, and drops it from DNS when the probe fails.
func TestConsulAPIHTTPCheck(t *testing.T) {
	s := startServer(t, consulAPICorefile)
	s.api().waitReady(t)
	var healthy atomic.Bool
	healthy.Store(true)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || !healthy.Load() {
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(backend.Close)
	host, port, _ := net.SplitHostPort(backend.Listener.Addr().String())
	p, _ := strconv.Atoi(port)

	err := s.consulClient(t, "").Agent().ServiceRegister(&consulapi.AgentServiceRegistration{
		ID: "api-1", Name: "api", Address: host, Port: p,
		Check: &consulapi.AgentServiceCheck{HTTP: backend.URL + "/healthz", Interval: "1s", Timeout: "500ms"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Probes run every second; Consul's checks change state at the first
	// differing result.
	const bound = 10 * time.Second
	s.waitAnswer(t, svcName("api"), 1, bound)
	healthy.Store(false)
	s.waitGone(t, svcName("api"), dns.RcodeSuccess, bound)

	checks, err := s.consulClient(t, "").Agent().Checks()
	if err != nil {
		t.Fatal(err)
	}
	if c := checks["service:api-1"]; c == nil || c.Type != "http" || c.Status != consulapi.HealthCritical {
		t.Errorf("checks %+v, want service:api-1 an HTTP check, critical", checks)
	}
}

// waitAnswer polls name until A answers n records, within bound.
func (s *server) waitAnswer(t *testing.T, name string, n int, bound time.Duration) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		r, err := s.tryExchange(newQuery(name, dns.TypeA), "udp")
		if err == nil && len(r.Answer) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("A %s: %v (%v) after %v, want %d records", name, r, err, bound, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
