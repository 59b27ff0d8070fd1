package signpost

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"

	"github.com/signpost-dns/signpost/healthcheck"
	"github.com/signpost-dns/signpost/registry"
)

func TestParse(t *testing.T) {
	c := caddy.NewTestController("dns", `signpost svc.internal {
		api 127.0.0.1:8053
		token s3cret
		token-read on
		ttl 10s
		negative-ttl 3s
		max-answers 8
		serve-warning
		deregister-after 2m
		self-preservation 0.3 5
		fallthrough
		service mysql {
			instance db1 10.0.0.5:3306 tags primary east weight 3
			instance db2 [2001:db8::6]:3306
			failover 10.0.0.100:3306 10.0.0.101
			min-healthy 2
		}
		service redis {
			instance r1 10.0.1.1:6379
			failover cname Redis-LB.example.com
			check redis interval 2s timeout 1s rise 2 fall 3
		}
	}`)
	cfg, err := parse(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.zones) != 1 || cfg.zones[0] != "svc.internal." {
		t.Errorf("zones %v", cfg.zones)
	}
	if cfg.api.addr != "127.0.0.1:8053" || cfg.api.token != "s3cret" || !cfg.api.tokenRead {
		t.Errorf("api %+v", cfg.api)
	}
	want := options{ttl: 10, negativeTTL: 3, maxAnswers: 8, serveWarning: true}
	if cfg.opts != want {
		t.Errorf("options %+v, want %+v", cfg.opts, want)
	}
	if cfg.regCfg.DeregisterAfter != 2*time.Minute || cfg.regCfg.SelfPreservation != 0.3 || cfg.regCfg.SelfPreservationMin != 5 {
		t.Errorf("registry config %+v", cfg.regCfg)
	}
	if !cfg.sp.Fall.Through("x.svc.internal.") {
		t.Error("fallthrough not set")
	}
	if len(cfg.static) != 2 {
		t.Fatalf("%d services, want 2", len(cfg.static))
	}
	mysql := cfg.static[0]
	if mysql.Config.MinHealthy != 2 || mysql.Config.Failover.Port != 3306 || len(mysql.Config.Failover.Addrs) != 2 {
		t.Errorf("mysql config %+v", mysql.Config)
	}
	db1 := mysql.Instances[0]
	if db1.ID != "db1" || db1.Address != netip.MustParseAddr("10.0.0.5") || db1.Port != 3306 || db1.Weight != 3 ||
		strings.Join(db1.Tags, ",") != "primary,east" {
		t.Errorf("db1 %+v", db1)
	}
	if db2 := mysql.Instances[1]; db2.Address != netip.MustParseAddr("2001:db8::6") || db2.Weight != 1 {
		t.Errorf("db2 %+v", db2)
	}
	if n := cfg.static[1].Config.Failover.Name; n != "redis-lb.example.com." {
		t.Errorf("cname failover %q", n)
	}
	if db1.Check != "" {
		t.Errorf("mysql has no check line, but db1 carries %q", db1.Check)
	}
	hc, err := healthcheck.DecodeSpec(cfg.static[1].Instances[0].Check)
	if err != nil || hc.Type != "redis" || hc.Interval != 2*time.Second || hc.Timeout != time.Second || hc.Rise != 2 || hc.Fall != 3 {
		t.Errorf("redis check %+v, %v", hc, err)
	}
}

func TestParseDefaults(t *testing.T) {
	c := caddy.NewTestController("dns", `signpost`)
	c.ServerBlockKeys = []string{"svc.internal.:1053"}
	cfg, err := parse(c)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.opts.ttl != 5 || cfg.opts.negativeTTL != 5 || cfg.opts.maxAnswers != 0 {
		t.Errorf("defaults %+v", cfg.opts)
	}
	if len(cfg.zones) != 1 || cfg.zones[0] != "svc.internal." {
		t.Errorf("zones from the server block: %v", cfg.zones)
	}
	if cfg.api.addr != "" {
		t.Errorf("api on by default: %q", cfg.api.addr)
	}
}

func TestParseSelfPreservationOff(t *testing.T) {
	cfg, err := parse(caddy.NewTestController("dns", "signpost svc.internal {\nself-preservation 0\n}"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.regCfg.SelfPreservation >= 0 {
		t.Errorf("self-preservation 0 gave share %v, want it off (negative)", cfg.regCfg.SelfPreservation)
	}
}

func TestParseTokenFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	if err := os.WriteFile(path, []byte("abc123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := parse(caddy.NewTestController("dns", "signpost svc.internal {\napi 127.0.0.1:0\ntoken-file "+path+"\n}"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.api.token != "abc123" {
		t.Errorf("token %q", cfg.api.token)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	for _, f := range []string{empty, filepath.Join(dir, "missing")} {
		if _, err := parse(caddy.NewTestController("dns", "signpost svc.internal {\napi 127.0.0.1:0\ntoken-file "+f+"\n}")); err == nil {
			t.Errorf("token-file %s accepted", f)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		input string
		want  string // part of the error
	}{
		{"signpost {\nbogus\n}", `Testfile:2 - Error during parsing: unknown property "bogus"`},
		{"signpost {\nttl 5x\n}", `Testfile:2 - Error during parsing: invalid ttl "5x"`},
		{"signpost {\nttl 1500ms\n}", `Testfile:2 - Error during parsing: invalid ttl "1500ms": not a whole number of seconds`},
		{"signpost {\nnegative-ttl 2.5s\n}", `invalid negative-ttl "2.5s": not a whole number of seconds`},
		{"signpost {\nttl -1s\n}", "must be between"},
		{"signpost {\nnegative-ttl\n}", "Wrong argument count"},
		{"signpost {\napi localhost\n}", `invalid address "localhost"`},
		{"signpost {\ntoken abc\n}", "need an api address"},
		{"signpost {\nmax-answers -1\n}", "invalid max-answers"},
		{"signpost {\nself-preservation 1.5\n}", "self-preservation share"},
		{"signpost {\ntoken-read maybe\n}", `token-read takes on or off, not "maybe"`},
		{"signpost {\nserve-warning yes\n}", "Wrong argument count"},
		{"signpost {\ntls /no/cert /no/key\n}", "loading tls certificate"},
		{"signpost {\nservice MySQL {\n}\n}", `invalid service: service: "MySQL"`},
		{"signpost {\nservice addr {\n}\n}", "reserved"},
		{"signpost {\nservice db {\ninstance db1 10.0.0.5\n}\n}", `Testfile:3 - Error during parsing: invalid instance address "10.0.0.5"`},
		{"signpost {\nservice db {\ninstance db1 10.0.0.5:0\n}\n}", "port"},
		{"signpost {\nservice db {\ninstance DB1 10.0.0.5:80\n}\n}", `id: "DB1"`},
		{"signpost {\nservice db {\ninstance db1 10.0.0.5:80 tags Bad\n}\n}", `tags: "Bad"`},
		{"signpost {\nservice db {\ninstance db1 10.0.0.5:80 weight 70000\n}\n}", "invalid weight"},
		{"signpost {\nservice db {\ninstance db1 10.0.0.5:80 colour red\n}\n}", "unknown instance option"},
		{"signpost {\nservice db {\nfailover\n}\n}", "Wrong argument count"},
		{"signpost {\nservice db {\nfailover not-an-ip\n}\n}", "invalid failover address"},
		{"signpost {\nservice db {\nfailover 10.0.0.1:80 10.0.0.2:81\n}\n}", "share one port"},
		{"signpost {\nservice db {\nfailover cname bad..name\n}\n}", "invalid failover name"},
		{"signpost {\nservice db {\nmin-healthy x\n}\n}", "invalid min-healthy"},
		{"signpost {\nservice db {\ncheck ftp\n}\n}", "Testfile:3 - Error during parsing: invalid check"},
		{"signpost {\nservice db {\ncheck tcp interval soon\n}\n}", "invalid check"},
		{"signpost {\nservice db {\ncheck tcp\ncheck mysql\n}\n}", "more than one check"},
		{"signpost {\nservice db {\nwhat\n}\n}", `Testfile:3 - Error during parsing: unknown property "what" in service db`},
		{"signpost\nsignpost", "plugin"},
		{"signpost {\nservice db {\n}\nservice db {\n}\n}", "Testfile:4 - Error during parsing: service db is declared twice"},
		{"signpost {\nservice db {\ninstance a 10.0.0.1:1\ninstance a 10.0.0.2:1\n}\n}", "Testfile:4 - Error during parsing: instance a is declared twice"},
	}
	for _, tc := range tests {
		_, err := parse(caddy.NewTestController("dns", tc.input))
		if err == nil {
			t.Errorf("%q: no error, want %q", tc.input, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %q, want it to contain %q", tc.input, err, tc.want)
		}
	}
}

func TestRegistrySurvivesReload(t *testing.T) {
	const key = "reload.test."
	reg, err := getRegistry(key, &config{})
	if err != nil {
		t.Fatal(err)
	}
	acquireRegistry(key)
	if _, err := reg.Register(registry.Instance{Service: "web", ID: "w1", Address: netip.MustParseAddr("10.0.0.1"), Port: 80, TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	// A reload: the new instance sets up and starts, then the old one shuts down.
	again, err := getRegistry(key, &config{regCfg: registry.Config{DeregisterAfter: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := getRegistry(key, &config{dataDir: t.TempDir()}); err == nil {
		t.Error("a reload moved the registry to a data directory")
	}
	acquireRegistry(key)
	releaseRegistry(key)
	if again != reg {
		t.Fatal("a reload got a new registry")
	}
	if svc := again.Snapshot().Service("web"); svc == nil || svc.Len() != 1 {
		t.Fatal("the registered instance is gone after the reload")
	}
	if _, ok := liveRegistries()[key]; !ok {
		t.Fatal("registry not live after the reload")
	}
	// The final shutdown forgets it.
	releaseRegistry(key)
	if _, ok := liveRegistries()[key]; ok {
		t.Fatal("registry still live after the final shutdown")
	}
	if fresh, _ := getRegistry(key, &config{}); fresh == reg {
		t.Fatal("a new start reused the stopped registry")
	}
	releaseRegistry(key)
}

func TestParseConsulNames(t *testing.T) {
	tests := []struct {
		keys     []string // the server block's keys; none when the plugin names its zones
		input    string
		domain   string
		dc       string
		zonesErr bool
	}{
		{[]string{"svc.internal.:1053", "consul.:1053"}, "signpost {\nconsul-names\n}", "consul.", "dc1", false},
		{[]string{"svc.internal:1053", "Consul:1053"}, "signpost {\nconsul-names Consul EU-1\n}", "consul.", "eu-1", false},
		{[]string{"svc.internal", "sd.example.com"}, "signpost {\nconsul-names sd.example.com. dc2\n}", "sd.example.com.", "dc2", false},
		{nil, "signpost svc.internal consul {\nconsul-names consul\n}", "consul.", "dc1", false},
	}
	for _, tc := range tests {
		c := caddy.NewTestController("dns", tc.input)
		c.ServerBlockKeys = tc.keys
		cfg, err := parse(c)
		if err != nil {
			t.Errorf("%q: %v", tc.input, err)
			continue
		}
		if cn := cfg.opts.consul; cn == nil || cn.domain != tc.domain || cn.dc != tc.dc {
			t.Errorf("%q: consul names %+v, want domain %s datacenter %s", tc.input, cn, tc.domain, tc.dc)
		}
	}
	cfg, err := parse(caddy.NewTestController("dns", "signpost svc.internal consul"))
	if err != nil || cfg.opts.consul != nil {
		t.Errorf("without consul-names: %+v, %v; want Consul's names off", cfg, err)
	}

	errs := []struct {
		input string
		want  string
	}{
		{"signpost svc.internal {\nconsul-names\n}", "Testfile:2 - Error during parsing: consul-names domain consul. is not a zone of this server block (it serves svc.internal.)"},
		{"signpost svc.internal consul {\nttl 5s\nconsul-names example.org\n}", "Testfile:3 - Error during parsing: consul-names domain example.org. is not a zone"},
		{"signpost svc.internal consul {\nconsul-names consul dc1 extra\n}", "Testfile:2 - Error during parsing: Wrong argument count"},
		{"signpost svc.internal consul {\nconsul-names consul service\n}", "Testfile:2 - Error during parsing: invalid consul-names datacenter"},
		{"signpost svc.internal consul {\nconsul-names consul dc_1\n}", "invalid consul-names datacenter"},
		{"signpost svc.internal consul {\nconsul-names consul..x\n}", "invalid consul-names domain"},
		{"signpost svc.internal consul {\nconsul-names\nconsul-names\n}", "Testfile:3 - Error during parsing: consul-names is given twice"},
	}
	for _, tc := range errs {
		_, err := parse(caddy.NewTestController("dns", tc.input))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.input, err, tc.want)
		}
	}
}

// consul-names without a datacenter stands for consul-api's, whichever
// comes first, so that DNS and the Consul API answer for one datacenter.
func TestConsulNamesTakesConsulAPIDatacenter(t *testing.T) {
	const zones = "signpost svc.internal consul {\napi 127.0.0.1:8053\n"
	for _, body := range []string{"consul-api EU1\nconsul-names\n", "consul-names consul\nconsul-api eu1\n"} {
		cfg, err := parse(caddy.NewTestController("dns", zones+body+"}"))
		if err != nil {
			t.Errorf("%q: %v", body, err)
			continue
		}
		if cfg.opts.consul.dc != "eu1" || cfg.api.consul.Datacenter != "eu1" {
			t.Errorf("%q: consul-names datacenter %q, consul-api %q; want eu1 for both", body, cfg.opts.consul.dc, cfg.api.consul.Datacenter)
		}
	}
	cfg, err := parse(caddy.NewTestController("dns", zones+"consul-names\nconsul-api\n}"))
	if err != nil || cfg.opts.consul.dc != "dc1" || cfg.api.consul.Datacenter != "dc1" {
		t.Errorf("neither names a datacenter: %+v, %v; want dc1 for both", cfg, err)
	}
}
