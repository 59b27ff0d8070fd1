package signpost

import (
	"strings"
	"testing"

	"github.com/coredns/caddy"

	"github.com/signpost-dns/signpost/registry"
)

func TestParseEtcd(t *testing.T) {
	cfg, err := parse(caddy.NewTestController("dns", `signpost svc.internal {
    api 127.0.0.1:8053
    etcd {
        endpoint http://127.0.0.1:2379 https://10.0.0.2:2379
        path /discovery/
        credentials signpost s3cret
    }
}`))
	if err != nil {
		t.Fatal(err)
	}
	ec := cfg.etcd
	if ec == nil {
		t.Fatal("no etcd config")
	}
	if strings.Join(ec.Endpoints, " ") != "http://127.0.0.1:2379 https://10.0.0.2:2379" {
		t.Errorf("endpoints %v", ec.Endpoints)
	}
	if ec.Prefix != "/discovery" || ec.Username != "signpost" || ec.Password != "s3cret" {
		t.Errorf("prefix %q, credentials %q %q", ec.Prefix, ec.Username, ec.Password)
	}
	if ec.Name == "" || !strings.HasSuffix(ec.Name, ":8053") {
		t.Errorf("server name %q, want the host and the api port", ec.Name)
	}
	if got := registryKey(cfg); got != "etcd:http://127.0.0.1:2379,https://10.0.0.2:2379/discovery" {
		t.Errorf("registry key %q", got)
	}
}

func TestParseEtcdDefaults(t *testing.T) {
	cfg, err := parse(caddy.NewTestController("dns", "signpost {\netcd {\n}\n}"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.etcd == nil || cfg.etcd.Prefix != registry.DefaultEtcdPrefix || len(cfg.etcd.Endpoints) != 0 {
		t.Errorf("defaults: %+v (the registry fills in http://127.0.0.1:2379)", cfg.etcd)
	}
}

func TestParseEtcdErrors(t *testing.T) {
	tests := []struct {
		input, want string
	}{
		{"signpost {\ndata /tmp/x\netcd {\n}\n}", "data and etcd cannot be combined"},
		{"signpost {\netcd {\nendpoint\n}\n}", "Wrong argument count"},
		{"signpost {\netcd {\nendpoint 127.0.0.1:2379\n}\n}", `invalid etcd endpoint "127.0.0.1:2379"`},
		{"signpost {\netcd {\npath signpost\n}\n}", `invalid etcd path "signpost"`},
		{"signpost {\netcd {\ncredentials alice\n}\n}", "credentials takes two arguments"},
		{"signpost {\netcd {\ntls /no/cert /no/key /no/ca\n}\n}", "etcd tls"},
		{"signpost {\netcd {\nlease 5\n}\n}", `Testfile:3 - Error during parsing: unknown property "lease" in etcd`},
		{"signpost {\netcd extra {\n}\n}", "Wrong argument count"},
	}
	for _, tc := range tests {
		_, err := parse(caddy.NewTestController("dns", tc.input))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.input, err, tc.want)
		}
	}
}
