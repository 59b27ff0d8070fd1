package registry_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/signpost-dns/signpost/registry"
)

// TestAddressAndMetaRefused checks that an instance cannot carry the
// broadcast address (mapped into IPv6 or not) or control characters in its
// meta, and that the error names the field, the key and the character; meta
// that is only unusual passes.
func TestAddressAndMetaRefused(t *testing.T) {
	base := registry.Instance{Service: "web", ID: "w1", Address: netip.MustParseAddr("10.0.0.5"), Port: 80, Weight: 1}
	tests := []struct {
		name string
		edit func(*registry.Instance)
		want string // the error; "" for none
	}{
		{"broadcast", func(in *registry.Instance) { in.Address = netip.MustParseAddr("255.255.255.255") },
			`address: "255.255.255.255" must be the address of one host, not unspecified, broadcast or multicast`},
		{"broadcast mapped", func(in *registry.Instance) { in.Address = netip.MustParseAddr("::ffff:255.255.255.255") },
			`address: "::ffff:255.255.255.255" must be the address of one host, not unspecified, broadcast or multicast`},
		{"unspecified mapped", func(in *registry.Instance) { in.Address = netip.MustParseAddr("::ffff:0.0.0.0") },
			`address: "::ffff:0.0.0.0" must be the address of one host, not unspecified, broadcast or multicast`},
		{"subnet broadcast", func(in *registry.Instance) { in.Address = netip.MustParseAddr("10.0.0.255") }, ""},
		{"newline in value", func(in *registry.Instance) { in.Meta = map[string]string{"zone": "a\nb"} },
			`meta: "zone" values must not hold control characters, has U+000A at byte 1`},
		{"escape in value", func(in *registry.Instance) { in.Meta = map[string]string{"a": "ok", "b": "\x1b[2J"} },
			`meta: "b" values must not hold control characters, has U+001B at byte 0`},
		{"C1 in value", func(in *registry.Instance) { in.Meta = map[string]string{"v": "x\u0085"} },
			`meta: "v" values must not hold control characters, has U+0085 at byte 1`},
		{"DEL in value", func(in *registry.Instance) { in.Meta = map[string]string{"v": "\x7f"} },
			`meta: "v" values must not hold control characters, has U+007F at byte 0`},
		{"tab in key", func(in *registry.Instance) { in.Meta = map[string]string{"a\tb": "v"} },
			`meta: "a\tb" keys must not hold control characters, has U+0009 at byte 1`},
		{"unicode and spaces", func(in *registry.Instance) { in.Meta = map[string]string{"owner": "Zoë Ó Sé, team ☃"} }, ""},
		{"empty value", func(in *registry.Instance) { in.Meta = map[string]string{"k": ""} }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := base
			tc.edit(&in)
			r := registry.New(registry.Config{})
			_, err := r.Register(in)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Register: %v, want success", err)
				}
				return
			}
			var fe *registry.FieldError
			if !errors.As(err, &fe) || err.Error() != tc.want {
				t.Fatalf("Register: %v, want the field error %s", err, tc.want)
			}
			if r.Snapshot().Len() != 0 {
				t.Error("a refused instance was registered")
			}
		})
	}
}
