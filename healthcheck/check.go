package healthcheck

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults applied to the zero fields of a Check.
const (
	DefaultInterval = 10 * time.Second
	DefaultTimeout  = 2 * time.Second
	DefaultRise     = 2
	DefaultFall     = 3
	DefaultMethod   = http.MethodGet

	// MinInterval is the shortest interval a check may have; shorter ones
	// are almost always a missing unit or a typo, and would flood the target.
	MinInterval = 10 * time.Millisecond
)

// The probe types.
const (
	TypeTCP   = "tcp"
	TypeHTTP  = "http"
	TypeHTTPS = "https"
	TypeGRPC  = "grpc"
	TypeRedis = "redis"
	TypeMySQL = "mysql"
)

var types = []string{TypeTCP, TypeHTTP, TypeHTTPS, TypeGRPC, TypeRedis, TypeMySQL}

// Check describes one active probe. The zero values of Interval, Timeout,
// Rise, Fall and Method mean their defaults: interval 10s, timeout 2s (half
// the interval when that is shorter), rise 2, fall 3, method GET. A
// Scheduler keeps its own copy of the check, Header included.
type Check struct {
	Type   string // tcp, http, https, grpc, redis or mysql
	Target string // host:port, or a URL for http and https

	Interval time.Duration // time between the starts of two probes
	Timeout  time.Duration // a probe running longer is cut and fails; less than Interval
	Rise     int           // results in a row needed to move to a better state
	Fall     int           // results in a row needed to move to a worse state

	// http and https only.
	Path          string      // request path ForInstance appends to the instance address, "/" when empty
	Method        string      // request method, GET when empty
	Header        http.Header // extra request headers; "Host" sets the request's host
	Expect        string      // substring the body must contain; empty means any body
	TLSSkipVerify bool        // https: accept any server certificate

	Password string // redis: sent with AUTH before PING
	Service  string // grpc: the service name asked of grpc.health.v1; empty means the whole server

	// Confine, when set, holds the only addresses the probes may connect
	// to, the targets of http redirects included: a connection elsewhere
	// fails the probe before it is opened. Empty leaves them free. It is
	// not part of a Spec: it is where a check may go, not what it is.
	Confine []netip.Prefix
}

// ForInstance returns the check aimed at one instance: Target becomes
// host:port, or scheme://host:port/path for http and https, IPv6 addresses in
// brackets. A check whose Target is already set (a full URL given with the
// check) is returned unchanged.
func (c Check) ForInstance(addr netip.AddrPort) Check {
	if c.Target != "" {
		return c
	}
	hostport := netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port()).String()
	switch typ := strings.ToLower(c.Type); typ {
	case TypeHTTP, TypeHTTPS:
		path := c.Path
		if path == "" {
			path = "/"
		}
		c.Target = typ + "://" + hostport + path
	default:
		c.Target = hostport
	}
	return c
}

// Validate reports the first problem of the check, defaults applied, in an
// error that names the field. A check that is valid may still fail its probes.
func (c Check) Validate() error {
	return c.withDefaults().validate(true)
}

// withDefaults returns the check with its zero fields set to their defaults.
func (c Check) withDefaults() Check {
	c.Type = strings.ToLower(c.Type)
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Timeout == 0 {
		c.Timeout = min(DefaultTimeout, c.Interval/2)
	}
	if c.Rise == 0 {
		c.Rise = DefaultRise
	}
	if c.Fall == 0 {
		c.Fall = DefaultFall
	}
	if c.Method == "" && c.isHTTP() {
		c.Method = DefaultMethod
	}
	return c
}

func (c Check) isHTTP() bool { return c.Type == TypeHTTP || c.Type == TypeHTTPS }

// validate checks a check with defaults applied; a template for
// ForInstance has no target yet, so needTarget is false for it.
func (c Check) validate(needTarget bool) error {
	if !slices.Contains(types, c.Type) {
		return fmt.Errorf("type %q: want one of %s", c.Type, strings.Join(types, ", "))
	}
	if err := c.validateTiming(); err != nil {
		return err
	}
	if err := c.validateOptions(); err != nil {
		return err
	}
	if c.Target == "" {
		if needTarget {
			return errors.New("target: missing")
		}
		return nil
	}
	if c.isHTTP() {
		return validateURL(c.Type, c.Target)
	}
	return validateHostPort(c.Target)
}

func (c Check) validateTiming() error {
	switch {
	case c.Interval < MinInterval:
		return fmt.Errorf("interval %v: must be at least %v", c.Interval, MinInterval)
	case c.Timeout <= 0:
		return fmt.Errorf("timeout %v: must be positive", c.Timeout)
	case c.Timeout >= c.Interval:
		return fmt.Errorf("timeout %v: must be less than interval %v", c.Timeout, c.Interval)
	case c.Rise < 1:
		return fmt.Errorf("rise %d: must be at least 1", c.Rise)
	case c.Fall < 1:
		return fmt.Errorf("fall %d: must be at least 1", c.Fall)
	}
	return nil
}

// validateOptions rejects options that do not belong to the check's type, so
// a misplaced option is an error and not silently ignored.
func (c Check) validateOptions() error {
	if !c.isHTTP() {
		for _, o := range []struct {
			name string
			set  bool
		}{
			{"path", c.Path != ""}, {"method", c.Method != ""}, {"header", len(c.Header) > 0},
			{"expect", c.Expect != ""}, {"tls-skip-verify", c.TLSSkipVerify},
		} {
			if o.set {
				return fmt.Errorf("%s: only for http and https checks, not %s", o.name, c.Type)
			}
		}
	}
	if c.Type != TypeRedis && c.Password != "" {
		return fmt.Errorf("password: only for redis checks, not %s", c.Type)
	}
	if c.Type != TypeGRPC && c.Service != "" {
		return fmt.Errorf("service: only for grpc checks, not %s", c.Type)
	}
	if c.Path != "" && !strings.HasPrefix(c.Path, "/") {
		return fmt.Errorf("path %q: must start with /", c.Path)
	}
	if c.Expect != "" && c.Method == http.MethodHead {
		return errors.New("expect: a HEAD response has no body to search")
	}
	if c.Method != "" && !isToken(c.Method) {
		return fmt.Errorf("method %q: not an HTTP method", c.Method)
	}
	for name, values := range c.Header {
		if !isToken(name) {
			return fmt.Errorf("header %q: not a valid header name", name)
		}
		for _, v := range values {
			if strings.ContainsAny(v, "\r\n\x00") {
				return fmt.Errorf("header %s: value contains a control character", name)
			}
		}
	}
	return nil
}

func validateURL(typ, target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("target %q: want a URL such as %s://host:port/path", target, typ) // shown whole: it does not parse
	}
	if u.Scheme != typ {
		return fmt.Errorf("target %q: scheme must be %s", RedactURL(target), typ)
	}
	if u.Host == "" {
		return fmt.Errorf("target %q: no host", RedactURL(target))
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("target %q: port %q out of range", RedactURL(target), p)
		}
	}
	return nil
}

func validateHostPort(target string) error {
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return fmt.Errorf("target %q: want host:port", target)
	}
	if host == "" {
		return fmt.Errorf("target %q: no host", target)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("target %q: port %q out of range", target, port)
	}
	return nil
}

// isToken reports whether s is an RFC 9110 token (method and header names).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r >= 0x7f || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

// equal reports whether two checks, defaults applied, probe the same way.
func (c Check) equal(o Check) bool {
	if !maps.EqualFunc(c.Header, o.Header, slices.Equal) {
		return false
	}
	c.Header, o.Header = nil, nil
	return reflect.DeepEqual(c, o)
}

// redacted is the target for logs, without the password or query values of
// a URL.
func (c Check) redacted() string {
	if c.isHTTP() {
		return RedactURL(c.Target)
	}
	return c.Target
}
