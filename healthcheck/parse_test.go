package healthcheck

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		line string
		want Check
	}{
		{"tcp", Check{Type: "tcp", Interval: 10 * time.Second, Timeout: 2 * time.Second, Rise: 2, Fall: 3}},
		{"mysql interval 2s timeout 1s rise 2 fall 3",
			Check{Type: "mysql", Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3}},
		{"MySQL interval 3s", Check{Type: "mysql", Interval: 3 * time.Second, Timeout: 1500 * time.Millisecond, Rise: 2, Fall: 3}},
		{"http path /healthz interval 5s method HEAD header X-Probe signpost header x-probe again tls-skip-verify",
			Check{Type: "http", Path: "/healthz", Interval: 5 * time.Second, Timeout: 2 * time.Second, Rise: 2, Fall: 3,
				Method: "HEAD", Header: http.Header{"X-Probe": {"signpost", "again"}}, TLSSkipVerify: true}},
		{"https path /ready expect ok rise 1 fall 1",
			Check{Type: "https", Path: "/ready", Interval: 10 * time.Second, Timeout: 2 * time.Second, Rise: 1, Fall: 1,
				Method: "GET", Expect: "ok"}},
		{"http url http://10.0.0.5:8080/up",
			Check{Type: "http", Target: "http://10.0.0.5:8080/up", Interval: 10 * time.Second, Timeout: 2 * time.Second, Rise: 2, Fall: 3, Method: "GET"}},
		{"redis password s3cret", Check{Type: "redis", Password: "s3cret", Interval: 10 * time.Second, Timeout: 2 * time.Second, Rise: 2, Fall: 3}},
		{"grpc service my.pkg.Svc INTERVAL 1s",
			Check{Type: "grpc", Service: "my.pkg.Svc", Interval: time.Second, Timeout: 500 * time.Millisecond, Rise: 2, Fall: 3}},
	}
	for _, tc := range tests {
		got, err := ParseArgs(strings.Fields(tc.line))
		if err != nil {
			t.Errorf("ParseArgs(%q): %v", tc.line, err)
			continue
		}
		if !got.equal(tc.want) {
			t.Errorf("ParseArgs(%q) = %+v, want %+v", tc.line, got, tc.want)
		}
	}
}

func TestParseArgsErrors(t *testing.T) {
	tests := []struct {
		line string
		err  string
	}{
		{"", "check type missing"},
		{"postgres", `check type "postgres": want one of tcp, http, https, grpc, redis, mysql`},
		{"tcp intervall 2s", `check option "intervall" unknown`},
		{"tcp interval", `check option "interval" needs a value`},
		{"tcp interval 2", `check interval "2": want a positive duration`},
		{"tcp interval -2s", `check interval "-2s": want a positive duration`},
		{"tcp timeout soon", `check timeout "soon"`},
		{"tcp rise 0", `check rise "0": want a whole number of at least 1`},
		{"tcp fall many", `check fall "many"`},
		{"tcp interval 2s interval 3s", `check option "interval" given twice`},
		{"tcp interval 1s timeout 2s", "check timeout 2s: must be less than interval 1s"},
		{"tcp interval 1ms", "check interval 1ms: must be at least 10ms"},
		{"http header X-Probe", `check option "header" needs a name and a value`},
		{"http header X:Probe 1", `check header "X:Probe": not a valid header name`},
		{"http method", `check option "method" needs a value`},
		{"http path healthz", `check path "healthz": must start with /`},
		{"http path /a url http://h/b", "check options url and path: give one or the other"},
		{"http url https://h/", `check target "https://h/": scheme must be http`},
		{"http url http://", `check target "http://": no host`},
		{"tcp url 10.0.0.5:3306", "check option url: only for http and https checks, not tcp"},
		{"http method HEAD expect ok", "check expect: a HEAD response has no body"},
		{"tcp method GET", "check method: only for http and https checks, not tcp"},
		{"mysql tls-skip-verify", "check tls-skip-verify: only for http and https checks, not mysql"},
		{"tcp password x", "check password: only for redis checks, not tcp"},
		{"redis service x", "check service: only for grpc checks, not redis"},
		{"mysql path /", "check path: only for http and https checks, not mysql"},
	}
	for _, tc := range tests {
		_, err := ParseArgs(strings.Fields(tc.line))
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ParseArgs(%q) error = %v, want %q", tc.line, err, tc.err)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseArgs(%q) error has more than one line: %q", tc.line, err)
		}
	}
}
