package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/signpost-dns/signpost/healthcheck"
	"github.com/signpost-dns/signpost/registry"
)

// checkExample is shown when a check is not even a JSON object.
const checkExample = `{"type": "http", "path": "/healthz", "interval": "5s"}`

// checkFieldTypes says what each field of a check must hold, for the error
// when it holds something else.
var checkFieldTypes = map[string]string{
	"interval":        `must be a duration string such as "5s"`,
	"timeout":         `must be a duration string such as "1s"`,
	"rise":            "must be a whole number",
	"fall":            "must be a whole number",
	"header":          "must be an object with string values",
	"tls_skip_verify": "must be true or false",
}

// hasValue reports whether a raw JSON field was given with a value other
// than null.
func hasValue(raw json.RawMessage) bool {
	return len(raw) > 0 && !bytes.Equal(raw, []byte("null"))
}

// decodeCheck reads the check object of a registration strictly and returns
// it in the form the registry stores: the spec with every default spelled
// out, so that what the API shows is what the probes do, and so that two
// spellings of one check ("5s", "5000ms") are the same check.
func decodeCheck(raw json.RawMessage) (string, error) {
	var spec healthcheck.Spec
	if _, err := decodeStrict(raw, &spec); err != nil {
		return "", checkDecodeError(err)
	}
	c, err := spec.Check()
	if err != nil {
		return "", &registry.FieldError{Field: "check", Reason: err.Error()}
	}
	return healthcheck.SpecOf(c).Encode(), nil
}

// checkDecodeError names the offending field of a check that does not
// decode. The body around it was valid JSON, so only type errors and
// unknown fields are left.
func checkDecodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field, _, _ := strings.Cut(typeErr.Field, ".")
		if field == "" {
			return &registry.FieldError{Field: "check", Reason: "must be an object such as " + checkExample}
		}
		reason, ok := checkFieldTypes[field]
		if !ok {
			reason = "must be a string"
		}
		return &registry.FieldError{Field: "check", Reason: field + ": " + reason}
	}
	var unknown *unknownFieldError
	if errors.As(err, &unknown) {
		return &registry.FieldError{Field: "check", Reason: unknown.Error()}
	}
	var dup *duplicateKeyError
	if errors.As(err, &dup) {
		return &registry.FieldError{Field: "check", Reason: dup.Error()}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &registry.FieldError{Field: "check", Reason: "must be an object such as " + checkExample}
	}
	return &registry.FieldError{Field: "check", Reason: err.Error()}
}

// errCheckAndTTL refuses a registration that asks both for a lease and for
// probes: the two would fight over the instance's health.
var errCheckAndTTL = &registry.FieldError{
	Field:  "check",
	Reason: "cannot be combined with ttl: register with a ttl (the instance renews its lease) or with a check (the server probes it), not both",
}

// redacted stands for a secret in the checks the API shows; redactedURL
// for one within a URL, as url.URL.Redacted writes it.
const (
	redacted    = "***"
	redactedURL = healthcheck.RedactedURL
)

// renderCheck returns a stored check as the API shows it, with everything
// that may be a secret masked: a redis password, the password and the query
// values of a URL (?api_key=...), and the value of every header, whatever
// its name (X-Api-Key as much as Authorization). Reads need no token unless
// the server asks for one. nil for none.
func renderCheck(stored string) *healthcheck.Spec {
	if stored == "" {
		return nil
	}
	var spec healthcheck.Spec
	if err := json.Unmarshal([]byte(stored), &spec); err != nil {
		return nil // the registry only holds checks the API or the Corefile wrote
	}
	if spec.Password != "" {
		spec.Password = redacted
	}
	spec.URL = healthcheck.RedactURL(spec.URL)
	for k := range spec.Header {
		spec.Header[k] = redacted
	}
	return &spec
}

// checkNote is the check of an instance for a log line.
func checkNote(in registry.Instance) string {
	spec := renderCheck(in.Check)
	if spec == nil {
		return ""
	}
	return fmt.Sprintf(", %s check every %s", spec.Type, spec.Interval)
}
