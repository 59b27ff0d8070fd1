package api

import (
	"net/http"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

func TestRegister(t *testing.T) {
	f := newFixture(t, Options{})
	got := f.register("web", "w1", `{"address":"10.0.0.5","port":8080,"tags":["v2","canary","v2"],"meta":{"zone":"a"},"weight":10,"ttl":"15s"}`)
	want := instanceJSON{
		Service: "web", ID: "w1", Address: "10.0.0.5", Port: 8080,
		Tags: []string{"canary", "v2"}, Meta: map[string]string{"zone": "a"}, Weight: 10,
		Health: "passing", Source: "api", TTL: "15s",
		LeaseExpires: f.clock.Now().Add(15 * time.Second), CreateIndex: 1, ModifyIndex: 1,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}

	// Visible in the registry, and so in DNS, as soon as the PUT returns.
	in, ok := f.reg.Snapshot().Service("web").Instance("w1")
	if !ok || in.Address != netip.MustParseAddr("10.0.0.5") || in.Port != 8080 || in.TTL != 15*time.Second || in.Source != registry.SourceAPI {
		t.Fatalf("registry holds %+v, %v", in, ok)
	}
}

func TestRegisterDefaults(t *testing.T) {
	f := newFixture(t, Options{})
	rec := f.do("PUT", "/v1/services/db/instances/db1", `{"address":"2001:db8::1","port":3306}`)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	// No ttl: no lease fields; no tags or meta: [] and {}, not null.
	const want = `{"service":"db","id":"db1","address":"2001:db8::1","port":3306,"tags":[],"meta":{},"weight":1,"health":"passing","source":"api","create_index":1,"modify_index":1}`
	if got := strings.TrimSpace(rec.Body.String()); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestRegisterWeightZero(t *testing.T) {
	f := newFixture(t, Options{})
	if in := f.register("web", "w1", `{"address":"10.0.0.5","port":80,"weight":0}`); in.Weight != 0 {
		t.Errorf("weight %d, want 0", in.Weight)
	}
}

func TestRegisterReplaces(t *testing.T) {
	f := newFixture(t, Options{})
	f.register("web", "w1", web1)
	got := f.register("web", "w1", `{"address":"10.0.0.6","port":9090,"ttl":"30s"}`)
	if got.Address != "10.0.0.6" || got.Port != 9090 || got.TTL != "30s" || got.CreateIndex != 1 || got.ModifyIndex != 2 {
		t.Errorf("got %+v", got)
	}
	if n := f.reg.Snapshot().Service("web").Len(); n != 1 {
		t.Errorf("%d instances, want 1", n)
	}
}

func TestRegisterBadInput(t *testing.T) {
	const path = "/v1/services/web/instances/w1"
	tests := []struct {
		name, path, body string
		status           int
		msg              string
	}{
		{"service not a label", "/v1/services/Web/instances/w1", web1, 400, `service: "Web" may hold only lowercase a-z, 0-9 and '-'`},
		{"service reserved", "/v1/services/addr/instances/w1", web1, 400, `service: "addr" is reserved for address records`},
		{"service with dash at end", "/v1/services/web-/instances/w1", web1, 400, `service: "web-" must not start or end with '-'`},
		{"service with dot", "/v1/services/a.b/instances/w1", web1, 400, `service: "a.b" may hold only lowercase a-z, 0-9 and '-'`},
		{"id too long", "/v1/services/web/instances/" + strings.Repeat("a", 64), web1, 400, `id: "` + strings.Repeat("a", 64) + `" must be 1 to 63 characters`},
		{"id with underscore", "/v1/services/web/instances/w_1", web1, 400, `id: "w_1" may hold only lowercase a-z, 0-9 and '-'`},
		{"address missing", path, `{"port":80}`, 400, `address: is required`},
		{"address not an IP", path, `{"address":"db.example.com","port":80}`, 400, `address: "db.example.com" must be an IPv4 or IPv6 address`},
		{"address empty", path, `{"address":"","port":80}`, 400, `address: must be an IPv4 or IPv6 address`},
		{"address with zone", path, `{"address":"fe80::1%eth0","port":80}`, 400, `address: "fe80::1%eth0" must not carry an IPv6 zone`},
		{"address not a string", path, `{"address":10,"port":80}`, 400, `address: must be a string holding an IPv4 or IPv6 address`},
		{"port missing", path, `{"address":"10.0.0.5"}`, 400, `port: is required`},
		{"port zero", path, `{"address":"10.0.0.5","port":0}`, 400, `port: "0" must be between 1 and 65535`},
		{"port negative", path, `{"address":"10.0.0.5","port":-1}`, 400, `port: "-1" must be between 1 and 65535`},
		{"port too large", path, `{"address":"10.0.0.5","port":65536}`, 400, `port: "65536" must be between 1 and 65535`},
		{"port huge", path, `{"address":"10.0.0.5","port":1e30}`, 400, `port: must be an integer between 1 and 65535`},
		{"port fraction", path, `{"address":"10.0.0.5","port":80.5}`, 400, `port: must be an integer between 1 and 65535`},
		{"port string", path, `{"address":"10.0.0.5","port":"80"}`, 400, `port: must be an integer between 1 and 65535`},
		{"weight negative", path, `{"address":"10.0.0.5","port":80,"weight":-1}`, 400, `weight: "-1" must be between 0 and 65535`},
		{"weight too large", path, `{"address":"10.0.0.5","port":80,"weight":65536}`, 400, `weight: "65536" must be between 0 and 65535`},
		{"weight string", path, `{"address":"10.0.0.5","port":80,"weight":"1"}`, 400, `weight: must be an integer between 0 and 65535`},
		{"ttl not a duration", path, `{"address":"10.0.0.5","port":80,"ttl":"soon"}`, 400, `ttl: "soon" must be a duration such as "15s"`},
		{"ttl number", path, `{"address":"10.0.0.5","port":80,"ttl":15}`, 400, `ttl: must be a duration string such as "15s"`},
		{"ttl negative", path, `{"address":"10.0.0.5","port":80,"ttl":"-15s"}`, 400, `ttl: "-15s" must be between 1s and 24h0m0s`},
		{"ttl zero", path, `{"address":"10.0.0.5","port":80,"ttl":"0s"}`, 400, `ttl: "0s" must be between 1s and 24h0m0s`},
		{"ttl too short", path, `{"address":"10.0.0.5","port":80,"ttl":"500ms"}`, 400, `ttl: "500ms" must be between 1s and 24h0m0s`},
		{"ttl absurd", path, `{"address":"10.0.0.5","port":80,"ttl":"8760h"}`, 400, `ttl: "8760h" must be between 1s and 24h0m0s`},
		{"tag not a label", path, `{"address":"10.0.0.5","port":80,"tags":["Primary"]}`, 400, `tags: "Primary" may hold only lowercase a-z, 0-9 and '-'`},
		{"tags not strings", path, `{"address":"10.0.0.5","port":80,"tags":[1]}`, 400, `tags: must be a list of strings`},
		{"too many tags", path, `{"address":"10.0.0.5","port":80,"tags":[` + manyTags(65) + `]}`, 400, `tags: at most 64 tags`},
		{"meta not strings", path, `{"address":"10.0.0.5","port":80,"meta":{"k":1}}`, 400, `meta: must be an object with string values`},
		{"meta empty key", path, `{"address":"10.0.0.5","port":80,"meta":{"":"v"}}`, 400, `meta: keys must be 1 to 128 bytes`},
		{"unknown field", path, `{"address":"10.0.0.5","port":80,"name":"x"}`, 400, `name: is not a known field`},
		{"empty body", path, ``, 400, `body: is empty, must be a JSON object`},
		{"truncated body", path, `{"address":"10.0.0.5",`, 400, `body: ends in the middle of the JSON object`},
		{"array body", path, `[]`, 400, `body: must be a JSON object`},
		{"string body", path, `"x"`, 400, `body: must be a JSON object`},
		{"invalid JSON", path, `{"address" "10.0.0.5"}`, 400, `body: invalid JSON at byte 12: invalid character '"' after object key`},
		{"trailing object", path, web1 + `{}`, 400, `body: must hold one JSON object and nothing after it`},
		{"trailing garbage", path, web1 + ` x`, 400, `body: invalid JSON at byte 47: invalid character 'x' looking for beginning of value`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			wantError(t, f.do("PUT", tc.path, tc.body), tc.status, tc.msg)
			if n := f.reg.Snapshot().Len(); n != 0 || f.reg.Index() != 0 {
				t.Errorf("a refused registration changed the registry: %d services, index %d", n, f.reg.Index())
			}
		})
	}
}

func manyTags(n int) string {
	tags := make([]string, n)
	for i := range tags {
		tags[i] = `"t` + strings.Repeat("x", i%10) + string(rune('a'+i%26)) + `"`
	}
	return strings.Join(tags, ",")
}

func TestRegisterTrailingWhitespace(t *testing.T) {
	f := newFixture(t, Options{})
	f.register("web", "w1", web1+"\n\t ")
}

func TestRegisterBodyTooLarge(t *testing.T) {
	f := newFixture(t, Options{MaxBodyBytes: 100})
	small := `{"address":"10.0.0.5","port":80}`
	f.register("web", "w1", small)
	big := `{"address":"10.0.0.5","port":80,"meta":{"k":"` + strings.Repeat("v", 100) + `"}}`
	wantError(t, f.do("PUT", "/v1/services/web/instances/w2", big), http.StatusRequestEntityTooLarge, "body: larger than 100 bytes")
	// Over the limit only in trailing data.
	trailing := small + strings.Repeat(" ", 100) + "{}"
	wantError(t, f.do("PUT", "/v1/services/web/instances/w2", trailing), http.StatusRequestEntityTooLarge, "body: larger than 100 bytes")
	if f.reg.Snapshot().Service("web").Len() != 1 {
		t.Error("an oversized registration was applied")
	}
}

func TestRegisterDefaultBodyLimit(t *testing.T) {
	f := newFixture(t, Options{})
	big := `{"address":"10.0.0.5","port":80,"meta":{"k":"` + strings.Repeat("v", DefaultMaxBodyBytes) + `"}}`
	wantError(t, f.do("PUT", "/v1/services/web/instances/w1", big), http.StatusRequestEntityTooLarge, "body: larger than 65536 bytes")
}

// static declares service mysql with instance db1 in the Corefile.
func (f *fixture) static() {
	f.t.Helper()
	err := f.reg.ApplyStatic([]registry.StaticService{{
		Config: registry.ServiceConfig{
			Name:     "mysql",
			Failover: registry.Failover{Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.100")}},
		},
		Instances: []registry.Instance{{ID: "db1", Address: netip.MustParseAddr("10.0.0.5"), Port: 3306, Weight: 1}},
	}})
	if err != nil {
		f.t.Fatal(err)
	}
}

func TestStaticInstancesAreReadOnly(t *testing.T) {
	f := newFixture(t, Options{})
	f.static()
	const path = "/v1/services/mysql/instances/db1"
	wantError(t, f.do("PUT", path, `{"address":"10.0.0.9","port":3306,"ttl":"10s"}`), http.StatusConflict, "instance db1 of service mysql is declared in the Corefile")
	wantError(t, f.do("DELETE", path, ""), http.StatusConflict, "instance db1 of service mysql is declared in the Corefile")
	wantError(t, f.do("PUT", path+"/heartbeat", ""), http.StatusConflict, "instance db1 of service mysql has no heartbeat lease: it was registered without a ttl")
	in, _ := f.reg.Snapshot().Service("mysql").Instance("db1")
	if in.Address != netip.MustParseAddr("10.0.0.5") || in.Source != registry.SourceCorefile {
		t.Errorf("static instance changed: %+v", in)
	}
	// Other instances of a declared service may register through the API.
	f.register("mysql", "db2", `{"address":"10.0.0.6","port":3306,"ttl":"10s"}`)
}

func TestHeartbeat(t *testing.T) {
	f := newFixture(t, Options{})
	f.register("web", "w1", web1)
	f.clock.Add(10 * time.Second)
	rec := f.do("PUT", "/v1/services/web/instances/w1/heartbeat", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var in instanceJSON
	decode(t, rec, &in)
	if want := f.clock.Now().Add(15 * time.Second); !in.LeaseExpires.Equal(want) || in.ID != "w1" || in.Health != "passing" {
		t.Errorf("got %+v, want lease until %s", in, want)
	}
}

func TestHeartbeatRevives(t *testing.T) {
	f := newFixture(t, Options{})
	f.register("web", "w1", web1)
	f.clock.Add(20 * time.Second)
	f.reg.Sweep()
	if in, _ := f.reg.Snapshot().Service("web").Instance("w1"); in.Health != registry.Critical {
		t.Fatalf("health %s after the lease ran out, want critical", in.Health)
	}
	rec := f.do("PUT", "/v1/services/web/instances/w1/heartbeat", "")
	var in instanceJSON
	decode(t, rec, &in)
	if rec.Code != http.StatusOK || in.Health != "passing" {
		t.Errorf("status %d health %s, want 200 passing", rec.Code, in.Health)
	}
}

func TestHeartbeatErrors(t *testing.T) {
	f := newFixture(t, Options{})
	f.register("web", "nolease", `{"address":"10.0.0.5","port":80}`)
	tests := []struct {
		name, path string
		status     int
		msg        string
	}{
		{"unknown instance", "/v1/services/web/instances/w9/heartbeat", 404, "instance w9 of service web not found"},
		{"unknown service", "/v1/services/api/instances/w1/heartbeat", 404, "instance w1 of service api not found"},
		{"no lease", "/v1/services/web/instances/nolease/heartbeat", 409, "instance nolease of service web has no heartbeat lease: it was registered without a ttl"},
		{"bad service", "/v1/services/WEB/instances/w1/heartbeat", 400, `service: "WEB" may hold only lowercase a-z, 0-9 and '-'`},
		{"bad id", "/v1/services/web/instances/-w1/heartbeat", 400, `id: "-w1" must not start or end with '-'`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, f.do("PUT", tc.path, ""), tc.status, tc.msg)
		})
	}
}

func TestDeregister(t *testing.T) {
	f := newFixture(t, Options{})
	f.register("web", "w1", web1)
	f.register("web", "w2", `{"address":"10.0.0.6","port":8080}`)
	rec := f.do("DELETE", "/v1/services/web/instances/w1", "")
	if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Fatalf("got %d %q, want 204 and no body", rec.Code, rec.Body)
	}
	if _, ok := f.reg.Snapshot().Service("web").Instance("w1"); ok {
		t.Error("w1 still registered")
	}
	wantError(t, f.do("DELETE", "/v1/services/web/instances/w1", ""), 404, "instance w1 of service web not found")
	wantError(t, f.do("DELETE", "/v1/services/web/instances/W1", ""), 400, `id: "W1" may hold only lowercase a-z, 0-9 and '-'`)
	// The lease went with the instance: a heartbeat asks to register again.
	wantError(t, f.do("PUT", "/v1/services/web/instances/w1/heartbeat", ""), 404, "instance w1 of service web not found")
}

// recordingLogger keeps log lines.
type recordingLogger struct{ lines []string }

func (l *recordingLogger) Infof(format string, args ...any) {
	l.lines = append(l.lines, "I "+sprintf(format, args...))
}

func (l *recordingLogger) Warningf(format string, args ...any) {
	l.lines = append(l.lines, "W "+sprintf(format, args...))
}

func TestLogsChanges(t *testing.T) {
	log := &recordingLogger{}
	f := newFixture(t, Options{Logger: log})
	f.register("web", "w1", web1)
	f.register("web", "w1", web1) // unchanged: renews the lease only
	f.do("PUT", "/v1/services/web/instances/w1/heartbeat", "")
	f.do("DELETE", "/v1/services/web/instances/w1", "")
	want := []string{
		"I api: registered instance w1 of service web at 10.0.0.5 port 8080",
		"I api: deregistered instance w1 of service web",
	}
	if !reflect.DeepEqual(log.lines, want) {
		t.Errorf("logged %q, want %q", log.lines, want)
	}
}
