package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

// registerBody is the body of a registration. Pointers tell an omitted
// field from a zero one.
type registerBody struct {
	Address *string           `json:"address"`
	Port    *int64            `json:"port"`
	Tags    []string          `json:"tags"`
	Meta    map[string]string `json:"meta"`
	Weight  *int64            `json:"weight"`
	TTL     *string           `json:"ttl"`
	// Check is an active health check (healthcheck.Spec), decoded on its
	// own so that its errors name the check.
	Check json.RawMessage `json:"check"`
}

// fieldTypes says what each field of registerBody must hold, for the error
// when it holds something else.
var fieldTypes = map[string]string{
	"address": "must be a string holding an IPv4 or IPv6 address",
	"port":    "must be an integer between 1 and 65535",
	"tags":    "must be a list of strings",
	"meta":    "must be an object with string values",
	"weight":  "must be an integer between 0 and 65535",
	"ttl":     `must be a duration string such as "15s"`,
}

// decodeBody reads r's body as exactly one JSON object into v. It refuses
// unknown fields, trailing data and bodies over limit bytes.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bodyError(err, limit)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err != nil {
			return bodyError(err, limit)
		}
		return &registry.FieldError{Field: "body", Reason: "must hold one JSON object and nothing after it"}
	}
	return nil
}

// bodyError turns a decoding error into one that names the offending field
// or, for an oversized body, answers 413.
func bodyError(err error, limit int64) error {
	var (
		tooLarge *http.MaxBytesError
		typeErr  *json.UnmarshalTypeError
		syntax   *json.SyntaxError
	)
	switch {
	case errors.As(err, &tooLarge):
		return &statusError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body: larger than %d bytes", limit)}
	case errors.As(err, &typeErr):
		return typeError(typeErr)
	case errors.As(err, &syntax):
		return &registry.FieldError{Field: "body", Reason: fmt.Sprintf("invalid JSON at byte %d: %v", syntax.Offset, err)}
	case errors.Is(err, io.EOF):
		return &registry.FieldError{Field: "body", Reason: "is empty, must be a JSON object"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &registry.FieldError{Field: "body", Reason: "ends in the middle of the JSON object"}
	}
	// encoding/json has no type for unknown fields, only this message.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &registry.FieldError{Field: strings.Trim(name, `"`), Reason: "is not a known field"}
	}
	return &registry.FieldError{Field: "body", Reason: err.Error()}
}

func typeError(e *json.UnmarshalTypeError) error {
	field, _, _ := strings.Cut(e.Field, ".")
	if field == "" {
		return &registry.FieldError{Field: "body", Reason: "must be a JSON object"}
	}
	reason, ok := fieldTypes[field]
	if !ok {
		reason = "has the wrong type"
	}
	return &registry.FieldError{Field: field, Reason: reason}
}

// instance checks the body of a registration and returns the instance it
// asks for, without the service and id, which come from the path.
func (b *registerBody) instance() (registry.Instance, error) {
	addr, err := b.address()
	if err != nil {
		return registry.Instance{}, err
	}
	port, err := b.port()
	if err != nil {
		return registry.Instance{}, err
	}
	weight, err := b.weight()
	if err != nil {
		return registry.Instance{}, err
	}
	ttl, err := b.ttl()
	if err != nil {
		return registry.Instance{}, err
	}
	check, err := b.check()
	if err != nil {
		return registry.Instance{}, err
	}
	return registry.Instance{
		Address: addr, Port: port, Tags: b.Tags, Meta: b.Meta, Weight: weight, TTL: ttl, Check: check,
		Source: registry.SourceAPI,
	}, nil
}

// check decodes the active health check, if any. An instance has either a
// lease or a check: a check with a ttl is refused.
func (b *registerBody) check() (string, error) {
	if !hasValue(b.Check) {
		return "", nil
	}
	if b.TTL != nil {
		return "", errCheckAndTTL
	}
	return decodeCheck(b.Check)
}

func (b *registerBody) address() (netip.Addr, error) {
	if b.Address == nil {
		return netip.Addr{}, &registry.FieldError{Field: "address", Reason: "is required"}
	}
	a, err := netip.ParseAddr(*b.Address)
	if err != nil {
		return netip.Addr{}, &registry.FieldError{Field: "address", Value: *b.Address, Reason: "must be an IPv4 or IPv6 address"}
	}
	return a, nil
}

func (b *registerBody) port() (uint16, error) {
	if b.Port == nil {
		return 0, &registry.FieldError{Field: "port", Reason: "is required"}
	}
	if *b.Port < 1 || *b.Port > 65535 {
		return 0, &registry.FieldError{Field: "port", Value: fmt.Sprint(*b.Port), Reason: "must be between 1 and 65535"}
	}
	return uint16(*b.Port), nil
}

func (b *registerBody) weight() (uint16, error) {
	if b.Weight == nil {
		return registry.DefaultWeight, nil
	}
	if *b.Weight < 0 || *b.Weight > 65535 {
		return 0, &registry.FieldError{Field: "weight", Value: fmt.Sprint(*b.Weight), Reason: "must be between 0 and 65535"}
	}
	return uint16(*b.Weight), nil
}

// ttl parses the lease TTL. Omitted means no lease: the instance stays until
// it is deregistered.
func (b *registerBody) ttl() (time.Duration, error) {
	if b.TTL == nil {
		return 0, nil
	}
	d, err := time.ParseDuration(*b.TTL)
	if err != nil {
		return 0, &registry.FieldError{Field: "ttl", Value: *b.TTL, Reason: `must be a duration such as "15s"`}
	}
	if d < registry.MinTTL || d > registry.MaxTTL {
		return 0, &registry.FieldError{Field: "ttl", Value: *b.TTL, Reason: fmt.Sprintf("must be between %s and %s", registry.MinTTL, registry.MaxTTL)}
	}
	return d, nil
}
