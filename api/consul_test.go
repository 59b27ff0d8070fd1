package api

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/signpost-dns/signpost/registry"
)

// consulFixture is the handler with the Consul-compatible API on, served
// over HTTP on loopback, and the real Consul client pointed at it.
type consulFixture struct {
	*fixture
	srv    *httptest.Server
	client *consulapi.Client
}

func newConsulFixture(t *testing.T, opts Options) *consulFixture {
	t.Helper()
	if opts.Consul == nil {
		opts.Consul = &ConsulOptions{}
	}
	f := newFixture(t, opts)
	srv := httptest.NewServer(f.h)
	t.Cleanup(srv.Close)
	return &consulFixture{fixture: f, srv: srv, client: consulClient(t, srv, opts.Token)}
}

func consulClient(t *testing.T, srv *httptest.Server, token string) *consulapi.Client {
	t.Helper()
	cfg := consulapi.DefaultConfig()
	cfg.Address = srv.Listener.Addr().String()
	cfg.Token = token
	cfg.HttpClient = srv.Client()
	c, err := consulapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// webReg is a registration with a TTL check, as a service registers itself.
func webReg(id string) *consulapi.AgentServiceRegistration {
	return &consulapi.AgentServiceRegistration{
		ID: id, Name: "web", Address: "10.0.0.5", Port: 8080, Tags: []string{"primary", "v1"},
		Meta: map[string]string{"version": "1.2.3"}, Weights: &consulapi.AgentWeights{Passing: 10, Warning: 1},
		Check: &consulapi.AgentServiceCheck{TTL: "10s", DeregisterCriticalServiceAfter: "90m"},
	}
}

func (f *consulFixture) mustRegister(reg *consulapi.AgentServiceRegistration) {
	f.t.Helper()
	if err := f.client.Agent().ServiceRegister(reg); err != nil {
		f.t.Fatalf("register %s: %v", reg.ID, err)
	}
}

// passing returns the instances that Consul's health endpoint answers as
// passing, by ID.
func (f *consulFixture) passing(service string) []string {
	f.t.Helper()
	entries, meta, err := f.client.Health().Service(service, "", true, nil)
	if err != nil {
		f.t.Fatalf("health of %s: %v", service, err)
	}
	if meta.LastIndex == 0 {
		f.t.Errorf("X-Consul-Index 0, want it above 0")
	}
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.Service.ID)
	}
	return ids
}

// status returns the status of the service check an instance has in the
// health endpoint.
func (f *consulFixture) status(service, id string) string {
	f.t.Helper()
	entries, _, err := f.client.Health().Service(service, "", false, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, e := range entries {
		if e.Service.ID == id {
			return e.Checks.AggregatedStatus()
		}
	}
	return "absent"
}

func TestConsulTTLCheckLifecycle(t *testing.T) {
	f := newConsulFixture(t, Options{})
	f.mustRegister(webReg("web-1"))

	// A TTL check starts critical, as in Consul: registered, not served.
	if got := f.passing("web"); len(got) != 0 {
		t.Errorf("passing before the first update: %v, want none", got)
	}
	if got := f.status("web", "web-1"); got != consulapi.HealthCritical {
		t.Errorf("status after registration: %s, want critical", got)
	}
	if f.served("web", "web-1") {
		t.Error("DNS serves web-1 before its TTL check passed")
	}

	if err := f.client.Agent().PassTTL("service:web-1", "all good"); err != nil {
		t.Fatal(err)
	}
	if got := f.passing("web"); !slices.Equal(got, []string{"web-1"}) {
		t.Errorf("passing after PassTTL: %v, want [web-1]", got)
	}
	if !f.served("web", "web-1") {
		t.Error("DNS does not serve web-1 after its TTL check passed")
	}

	// The entry carries what was registered.
	entries, _, err := f.client.Health().Service("web", "primary", true, nil)
	if err != nil || len(entries) != 1 {
		t.Fatalf("health of web tagged primary: %v, %v", entries, err)
	}
	s := entries[0].Service
	if s.Address != "10.0.0.5" || s.Port != 8080 || s.Weights.Passing != 10 || s.Meta["version"] != "1.2.3" ||
		!slices.Equal(s.Tags, []string{"primary", "v1"}) {
		t.Errorf("service %+v does not carry what was registered", s)
	}
	if n := entries[0].Node; n.Node != DefaultConsulNodeName || n.Datacenter != DefaultConsulDatacenter {
		t.Errorf("node %+v, want %s in %s", n, DefaultConsulNodeName, DefaultConsulDatacenter)
	}

	// Without updates the TTL runs out: the instance turns critical.
	f.clock.Add(11 * time.Second)
	f.reg.Sweep()
	if got := f.passing("web"); len(got) != 0 {
		t.Errorf("passing after the TTL ran out: %v, want none", got)
	}

	for _, tc := range []struct {
		update func() error
		want   string
	}{
		{func() error { return f.client.Agent().WarnTTL("service:web-1", "slow") }, consulapi.HealthWarning},
		{func() error { return f.client.Agent().UpdateTTL("service:web-1", "back", "pass") }, consulapi.HealthPassing},
		{func() error { return f.client.Agent().FailTTL("service:web-1", "down") }, consulapi.HealthCritical},
		{func() error { return f.client.Agent().UpdateTTL("service:web-1", "line 1\nline 2", "warn") }, consulapi.HealthWarning},
	} {
		if err := tc.update(); err != nil {
			t.Fatal(err)
		}
		if got := f.status("web", "web-1"); got != tc.want {
			t.Errorf("status %s, want %s", got, tc.want)
		}
		// Only passing instances are passing: warning ones are not.
		if got := f.passing("web"); (tc.want == consulapi.HealthPassing) != (len(got) == 1) {
			t.Errorf("passing %v with status %s", got, tc.want)
		}
	}

	if err := f.client.Agent().ServiceDeregister("web-1"); err != nil {
		t.Fatal(err)
	}
	if got := f.status("web", "web-1"); got != "absent" {
		t.Errorf("web-1 is %s after deregistration", got)
	}
	err = f.client.Agent().ServiceDeregister("web-1")
	if !isStatus(err, http.StatusNotFound) {
		t.Errorf("deregistering it again: %v, want 404", err)
	}
	if err := f.client.Agent().PassTTL("service:web-1", ""); !isStatus(err, http.StatusNotFound) {
		t.Errorf("updating its check: %v, want 404", err)
	}
}

// isStatus reports whether err is the Consul client's error for status.
func isStatus(err error, status int) bool {
	var se consulapi.StatusError
	return errors.As(err, &se) && se.Code == status
}

func TestConsulRegisterAgain(t *testing.T) {
	f := newConsulFixture(t, Options{})
	f.mustRegister(webReg("web-1"))
	if err := f.client.Agent().PassTTL("service:web-1", ""); err != nil {
		t.Fatal(err)
	}
	// A TTL check registered again keeps its status, as in Consul.
	f.mustRegister(webReg("web-1"))
	if got := f.status("web", "web-1"); got != consulapi.HealthPassing {
		t.Errorf("status after registering again: %s, want passing", got)
	}
	// An initial status is taken when the instance is new.
	reg := webReg("web-2")
	reg.Check.Status = consulapi.HealthPassing
	f.mustRegister(reg)
	if got := f.passing("web"); !slices.Equal(got, []string{"web-1", "web-2"}) {
		t.Errorf("passing %v, want web-1 and web-2", got)
	}
}

func TestConsulBlockingQuery(t *testing.T) {
	f := newConsulFixture(t, Options{})
	f.mustRegister(webReg("web-1"))
	_, meta, err := f.client.Health().Service("web", "", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	idx := meta.LastIndex

	type result struct {
		n   int
		idx uint64
		err error
	}
	done := make(chan result, 1)
	go func() {
		entries, meta, err := f.client.Health().Service("web", "", false, &consulapi.QueryOptions{WaitIndex: idx, WaitTime: time.Minute})
		if err != nil {
			done <- result{err: err}
			return
		}
		done <- result{n: len(entries), idx: meta.LastIndex}
	}()
	// A change to another service, then to this one: the answer holds
	// this one's, promptly.
	f.mustRegister(&consulapi.AgentServiceRegistration{ID: "db-1", Name: "db", Address: "10.0.0.9", Port: 5432})
	f.mustRegister(webReg("web-2"))
	select {
	case r := <-done:
		if r.err != nil || r.n != 2 || r.idx <= idx {
			t.Errorf("blocking query answered %d instances at index %d (%v), want 2 past %d", r.n, r.idx, r.err, idx)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocking query did not answer within 10s of a change")
	}

	// Without a change, it answers when its wait ends, with the same index.
	_, meta, err = f.client.Health().Service("web", "", false, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, meta2, err := f.client.Health().Service("web", "", false, &consulapi.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 50 * time.Millisecond})
	if err != nil || meta2.LastIndex != meta.LastIndex {
		t.Errorf("wait without change: index %d (%v), want %d", meta2.LastIndex, err, meta.LastIndex)
	}
	if waited := time.Since(start); waited < 50*time.Millisecond {
		t.Errorf("wait without change answered after %s, before its wait of 50ms", waited)
	}
}

func TestConsulIndexNeverZero(t *testing.T) {
	f := newConsulFixture(t, Options{})
	for _, path := range []string{"/v1/catalog/services", "/v1/health/service/web", "/v1/agent/services"} {
		rec := f.do("GET", path, "")
		if rec.Code != http.StatusOK || rec.Header().Get(ConsulIndexHeader) != "1" {
			t.Errorf("GET %s on an empty registry: %d, X-Consul-Index %q, want 200 and 1", path, rec.Code, rec.Header().Get(ConsulIndexHeader))
		}
		if rec.Header().Get("X-Consul-KnownLeader") != "true" || rec.Header().Get("X-Consul-LastContact") != "0" {
			t.Errorf("GET %s: headers %v, want X-Consul-KnownLeader true and X-Consul-LastContact 0", path, rec.Header())
		}
	}
	// index=0 does not block, as in Consul.
	if rec := f.do("GET", "/v1/catalog/services?index=0&wait=1m", ""); rec.Code != http.StatusOK {
		t.Errorf("index=0: %d", rec.Code)
	}
}

func TestConsulReads(t *testing.T) {
	f := newConsulFixture(t, Options{})
	f.mustRegister(webReg("web-1"))
	reg := webReg("web-2")
	reg.Tags = []string{"v1"}
	f.mustRegister(reg)
	// Instances registered through Signpost's own API are in the Consul
	// view too, as are those of the Corefile.
	f.register("db", "db1", `{"address":"10.0.0.9","port":5432,"tags":["replica"]}`)

	services, meta, err := f.client.Catalog().Services(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(services["web"], []string{"primary", "v1"}) || !slices.Equal(services["db"], []string{"replica"}) || len(services) != 2 {
		t.Errorf("catalog services %v", services)
	}
	if meta.LastIndex != f.reg.Index()+1 {
		t.Errorf("X-Consul-Index %d, want the registry's %d plus one", meta.LastIndex, f.reg.Index())
	}

	for _, tc := range []struct {
		tags []string
		want []string
	}{
		{nil, []string{"web-1", "web-2"}},
		{[]string{"v1"}, []string{"web-1", "web-2"}},
		{[]string{"PRIMARY"}, []string{"web-1"}},
		{[]string{"primary", "v1"}, []string{"web-1"}},
		{[]string{"primary", "v2"}, nil},
	} {
		cat, _, err := f.client.Catalog().ServiceMultipleTags("web", tc.tags, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range cat {
			got = append(got, s.ServiceID)
			if s.ServiceAddress != "10.0.0.5" || s.ServicePort != 8080 || s.Node != DefaultConsulNodeName || s.Address == "" {
				t.Errorf("catalog entry %+v", s)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("catalog of web tagged %v: %v, want %v", tc.tags, got, tc.want)
		}
		health, _, err := f.client.Health().ServiceMultipleTags("web", tc.tags, false, nil)
		if err != nil || len(health) != len(tc.want) {
			t.Errorf("health of web tagged %v: %d entries (%v), want %d", tc.tags, len(health), err, len(tc.want))
		}
	}
	if _, _, err := f.client.Catalog().Service("web", "", &consulapi.QueryOptions{Datacenter: "dc1"}); err != nil {
		t.Errorf("catalog in dc1: %v", err)
	}
	if _, _, err := f.client.Catalog().Service("web", "", &consulapi.QueryOptions{Datacenter: "eu-west"}); err == nil {
		t.Error("catalog in another datacenter answered")
	}

	agentServices, err := f.client.Agent().Services()
	if err != nil {
		t.Fatal(err)
	}
	if len(agentServices) != 3 || agentServices["db1"].Service != "db" || agentServices["web-2"].Port != 8080 {
		t.Errorf("agent services %v", agentServices)
	}
	svc, _, err := f.client.Agent().Service("web-1", nil)
	if err != nil || svc.Service != "web" || svc.Address != "10.0.0.5" || svc.Weights.Passing != 10 {
		t.Errorf("agent service web-1: %+v, %v", svc, err)
	}
	if _, _, err := f.client.Agent().Service("nope", nil); !isStatus(err, http.StatusNotFound) {
		t.Errorf("agent service nope: %v, want 404", err)
	}

	checks, err := f.client.Agent().Checks()
	if err != nil {
		t.Fatal(err)
	}
	chk := checks["service:web-1"]
	if len(checks) != 2 || chk == nil || chk.Status != consulapi.HealthCritical || chk.Type != "ttl" || chk.ServiceID != "web-1" {
		t.Errorf("agent checks %v", checks)
	}

	hc, _, err := f.client.Health().Checks("web", nil)
	if err != nil || len(hc) != 2 || hc[0].CheckID != "service:web-1" || hc[0].Status != consulapi.HealthCritical {
		t.Errorf("health checks of web: %+v, %v", hc, err)
	}
	for state, want := range map[string]int{consulapi.HealthAny: 3, consulapi.HealthPassing: 1, consulapi.HealthCritical: 2, consulapi.HealthWarning: 0} {
		got, _, err := f.client.Health().State(state, nil)
		if err != nil || len(got) != want {
			t.Errorf("health state %s: %d checks (%v), want %d", state, len(got), err, want)
		}
	}
	if rec := f.do("GET", "/v1/health/state/sick", ""); rec.Code != http.StatusBadRequest {
		t.Errorf("health state sick: %d, want 400", rec.Code)
	}
	nodes, _, err := f.client.Catalog().Nodes(nil)
	if err != nil || len(nodes) != 1 || nodes[0].Node != DefaultConsulNodeName || nodes[0].Datacenter != "dc1" {
		t.Errorf("catalog nodes: %+v, %v", nodes, err)
	}

	self, err := f.client.Agent().Self()
	if err != nil || self["Config"]["Datacenter"] != "dc1" || self["Config"]["NodeName"] != DefaultConsulNodeName {
		t.Errorf("agent self %v, %v", self, err)
	}
	if name, err := f.client.Agent().NodeName(); err != nil || name != DefaultConsulNodeName {
		t.Errorf("node name %q, %v", name, err)
	}
	if dcs, err := f.client.Catalog().Datacenters(); err != nil || !slices.Equal(dcs, []string{"dc1"}) {
		t.Errorf("datacenters %v, %v", dcs, err)
	}
	if leader, err := f.client.Status().Leader(); err != nil || leader != f.srv.Listener.Addr().String() {
		t.Errorf("leader %q, %v, want %s", leader, err, f.srv.Listener.Addr())
	}
}

func TestConsulDatacenterAndNode(t *testing.T) {
	f := newConsulFixture(t, Options{Consul: &ConsulOptions{Datacenter: "eu-west", NodeName: "dns-1", NodeAddress: netip.MustParseAddr("127.0.0.1")}})
	// No Address: the node's, as Consul takes its agent's.
	f.mustRegister(&consulapi.AgentServiceRegistration{Name: "Metrics", Port: 9100})
	svc, _, err := f.client.Agent().Service("metrics", nil)
	if err != nil || svc.Address != "127.0.0.1" || svc.ID != "metrics" || svc.Service != "metrics" {
		t.Errorf("service registered without address or ID: %+v, %v", svc, err)
	}
	cat, _, err := f.client.Catalog().Service("metrics", "", &consulapi.QueryOptions{Datacenter: "eu-west"})
	if err != nil || len(cat) != 1 || cat[0].Node != "dns-1" || cat[0].Datacenter != "eu-west" {
		t.Errorf("catalog: %+v, %v", cat, err)
	}
}

func TestConsulNamesMapToLabels(t *testing.T) {
	f := newConsulFixture(t, Options{})
	f.mustRegister(&consulapi.AgentServiceRegistration{ID: "Web-A", Name: "Web", Address: "10.0.0.5", Port: 80, Tags: []string{"Blue"}})
	in, ok := f.reg.Snapshot().Service("web").Instance("web-a")
	if !ok || !in.HasTag("blue") {
		t.Fatalf("Web-A of Web not registered as web-a of web with tag blue: %+v", in)
	}
	// IDs match without regard to case, as in Consul.
	if err := f.client.Agent().ServiceDeregister("WEB-A"); err != nil {
		t.Errorf("deregister WEB-A: %v", err)
	}
}

func TestConsulCustomCheckID(t *testing.T) {
	f := newConsulFixture(t, Options{})
	reg := webReg("web-1")
	reg.Check.CheckID, reg.Check.Name, reg.Check.Notes = "web-alive", "Web alive", "renewed by the app"
	f.mustRegister(reg)
	if err := f.client.Agent().PassTTL("web-alive", ""); err != nil {
		t.Fatal(err)
	}
	if err := f.client.Agent().PassTTL("service:web-1", ""); !isStatus(err, http.StatusNotFound) {
		t.Errorf("the default check ID of a check with its own: %v, want 404", err)
	}
	checks, err := f.client.Agent().Checks()
	if err != nil {
		t.Fatal(err)
	}
	chk := checks["web-alive"]
	if chk == nil || chk.Name != "Web alive" || chk.Notes != "renewed by the app" || chk.Status != consulapi.HealthPassing {
		t.Errorf("checks %v", checks)
	}
	svc, _, err := f.client.Agent().Service("web-1", nil)
	if err != nil || len(svc.Meta) != 1 || svc.Meta["version"] != "1.2.3" {
		t.Errorf("meta %v (%v): want the registration's alone, without what Signpost keeps of the check", svc.Meta, err)
	}
}

func TestConsulHTTPCheck(t *testing.T) {
	f := newConsulFixture(t, Options{})
	f.mustRegister(&consulapi.AgentServiceRegistration{
		ID: "api-1", Name: "api", Address: "127.0.0.1", Port: 8080,
		Check: &consulapi.AgentServiceCheck{
			HTTP: "http://127.0.0.1:8080/healthz", Interval: "5s", Timeout: "1s",
			Header: map[string][]string{"Authorization": {"Bearer secret"}},
		},
	})
	in, _ := f.reg.Snapshot().Service("api").Instance("api-1")
	if in.Check == "" || in.TTL != 0 || in.Health != registry.Critical {
		t.Errorf("instance %+v: want an active check, critical until probed", in)
	}
	checks, err := f.client.Agent().Checks()
	if err != nil {
		t.Fatal(err)
	}
	chk := checks["service:api-1"]
	if chk == nil || chk.Type != "http" || chk.Definition.HTTP != "http://127.0.0.1:8080/healthz" ||
		chk.Definition.IntervalDuration != 5*time.Second || chk.Definition.TimeoutDuration != time.Second {
		t.Fatalf("checks %+v", checks)
	}
	if got := chk.Definition.Header["Authorization"]; !slices.Equal(got, []string{redacted}) {
		t.Errorf("header shown as %v, want it masked", got)
	}
	// An active check's state is the server's to find.
	if err := f.client.Agent().PassTTL("service:api-1", ""); !isStatus(err, http.StatusConflict) {
		t.Errorf("TTL update of an HTTP check: %v, want 409", err)
	}

	f.mustRegister(&consulapi.AgentServiceRegistration{
		ID: "db-1", Name: "db", Address: "127.0.0.1", Port: 5432,
		Checks: consulapi.AgentServiceChecks{{TCP: "127.0.0.1:5432", Interval: "10s"}},
	})
	in, _ = f.reg.Snapshot().Service("db").Instance("db-1")
	if !strings.Contains(in.Check, `"type":"tcp"`) {
		t.Errorf("TCP check stored as %s", in.Check)
	}
}

func TestConsulToken(t *testing.T) {
	f := newConsulFixture(t, Options{Token: "s3cret", TokenRead: true})
	anon := consulClient(t, f.srv, "")
	wrong := consulClient(t, f.srv, "guess")
	for name, c := range map[string]*consulapi.Client{"no token": anon, "a wrong token": wrong} {
		if err := c.Agent().ServiceRegister(webReg("web-1")); !isStatus(err, http.StatusForbidden) {
			t.Errorf("register with %s: %v, want 403", name, err)
		}
		if _, _, err := c.Catalog().Services(nil); !isStatus(err, http.StatusForbidden) {
			t.Errorf("read with %s: %v, want 403", name, err)
		}
	}
	if f.reg.Snapshot().Service("web") != nil {
		t.Fatal("registered without the token")
	}
	f.mustRegister(webReg("web-1"))
	if err := f.client.Agent().PassTTL("service:web-1", ""); err != nil {
		t.Errorf("check update with the token: %v", err)
	}
	// ?token= and a bearer token are taken too.
	for _, hdr := range [][]string{nil, {"Authorization", "Bearer s3cret"}} {
		path := "/v1/catalog/services"
		if hdr == nil {
			path += "?token=s3cret"
		}
		if rec := f.do("GET", path, "", hdr...); rec.Code != http.StatusOK {
			t.Errorf("GET %s %v: %d", path, hdr, rec.Code)
		}
	}

	// Without token-read, reads need no token.
	g := newConsulFixture(t, Options{Token: "s3cret"})
	if _, _, err := consulClient(t, g.srv, "").Catalog().Services(nil); err != nil {
		t.Errorf("read without token-read: %v", err)
	}
}

func TestConsulUnsupported(t *testing.T) {
	f := newConsulFixture(t, Options{})
	if _, err := f.client.KV().Put(&consulapi.KVPair{Key: "config/web", Value: []byte("x")}, nil); !isStatus(err, http.StatusNotFound) {
		t.Errorf("KV put: %v, want 404", err)
	}
	for _, tc := range []struct{ method, path string }{
		{"GET", "/v1/kv/config/web"},
		{"PUT", "/v1/session/create"},
		{"GET", "/v1/agent/members"},
		{"GET", "/v1/acl/token/self"},
		{"PUT", "/v1/agent/check/register"},
	} {
		rec := f.do(tc.method, tc.path, "")
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "not supported by Signpost's Consul-compatible API") {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, rec.Code, rec.Body)
		}
	}
	// A supported path with another method.
	rec := f.do("POST", "/v1/agent/service/register", "{}")
	if rec.Code != http.StatusMethodNotAllowed || !strings.Contains(rec.Header().Get("Allow"), "PUT") {
		t.Errorf("POST register: %d Allow %q, want 405 allowing PUT", rec.Code, rec.Header().Get("Allow"))
	}
	// Signpost's own calls beside them are unchanged.
	if rec := f.do("GET", "/v1/health", ""); rec.Code != http.StatusOK {
		t.Errorf("GET /v1/health: %d", rec.Code)
	}

	// With the Consul API off, its paths are unknown as any other.
	off := newFixture(t, Options{})
	for _, path := range []string{"/v1/agent/services", "/v1/kv/x"} {
		rec := off.do("GET", path, "")
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "no such endpoint") {
			t.Errorf("GET %s with the Consul API off: %d %s", path, rec.Code, rec.Body)
		}
	}
}

func TestConsulBadRegistration(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"bad JSON", `{"Name": "web",`, "body"},
		{"unknown field", `{"Name":"web","Port":80,"Address":"10.0.0.5","Colour":"blue"}`, "Colour"},
		{"no name", `{"Port":80}`, "Name"},
		{"name no label", `{"Name":"my_service","Port":80,"Address":"10.0.0.5"}`, "RFC 1123"},
		{"id no label", `{"Name":"web","ID":"web.1","Port":80,"Address":"10.0.0.5"}`, "ID"},
		{"host name", `{"Name":"web","Port":80,"Address":"web.example.com"}`, "Address"},
		{"no port", `{"Name":"web","Address":"10.0.0.5"}`, "Port"},
		{"tag no label", `{"Name":"web","Port":80,"Address":"10.0.0.5","Tags":["a=b"]}`, "Tags"},
		{"reserved meta", `{"Name":"web","Port":80,"Address":"10.0.0.5","Meta":{"consul-x":"1"}}`, "reserved"},
		{"zero weight", `{"Name":"web","Port":80,"Address":"10.0.0.5","Weights":{"Passing":0,"Warning":1}}`, "Weights"},
		{"two checks", `{"Name":"web","Port":80,"Address":"10.0.0.5","Check":{"TTL":"10s"},"Checks":[{"TTL":"5s"}]}`, "one per instance"},
		{"ttl and http", `{"Name":"web","Port":80,"Address":"10.0.0.5","Check":{"TTL":"10s","HTTP":"http://10.0.0.5/","Interval":"5s"}}`, "one of them"},
		{"script", `{"Name":"web","Port":80,"Address":"10.0.0.5","Check":{"Args":["/bin/true"],"Interval":"5s"}}`, "script"},
		{"bad ttl", `{"Name":"web","Port":80,"Address":"10.0.0.5","Check":{"TTL":"soon"}}`, "Check.TTL"},
		{"unknown check field", `{"Name":"web","Port":80,"Address":"10.0.0.5","Check":{"TTL":"10s","Colour":"red"}}`, "Colour"},
		{"bad status", `{"Name":"web","Port":80,"Address":"10.0.0.5","Check":{"TTL":"10s","Status":"fine"}}`, "Status"},
		{"http elsewhere", `{"Name":"web","Port":80,"Address":"10.0.0.5","Check":{"HTTP":"http://10.9.9.9/","Interval":"5s"}}`, "check-targets"},
		{"http no interval", `{"Name":"web","Port":80,"Address":"10.0.0.5","Check":{"HTTP":"http://10.0.0.5/"}}`, "Interval"},
		{"tcp elsewhere", `{"Name":"web","Port":80,"Address":"10.0.0.5","Check":{"TCP":"10.0.0.5:22","Interval":"5s"}}`, "own address"},
		{"connect", `{"Name":"web","Port":80,"Address":"10.0.0.5","Connect":{"Native":true}}`, "Connect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newConsulFixture(t, Options{})
			before := f.reg.Index()
			rec := f.do("PUT", "/v1/agent/service/register", tc.body)
			if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), tc.want) {
				t.Errorf("%s: %d %s, want 400 naming %q", tc.body, rec.Code, rec.Body, tc.want)
			}
			if f.reg.Index() != before || f.reg.Snapshot().Len() != 0 {
				t.Errorf("%s: the registry changed", tc.body)
			}
		})
	}
}

func TestConsulCheckUpdateErrors(t *testing.T) {
	f := newConsulFixture(t, Options{})
	f.mustRegister(webReg("web-1"))
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{"Status":"fine"}`, http.StatusBadRequest},
		{`{"Status":"passing",`, http.StatusBadRequest},
		{`{"Status":"passing","Extra":1}`, http.StatusBadRequest},
	} {
		if rec := f.do("PUT", "/v1/agent/check/update/service:web-1", tc.body); rec.Code != tc.want {
			t.Errorf("update %s: %d %s, want %d", tc.body, rec.Code, rec.Body, tc.want)
		}
	}
	if got := f.status("web", "web-1"); got != consulapi.HealthCritical {
		t.Errorf("status %s after refused updates, want critical still", got)
	}
	// Output longer than the limit is cut, as Consul does.
	long := strings.Repeat("x", 2*maxOutputBytes)
	if err := f.client.Agent().UpdateTTL("service:web-1", long, "pass"); err != nil {
		t.Errorf("update with long output: %v", err)
	}
}

func TestConsulIDs(t *testing.T) {
	f := newConsulFixture(t, Options{})
	f.mustRegister(webReg("node-1"))
	// A Consul ID names one instance: another service cannot take it.
	err := f.client.Agent().ServiceRegister(&consulapi.AgentServiceRegistration{ID: "node-1", Name: "db", Address: "10.0.0.9", Port: 5432})
	if !isStatus(err, http.StatusConflict) {
		t.Errorf("ID of another service: %v, want 409", err)
	}
	// Instances registered through Signpost's own API may share an id
	// across services: the Consul view qualifies them.
	f.register("db", "node-1", `{"address":"10.0.0.9","port":5432}`)
	services, err := f.client.Agent().Services()
	if err != nil {
		t.Fatal(err)
	}
	if services["web:node-1"] == nil || services["db:node-1"] == nil || len(services) != 2 {
		t.Errorf("agent services %v, want web:node-1 and db:node-1", keys(services))
	}
	if _, _, err := f.client.Agent().Service("node-1", nil); !isStatus(err, http.StatusConflict) {
		t.Errorf("ambiguous ID: %v, want 409", err)
	}
	if svc, _, err := f.client.Agent().Service("db:node-1", nil); err != nil || svc.Service != "db" {
		t.Errorf("qualified ID: %+v, %v", svc, err)
	}
	if err := f.client.Agent().PassTTL("service:web:node-1", ""); err != nil {
		t.Errorf("check of a qualified ID: %v", err)
	}
	if err := f.client.Agent().ServiceDeregister("db:node-1"); err != nil {
		t.Errorf("deregister by qualified ID: %v", err)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestConsulRegisterBodyLimit(t *testing.T) {
	f := newConsulFixture(t, Options{MaxBodyBytes: 128})
	body := `{"Name":"web","Port":80,"Address":"10.0.0.5","Meta":{"k":"` + strings.Repeat("v", 200) + `"}}`
	req, err := http.NewRequest("PUT", f.srv.URL+"/v1/agent/service/register", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d, want 413", resp.StatusCode)
	}
}
