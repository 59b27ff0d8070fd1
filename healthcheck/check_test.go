package healthcheck

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestStatusString(t *testing.T) {
	for s, want := range map[Status]string{Passing: "passing", Warning: "warning", Critical: "critical", 7: "unknown"} {
		if got := s.String(); got != want {
			t.Errorf("Status(%d).String() = %q, want %q", s, got, want)
		}
	}
}

func TestDefaults(t *testing.T) {
	tests := []struct {
		in   Check
		want Check
	}{
		{Check{Type: "HTTP"}, Check{Type: "http", Interval: 10 * time.Second, Timeout: 2 * time.Second, Rise: 2, Fall: 3, Method: "GET"}},
		{Check{Type: "tcp", Interval: time.Second}, Check{Type: "tcp", Interval: time.Second, Timeout: 500 * time.Millisecond, Rise: 2, Fall: 3}},
		{Check{Type: "redis", Interval: time.Minute, Timeout: 5 * time.Second, Rise: 1, Fall: 1},
			Check{Type: "redis", Interval: time.Minute, Timeout: 5 * time.Second, Rise: 1, Fall: 1}},
	}
	for _, tc := range tests {
		if got := tc.in.withDefaults(); !got.equal(tc.want) {
			t.Errorf("%+v.withDefaults() = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		check Check
		err   string // "" for valid
	}{
		{Check{Type: "tcp", Target: "10.0.0.5:3306"}, ""},
		{Check{Type: "tcp", Target: "[2001:db8::1]:3306"}, ""},
		{Check{Type: "tcp", Target: "db.example:3306"}, ""},
		{Check{Type: "https", Target: "https://10.0.0.5:8443/healthz?full=1", TLSSkipVerify: true}, ""},
		{Check{Type: "http", Target: "http://svc.example/", Method: "HEAD", Header: http.Header{"X-Probe": {"1"}}}, ""},
		{Check{Type: "redis", Target: "127.0.0.1:6379", Password: "s3cret"}, ""},
		{Check{Type: "grpc", Target: "127.0.0.1:9090", Service: "my.pkg.Svc"}, ""},
		{Check{Type: "postgres", Target: "127.0.0.1:5432"}, `type "postgres": want one of tcp, http`},
		{Check{Type: "tcp"}, "target: missing"},
		{Check{Type: "tcp", Target: "10.0.0.5"}, `target "10.0.0.5": want host:port`},
		{Check{Type: "tcp", Target: ":3306"}, "no host"},
		{Check{Type: "tcp", Target: "10.0.0.5:0"}, `port "0" out of range`},
		{Check{Type: "tcp", Target: "10.0.0.5:mysql"}, `port "mysql" out of range`},
		{Check{Type: "http", Target: "10.0.0.5:80"}, `target "10.0.0.5:80": want a URL such as http://host:port/path`},
		{Check{Type: "http", Target: "ftp://10.0.0.5/"}, "scheme must be http"},
		{Check{Type: "https", Target: "http://10.0.0.5/"}, "scheme must be https"},
		{Check{Type: "http", Target: "http:///path"}, "no host"},
		{Check{Type: "http", Target: "http://10.0.0.5:99999/"}, `port "99999" out of range`},
		{Check{Type: "http", Target: "http://a b/"}, `target "http://a b/"`},
		{Check{Type: "tcp", Target: "h:1", Interval: time.Millisecond}, "interval 1ms: must be at least 10ms"},
		{Check{Type: "tcp", Target: "h:1", Interval: -time.Second}, "interval -1s"},
		{Check{Type: "tcp", Target: "h:1", Timeout: -time.Second}, "timeout -1s: must be positive"},
		{Check{Type: "tcp", Target: "h:1", Interval: time.Second, Timeout: time.Second}, "timeout 1s: must be less than interval 1s"},
		{Check{Type: "tcp", Target: "h:1", Rise: -1}, "rise -1"},
		{Check{Type: "tcp", Target: "h:1", Fall: -2}, "fall -2"},
		{Check{Type: "tcp", Target: "h:1", Method: "GET"}, "method: only for http and https checks, not tcp"},
		{Check{Type: "mysql", Target: "h:1", Header: http.Header{"A": {"b"}}}, "header: only for http"},
		{Check{Type: "grpc", Target: "h:1", Expect: "x"}, "expect: only for http"},
		{Check{Type: "redis", Target: "h:1", TLSSkipVerify: true}, "tls-skip-verify: only for http"},
		{Check{Type: "tcp", Target: "h:1", Path: "/x"}, "path: only for http"},
		{Check{Type: "tcp", Target: "h:1", Password: "x"}, "password: only for redis checks, not tcp"},
		{Check{Type: "redis", Target: "h:1", Service: "x"}, "service: only for grpc checks, not redis"},
		{Check{Type: "http", Path: "healthz"}, `path "healthz": must start with /`},
		{Check{Type: "http", Target: "http://h/", Method: "GE T"}, `method "GE T"`},
		{Check{Type: "http", Target: "http://h/", Method: "HEAD", Expect: "ok"}, "expect: a HEAD response has no body"},
		{Check{Type: "http", Target: "http://h/", Header: http.Header{"X Bad": {"1"}}}, `header "X Bad"`},
		{Check{Type: "http", Target: "http://h/", Header: http.Header{"X-A": {"1\r\nX-B: 2"}}}, "header X-A: value contains a control character"},
	}
	for _, tc := range tests {
		err := tc.check.Validate()
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%+v: unexpected error %v", tc.check, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%+v: error %v, want %q", tc.check, err, tc.err)
		}
	}
}

func TestForInstance(t *testing.T) {
	v4 := netip.MustParseAddrPort("10.0.0.5:8080")
	v6 := netip.MustParseAddrPort("[2001:db8::1]:8080")
	mapped := netip.MustParseAddrPort("[::ffff:10.0.0.5]:8080")
	tests := []struct {
		check Check
		addr  netip.AddrPort
		want  string
	}{
		{Check{Type: "tcp"}, v4, "10.0.0.5:8080"},
		{Check{Type: "mysql"}, v6, "[2001:db8::1]:8080"},
		{Check{Type: "redis"}, mapped, "10.0.0.5:8080"},
		{Check{Type: "http"}, v4, "http://10.0.0.5:8080/"},
		{Check{Type: "http", Path: "/healthz"}, v6, "http://[2001:db8::1]:8080/healthz"},
		{Check{Type: "HTTPS", Path: "/ready?deep=1"}, v4, "https://10.0.0.5:8080/ready?deep=1"},
		{Check{Type: "http", Target: "http://svc.example:9000/up"}, v4, "http://svc.example:9000/up"},
	}
	for _, tc := range tests {
		got := tc.check.ForInstance(tc.addr)
		if got.Target != tc.want {
			t.Errorf("%+v.ForInstance(%v).Target = %q, want %q", tc.check, tc.addr, got.Target, tc.want)
		}
		if tc.check.Target == "" {
			if err := got.Validate(); err != nil {
				t.Errorf("%+v.ForInstance(%v): %v", tc.check, tc.addr, err)
			}
		}
	}
}

func TestEqual(t *testing.T) {
	base := Check{Type: "http", Target: "http://h/", Header: http.Header{"X-A": {"1"}}}
	same := base
	same.Header = http.Header{"X-A": {"1"}}
	if !base.equal(same) {
		t.Error("checks with equal headers are not equal")
	}
	if (Check{Type: "tcp"}).equal(Check{Type: "tcp", Header: http.Header{}}) == false {
		t.Error("nil and empty headers differ")
	}
	for _, other := range []Check{
		{Type: "http", Target: "http://h/", Header: http.Header{"X-A": {"2"}}},
		{Type: "http", Target: "http://h/", Header: http.Header{"X-A": {"1"}}, Expect: "ok"},
		{Type: "http", Target: "http://h/"},
	} {
		if base.equal(other) {
			t.Errorf("%+v equals %+v", base, other)
		}
	}
}

func TestRedacted(t *testing.T) {
	for _, tc := range []struct {
		check Check
		want  string
	}{
		{Check{Type: "http", Target: "http://probe:s3cret@10.0.0.5/up"}, "http://probe:xxxxx@10.0.0.5/up"},
		{Check{Type: "tcp", Target: "10.0.0.5:80"}, "10.0.0.5:80"},
	} {
		if got := tc.check.redacted(); got != tc.want {
			t.Errorf("%+v.redacted() = %q, want %q", tc.check, got, tc.want)
		}
	}
}
