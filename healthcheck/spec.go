package healthcheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Spec is the JSON form of a check, as the HTTP API takes it in a
// registration body ({"type": "http", "path": "/healthz", "interval": "5s"})
// and as the registry stores it.
type Spec struct {
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

// Check returns the check the spec describes, with its defaults applied
// (so that SpecOf of it spells out every setting the probes use), validated
// as far as it can be without the instance it will probe.
func (s Spec) Check() (Check, error) {
	if err := s.checkFields(); err != nil {
		return Check{}, err
	}
	c := Check{
		Type: s.Type, Target: s.URL, Path: s.Path, Rise: s.Rise, Fall: s.Fall, Method: s.Method,
		Expect: s.Expect, TLSSkipVerify: s.TLSSkipVerify, Password: s.Password, Service: s.Service,
	}
	var err error
	if c.Interval, err = specDuration("interval", s.Interval); err != nil {
		return Check{}, err
	}
	if c.Timeout, err = specDuration("timeout", s.Timeout); err != nil {
		return Check{}, err
	}
	if len(s.Header) > 0 {
		c.Header = make(http.Header, len(s.Header))
		for k, v := range s.Header {
			c.Header.Set(k, v)
		}
	}
	// Without a URL the target comes from the instance (ForInstance).
	c = c.withDefaults()
	if err := c.validate(c.Target != ""); err != nil {
		return Check{}, err
	}
	return c, nil
}

// checkFields refuses what the Corefile's check line refuses too and
// validate cannot see once the spec is a Check: no type, and a url where the
// target comes from the instance.
func (s Spec) checkFields() error {
	typ := strings.ToLower(s.Type)
	switch {
	case typ == "":
		return fmt.Errorf("type: missing, want one of %s", strings.Join(types, ", "))
	case s.URL != "" && typ != TypeHTTP && typ != TypeHTTPS:
		return fmt.Errorf("url: only for http and https checks, not %s", typ)
	case s.URL != "" && s.Path != "":
		return errors.New("url and path: give one or the other")
	}
	return nil
}

func specDuration(field, v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s %q: want a positive duration such as 5s", field, v)
	}
	return d, nil
}

// DecodeSpec reads a spec from its JSON form, refusing unknown fields, and
// returns its check.
func DecodeSpec(s string) (Check, error) {
	var spec Spec
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return Check{}, fmt.Errorf("check: %w", err)
	}
	return spec.Check()
}

// Encode returns the JSON form of the spec.
func (s Spec) Encode() string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // strings, numbers and a map of strings always encode
	}
	return string(b)
}

// SpecOf returns the spec of a check, the inverse of Spec.Check.
func SpecOf(c Check) Spec {
	s := Spec{
		Type: c.Type, URL: c.Target, Path: c.Path, Rise: c.Rise, Fall: c.Fall, Method: c.Method,
		Expect: c.Expect, TLSSkipVerify: c.TLSSkipVerify, Password: c.Password, Service: c.Service,
	}
	if c.Interval > 0 {
		s.Interval = c.Interval.String()
	}
	if c.Timeout > 0 {
		s.Timeout = c.Timeout.String()
	}
	if len(c.Header) > 0 {
		s.Header = make(map[string]string, len(c.Header))
		for k := range c.Header {
			s.Header[k] = c.Header.Get(k)
		}
	}
	return s
}
