package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
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

// decodeBody reads r's body as exactly one JSON object into v, a pointer to
// a struct. It refuses unknown fields, keys given twice, trailing data and
// bodies over limit bytes.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return bodyError(err, limit)
	}
	dec, err := decodeStrict(body, v)
	if err != nil {
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

// decodeStrict decodes the JSON value data begins with into v, a pointer to
// a struct, as encoding/json does, and then refuses a member that names no
// field of v (*unknownFieldError) and a key given twice in any object of
// the value (*duplicateKeyError). It returns the decoder, which has read
// the value and may hold data after it.
func decodeStrict(data []byte, v any) (*json.Decoder, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return dec, err
	}
	return dec, checkMembers(data, jsonFields(v))
}

// bodyError turns a decoding error into one that names the offending field
// or, for an oversized body, answers 413.
func bodyError(err error, limit int64) error {
	var (
		tooLarge *http.MaxBytesError
		typeErr  *json.UnmarshalTypeError
		syntax   *json.SyntaxError
		unknown  *unknownFieldError
		dup      *duplicateKeyError
	)
	switch {
	case errors.As(err, &unknown) && unknown.suggest != "":
		return &registry.FieldError{Field: unknown.key, Reason: fmt.Sprintf("is not a known field; did you mean %q?", unknown.suggest)}
	case errors.As(err, &unknown):
		return &registry.FieldError{Field: unknown.key, Reason: "is not a known field"}
	case errors.As(err, &dup) && dup.path == "":
		return &registry.FieldError{Field: dup.field, Reason: "is given more than once"}
	case errors.As(err, &dup):
		return &registry.FieldError{Field: dup.field, Value: dup.path, Reason: "is given more than once"}
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
	return &registry.FieldError{Field: "body", Reason: err.Error()}
}

// unknownFieldError is a member of a JSON object whose key names no field
// of the struct the object decodes into. encoding/json reports one only as
// a message; checkMembers finds it itself. suggest is the field the key
// names when spelled with underscores, as the Corefile's options are spelled
// with dashes ("tls-skip-verify" for "tls_skip_verify"); "" when none.
type unknownFieldError struct{ key, suggest string }

func (e *unknownFieldError) Error() string {
	if e.suggest != "" {
		return fmt.Sprintf("unknown field %q (did you mean %q?)", e.key, e.suggest)
	}
	return fmt.Sprintf("unknown field %q", e.key)
}

// suggestField returns the field of fields that key names with its dashes
// written as underscores, or "".
func suggestField(fields []string, key string) string {
	if !strings.Contains(key, "-") {
		return ""
	}
	f, _ := matchField(fields, strings.ReplaceAll(key, "-", "_"))
	return f
}

// duplicateKeyError is a key given twice in one JSON object, which
// encoding/json would take silently, keeping the last value.
type duplicateKeyError struct {
	field string // the member of the top-level object, as the body spells it
	path  string // the key within field's value, dot-separated; "" for field itself
}

func (e *duplicateKeyError) Error() string {
	if e.path == "" {
		return fmt.Sprintf("key %q given more than once", e.field)
	}
	return fmt.Sprintf("key %q of %q given more than once", e.path, e.field)
}

// checkMembers walks the JSON value data begins with, which must be valid
// JSON. When it is an object, it refuses a member whose key matches none of
// fields, as encoding/json matches them (exactly, else without regard to
// case), and a key given twice, in it or in any object within it. A key of
// the top-level object counts twice when it matches one field twice; keys
// below it are matched exactly, as map keys are. Data after the value is
// not read.
func checkMembers(data []byte, fields []string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return err // null, or not an object: the decoding answered for it
	}
	seen := make(map[string]bool, len(fields))
	for dec.More() {
		key, err := objectKey(dec)
		if err != nil {
			return err
		}
		name, ok := matchField(fields, key)
		if !ok {
			return &unknownFieldError{key: key, suggest: suggestField(fields, key)}
		}
		if seen[name] {
			return &duplicateKeyError{field: key}
		}
		seen[name] = true
		if err := checkValue(dec, key, ""); err != nil {
			return err
		}
	}
	return nil
}

// checkValue reads one value from dec and refuses a key given twice in any
// object within it. field and path say where the value is, for the error.
func checkValue(dec *json.Decoder, field, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := make(map[string]bool)
		for dec.More() {
			key, err := objectKey(dec)
			if err != nil {
				return err
			}
			keyPath := key
			if path != "" {
				keyPath = path + "." + key
			}
			if seen[key] {
				return &duplicateKeyError{field: field, path: keyPath}
			}
			seen[key] = true
			if err := checkValue(dec, field, keyPath); err != nil {
				return err
			}
		}
	case json.Delim('['):
		for dec.More() {
			if err := checkValue(dec, field, path); err != nil {
				return err
			}
		}
	default:
		return nil // a scalar
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

// objectKey reads the key of an object's next member.
func objectKey(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	key, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("object key %v is not a string", tok) // a Decoder yields none such
	}
	return key, nil
}

// matchField returns the field key names: the one equal to it, else one
// equal without regard to case, as encoding/json picks it.
func matchField(fields []string, key string) (string, bool) {
	if slices.Contains(fields, key) {
		return key, true
	}
	for _, f := range fields {
		if strings.EqualFold(f, key) {
			return f, true
		}
	}
	return "", false
}

// fieldNames caches jsonFields by struct type.
var fieldNames sync.Map // reflect.Type -> []string

// jsonFields returns the names under which encoding/json decodes the fields
// of the struct v points to. Bodies are flat structs: embedded structs are
// not looked into.
func jsonFields(v any) []string {
	t := reflect.TypeOf(v).Elem()
	if names, ok := fieldNames.Load(t); ok {
		return names.([]string)
	}
	var names []string
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		names = append(names, name)
	}
	fieldNames.Store(t, names)
	return names
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
