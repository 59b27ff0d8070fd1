package api

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/healthcheck"
)

// TestRegisterCheckTargets checks where a check registered through the API
// may aim: its own instance's address, on any port, and nowhere else unless
// the Corefile's check-targets allow it. The refusal is a 400 naming the
// check, the url and check-targets, and registers nothing. Loopback only:
// before the rule the server really probed what it was given.
func TestRegisterCheckTargets(t *testing.T) {
	wide := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/29"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name    string
		addr    string
		check   string
		targets []netip.Prefix
		msg     string // the error; "" for 200
	}{
		{"path on the instance", "127.0.0.2", `{"type":"http","path":"/healthz","interval":"5s"}`, nil, ""},
		{"tcp on the instance", "127.0.0.2", `{"type":"tcp","interval":"5s"}`, nil, ""},
		{"url on the instance, another port", "127.0.0.2", `{"type":"http","url":"http://127.0.0.2:9153/metrics","interval":"5s"}`, nil, ""},
		{"url on the instance, mapped", "127.0.0.2", `{"type":"http","url":"http://[::ffff:127.0.0.2]:80/","interval":"5s"}`, nil, ""},
		{"url on the instance, IPv6", "::1", `{"type":"https","url":"https://[::1]:8443/ok","interval":"5s"}`, nil, ""},
		{"url at another address", "127.0.0.2", `{"type":"http","url":"http://127.0.0.3:8080/","interval":"5s"}`, nil,
			`check: url http://127.0.0.3:8080/ aims at 127.0.0.3, not at the instance's address 127.0.0.2: a check registered through the API may probe only its own instance (any port), unless the server's Corefile allows more with check-targets`},
		{"url at the metrics port", "127.0.0.2", `{"type":"http","url":"http://127.0.0.1:9153/metrics","expect":"go_goroutines","interval":"5s"}`, nil,
			`check: url http://127.0.0.1:9153/metrics aims at 127.0.0.1, not at the instance's address 127.0.0.2: a check registered through the API may probe only its own instance (any port), unless the server's Corefile allows more with check-targets`},
		{"url with a name", "127.0.0.2", `{"type":"http","url":"http://localhost:8080/","interval":"5s"}`, nil,
			`check: url http://localhost:8080/ names the host "localhost": a check registered through the API must name its instance's address as an IP, or give a path instead of a url to probe the instance`},
		{"url with a numeric name", "127.0.0.3", `{"type":"http","url":"http://2130706435/","interval":"5s"}`, nil,
			`check: url http://2130706435/ names the host "2130706435": a check registered through the API must name its instance's address as an IP, or give a path instead of a url to probe the instance`},
		{"url with a zone", "::1", `{"type":"http","url":"http://[::1%25lo]/","interval":"5s"}`, nil,
			`check: url http://[::1%25lo]/ aims at ::1%lo, not at the instance's address ::1: a check registered through the API may probe only its own instance (any port), unless the server's Corefile allows more with check-targets`},
		{"secrets not repeated", "127.0.0.2", `{"type":"http","url":"http://u:s3cret@127.0.0.3/x?key=k3y","interval":"5s"}`, nil,
			`check: url http://127.0.0.3/x aims at 127.0.0.3, not at the instance's address 127.0.0.2: a check registered through the API may probe only its own instance (any port), unless the server's Corefile allows more with check-targets`},
		{"check-targets allow", "127.0.0.2", `{"type":"http","url":"http://127.0.0.3:8080/","interval":"5s"}`, wide, ""},
		{"check-targets allow IPv6", "127.0.0.2", `{"type":"http","url":"http://[::1]:8080/","interval":"5s"}`, wide, ""},
		{"outside check-targets", "127.0.0.2", `{"type":"http","url":"http://127.0.0.9:8080/","interval":"5s"}`, wide,
			`check: url http://127.0.0.9:8080/ aims at 127.0.0.9, not at the instance's address 127.0.0.2: a check registered through the API may probe only its own instance (any port), unless the server's Corefile allows more with check-targets`},
		{"check-targets allow no names", "127.0.0.2", `{"type":"http","url":"http://localhost/","interval":"5s"}`, wide,
			`check: url http://localhost/ names the host "localhost": a check registered through the API must name its instance's address as an IP, or give a path instead of a url to probe the instance`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{CheckTargets: tc.targets})
			body := `{"address":"` + tc.addr + `","port":80,"check":` + tc.check + `}`
			rec := f.do("PUT", "/v1/services/web/instances/w1", body)
			if tc.msg == "" {
				if rec.Code != http.StatusOK {
					t.Fatalf("status %d %s, want 200", rec.Code, rec.Body)
				}
				return
			}
			wantError(t, rec, http.StatusBadRequest, tc.msg)
			if f.reg.Snapshot().Len() != 0 {
				t.Error("the refused check was registered")
			}
		})
	}
}

// TestRegisterCheckInterval checks the bounds of an API check's interval:
// from 1s (10ms gave a hundred probes a second) to 24h (100000h was taken).
func TestRegisterCheckInterval(t *testing.T) {
	tests := []struct {
		interval, timeout, msg string
	}{
		{"1s", "", ""},
		{"24h", "", ""},
		{"90m", "30s", ""},
		{"1ms", "", `check: interval 1ms: must be at least 10ms`}, // healthcheck's own floor comes first
		{"10ms", "", `check: interval 10ms: must be between 1s and 24h0m0s for a check registered through the API`},
		{"999ms", "", `check: interval 999ms: must be between 1s and 24h0m0s for a check registered through the API`},
		{"24h0m1s", "", `check: interval 24h0m1s: must be between 1s and 24h0m0s for a check registered through the API`},
		{"100000h", "", `check: interval 100000h0m0s: must be between 1s and 24h0m0s for a check registered through the API`},
		{"1s", "1s", `check: timeout 1s: must be less than interval 1s`},
	}
	for _, tc := range tests {
		t.Run(tc.interval+"/"+tc.timeout, func(t *testing.T) {
			f := newFixture(t, Options{})
			check := `{"type":"tcp","interval":"` + tc.interval + `"`
			if tc.timeout != "" {
				check += `,"timeout":"` + tc.timeout + `"`
			}
			rec := f.do("PUT", "/v1/services/web/instances/w1", `{"address":"127.0.0.2","port":80,"check":`+check+`}}`)
			if tc.msg == "" {
				if rec.Code != http.StatusOK {
					t.Fatalf("status %d %s, want 200", rec.Code, rec.Body)
				}
				return
			}
			wantError(t, rec, http.StatusBadRequest, tc.msg)
		})
	}
}

// TestCheckPermitted checks the rule as the server applies it before it
// probes, to checks that did not come through this API's registration.
func TestCheckPermitted(t *testing.T) {
	inst := netip.MustParseAddr("127.0.0.2")
	check := func(target string, interval time.Duration) healthcheck.Check {
		return healthcheck.Check{Type: "http", Target: target, Interval: interval, Timeout: interval / 2}
	}
	tests := []struct {
		name    string
		c       healthcheck.Check
		targets []netip.Prefix
		want    string // a part of the error; "" for none
	}{
		{"template", check("", 5*time.Second), nil, ""},
		{"own address", check("http://127.0.0.2:1/", 5*time.Second), nil, ""},
		{"elsewhere", check("http://127.0.0.3/", 5*time.Second), nil, "aims at 127.0.0.3"},
		{"allowed", check("http://127.0.0.3/", 5*time.Second), []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}, ""},
		{"name", check("http://example.com/", 5*time.Second), nil, `names the host "example.com"`},
		{"host:port", healthcheck.Check{Type: "tcp", Target: "127.0.0.3:80", Interval: time.Second}, nil, "aims at 127.0.0.3"},
		{"too often", check("", 10*time.Millisecond), nil, "interval 10ms"},
		{"too seldom", check("", 100000*time.Hour), nil, "interval 100000h0m0s"},
	}
	for _, tc := range tests {
		err := CheckPermitted(tc.c, inst, tc.targets)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want permitted", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error saying %s", tc.name, err, tc.want)
		}
	}
	got := Confinement(netip.MustParseAddr("::ffff:127.0.0.2"), []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	if len(got) != 2 || got[0] != netip.MustParsePrefix("127.0.0.2/32") || got[1] != netip.MustParsePrefix("10.0.0.0/8") {
		t.Errorf("Confinement = %v, want [127.0.0.2/32 10.0.0.0/8]", got)
	}
}
