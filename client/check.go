package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"
)

// CheckSpec is an active health check that the server runs against an
// instance, as the API takes it in a registration and shows it with the
// instance. Zero fields take the server's defaults (interval 10s, timeout
// 2s or half the interval, rise 2, fall 3, method GET).
type CheckSpec struct {
	// Type is tcp, http, https, grpc, redis or mysql.
	Type string
	// URL is the full URL of an http or https check; without it the
	// server probes the instance's address and port at Path.
	URL  string
	Path string
	// Interval is the time between probes, Timeout the time one may take.
	Interval time.Duration
	Timeout  time.Duration
	// Rise successes in a row make the instance passing, Fall failures in
	// a row make it critical.
	Rise int
	Fall int
	// Method, Header, Expect (a substring the body must hold) and
	// TLSSkipVerify are for http and https checks.
	Method        string
	Header        map[string]string
	Expect        string
	TLSSkipVerify bool
	// Password is sent with AUTH by a redis check.
	Password string
	// Service is the name a grpc check asks grpc.health.v1 about; empty
	// asks about the whole server.
	Service string
}

// checkJSON is a CheckSpec as on the wire, durations as strings such as
// "5s".
type checkJSON struct {
	Type          string            `json:"type"`
	URL           string            `json:"url,omitempty"`
	Path          string            `json:"path,omitempty"`
	Interval      string            `json:"interval,omitempty"`
	Timeout       string            `json:"timeout,omitempty"`
	Rise          int               `json:"rise,omitempty"`
	Fall          int               `json:"fall,omitempty"`
	Method        string            `json:"method,omitempty"`
	Header        map[string]string `json:"header,omitempty"`
	Expect        string            `json:"expect,omitempty"`
	TLSSkipVerify bool              `json:"tls_skip_verify,omitempty"`
	Password      string            `json:"password,omitempty"`
	Service       string            `json:"service,omitempty"`
}

// MarshalJSON encodes the check as the API takes it.
func (c CheckSpec) MarshalJSON() ([]byte, error) {
	v := checkJSON{
		Type: c.Type, URL: c.URL, Path: c.Path, Rise: c.Rise, Fall: c.Fall, Method: c.Method, Header: c.Header,
		Expect: c.Expect, TLSSkipVerify: c.TLSSkipVerify, Password: c.Password, Service: c.Service,
	}
	if c.Interval != 0 {
		v.Interval = c.Interval.String()
	}
	if c.Timeout != 0 {
		v.Timeout = c.Timeout.String()
	}
	return json.Marshal(v)
}

// UnmarshalJSON decodes a check as the API shows it. Fields it does not
// know are ignored, so that a newer server's answers still decode; ParseCheck
// is the strict form for input.
func (c *CheckSpec) UnmarshalJSON(b []byte) error {
	var v checkJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	return c.from(v)
}

func (c *CheckSpec) from(v checkJSON) error {
	*c = CheckSpec{
		Type: v.Type, URL: v.URL, Path: v.Path, Rise: v.Rise, Fall: v.Fall, Method: v.Method, Header: v.Header,
		Expect: v.Expect, TLSSkipVerify: v.TLSSkipVerify, Password: v.Password, Service: v.Service,
	}
	var err error
	if c.Interval, err = checkDuration("interval", v.Interval); err != nil {
		return err
	}
	c.Timeout, err = checkDuration("timeout", v.Timeout)
	return err
}

func checkDuration(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("check: %s %q: want a duration such as \"5s\"", field, s)
	}
	return d, nil
}

// ParseCheck reads a check from its JSON form, such as
// {"type": "http", "path": "/healthz", "interval": "5s"}, refusing unknown
// fields and anything after the object, so that a typo is caught before it
// reaches a server. The server validates the rest.
func ParseCheck(s string) (*CheckSpec, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	var v checkJSON
	if err := dec.Decode(&v); err != nil {
		return nil, checkSyntaxError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("check: want one JSON object and nothing after it")
	}
	if name, ok := unknownCheckField(s); ok {
		if known, ok := knownCheckField(strings.ReplaceAll(name, "-", "_")); ok && strings.Contains(name, "-") {
			return nil, fmt.Errorf("check: unknown field %q (did you mean %q?)", name, known)
		}
		return nil, fmt.Errorf("check: unknown field %q", name)
	}
	c := new(CheckSpec)
	if err := c.from(v); err != nil {
		return nil, err
	}
	if c.Type == "" {
		return nil, errors.New(`check: "type" is required: tcp, http, https, grpc, redis or mysql`)
	}
	return c, nil
}

// checkSyntaxError rewords the errors of encoding/json for a check.
func checkSyntaxError(err error) error {
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return errors.New(`check: empty, want a JSON object such as {"type": "http", "path": "/healthz", "interval": "5s"}`)
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return errors.New(`check: want a JSON object such as {"type": "http", "path": "/healthz", "interval": "5s"}`)
	case errors.As(err, &typeErr) && strings.HasPrefix(typeErr.Field, "header"):
		return fmt.Errorf("check: header: want an object with string values, not %s", typeErr.Value)
	case errors.As(err, &typeErr):
		return fmt.Errorf("check: %s: want %s, not %s", typeErr.Field, jsonKinds[typeErr.Type.Kind()], typeErr.Value)
	}
	return fmt.Errorf("check: %w", err)
}

// unknownCheckField returns the first member of the JSON object s that
// names no field of a check, matched as encoding/json matches them (ignoring
// case). s has already decoded as a check.
func unknownCheckField(s string) (string, bool) {
	var members map[string]json.RawMessage
	if json.Unmarshal([]byte(s), &members) != nil {
		return "", false
	}
	names := slices.Sorted(maps.Keys(members))
	for _, name := range names {
		if _, ok := knownCheckField(name); !ok {
			return name, true
		}
	}
	return "", false
}

// knownCheckField returns the field of a check that name names, matched as
// encoding/json matches them (ignoring case).
func knownCheckField(name string) (string, bool) {
	for f := range reflect.TypeFor[checkJSON]().Fields() {
		if k, _, _ := strings.Cut(f.Tag.Get("json"), ","); strings.EqualFold(k, name) {
			return k, true
		}
	}
	return "", false
}

// jsonKinds names the JSON values that the fields of checkJSON take.
var jsonKinds = map[reflect.Kind]string{
	reflect.String: "a string",
	reflect.Int:    "a whole number",
	reflect.Bool:   "true or false",
}
