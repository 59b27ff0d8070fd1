package api

import (
	"net/http"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/signpost-dns/signpost/healthcheck"
	"github.com/signpost-dns/signpost/registry"
)

// storedCheck returns the check string the registry holds for an instance.
func (f *fixture) storedCheck(service, id string) string {
	f.t.Helper()
	in, ok := f.reg.Snapshot().Service(service).Instance(id)
	if !ok {
		f.t.Fatalf("instance %s of service %s not registered", id, service)
	}
	return in.Check
}

func TestRegisterCheck(t *testing.T) {
	f := newFixture(t, Options{})
	got := f.register("web", "w1", `{"address":"10.0.0.5","port":8080,"check":{"type":"http","path":"/healthz","interval":"5s","expect":"ok","header":{"x-probe":"signpost"}}}`)
	// Every default spelled out: what the API shows is what the probes do,
	// header values masked.
	wantCheck := &healthcheck.Spec{
		Type: "http", Path: "/healthz", Interval: "5s", Timeout: "2s", Rise: 2, Fall: 3, Method: "GET",
		Header: map[string]string{"X-Probe": "***"}, Expect: "ok",
	}
	want := instanceJSON{
		Service: "web", ID: "w1", Address: "10.0.0.5", Port: 8080, Tags: []string{}, Meta: map[string]string{}, Weight: 1,
		// Critical until the probes pass: no lease, no ttl.
		Health: "critical", Source: "api", Check: wantCheck, CreateIndex: 1, ModifyIndex: 1,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	// The registry holds the spec for the probes: it decodes to the check.
	c, err := healthcheck.DecodeSpec(f.storedCheck("web", "w1"))
	if err != nil {
		t.Fatal(err)
	}
	if tgt := c.ForInstance(netip.MustParseAddrPort("10.0.0.5:8080")).Target; tgt != "http://10.0.0.5:8080/healthz" || c.Expect != "ok" {
		t.Errorf("stored check %+v aims at %s", c, tgt)
	}
	if _, _, ok := f.reg.Lease("web", "w1"); ok {
		t.Error("an instance with a check got a lease")
	}
	// DNS serves passing instances only: not this one yet.
	if n := f.reg.Snapshot().Service("web").Count(registry.Passing); n != 0 {
		t.Errorf("%d passing instances, want 0 before the probes pass", n)
	}
}

func TestRegisterCheckShownInGET(t *testing.T) {
	f := newFixture(t, Options{})
	f.register("cache", "c1", `{"address":"10.0.0.7","port":6379,"check":{"type":"redis","interval":"2s","password":"s3cret"}}`)
	f.register("cache", "c2", `{"address":"10.0.0.8","port":6379,"ttl":"15s"}`)
	rec := f.do("GET", "/v1/services/cache", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "s3cret") {
		t.Errorf("the password shows in %s", rec.Body)
	}
	var svc serviceJSON
	decode(t, rec, &svc)
	if svc.Passing != 1 || svc.Critical != 1 || len(svc.Instances) != 2 {
		t.Fatalf("service %+v, want c1 critical and c2 passing", svc)
	}
	want := &healthcheck.Spec{Type: "redis", Interval: "2s", Timeout: "1s", Rise: 2, Fall: 3, Password: "***"}
	if got := svc.Instances[0].Check; !reflect.DeepEqual(got, want) {
		t.Errorf("c1 check %+v, want %+v", got, want)
	}
	if svc.Instances[1].Check != nil || strings.Count(rec.Body.String(), `"check"`) != 1 {
		t.Errorf("c2 has no check, but shows %+v in %s", svc.Instances[1].Check, rec.Body)
	}
	// The probes still get the password.
	if c, err := healthcheck.DecodeSpec(f.storedCheck("cache", "c1")); err != nil || c.Password != "s3cret" {
		t.Errorf("stored check %+v, %v: want the password kept", c, err)
	}
}

func TestRenderCheckHidesSecrets(t *testing.T) {
	f := newFixture(t, Options{})
	body := `{"address":"10.0.0.5","port":443,"check":{"type":"https",` +
		`"url":"https://probe:pa55@10.0.0.5/healthz?api_key=querysecret&verbose=1",` +
		`"header":{"authorization":"Bearer tok","Cookie":"s=1","X-Api-Key":"xkey-secret","X-Probe":"signpost"}}}`
	got := f.register("web", "w1", body)
	if got.Check == nil {
		t.Fatal("no check in the answer")
	}
	if got.Check.URL != "https://probe:xxxxx@10.0.0.5/healthz?api_key=xxxxx&verbose=xxxxx" {
		t.Errorf("url %q, want its password and query values masked", got.Check.URL)
	}
	want := map[string]string{"Authorization": "***", "Cookie": "***", "X-Api-Key": "***", "X-Probe": "***"}
	if !reflect.DeepEqual(got.Check.Header, want) {
		t.Errorf("header %v, want %v", got.Check.Header, want)
	}
	// Every read answer masks them: the service, and the list of services.
	for _, path := range []string{"/v1/services/web", "/v1/services"} {
		rec := f.do("GET", path, "")
		for _, secret := range []string{"pa55", "querysecret", "xkey-secret", "Bearer tok", "s=1", "signpost"} {
			if strings.Contains(rec.Body.String(), secret) {
				t.Errorf("GET %s shows %q: %s", path, secret, rec.Body)
			}
		}
	}
	// The probes still get them.
	c, err := healthcheck.DecodeSpec(f.storedCheck("web", "w1"))
	if err != nil || c.Target != "https://probe:pa55@10.0.0.5/healthz?api_key=querysecret&verbose=1" || c.Header.Get("X-Api-Key") != "xkey-secret" {
		t.Errorf("stored check %+v, %v: want its secrets kept", c, err)
	}
	if renderCheck("") != nil {
		t.Error("an instance without a check shows one")
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"http://10.0.0.5:8080/healthz", "http://10.0.0.5:8080/healthz"},
		{"http://user@10.0.0.5/", "http://user@10.0.0.5/"},
		{"http://user:pw@10.0.0.5/", "http://user:xxxxx@10.0.0.5/"},
		{"http://10.0.0.5/?token=abc", "http://10.0.0.5/?token=xxxxx"},
		{"http://10.0.0.5/?a=1&b=&c=%2F", "http://10.0.0.5/?a=xxxxx&b=xxxxx&c=xxxxx"},
		{"http://10.0.0.5/?AbCdEf123", "http://10.0.0.5/?xxxxx"},
		{"http://10.0.0.5/?a=1&&b=2", "http://10.0.0.5/?a=xxxxx&&b=xxxxx"},
		{"https://u:p@10.0.0.5/x?k=v#frag", "https://u:xxxxx@10.0.0.5/x?k=xxxxx#frag"},
		{"http://[::1", "xxxxx"},
	}
	for _, tc := range tests {
		if got := healthcheck.RedactURL(tc.in); got != tc.want {
			t.Errorf("healthcheck.RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRegisterCheckBadInput(t *testing.T) {
	tests := []struct {
		name, check, msg string
	}{
		{"not an object", `"http"`, `check: must be an object such as {"type": "http", "path": "/healthz", "interval": "5s"}`},
		{"array", `[]`, `check: must be an object such as {"type": "http", "path": "/healthz", "interval": "5s"}`},
		{"unknown field", `{"type":"tcp","colour":"red"}`, `check: unknown field "colour"`},
		{"field of another API", `{"type":"tcp","HTTP":"http://10.0.0.5/"}`, `check: unknown field "HTTP"`},
		{"no type", `{}`, `check: type: missing, want one of tcp, http, https, grpc, redis, mysql`},
		{"unknown type", `{"type":"postgres"}`, `check: type "postgres": want one of tcp, http, https, grpc, redis, mysql`},
		{"type not a string", `{"type":1}`, `check: type: must be a string`},
		{"interval not a duration", `{"type":"tcp","interval":"soon"}`, `check: interval "soon": want a positive duration such as 5s`},
		{"interval a number", `{"type":"tcp","interval":5}`, `check: interval: must be a duration string such as "5s"`},
		{"interval too short", `{"type":"tcp","interval":"1ms"}`, `check: interval 1ms: must be at least 10ms`},
		{"interval negative", `{"type":"tcp","interval":"-5s"}`, `check: interval "-5s": want a positive duration such as 5s`},
		{"timeout not below interval", `{"type":"tcp","interval":"1s","timeout":"1s"}`, `check: timeout 1s: must be less than interval 1s`},
		{"rise zero after defaults", `{"type":"tcp","rise":-1}`, `check: rise -1: must be at least 1`},
		{"fall fraction", `{"type":"tcp","fall":1.5}`, `check: fall: must be a whole number`},
		{"header not strings", `{"type":"http","header":{"X-A":1}}`, `check: header: must be an object with string values`},
		{"header bad name", `{"type":"http","header":{"bad name":"x"}}`, `check: header "bad name": not a valid header name`},
		{"header bad value", `{"type":"http","header":{"X-A":"a\r\nB: c"}}`, `check: header X-A: value contains a control character`},
		{"tls_skip_verify a string", `{"type":"https","tls_skip_verify":"yes"}`, `check: tls_skip_verify: must be true or false`},
		{"Corefile spelling", `{"type":"https","tls-skip-verify":true}`, `check: unknown field "tls-skip-verify" (did you mean "tls_skip_verify"?)`},
		{"dashes naming nothing", `{"type":"tcp","re-try":1}`, `check: unknown field "re-try"`},
		{"path without slash", `{"type":"http","path":"healthz"}`, `check: path "healthz": must start with /`},
		{"path on tcp", `{"type":"tcp","path":"/healthz"}`, `check: path: only for http and https checks, not tcp`},
		{"expect on redis", `{"type":"redis","expect":"PONG"}`, `check: expect: only for http and https checks, not redis`},
		{"password on http", `{"type":"http","password":"x"}`, `check: password: only for redis checks, not http`},
		{"service on tcp", `{"type":"tcp","service":"db"}`, `check: service: only for grpc checks, not tcp`},
		{"method not a token", `{"type":"http","method":"GE T"}`, `check: method "GE T": not an HTTP method`},
		{"expect with HEAD", `{"type":"http","method":"HEAD","expect":"ok"}`, `check: expect: a HEAD response has no body to search`},
		{"url on tcp", `{"type":"tcp","url":"10.0.0.9:80"}`, `check: url: only for http and https checks, not tcp`},
		{"url and path", `{"type":"http","url":"http://10.0.0.9/","path":"/x"}`, `check: url and path: give one or the other`},
		{"url scheme", `{"type":"https","url":"http://10.0.0.9/"}`, `check: target "http://10.0.0.9/": scheme must be https`},
		{"url without host", `{"type":"http","url":"http:///x"}`, `check: target "http:///x": no host`},
		{"too large", `{"type":"http","expect":"` + strings.Repeat("x", registry.MaxCheck) + `"}`, `check: at most 4096 bytes`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			body := `{"address":"10.0.0.5","port":80,"check":` + tc.check + `}`
			wantError(t, f.do("PUT", "/v1/services/web/instances/w1", body), http.StatusBadRequest, tc.msg)
			if n := f.reg.Snapshot().Len(); n != 0 || f.reg.Index() != 0 {
				t.Errorf("a refused registration changed the registry: %d services, index %d", n, f.reg.Index())
			}
		})
	}
}

func TestRegisterCheckAndTTL(t *testing.T) {
	const msg = "check: cannot be combined with ttl: register with a ttl (the instance renews its lease) or with a check (the server probes it), not both"
	for _, body := range []string{
		`{"address":"10.0.0.5","port":80,"ttl":"15s","check":{"type":"tcp"}}`,
		`{"address":"10.0.0.5","port":80,"check":{"type":"tcp"},"ttl":"15s"}`,
		// The conflict is the first thing to fix, whatever else is wrong.
		`{"address":"10.0.0.5","port":80,"ttl":"15s","check":{"type":"nope"}}`,
	} {
		f := newFixture(t, Options{})
		wantError(t, f.do("PUT", "/v1/services/web/instances/w1", body), http.StatusBadRequest, msg)
		if f.reg.Index() != 0 {
			t.Errorf("%s: a refused registration changed the registry", body)
		}
	}
	// A null check is no check.
	f := newFixture(t, Options{})
	if got := f.register("web", "w1", `{"address":"10.0.0.5","port":80,"ttl":"15s","check":null}`); got.Check != nil || got.Health != "passing" {
		t.Errorf("null check: %+v", got)
	}
}

// TestRegisterCheckAgain checks that registering an instance again with the
// same check, however spelled, keeps its health (its probe keeps running),
// and that a different check or a lease instead starts afresh.
func TestRegisterCheckAgain(t *testing.T) {
	f := newFixture(t, Options{})
	f.register("web", "w1", `{"address":"10.0.0.5","port":80,"check":{"type":"tcp","interval":"5s"}}`)
	if err := f.reg.SetHealth("web", "w1", registry.Passing); err != nil { // the probes passed
		t.Fatal(err)
	}
	index := f.reg.Index()
	got := f.register("web", "w1", `{"address":"10.0.0.5","port":80,"check":{"type":"TCP","interval":"5000ms","rise":2}}`)
	if got.Health != "passing" || got.ModifyIndex != index || f.reg.Index() != index {
		t.Errorf("same check again: %+v, registry index %d, want passing and unchanged at %d", got, f.reg.Index(), index)
	}
	got = f.register("web", "w1", `{"address":"10.0.0.5","port":80,"check":{"type":"tcp","interval":"1s"}}`)
	if got.Health != "critical" || got.Check.Interval != "1s" {
		t.Errorf("another check: %+v, want critical until it passes", got)
	}
	got = f.register("web", "w1", `{"address":"10.0.0.5","port":80,"ttl":"15s"}`)
	if got.Health != "passing" || got.Check != nil || f.storedCheck("web", "w1") != "" || got.TTL != "15s" {
		t.Errorf("lease instead of the check: %+v", got)
	}
}

// TestCorefileCheckShown checks that the check of a Corefile instance shows
// in the API like that of a registered one, secrets masked.
func TestCorefileCheckShown(t *testing.T) {
	f := newFixture(t, Options{})
	hc, err := healthcheck.ParseArgs(strings.Fields("redis interval 2s timeout 1s rise 2 fall 3 password s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	err = f.reg.ApplyStatic([]registry.StaticService{{
		Config: registry.ServiceConfig{Name: "redis"},
		Instances: []registry.Instance{{ID: "r1", Address: netip.MustParseAddr("10.0.0.7"), Port: 6379, Weight: 1,
			Check: healthcheck.SpecOf(hc).Encode()}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	rec := f.do("GET", "/v1/services/redis", "")
	var svc serviceJSON
	decode(t, rec, &svc)
	want := &healthcheck.Spec{Type: "redis", Interval: "2s", Timeout: "1s", Rise: 2, Fall: 3, Password: "***"}
	if len(svc.Instances) != 1 || !reflect.DeepEqual(svc.Instances[0].Check, want) || svc.Instances[0].Health != "critical" {
		t.Errorf("got %s, want r1 critical with check %+v", rec.Body, want)
	}
}

func TestLogsCheck(t *testing.T) {
	log := &recordingLogger{}
	f := newFixture(t, Options{Logger: log})
	f.register("web", "w1", `{"address":"10.0.0.5","port":80,"check":{"type":"http","interval":"5s"}}`)
	want := []string{"I api: registered instance w1 of service web at 10.0.0.5 port 80, http check every 5s"}
	if !reflect.DeepEqual(log.lines, want) {
		t.Errorf("logged %q, want %q", log.lines, want)
	}
}
