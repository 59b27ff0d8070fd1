package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

const healthPath = "/v1/services/web/instances/w1/health"

// leaseAnswer is the answer of a heartbeat or health report.
type leaseAnswer struct {
	Service      string    `json:"service"`
	ID           string    `json:"id"`
	Health       string    `json:"health"`
	TTL          string    `json:"ttl"`
	LeaseExpires time.Time `json:"lease_expires"`
}

// reportOK sends a health report and fails the test unless it gets 200.
func (f *fixture) reportOK(path, body string) leaseAnswer {
	f.t.Helper()
	rec := f.do("PUT", path, body)
	if rec.Code != http.StatusOK {
		f.t.Fatalf("PUT %s %s: %d %s", path, body, rec.Code, rec.Body)
	}
	var a leaseAnswer
	decode(f.t, rec, &a)
	return a
}

// served reports whether the instance would be in DNS answers: the
// passing instances of its service.
func (f *fixture) served(service, id string) bool {
	svc := f.reg.Snapshot().Service(service)
	if svc == nil {
		return false
	}
	for _, in := range svc.Select(nil, "", false) {
		if in.ID == id {
			return true
		}
	}
	return false
}

func (f *fixture) healthOf(service, id string) registry.Health {
	f.t.Helper()
	in, ok := f.reg.Snapshot().Service(service).Instance(id)
	if !ok {
		f.t.Fatalf("instance %s of service %s not registered", id, service)
	}
	return in.Health
}

func TestReport(t *testing.T) {
	f := newFixture(t, Options{})
	f.register("web", "w1", web1)
	f.clock.Add(10 * time.Second)
	got := f.reportOK(healthPath, `{"status":"critical","output":"GET http://127.0.0.1:8080/healthz: 503 Service Unavailable"}`)
	want := leaseAnswer{Service: "web", ID: "w1", Health: "critical", TTL: "15s", LeaseExpires: f.clock.Now().Add(15 * time.Second)}
	if got != want {
		t.Errorf("critical report answered %+v, want %+v", got, want)
	}
	if f.served("web", "w1") || f.healthOf("web", "w1") != registry.Critical {
		t.Errorf("w1 served (%s) after it reported critical", f.healthOf("web", "w1"))
	}

	// A critical instance keeps its lease while it reports: it stays
	// registered, unserved, beyond its TTL.
	f.clock.Add(10 * time.Second)
	f.reportOK(healthPath, `{"status":"critical","output":"still down"}`)
	f.clock.Add(10 * time.Second)
	f.reg.Sweep()
	if _, deadline, ok := f.reg.Lease("web", "w1"); !ok || !deadline.After(f.clock.Now()) {
		t.Errorf("lease until %s at %s, want it renewed by the report", deadline, f.clock.Now())
	}

	got = f.reportOK(healthPath, `{"status":"passing"}`)
	if got.Health != "passing" || !got.LeaseExpires.Equal(f.clock.Now().Add(15*time.Second)) {
		t.Errorf("passing report answered %+v", got)
	}
	if !f.served("web", "w1") {
		t.Error("w1 not served after it reported passing")
	}

	f.reportOK(healthPath, `{"status":"warning","output":"slow"}`)
	if f.served("web", "w1") || f.healthOf("web", "w1") != registry.Warning {
		t.Errorf("w1 served (%s) after it reported warning", f.healthOf("web", "w1"))
	}
	// A heartbeat is a passing report.
	f.do("PUT", "/v1/services/web/instances/w1/heartbeat", "")
	if !f.served("web", "w1") {
		t.Error("w1 not served after a heartbeat")
	}
}

// TestReportRevives reports on a lease that ran out: the report renews it
// and sets the health it carries.
func TestReportRevives(t *testing.T) {
	f := newFixture(t, Options{})
	f.register("web", "w1", web1)
	f.clock.Add(20 * time.Second)
	f.reg.Sweep()
	if f.healthOf("web", "w1") != registry.Critical {
		t.Fatal("lease did not run out")
	}
	if got := f.reportOK(healthPath, `{"status":"critical","output":"starting"}`); got.Health != "critical" || !got.LeaseExpires.After(f.clock.Now()) {
		t.Errorf("report after the lease ran out answered %+v", got)
	}
	if got := f.reportOK(healthPath, `{"status":"passing","output":"up"}`); got.Health != "passing" || !f.served("web", "w1") {
		t.Errorf("passing report answered %+v, served %v", got, f.served("web", "w1"))
	}
}

func TestReportOutputLimits(t *testing.T) {
	f := newFixture(t, Options{})
	f.register("web", "w1", web1)
	for _, out := range []string{
		"",
		strings.Repeat("x", maxOutputBytes),
		"connexion refusée 🚫",
		`{"json": "quoted"}`,
	} {
		if got := f.reportOK(healthPath, sprintf(`{"status":"critical","output":%q}`, out)); got.Health != "critical" {
			t.Errorf("output %.20q: answered %+v", out, got)
		}
	}
}

func TestReportErrors(t *testing.T) {
	f := newFixture(t, Options{})
	f.static()
	f.register("web", "w1", web1)
	f.register("web", "nolease", `{"address":"10.0.0.6","port":80}`)
	f.register("web", "probed", `{"address":"10.0.0.7","port":80,"check":{"type":"tcp","interval":"5s"}}`)
	const critical = `{"status":"critical"}`
	tests := []struct {
		name, path, body string
		status           int
		msg              string // the whole error; a prefix where it ends in "..."
	}{
		{"unknown instance", "/v1/services/web/instances/w9/health", critical, 404, "instance w9 of service web not found"},
		{"unknown service", "/v1/services/api/instances/w1/health", critical, 404, "instance w1 of service api not found"},
		{"no lease", "/v1/services/web/instances/nolease/health", critical, 409,
			"instance nolease of service web has no heartbeat lease: it was registered without a ttl"},
		{"probed", "/v1/services/web/instances/probed/health", critical, 409,
			"instance probed of service web has no heartbeat lease: it was registered without a ttl, its health comes from its check"},
		{"declared in the Corefile", "/v1/services/mysql/instances/db1/health", critical, 409,
			"instance db1 of service mysql has no heartbeat lease: it was registered without a ttl"},
		{"bad service", "/v1/services/WEB/instances/w1/health", critical, 400, `service: "WEB" may hold only lowercase a-z, 0-9 and '-'`},
		{"bad id", "/v1/services/web/instances/-w1/health", critical, 400, `id: "-w1" must not start or end with '-'`},
		{"unknown status", healthPath, `{"status":"down"}`, 400, `status: "down" must be passing, warning or critical`},
		{"status in capitals", healthPath, `{"status":"CRITICAL"}`, 400, `status: "CRITICAL" must be passing, warning or critical`},
		{"no status", healthPath, `{"output":"down"}`, 400, "status: is required"},
		{"status not a string", healthPath, `{"status":2}`, 400, "status: ..."},
		{"unknown field", healthPath, `{"status":"critical","health":"critical"}`, 400, "health: ..."},
		{"empty body", healthPath, "", 400, "body: ..."},
		{"output too long", healthPath, sprintf(`{"status":"critical","output":%q}`, strings.Repeat("x", maxOutputBytes+1)), 400,
			"output: is longer than 4096 bytes"},
		{"newline in output", healthPath, `{"status":"critical","output":"down\nINFO forged line"}`, 400,
			"output: must not hold control characters, has U+000A at byte 4"},
		{"escape in output", healthPath, `{"status":"critical","output":"\u001b[31mred"}`, 400,
			"output: must not hold control characters, has U+001B at byte 0"},
		{"C1 control in output", healthPath, `{"status":"critical","output":"x\u0085y"}`, 400,
			"output: must not hold control characters, has U+0085 at byte 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := f.reg.Index()
			_, deadline, _ := f.reg.Lease("web", "w1")
			f.clock.Add(time.Second)
			rec := f.do("PUT", tc.path, tc.body)
			if prefix, ok := strings.CutSuffix(tc.msg, "..."); ok {
				var e errorJSON
				decode(t, rec, &e)
				if rec.Code != tc.status || !strings.HasPrefix(e.Error, prefix) {
					t.Errorf("got %d %q, want %d %q...", rec.Code, e.Error, tc.status, prefix)
				}
			} else {
				wantError(t, rec, tc.status, tc.msg)
			}
			// A refused report changes nothing, not even the lease.
			if f.reg.Index() != before || f.healthOf("web", "w1") != registry.Passing {
				t.Error("a refused report changed the registry")
			}
			if _, now, _ := f.reg.Lease("web", "w1"); !now.Equal(deadline) {
				t.Errorf("a refused report moved the lease from %s to %s", deadline, now)
			}
		})
	}
}

func TestReportRouting(t *testing.T) {
	f := newFixture(t, Options{})
	rec := f.do("POST", healthPath, `{"status":"critical"}`)
	wantError(t, rec, http.StatusMethodNotAllowed, "method POST is not allowed on "+healthPath)
	if got := rec.Header().Get("Allow"); got != "PUT" {
		t.Errorf("Allow %q, want PUT", got)
	}
}

func TestReportNeedsToken(t *testing.T) {
	f := newFixture(t, Options{Token: "s3cret"})
	f.register("web", "w1", web1)
	for _, auth := range []string{"", "Bearer wrong"} {
		wantError(t, f.do("PUT", healthPath, `{"status":"critical"}`, "Authorization", auth), http.StatusUnauthorized,
			`missing or invalid token: send "Authorization: Bearer <token>"`)
	}
	if f.healthOf("web", "w1") != registry.Passing {
		t.Fatal("a report without the token changed the health")
	}
	rec := f.do("PUT", healthPath, `{"status":"critical"}`, "Authorization", "Bearer s3cret")
	if rec.Code != http.StatusOK || f.healthOf("web", "w1") != registry.Critical {
		t.Errorf("report with the token: %d %s, health %s", rec.Code, rec.Body, f.healthOf("web", "w1"))
	}
}

// TestReportLogsTransitions checks what a server's log shows, where the
// registry and the API share one logger as in the plugin: one line per
// change of health, with the sidecar's output, and nothing for a report
// that changes nothing.
func TestReportLogsTransitions(t *testing.T) {
	log := &recordingLogger{}
	clock := newClock()
	reg := registry.New(registry.Config{Now: clock.Now, Logger: log})
	f := &fixture{t: t, reg: reg, clock: clock, h: newHandler(reg, Options{Logger: log})}
	f.register("web", "w1", web1)
	log.lines = nil
	f.reportOK(healthPath, `{"status":"critical","output":"GET /healthz: 503 Service Unavailable"}`)
	f.reportOK(healthPath, `{"status":"critical","output":"GET /healthz: 503 Service Unavailable"}`)
	f.reportOK(healthPath, `{"status":"passing"}`)
	f.reportOK(healthPath, `{"status":"passing"}`)
	if len(log.lines) != 2 {
		t.Fatalf("logged %q, want one line for each of the two changes", log.lines)
	}
	for i, want := range []string{"critical", "passing"} {
		if line := log.lines[i]; !strings.Contains(line, "instance w1 of service web") || !strings.Contains(line, want) {
			t.Errorf("line %d: %q, want it to name w1 of web and %s", i, line, want)
		}
	}
	if !strings.Contains(log.lines[0], "GET /healthz: 503 Service Unavailable") {
		t.Errorf("line %q does not carry the output", log.lines[0])
	}
}
