package registry

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Health is the state of an instance. Only passing instances (and warning
// ones, where the server is configured to serve them) appear in answers.
type Health uint8

// The health states, ordered from best to worst.
const (
	Passing Health = iota
	Warning
	Critical
)

var healthNames = [...]string{Passing: "passing", Warning: "warning", Critical: "critical"}

func (h Health) String() string {
	if int(h) < len(healthNames) {
		return healthNames[h]
	}
	return fmt.Sprintf("health(%d)", uint8(h))
}

// ParseHealth parses "passing", "warning" or "critical".
func ParseHealth(s string) (Health, error) {
	for h, name := range healthNames {
		if s == name {
			return Health(h), nil
		}
	}
	return 0, &FieldError{Field: "health", Value: s, Reason: "must be passing, warning or critical"}
}

// MarshalText implements encoding.TextMarshaler.
func (h Health) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *Health) UnmarshalText(b []byte) error {
	v, err := ParseHealth(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// Source tells who owns an instance: the HTTP API or the Corefile.
type Source uint8

// The sources of an instance.
const (
	SourceAPI Source = iota
	SourceCorefile
)

func (s Source) String() string {
	if s == SourceCorefile {
		return "corefile"
	}
	return "api"
}

// MarshalText implements encoding.TextMarshaler.
func (s Source) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Limits on what one instance may carry, so that a registration cannot grow
// the registry or a DNS answer without bound.
const (
	MaxTags       = 64
	MaxMeta       = 64
	MaxMetaKey    = 128
	MaxMetaValue  = 512
	MaxTTL        = 24 * time.Hour
	MinTTL        = time.Second
	DefaultWeight = 1
	MaxCheck      = 4096
)

// Instance is one address and port of a service. Values handed out by the
// registry are copies; their Tags and Meta are shared with the registry and
// must not be modified.
type Instance struct {
	Service string
	ID      string
	Address netip.Addr
	Port    uint16
	Tags    []string
	Meta    map[string]string
	Weight  uint16
	Health  Health
	Source  Source
	// TTL is the heartbeat lease: the instance turns critical when it is not
	// renewed within TTL. Zero means no lease (probed or static instances).
	TTL time.Duration
	// Check is the active health check of the instance, in a form the
	// registry does not read: it stores it, persists it and hands it back to
	// whoever runs the probes. Empty means none.
	Check string

	// CreateIndex and ModifyIndex are the registry change indexes at which the
	// instance was created and last changed. Set by the registry.
	CreateIndex uint64
	ModifyIndex uint64
}

// HasTag reports whether the instance carries tag.
func (in *Instance) HasTag(tag string) bool { return slices.Contains(in.Tags, tag) }

// normalize validates in and returns a copy that owns its meta, with tags
// sorted, deduplicated and interned (shared with other instances of the
// same tags, never with the caller) and the address unmapped.
func (in Instance) normalize() (Instance, error) {
	if err := ValidateLabel("service", in.Service); err != nil {
		return in, err
	}
	if err := ValidateLabel("id", in.ID); err != nil {
		return in, err
	}
	if !in.Address.IsValid() {
		return in, &FieldError{Field: "address", Reason: "must be an IPv4 or IPv6 address"}
	}
	if a := in.Address.Unmap(); a.IsUnspecified() || a.IsMulticast() || a == broadcast {
		return in, &FieldError{Field: "address", Value: in.Address.String(), Reason: "must be the address of one host, not unspecified, broadcast or multicast"}
	}
	if in.Address.Zone() != "" {
		return in, &FieldError{Field: "address", Value: in.Address.String(), Reason: "must not carry an IPv6 zone"}
	}
	if in.Port == 0 {
		return in, &FieldError{Field: "port", Value: "0", Reason: "must be between 1 and 65535"}
	}
	if len(in.Tags) > MaxTags {
		return in, &FieldError{Field: "tags", Reason: fmt.Sprintf("at most %d tags", MaxTags)}
	}
	for _, t := range in.Tags {
		if err := ValidateLabel("tags", t); err != nil {
			return in, err
		}
	}
	if err := validateMeta(in.Meta); err != nil {
		return in, err
	}
	if in.TTL != 0 && (in.TTL < MinTTL || in.TTL > MaxTTL) {
		return in, &FieldError{Field: "ttl", Value: in.TTL.String(), Reason: fmt.Sprintf("must be between %s and %s", MinTTL, MaxTTL)}
	}
	if len(in.Check) > MaxCheck {
		return in, &FieldError{Field: "check", Reason: fmt.Sprintf("at most %d bytes", MaxCheck)}
	}
	if in.Health > Critical {
		return in, &FieldError{Field: "health", Value: in.Health.String(), Reason: "unknown state"}
	}
	in.Address = in.Address.Unmap()
	tags := in.Tags
	if !sortedUnique(tags) {
		tags = slices.Compact(slices.Sorted(slices.Values(tags)))
	}
	in.Tags = internTags(tags) // a copy, shared with the instances of equal tags
	if len(in.Meta) > 0 {
		in.Meta = maps.Clone(in.Meta)
	} else {
		in.Meta = nil
	}
	return in, nil
}

// normalizeOwned is normalize for an instance that already owns its tags
// and meta, as one just decoded from the data file: its tags are sorted in
// place, its meta kept, and its tags interned.
func (in Instance) normalizeOwned() (Instance, error) {
	tags, meta := in.Tags, in.Meta
	in.Tags, in.Meta = nil, nil // checked below, not copied
	n, err := in.normalize()
	if err != nil {
		return n, err
	}
	if len(tags) > MaxTags {
		return in, &FieldError{Field: "tags", Reason: fmt.Sprintf("at most %d tags", MaxTags)}
	}
	for _, t := range tags {
		if err := ValidateLabel("tags", t); err != nil {
			return in, err
		}
	}
	if err := validateMeta(meta); err != nil {
		return in, err
	}
	if len(tags) > 0 {
		if !slices.IsSorted(tags) {
			slices.Sort(tags)
		}
		n.Tags = internTags(slices.Compact(tags))
	}
	if len(meta) > 0 {
		n.Meta = meta
	}
	return n, nil
}

// sortedUnique reports whether tags are sorted with no repeats.
func sortedUnique(tags []string) bool {
	for i := 1; i < len(tags); i++ {
		if tags[i-1] >= tags[i] {
			return false
		}
	}
	return true
}

// broadcast is the limited broadcast address, which names no one host.
var broadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// validateMeta checks the size of meta and refuses control characters in
// its keys and values: they end up in terminals (signpostctl show) and in
// logs, where a newline or an escape sequence would forge or hide lines.
func validateMeta(meta map[string]string) error {
	if len(meta) == 0 {
		return nil
	}
	if len(meta) > MaxMeta {
		return &FieldError{Field: "meta", Reason: fmt.Sprintf("at most %d keys", MaxMeta)}
	}
	for _, k := range slices.Sorted(maps.Keys(meta)) { // the same error for the same body
		v := meta[k]
		if k == "" || len(k) > MaxMetaKey {
			return &FieldError{Field: "meta", Value: k, Reason: fmt.Sprintf("keys must be 1 to %d bytes", MaxMetaKey)}
		}
		if len(v) > MaxMetaValue {
			return &FieldError{Field: "meta", Value: k, Reason: fmt.Sprintf("values must be at most %d bytes", MaxMetaValue)}
		}
		if c, i, ok := controlChar(k); ok {
			return &FieldError{Field: "meta", Value: k, Reason: fmt.Sprintf("keys must not hold control characters, has %U at byte %d", c, i)}
		}
		if c, i, ok := controlChar(v); ok {
			return &FieldError{Field: "meta", Value: k, Reason: fmt.Sprintf("values must not hold control characters, has %U at byte %d", c, i)}
		}
	}
	return nil
}

// controlChar returns the first control character of s (C0, DEL or C1)
// and its byte offset.
func controlChar(s string) (rune, int, bool) {
	i := strings.IndexFunc(s, unicode.IsControl)
	if i < 0 {
		return 0, 0, false
	}
	c, _ := utf8.DecodeRuneInString(s[i:])
	return c, i, true
}

// ValidateLabel checks that s is a DNS label as Signpost uses them for
// service names, tags and instance ids: 1 to 63 characters of lowercase a-z,
// 0-9 and '-', not starting or ending with '-' (RFC 1123). field names the
// value in the error.
func ValidateLabel(field, s string) error {
	if s == "" || len(s) > 63 {
		return &FieldError{Field: field, Value: s, Reason: "must be 1 to 63 characters"}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return &FieldError{Field: field, Value: s, Reason: "may hold only lowercase a-z, 0-9 and '-'"}
		}
	}
	if s[0] == '-' || s[len(s)-1] == '-' {
		return &FieldError{Field: field, Value: s, Reason: "must not start or end with '-'"}
	}
	if field == "service" && s == ReservedLabel {
		return &FieldError{Field: field, Value: s, Reason: "is reserved for address records"}
	}
	return nil
}

// ReservedLabel is the one label that cannot name a service: DNS serves
// instance addresses below it.
const ReservedLabel = "addr"

// FieldError is a validation error that names the offending field.
type FieldError struct {
	Field  string
	Value  string
	Reason string
}

func (e *FieldError) Error() string {
	if e.Value == "" {
		return e.Field + ": " + e.Reason
	}
	return fmt.Sprintf("%s: %q %s", e.Field, e.Value, strings.TrimSpace(e.Reason))
}

// Validate checks every field of the instance as Register would.
func (in Instance) Validate() error {
	_, err := in.normalize()
	return err
}
