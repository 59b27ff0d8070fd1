package signpost

import (
	"strings"
	"testing"

	"github.com/coredns/caddy"
)

func TestClaimAPIRefusesASecondBlock(t *testing.T) {
	c := caddy.NewTestController("dns", "")
	if err := claimAPI(c, apiClaim{addr: "127.0.0.1:8053", pos: "Corefile:3"}); err != nil {
		t.Fatalf("first claim: %v", err)
	}
	if err := claimAPI(c, apiClaim{addr: "127.0.0.1:8054", pos: "Corefile:9"}); err != nil {
		t.Fatalf("another address: %v", err)
	}
	err := claimAPI(c, apiClaim{addr: "127.0.0.1:8053", pos: "Corefile:15"})
	if err == nil {
		t.Fatal("a second block on 127.0.0.1:8053 was accepted")
	}
	for _, want := range []string{"Corefile:15", "Corefile:3", "127.0.0.1:8053"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	// A block without an API claims nothing.
	if err := claimAPI(c, apiClaim{}); err != nil {
		t.Errorf("no api: %v", err)
	}
}

func TestClaimAPIIsPerLoad(t *testing.T) {
	// A reload is a new caddy instance: the address of the previous load is
	// free again for the block that keeps it.
	for range 2 {
		c := caddy.NewTestController("dns", "")
		if err := claimAPI(c, apiClaim{addr: "127.0.0.1:8053", pos: "Corefile:3"}); err != nil {
			t.Fatalf("claim in a new load: %v", err)
		}
	}
}

func TestSameListenAddr(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"127.0.0.1:8053", "127.0.0.1:8053", true},
		{"127.0.0.1:8053", "127.0.0.1:8054", false},
		{"127.0.0.1:8053", "127.0.0.2:8053", false},
		{":8053", "127.0.0.1:8053", true},
		{"0.0.0.0:8053", "127.0.0.1:8053", true},
		{"[::]:8053", "[::1]:8053", true},
		{"localhost:8053", "LOCALHOST:8053", true},
		{"[::1]:8053", "127.0.0.1:8053", false},
	}
	for _, tt := range tests {
		if got := sameListenAddr(tt.a, tt.b); got != tt.same {
			t.Errorf("sameListenAddr(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.same)
		}
	}
}

func TestRegistryKey(t *testing.T) {
	tests := []struct {
		name string
		cfg  config
		want string
	}{
		{"data directory first", config{dataDir: "/var/lib/signpost/", api: apiConfig{addr: "127.0.0.1:8053"}, zones: []string{"a."}}, "data:/var/lib/signpost"},
		{"then the api address", config{api: apiConfig{addr: "127.0.0.1:8053"}, zones: []string{"a.", "b."}}, "api:127.0.0.1:8053"},
		{"zones last", config{zones: []string{"a.", "b."}}, "zones:a.,b."},
	}
	for _, tt := range tests {
		if got := registryKey(&tt.cfg); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
	// The zones do not name a registry that has an API: changing them in a
	// reload keeps it.
	a := config{api: apiConfig{addr: "127.0.0.1:8053"}, zones: []string{"svc.internal."}}
	b := config{api: apiConfig{addr: "127.0.0.1:8053"}, zones: []string{"svc.internal.", "other.internal."}}
	if registryKey(&a) != registryKey(&b) {
		t.Error("adding a zone changes the registry key")
	}
}
