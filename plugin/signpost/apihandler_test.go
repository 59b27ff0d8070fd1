package signpost

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/coredns/caddy"

	"github.com/signpost-dns/signpost/api"
	"github.com/signpost-dns/signpost/registry"
)

func TestParseConsulAPI(t *testing.T) {
	for _, tc := range []struct {
		name, corefile string
		dc             string
		addr           netip.Addr
	}{
		{"default datacenter", "api 127.0.0.1:8053\nconsul-api", "", netip.MustParseAddr("127.0.0.1")},
		{"datacenter", "api 127.0.0.1:8053\nconsul-api EU-West", "eu-west", netip.MustParseAddr("127.0.0.1")},
		{"any address", "api :8053\nconsul-api", "", netip.Addr{}},
		{"ipv6", "api [::1]:8053\nconsul-api", "", netip.IPv6Loopback()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parse(caddy.NewTestController("dns", "signpost svc.internal {\n"+tc.corefile+"\n}"))
			if err != nil {
				t.Fatal(err)
			}
			got := cfg.api.consul
			if got == nil || got.Datacenter != tc.dc || got.NodeAddress != tc.addr || got.NodeName == "" {
				t.Errorf("consul-api %+v, want datacenter %q, node address %v", got, tc.dc, tc.addr)
			}
		})
	}
	cfg, err := parse(caddy.NewTestController("dns", "signpost svc.internal {\napi 127.0.0.1:8053\n}"))
	if err != nil || cfg.api.consul != nil {
		t.Errorf("without consul-api: %+v, %v; want it off", cfg.api.consul, err)
	}
}

func TestParseConsulAPIErrors(t *testing.T) {
	for _, tc := range []struct{ corefile, want string }{
		{"consul-api", "needs an api address"},
		{"api 127.0.0.1:8053\nconsul-api dc_1", "datacenter"},
		{"api 127.0.0.1:8053\nconsul-api service", "lookup type"},
		{"api 127.0.0.1:8053\nconsul-api dc1 dc2", "Wrong argument count"},
		{"api 127.0.0.1:8053\nconsul-api\nconsul-api", "given twice"},
	} {
		_, err := parse(caddy.NewTestController("dns", "signpost svc.internal {\n"+tc.corefile+"\n}"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error naming %q", tc.corefile, err, tc.want)
		}
	}
}

func TestConsulAPISharesConsulNamesDatacenter(t *testing.T) {
	zones := "signpost svc.internal consul {\napi 127.0.0.1:8053\n"
	cfg, err := parse(caddy.NewTestController("dns", zones+"consul-names consul eu1\nconsul-api\n}"))
	if err != nil || cfg.api.consul.Datacenter != "eu1" {
		t.Fatalf("consul-api beside consul-names eu1: %+v, %v", cfg.api.consul, err)
	}
	_, err = parse(caddy.NewTestController("dns", zones+"consul-names consul eu1\nconsul-api us1\n}"))
	if err == nil || !strings.Contains(err.Error(), "differs") {
		t.Errorf("two datacenters: %v, want an error", err)
	}
}

// The handler the plugin builds serves the Consul API exactly when
// consul-api is set.
func TestAPIHandlerConsul(t *testing.T) {
	reg := registry.New(registry.Config{})
	for _, tc := range []struct {
		consul *consulOptions
		want   string
	}{
		{nil, "no such endpoint"},
		{&consulOptions{}, "not supported by Signpost's Consul-compatible API"},
	} {
		h := newAPIHandler(reg, apiConfig{consul: tc.consul})
		rec := serveHTTP(h, "/v1/kv/x")
		if rec.Code != 404 || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("consul %v: GET /v1/kv/x %d %s, want 404 %q", tc.consul, rec.Code, rec.Body, tc.want)
		}
	}
	h := newAPIHandler(reg, apiConfig{consul: &consulOptions{}})
	if rec := serveHTTP(h, "/v1/catalog/datacenters"); rec.Code != 200 || !strings.Contains(rec.Body.String(), api.DefaultConsulDatacenter) {
		t.Errorf("datacenters: %d %s", rec.Code, rec.Body)
	}
}

func serveHTTP(h http.Handler, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec
}
