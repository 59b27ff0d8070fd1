package registry_test

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

func TestValidateLabel(t *testing.T) {
	tests := []struct {
		field, s string
		ok       bool
	}{
		{"service", "web", true},
		{"service", "a", true},
		{"service", "0", true},
		{"service", "web-2", true},
		{"service", "a-b-c", true},
		{"service", strings.Repeat("a", 63), true},
		{"service", strings.Repeat("a", 64), false},
		{"service", "", false},
		{"service", "Web", false},
		{"service", "WEB", false},
		{"service", "we_b", false},
		{"service", "web.internal", false},
		{"service", "web api", false},
		{"service", "wéb", false},
		{"service", "-web", false},
		{"service", "web-", false},
		{"service", "-", false},
		{"service", "addr", false},
		{"service", "addr2", true},
		// Only service names are reserved: a tag or id may be "addr".
		{"tags", "addr", true},
		{"id", "addr", true},
		{"tags", "Primary", false},
		{"id", "db-", false},
		{"id", "db\x00", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%q", tt.field, tt.s), func(t *testing.T) {
			err := registry.ValidateLabel(tt.field, tt.s)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateLabel(%q, %q) = %v, want nil", tt.field, tt.s, err)
				}
				return
			}
			wantFieldError(t, err, tt.field)
		})
	}
}

func TestRegisterValidation(t *testing.T) {
	manyTags := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("t%d", i)
		}
		return out
	}
	manyMeta := func(n int) map[string]string {
		m := make(map[string]string, n)
		for i := range n {
			m[fmt.Sprintf("k%d", i)] = "v"
		}
		return m
	}
	tests := []struct {
		name  string
		edit  func(in *registry.Instance)
		field string // "" when the instance is valid
	}{
		{"valid", func(in *registry.Instance) {}, ""},
		{"service empty", func(in *registry.Instance) { in.Service = "" }, "service"},
		{"service uppercase", func(in *registry.Instance) { in.Service = "Web" }, "service"},
		{"service 64 chars", func(in *registry.Instance) { in.Service = strings.Repeat("s", 64) }, "service"},
		{"service 63 chars", func(in *registry.Instance) { in.Service = strings.Repeat("s", 63) }, ""},
		{"service bad char", func(in *registry.Instance) { in.Service = "web_api" }, "service"},
		{"service dot", func(in *registry.Instance) { in.Service = "web.api" }, "service"},
		{"service leading dash", func(in *registry.Instance) { in.Service = "-web" }, "service"},
		{"service trailing dash", func(in *registry.Instance) { in.Service = "web-" }, "service"},
		{"service reserved", func(in *registry.Instance) { in.Service = "addr" }, "service"},
		{"id empty", func(in *registry.Instance) { in.ID = "" }, "id"},
		{"id uppercase", func(in *registry.Instance) { in.ID = "Node1" }, "id"},
		{"id 64 chars", func(in *registry.Instance) { in.ID = strings.Repeat("i", 64) }, "id"},
		{"id bad char", func(in *registry.Instance) { in.ID = "node/1" }, "id"},
		{"id leading dash", func(in *registry.Instance) { in.ID = "-n1" }, "id"},
		{"id trailing dash", func(in *registry.Instance) { in.ID = "n1-" }, "id"},
		{"tag uppercase", func(in *registry.Instance) { in.Tags = []string{"ok", "Primary"} }, "tags"},
		{"tag empty", func(in *registry.Instance) { in.Tags = []string{""} }, "tags"},
		{"tag 64 chars", func(in *registry.Instance) { in.Tags = []string{strings.Repeat("t", 64)} }, "tags"},
		{"tag bad char", func(in *registry.Instance) { in.Tags = []string{"v1.2"} }, "tags"},
		{"tag leading dash", func(in *registry.Instance) { in.Tags = []string{"-x"} }, "tags"},
		{"tag trailing dash", func(in *registry.Instance) { in.Tags = []string{"x-"} }, "tags"},
		{"64 tags", func(in *registry.Instance) { in.Tags = manyTags(registry.MaxTags) }, ""},
		{"65 tags", func(in *registry.Instance) { in.Tags = manyTags(registry.MaxTags + 1) }, "tags"},
		{"address missing", func(in *registry.Instance) { in.Address = netip.Addr{} }, "address"},
		{"address zoned", func(in *registry.Instance) { in.Address = addr("fe80::1%eth0") }, "address"},
		{"address mapped zoned", func(in *registry.Instance) { in.Address = addr("::ffff:10.0.0.1%eth0") }, "address"},
		{"address unspecified", func(in *registry.Instance) { in.Address = addr("0.0.0.0") }, "address"},
		{"address unspecified v6", func(in *registry.Instance) { in.Address = addr("::") }, "address"},
		{"address multicast", func(in *registry.Instance) { in.Address = addr("224.0.0.1") }, "address"},
		{"address v6", func(in *registry.Instance) { in.Address = addr("2001:db8::1") }, ""},
		{"port 0", func(in *registry.Instance) { in.Port = 0 }, "port"},
		{"port 65535", func(in *registry.Instance) { in.Port = 65535 }, ""},
		{"ttl 999ms", func(in *registry.Instance) { in.TTL = time.Second - time.Millisecond }, "ttl"},
		{"ttl 1ns", func(in *registry.Instance) { in.TTL = 1 }, "ttl"},
		{"ttl negative", func(in *registry.Instance) { in.TTL = -time.Second }, "ttl"},
		{"ttl 1s", func(in *registry.Instance) { in.TTL = registry.MinTTL }, ""},
		{"ttl 24h", func(in *registry.Instance) { in.TTL = registry.MaxTTL }, ""},
		{"ttl 24h+1s", func(in *registry.Instance) { in.TTL = registry.MaxTTL + time.Second }, "ttl"},
		{"64 meta", func(in *registry.Instance) { in.Meta = manyMeta(registry.MaxMeta) }, ""},
		{"65 meta", func(in *registry.Instance) { in.Meta = manyMeta(registry.MaxMeta + 1) }, "meta"},
		{"meta empty key", func(in *registry.Instance) { in.Meta = map[string]string{"": "v"} }, "meta"},
		{"meta long key", func(in *registry.Instance) {
			in.Meta = map[string]string{strings.Repeat("k", registry.MaxMetaKey+1): "v"}
		}, "meta"},
		{"meta max key", func(in *registry.Instance) {
			in.Meta = map[string]string{strings.Repeat("k", registry.MaxMetaKey): "v"}
		}, ""},
		{"meta long value", func(in *registry.Instance) {
			in.Meta = map[string]string{"k": strings.Repeat("v", registry.MaxMetaValue+1)}
		}, "meta"},
		{"meta max value", func(in *registry.Instance) {
			in.Meta = map[string]string{"k": strings.Repeat("v", registry.MaxMetaValue)}
		}, ""},
		{"health unknown", func(in *registry.Instance) { in.Health = registry.Critical + 1 }, "health"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newRegistry(t, registry.Config{})
			// An earlier registration of the same id must survive a refused
			// replacement untouched.
			orig := mustRegister(t, r, withTTL(inst("web", "n1", "10.0.0.1", 80, "old"), 10*time.Second))
			before := r.Snapshot()
			_, deadline, _ := r.Lease("web", "n1")

			in := inst("web", "n1", "10.0.0.2", 8080, "new")
			tt.edit(&in)
			got, err := r.Register(in)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Register: %v, want success", err)
				}
				if got.Port != in.Port || got.Address != in.Address.Unmap() {
					t.Fatalf("Register stored %v:%d, want %v:%d", got.Address, got.Port, in.Address, in.Port)
				}
				return
			}
			wantFieldError(t, err, tt.field)
			if got.Service != "" || got.ID != "" {
				t.Errorf("refused Register returned %+v, want the zero Instance", got)
			}
			if r.Snapshot() != before || r.Index() != before.Index() {
				t.Fatalf("refused Register published a snapshot: index %d -> %d", before.Index(), r.Index())
			}
			if now := get(t, r, "web", "n1"); now.Port != orig.Port || now.Address != orig.Address || !now.HasTag("old") {
				t.Errorf("refused Register changed the stored instance: %+v", now)
			}
			if ttl, d, ok := r.Lease("web", "n1"); !ok || ttl != 10*time.Second || !d.Equal(deadline) {
				t.Errorf("refused Register touched the lease: ttl %v deadline %v ok %v", ttl, d, ok)
			}
			if in.Service != "web" && r.Snapshot().Service(in.Service) != nil {
				t.Errorf("refused Register created service %q", in.Service)
			}
		})
	}
}

func TestRegisterNormalizes(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	tags := []string{"zeta", "alpha", "zeta", "mid", "alpha"}
	meta := map[string]string{"version": "1.2.3"}
	in := inst("web", "n1", "::ffff:10.0.0.7", 80, tags...)
	in.Meta = meta
	got := mustRegister(t, r, in)

	if want := addr("10.0.0.7"); got.Address != want || !got.Address.Is4() {
		t.Errorf("Address = %v, want unmapped %v", got.Address, want)
	}
	if want := []string{"alpha", "mid", "zeta"}; !equalStrings(got.Tags, want) {
		t.Errorf("Tags = %v, want %v", got.Tags, want)
	}
	stored := get(t, r, "web", "n1")
	if stored.Address != addr("10.0.0.7") || !equalStrings(stored.Tags, []string{"alpha", "mid", "zeta"}) {
		t.Errorf("snapshot holds %v %v", stored.Address, stored.Tags)
	}
	if !r.Snapshot().HasAddr(addr("10.0.0.7")) {
		t.Error("HasAddr(10.0.0.7) = false for an instance registered as ::ffff:10.0.0.7")
	}

	// The registry must own what it stores: the caller's slice and map may
	// be reused after Register returns.
	tags[0], tags[1] = "Bad", "Bad"
	meta["version"] = "changed"
	meta["extra"] = "x"
	stored = get(t, r, "web", "n1")
	if !equalStrings(stored.Tags, []string{"alpha", "mid", "zeta"}) {
		t.Errorf("changing the caller's tags changed the registry: %v", stored.Tags)
	}
	if len(stored.Meta) != 1 || stored.Meta["version"] != "1.2.3" {
		t.Errorf("changing the caller's meta changed the registry: %v", stored.Meta)
	}
	if !stored.HasTag("mid") || stored.HasTag("Bad") || stored.HasTag("") {
		t.Errorf("HasTag wrong on %v", stored.Tags)
	}
}

func TestRegisterEmptyTagsAndMeta(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	in := inst("web", "n1", "10.0.0.1", 80)
	in.Tags, in.Meta = []string{}, map[string]string{}
	got := mustRegister(t, r, in)
	if got.Tags != nil || got.Meta != nil {
		t.Errorf("empty tags/meta stored as %#v / %#v, want nil", got.Tags, got.Meta)
	}
	// An empty slice and nil are the same registration.
	idx := r.Index()
	mustRegister(t, r, inst("web", "n1", "10.0.0.1", 80))
	if r.Index() != idx {
		t.Errorf("re-registering with nil instead of empty tags bumped the index %d -> %d", idx, r.Index())
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestHealthText(t *testing.T) {
	for _, h := range []registry.Health{registry.Passing, registry.Warning, registry.Critical} {
		b, err := h.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back registry.Health = 99
		if err := back.UnmarshalText(b); err != nil || back != h {
			t.Errorf("round trip of %v: got %v, %v", h, back, err)
		}
		p, err := registry.ParseHealth(h.String())
		if err != nil || p != h {
			t.Errorf("ParseHealth(%q) = %v, %v", h.String(), p, err)
		}
	}
	if got := []string{registry.Passing.String(), registry.Warning.String(), registry.Critical.String()}; !equalStrings(got, []string{"passing", "warning", "critical"}) {
		t.Errorf("health names = %v", got)
	}
	if got := registry.Health(7).String(); got != "health(7)" {
		t.Errorf("Health(7).String() = %q", got)
	}
	for _, s := range []string{"", "Passing", "ok", "critical "} {
		_, err := registry.ParseHealth(s)
		wantFieldError(t, err, "health")
	}
	h := registry.Warning
	if err := h.UnmarshalText([]byte("bogus")); err == nil || h != registry.Warning {
		t.Errorf("UnmarshalText(bogus) = %v, value now %v; want error and value kept", err, h)
	}
}

func TestSourceText(t *testing.T) {
	for src, want := range map[registry.Source]string{registry.SourceAPI: "api", registry.SourceCorefile: "corefile"} {
		b, _ := src.MarshalText()
		if src.String() != want || string(b) != want {
			t.Errorf("%d: String %q, MarshalText %q, want %q", src, src.String(), b, want)
		}
	}
}

func TestFieldErrorMessage(t *testing.T) {
	tests := []struct {
		err  registry.FieldError
		want string
	}{
		{registry.FieldError{Field: "port", Reason: "must be between 1 and 65535"}, "port: must be between 1 and 65535"},
		{registry.FieldError{Field: "service", Value: "Web", Reason: "may hold only lowercase"}, `service: "Web" may hold only lowercase`},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	// Wrapped, it is still found.
	var fe *registry.FieldError
	wrapped := fmt.Errorf("register: %w", registry.ValidateLabel("service", "Bad"))
	if !errors.As(wrapped, &fe) || fe.Field != "service" || fe.Value != "Bad" {
		t.Errorf("errors.As on wrapped error: %v", fe)
	}
}
