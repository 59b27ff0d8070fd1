package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
)

// promTimeout bounds each wait on Prometheus: its start, and each change
// of its targets. Its discovery hands target updates to the scrape manager
// at most every 5s, and a target's first scrape waits up to one interval.
const promTimeout = 60 * time.Second

// promConfig is a Prometheus configuration that discovers its targets from
// Signpost's Consul-compatible API, as the README describes it.
const promConfig = `global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: signpost
    consul_sd_configs:
      - server: %s
        services: [exporter]
    relabel_configs:
      - source_labels: [__meta_consul_service_id]
        target_label: instance_id
`

// promTarget is one active target of Prometheus's /api/v1/targets.
type promTarget struct {
	DiscoveredLabels map[string]string `json:"discoveredLabels"`
	Labels           map[string]string `json:"labels"`
	ScrapeURL        string            `json:"scrapeUrl"`
	Health           string            `json:"health"`
	LastError        string            `json:"lastError"`
}

// TestConsulAPIPrometheus runs the real Prometheus with consul_sd_configs
// pointed at Signpost: it discovers the instances registered through the
// Consul API, scrapes them (loopback HTTP servers of this test), and drops
// one when it is deregistered.
func TestConsulAPIPrometheus(t *testing.T) {
	bin := prometheusBin(t)
	s := startServer(t, consulAPICorefile)
	s.api().waitReady(t)
	agent := s.consulClient(t, "").Agent()

	exporters := map[string]string{} // instance id -> host:port
	for _, id := range []string{"exp-1", "exp-2"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			fmt.Fprintln(w, "# TYPE signpost_test_up gauge")
			fmt.Fprintln(w, "signpost_test_up 1")
		}))
		t.Cleanup(srv.Close)
		host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
		p, _ := strconv.Atoi(port)
		err := agent.ServiceRegister(&consulapi.AgentServiceRegistration{
			ID: id, Name: "exporter", Address: host, Port: p, Tags: []string{"metrics"},
			Meta: map[string]string{"team": "dns"},
		})
		if err != nil {
			t.Fatal(err)
		}
		exporters[id] = srv.Listener.Addr().String()
	}

	prom := startPrometheus(t, bin, net.JoinHostPort("127.0.0.1", strconv.Itoa(s.apiPort)))
	targets := prom.waitTargets(t, func(ts []promTarget) bool {
		return len(ts) == 2 && ts[0].Health == "up" && ts[1].Health == "up"
	})
	for _, tg := range targets {
		id := tg.Labels["instance_id"]
		want := map[string]string{
			"__address__": exporters[id], "__meta_consul_service": "exporter", "__meta_consul_service_id": id,
			"__meta_consul_dc": "dc1", "__meta_consul_tags": ",metrics,", "__meta_consul_service_metadata_team": "dns",
			"__meta_consul_health": "passing",
		}
		for k, v := range want {
			if tg.DiscoveredLabels[k] != v {
				t.Errorf("target %s: %s=%q, want %q (labels %v)", tg.ScrapeURL, k, tg.DiscoveredLabels[k], v, tg.DiscoveredLabels)
			}
		}
	}

	if err := agent.ServiceDeregister("exp-2"); err != nil {
		t.Fatal(err)
	}
	targets = prom.waitTargets(t, func(ts []promTarget) bool { return len(ts) == 1 })
	if got := targets[0].Labels["instance_id"]; got != "exp-1" {
		t.Errorf("target left after deregistering exp-2: %s", got)
	}
}

// prometheusBin returns bin/prometheus, which `make prometheus` builds
// from the module proxy with Consul discovery: Debian's prometheus package
// is built without it.
func prometheusBin(t *testing.T) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("..", "bin", "prometheus"))
	if err == nil {
		if _, err = os.Stat(path); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("bin/prometheus is required when CI=true (make prometheus builds it): %v", err)
	}
	t.Skipf("bin/prometheus is not built (make prometheus builds it; with CI=true this test fails instead): %v", err)
	return ""
}

// prometheus is a Prometheus process of one test, on loopback with its
// data in the test's directory.
type prometheus struct {
	url string
	out *syncBuffer
}

func startPrometheus(t *testing.T, bin, consulAddr string) *prometheus {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(promConfig, consulAddr)), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	p := &prometheus{url: "http://" + addr, out: new(syncBuffer)}
	cmd := exec.Command(bin, "--config.file="+conf, "--web.listen-address="+addr,
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--log.level=debug")
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.WaitDelay = stopTimeout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("prometheus output:\n%s", abridge(p.out.String(), 200))
		}
	})
	return p
}

// waitTargets polls Prometheus's active targets of the signpost job until
// done accepts them, sorted by scrape URL, and returns them.
func (p *prometheus) waitTargets(t *testing.T, done func([]promTarget) bool) []promTarget {
	t.Helper()
	deadline := time.Now().Add(promTimeout)
	var last []promTarget
	var lastErr error
	for time.Now().Before(deadline) {
		last, lastErr = p.targets()
		if lastErr == nil && done(last) {
			return last
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("Prometheus targets after %v: %+v (%v)", promTimeout, last, lastErr)
	return nil
}

func (p *prometheus) targets() ([]promTarget, error) {
	resp, err := httpClient.Get(p.url + "/api/v1/targets?state=active")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var r struct {
		Data struct {
			ActiveTargets []promTarget `json:"activeTargets"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%s: %v", body, err)
	}
	var out []promTarget
	for _, tg := range r.Data.ActiveTargets {
		if tg.Labels["job"] == "signpost" {
			out = append(out, tg)
		}
	}
	slices.SortFunc(out, func(a, b promTarget) int {
		if a.ScrapeURL < b.ScrapeURL {
			return -1
		}
		if a.ScrapeURL > b.ScrapeURL {
			return 1
		}
		return 0
	})
	return out, nil
}
